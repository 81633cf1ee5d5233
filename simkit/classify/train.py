"""Train a classifier on a trace and write it as a bundle, with calibrated thresholds.

Thresholds for each target strong share are calibrated on the classifier's *out-of-fold*
``p_hard`` over the training requests (from its inner cross-validation), not on in-sample
scores, which are over-confident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.classify.bundle import export_bundle, training_data_hash
from simkit.classify.calibrate import share_threshold, share_threshold_name
from simkit.classify.model import ComplexityClassifier
from simkit.errors import ClassifierError
from simkit.trace import Trace

__all__ = ["TrainedBundle", "share_threshold_name", "train_bundle", "two_models"]


def two_models(trace: Trace, weak: str | None, strong: str | None) -> tuple[str, str]:
    """``(weak, strong)``: as given, else from ``trace.meta`` (``weak_model``/``strong_model``),
    else the trace's two models ordered by mean quality."""
    meta = dict(trace.meta)
    weak = weak or meta.get("weak_model")
    strong = strong or meta.get("strong_model")
    if weak and strong:
        return str(weak), str(strong)
    models = trace.models
    if len(models) != 2:
        raise ClassifierError(
            f"{trace.where}: name the weak and the strong model (--weak/--strong); the trace "
            f"has outcomes for {len(models)} models: {', '.join(models) or 'none'}"
        )
    q = trace.quality_matrix(list(models)).mean()
    lo, hi = sorted(models, key=lambda m: (q[m], m))
    return (weak or lo), (strong or hi)


@dataclass(frozen=True)
class TrainedBundle:
    """What :func:`train_bundle` did."""

    path: Path
    classifier: ComplexityClassifier
    thresholds: dict[str, dict[str, float]]
    n_train: int
    n_excluded: int


def train_bundle(
    trace: Trace,
    out: str | PathLike[str],
    *,
    weak: str | None = None,
    strong: str | None = None,
    estimator: ComplexityClassifier | None = None,
    shares: Sequence[float] = (0.1, 0.2, 0.3, 0.5),
    default_share: float = 0.2,
    tier_names: tuple[str, str] = ("cheap", "strong"),
    metrics: Mapping[str, Any] | None = None,
    card: str | None = None,
    extra_training: Mapping[str, Any] | None = None,
) -> TrainedBundle:
    """Fit ``estimator`` on every request of ``trace`` and export it to ``out``.

    Parameters
    ----------
    trace : Trace
        Prompts plus outcomes for the two models.
    out : path-like
        Bundle directory.
    weak, strong : str, optional
        Models (default: :func:`two_models`).
    estimator : ComplexityClassifier, optional
        Default ``ComplexityClassifier()`` (static embedding, the fast path).
    shares : sequence of float
        Strong shares to calibrate thresholds for (named ``share_0.20`` ...).
    default_share : float
        The share whose threshold the router uses by default (must be among ``shares``).
    tier_names : (str, str)
        Tier names of the weak and the strong model in the bundle's tier map.
    metrics, card, extra_training
        Stored in the bundle as they are.
    """
    weak, strong = two_models(trace, weak, strong)
    if default_share not in shares:
        raise ClassifierError(f"default_share {default_share} is not among shares {list(shares)}")
    prompts_s = trace.requests["prompt"]
    if prompts_s.isna().any():
        i = int(np.flatnonzero(prompts_s.isna().to_numpy())[0])
        raise ClassifierError(
            f"{trace.where} (requests), row {i + 1}, column 'prompt': no prompt text "
            f"({int(prompts_s.isna().sum())} requests); a classifier trains on prompts"
        )
    prompts = [str(p) for p in prompts_s]
    q = trace.quality_matrix([weak, strong]).to_numpy(dtype=np.float64)
    est = ComplexityClassifier() if estimator is None else estimator
    clf = est.fit(prompts, q)
    usable = np.isfinite(q).all(axis=1)
    cal_scores = clf.p_hard_from_gain(clf.oof_gain_)
    thresholds = {share_threshold_name(s): share_threshold(cal_scores, s) for s in shares}
    ids = trace.requests["request_id"].astype(str).tolist()
    training = {
        "trace": str(trace.where),
        "trace_name": dict(trace.meta).get("name"),
        "n_requests": int(usable.sum()),
        "n_excluded_missing_outcome": int((~usable).sum()),
        "weak_model": weak,
        "strong_model": strong,
        "data_sha256": training_data_hash(ids, prompts, q),
        "thresholds_calibrated_on": "out-of-fold p_hard of the training requests (inner CV)",
        **dict(extra_training or {}),
    }
    path = export_bundle(
        clf,
        out,
        tiers=[{"tier": tier_names[0], "model": weak}, {"tier": tier_names[1], "model": strong}],
        thresholds=thresholds,
        default_threshold=share_threshold_name(default_share),
        training=training,
        metrics=metrics,
        card=card,
    )
    return TrainedBundle(path, clf, thresholds, int(usable.sum()), int((~usable).sum()))
