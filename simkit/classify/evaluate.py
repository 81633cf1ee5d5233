"""Honest evaluation: out-of-fold scores within a benchmark, and cross-benchmark transfer.

* :func:`out_of_fold_scores` - k-fold cross-validation, stratified by the gain label, with
  identical prompts kept in one fold (:func:`~simkit.classify.model.grouped_folds`); every request is scored by a
  model that never saw it (nor an identical prompt). Hyper-parameters are chosen inside each
  training fold (the classifier's own inner CV), never on the test fold.
* :func:`transfer_scores` - train on one trace (e.g. MMLU), score another (e.g. GSM8K).

Metrics (APGR, CPT, AUC) are computed from these scores by :mod:`simkit.evaluation`, which
joins them with :mod:`simkit.metrics`; this module only produces scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import clone

from simkit.classify.features import check_prompts
from simkit.classify.model import ComplexityClassifier, grouped_folds, prompt_groups
from simkit.errors import ClassifierError

__all__ = ["ScoredFolds", "embed_once", "out_of_fold_scores", "transfer_scores"]


@dataclass(frozen=True)
class ScoredFolds:
    """Scores of every request by a model that did not train on it.

    Attributes
    ----------
    gain : ndarray
        Expected-gain routing score.
    p_hard : ndarray
        Calibrated probability that the strong model is strictly better.
    fold : ndarray of int
        Test fold of each request (-1 for transfer: one model scored everything).
    chosen : list
        Hyper-parameters chosen per fold (per model), for the record.
    n_train : float
        Mean number of training prompts per fold (all of them for transfer).
    """

    gain: np.ndarray
    p_hard: np.ndarray
    fold: np.ndarray
    chosen: list[Any]
    n_train: float = float("nan")


def embed_once(estimator: ComplexityClassifier, prompts: list[str]) -> np.ndarray:
    """Embeddings of ``prompts`` by the estimator's embedder, computed once for all folds."""
    from simkit.classify.embed import StaticEmbedder

    embedder = StaticEmbedder() if estimator.embedder is None else clone(estimator.embedder)
    return np.asarray(embedder.fit().transform(prompts))


def out_of_fold_scores(
    prompts: Sequence[str],
    quality: np.ndarray,
    *,
    estimator: ComplexityClassifier | None = None,
    n_splits: int = 5,
    random_state: int = 0,
    groups: Sequence[Any] | None = None,
    embedded: np.ndarray | None = None,
    train_fraction: float = 1.0,
) -> ScoredFolds:
    """k-fold out-of-fold scores; identical prompts always share a fold.

    Parameters
    ----------
    prompts : sequence of str
    quality : ndarray, shape (n, n_models)
        Quality in [0, 1], cheapest model first, strongest last (rows with NaN are scored
        but not trained on).
    estimator : ComplexityClassifier, optional
        Cloned per fold (default: ``ComplexityClassifier()``).
    n_splits : int
        Outer folds.
    random_state : int
        Seeds the fold assignment.
    groups : sequence, optional
        Group labels (default: identical prompt strings).
    embedded : ndarray, optional
        Precomputed embeddings (else computed once with :func:`embed_once`).
    train_fraction : float
        Train each fold's model on this share of its training prompts only (a seeded sample
        of prompt groups), to draw a learning curve; the test folds are unchanged.
    """
    prompts = check_prompts(prompts, where="evaluation prompts")
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim != 2 or len(q) != len(prompts):
        raise ClassifierError(
            f"quality must have shape (n_prompts={len(prompts)}, n_models), got {q.shape}"
        )
    if not isinstance(n_splits, int) or n_splits < 2:
        raise ClassifierError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if not 0.0 < train_fraction <= 1.0:
        raise ClassifierError(f"train_fraction must lie in (0, 1], got {train_fraction!r}")
    est = ComplexityClassifier() if estimator is None else estimator
    emb = embed_once(est, prompts) if embedded is None else np.asarray(embedded)
    grp = prompt_groups(prompts) if groups is None else np.asarray(groups)
    diff = np.nan_to_num(q[:, -1] - q[:, 0])
    strat = np.sign(diff).astype(int)
    gain = np.full(len(prompts), np.nan)
    p_hard = np.full(len(prompts), np.nan)
    fold = np.full(len(prompts), -1, dtype=np.int64)
    chosen = []
    n_train = []
    for k, (tr, te) in enumerate(grouped_folds(strat, grp, n_splits, random_state)):
        if train_fraction < 1.0:
            tr = _subsample_groups(tr, grp, train_fraction, random_state, k)
        model = clone(est).fit([prompts[i] for i in tr], q[tr], groups=grp[tr], embedded=emb[tr])
        te_prompts = [prompts[i] for i in te]
        gain[te] = model.decision_function(te_prompts, embedded=emb[te])
        p_hard[te] = model.p_hard_from_gain(gain[te])
        fold[te] = k
        chosen.append(list(model.chosen_))
        n_train.append(len(tr))
    return ScoredFolds(
        gain=gain, p_hard=p_hard, fold=fold, chosen=chosen, n_train=float(np.mean(n_train))
    )


def _subsample_groups(
    rows: np.ndarray, groups: np.ndarray, fraction: float, random_state: int, fold: int
) -> np.ndarray:
    """A seeded sample of ``fraction`` of the prompt groups among ``rows`` (all their rows)."""
    uniq = np.unique(groups[rows])
    rng = np.random.default_rng(np.random.SeedSequence([int(random_state), int(fold), 0x1C]))
    keep = rng.choice(uniq, size=max(1, int(round(fraction * uniq.size))), replace=False)
    return rows[np.isin(groups[rows], keep)]


def transfer_scores(
    train_prompts: Sequence[str],
    train_quality: np.ndarray,
    test_prompts: Sequence[str],
    *,
    estimator: ComplexityClassifier | None = None,
    train_embedded: np.ndarray | None = None,
    test_embedded: np.ndarray | None = None,
) -> ScoredFolds:
    """Fit on one set of prompts (e.g. one benchmark) and score another.

    ``train_embedded`` / ``test_embedded`` optionally give the prompts' embeddings by the
    estimator's embedder (computed once by the caller), as in :func:`out_of_fold_scores`.
    """
    est = ComplexityClassifier() if estimator is None else clone(estimator)
    model = est.fit(
        check_prompts(train_prompts, where="training prompts"),
        train_quality,
        embedded=train_embedded,
    )
    test = check_prompts(test_prompts, where="evaluation prompts")
    gain = model.decision_function(test, embedded=test_embedded)
    return ScoredFolds(
        gain=gain,
        p_hard=model.p_hard_from_gain(gain),
        fold=np.full(len(test), -1, dtype=np.int64),
        chosen=[list(model.chosen_)],
        n_train=float(len(train_prompts)),
    )
