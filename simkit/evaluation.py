"""Classifier evaluation: out-of-fold and transfer scores from :mod:`simkit.classify`, scored
with the simulator's RouteLLM metrics (:mod:`simkit.metrics.routing`).

This is the workflow layer joining the two (``simkit.classify`` may not import
``simkit.metrics``). Protocols:

* ``"cv"`` (protocol i) - within each benchmark (``source`` column), k-fold out-of-fold
  scores, identical prompts in one fold, hyper-parameters chosen on training folds only;
* ``"transfer"`` (protocol ii) - train on every other benchmark of the trace, score this one.

Each result row carries APGR, CPT(50 %), CPT(80 %) (strong-call shares as fractions) and
RouteLLM's AUC (area under the quality-vs-strong-share curve, quality in percent as RouteLLM
prints it), next to the random router. :data:`PUBLISHED` holds RouteLLM's published routers
for comparison; their protocol differs (see its ``protocol`` field).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simkit.classify.calibrate import ShareCalibrator, realised_share
from simkit.classify.evaluate import embed_once, out_of_fold_scores, transfer_scores
from simkit.classify.model import ComplexityClassifier
from simkit.errors import ClassifierError
from simkit.metrics.routing import (
    NonMonotoneCurveWarning,
    apgr,
    cpt,
    routellm_curve,
    routellm_random_curve,
)
from simkit.trace import Trace

__all__ = [
    "PUBLISHED",
    "EvaluationResult",
    "evaluate_classifier",
    "probability_metrics",
    "routing_metrics",
]

_ROUTELLM = "RouteLLM (Ong et al., arXiv:2406.18665 v4), PUBLISHED.md Tables 2-3"
_PROTOCOL = (
    "trained on ~65k Chatbot Arena battles plus augmentation data (MMLU: D_gold = MMLU's own "
    "validation split; GSM8K: D_judge = GPT-4-judged Nectar prompts), evaluated on the full "
    "decontaminated benchmark; no cross-validation on the benchmark itself"
)

#: Published numbers (APGR; CPTs as fractions) of RouteLLM's augmented routers on the same
#: decontaminated MMLU / GSM8K sets, and LiteLLM's rule-based complexity_router as measured in
#: issue 4 (not re-run here).
PUBLISHED: tuple[dict[str, Any], ...] = (
    *(
        {"benchmark": "mmlu", "router": f"RouteLLM {r} (D_arena + D_gold)", "apgr": a,
         "cpt50": c5, "cpt80": c8, "source": _ROUTELLM, "protocol": _PROTOCOL}
        for r, c5, c8, a in (
            ("BERT", 0.4130, 0.7220, 0.572),
            ("Causal LLM", 0.3549, 0.7031, 0.600),
            ("Matrix Factorization", 0.3546, 0.7140, 0.597),
            ("SW Ranking", 0.3540, 0.7155, 0.603),
        )
    ),
    *(
        {"benchmark": "gsm8k", "router": f"RouteLLM {r} (D_arena + D_judge)", "apgr": a,
         "cpt50": c5, "cpt80": c8, "source": _ROUTELLM, "protocol": _PROTOCOL}
        for r, c5, c8, a in (
            ("BERT", 0.4476, 0.7909, 0.531),
            ("Causal LLM", 0.3364, 0.6326, 0.622),
            ("Matrix Factorization", 0.3882, 0.7262, 0.565),
            ("SW Ranking", 0.4121, 0.7220, 0.568),
        )
    ),
    *(
        {"benchmark": b, "router": "LiteLLM complexity_router (rule-based)", "apgr": a,
         "cpt50": None, "cpt80": None, "source": "issue 4 (measured by the project)",
         "protocol": "no training; fixed rules"}
        for b, a in (("mmlu", 0.584), ("gsm8k", 0.535))
    ),
)  # fmt: skip


def routing_metrics(
    scores: np.ndarray, weak_quality: np.ndarray, strong_quality: np.ndarray
) -> dict[str, float]:
    """APGR, CPT(50 %), CPT(80 %) (fractions) and AUC (percent) of one score vector.

    Computed with :func:`simkit.metrics.routing.routellm_curve` on quality in percent, as
    RouteLLM's ``evaluate.py`` does; CPT by RouteLLM's interpolation, with ``monotone``
    saying whether the curve is non-decreasing (if not, that CPT is not the minimum share).
    """
    return _curve_metrics(routellm_curve(scores, 100.0 * weak_quality, 100.0 * strong_quality))


def probability_metrics(
    p_hard: np.ndarray, weak_quality: np.ndarray, strong_quality: np.ndarray
) -> dict[str, float]:
    """How good ``p_hard`` is as a probability that the strong model is strictly better:
    Brier score (lower is better) and ROC AUC against ``1[strong > weak]``."""
    from sklearn.metrics import roc_auc_score

    y = (np.asarray(strong_quality) > np.asarray(weak_quality)).astype(float)
    p = np.asarray(p_hard, dtype=np.float64)
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else float("nan")
    return {"brier": float(np.mean((p - y) ** 2)), "roc_auc": auc}


def _curve_metrics(curve: Any) -> dict[str, float]:
    with warnings.catch_warnings():
        # RouteLLM's np.interp CPT on a non-monotone curve: reported with the flag below
        warnings.simplefilter("ignore", NonMonotoneCurveWarning)
        c50, c80 = cpt(curve, [0.5, 0.8])
    return {
        "apgr": apgr(curve),
        "cpt50": float(c50),
        "cpt80": float(c80),
        "auc": float(np.trapezoid(curve.quality, curve.strong_share)),
        "monotone": bool(curve.is_monotone),
    }


def _random_metrics(weak: np.ndarray, strong: np.ndarray) -> dict[str, float]:
    return _curve_metrics(routellm_random_curve(100.0 * weak, 100.0 * strong, seed=0, iters=10))


@dataclass(frozen=True)
class EvaluationResult:
    """Tidy tables of one evaluation.

    Attributes
    ----------
    metrics : DataFrame
        One row per (benchmark, protocol, router): ``apgr``, ``cpt50``, ``cpt80``, ``auc``,
        ``monotone``, ``n``, and for the classifier ``brier`` and ``roc_auc`` of ``p_hard``
        against ``1[strong > weak]``; routers are ``"classifier"`` and ``"random"``.
    calibration : DataFrame
        Thresholds calibrated to target shares on calibration scores, with the share each
        realises on held-out scores.
    scores : dict
        ``(benchmark, protocol) -> DataFrame`` of ``request_id``, ``p_hard``, ``gain``.
    published : DataFrame
        :data:`PUBLISHED` rows for the evaluated benchmarks.
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    scores: dict[tuple[str, str], pd.DataFrame] = field(repr=False)
    published: pd.DataFrame

    def to_json(self) -> dict[str, Any]:
        """``{benchmark: {protocol: {apgr, cpt50, cpt80, auc, n, random: {...}}}}`` plus the
        calibration rows and the published comparison."""
        out: dict[str, Any] = {}
        for row in self.metrics.itertuples(index=False):
            slot = out.setdefault(row.benchmark, {}).setdefault(row.protocol, {})
            vals = {
                k: _num(getattr(row, k))
                for k in ("apgr", "cpt50", "cpt80", "auc", "monotone", "brier", "roc_auc", "n")
            }
            if row.router == "classifier":
                slot.update(vals)
            else:
                slot[row.router] = vals
        return {
            "metrics": out,
            "calibration": [
                {k: _num(v) for k, v in r.items()} for r in self.calibration.to_dict("records")
            ],
            "published": [
                {k: _num(v) for k, v in r.items()} for r in self.published.to_dict("records")
            ],
        }


def _num(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else float(v)
    return v


def _calibration_rows(
    benchmark: str,
    protocol: str,
    cal_scores: np.ndarray,
    holdout_scores: np.ndarray,
    shares: Sequence[float],
    how: str,
) -> list[dict[str, Any]]:
    rows = []
    for share in shares:
        cal = ShareCalibrator(share).fit(cal_scores)
        rows.append(
            {
                "benchmark": benchmark,
                "protocol": protocol,
                "target_share": float(share),
                "threshold": cal.threshold_,
                "calibration_share": cal.share_,
                "holdout_share": realised_share(holdout_scores, cal.threshold_),
                "calibrated_on": how,
            }
        )
    return rows


def evaluate_classifier(
    trace: Trace,
    *,
    weak: str,
    strong: str,
    estimator: ComplexityClassifier | None = None,
    protocols: Sequence[str] = ("cv", "transfer"),
    benchmarks: Sequence[str] | None = None,
    n_splits: int = 5,
    seed: int = 0,
    target_shares: Sequence[float] = (0.2, 0.5),
) -> EvaluationResult:
    """Evaluate a classifier on every benchmark (``source``) of ``trace``.

    Parameters
    ----------
    trace : Trace
        Prompts plus outcomes for ``weak`` and ``strong``; the ``source`` column names the
        benchmark of each request.
    weak, strong : str
        The cheap and the strong model.
    estimator : ComplexityClassifier, optional
        Default ``ComplexityClassifier()`` (static embedding + prompt features, logistic).
    protocols : sequence of {'cv', 'transfer'}
    benchmarks : sequence of str, optional
        Which sources to evaluate on (default: all in the trace).
    n_splits, seed : int
        Outer folds and their seed (protocol ``cv``).
    target_shares : sequence of float
        Strong shares to calibrate thresholds for. ``cv``: calibrated on the out-of-fold
        scores of half the benchmark's requests (seeded split by prompt), realised share
        reported on the other half. ``transfer``: calibrated on the training benchmarks'
        out-of-fold scores, realised share on the evaluated benchmark.

    Raises
    ------
    ClassifierError
        On an unknown protocol or benchmark, or a trace without prompts.
    TraceError
        If the trace has no outcomes for ``weak`` or ``strong`` (lists the models it has).
    """
    unknown = [p for p in protocols if p not in ("cv", "transfer")]
    if unknown:
        raise ClassifierError(f"unknown protocol {unknown[0]!r}; choose from 'cv', 'transfer'")
    est = ComplexityClassifier() if estimator is None else estimator
    q = trace.quality_matrix([weak, strong]).to_numpy(dtype=np.float64)
    prompts_s = trace.requests["prompt"]
    if prompts_s.isna().any():
        i = int(np.flatnonzero(prompts_s.isna().to_numpy())[0])
        raise ClassifierError(
            f"{trace.where} (requests), row {i + 1}, column 'prompt': no prompt text; the "
            "classifier is evaluated on prompts"
        )
    prompts = [str(p) for p in prompts_s]
    source = trace.requests["source"].fillna("<none>").astype(str).to_numpy()
    available = sorted(set(source))
    targets = available if benchmarks is None else list(benchmarks)
    missing = [b for b in targets if b not in available]
    if missing:
        raise ClassifierError(
            f"benchmark {missing[0]!r} is not in the trace's 'source' column; it has: "
            f"{', '.join(available)}"
        )
    usable = np.isfinite(q).all(axis=1)
    embedded = embed_once(est, prompts)
    rows: list[dict[str, Any]] = []
    cal_rows: list[dict[str, Any]] = []
    scores: dict[tuple[str, str], pd.DataFrame] = {}
    oof_cache: dict[str, Any] = {}

    def oof(bench: str) -> tuple[np.ndarray, Any]:
        if bench not in oof_cache:
            m = (source == bench) & usable
            idx = np.flatnonzero(m)
            res = out_of_fold_scores(
                [prompts[i] for i in idx],
                q[idx],
                estimator=est,
                n_splits=n_splits,
                random_state=seed,
                embedded=embedded[idx],
            )
            oof_cache[bench] = (idx, res)
        return oof_cache[bench]

    for bench in targets:
        idx_b = np.flatnonzero((source == bench) & usable)
        w, s = q[idx_b, 0], q[idx_b, 1]
        rand = _random_metrics(w, s)
        for protocol in protocols:
            if protocol == "cv":
                idx, res = oof(bench)
                p_hard, gain = res.p_hard, res.gain
                half = np.random.default_rng(seed).random(len(idx)) < 0.5
                cal_rows += _calibration_rows(
                    bench, protocol, p_hard[half], p_hard[~half], target_shares,
                    "out-of-fold scores of a random half of the benchmark",
                )  # fmt: skip
            else:
                train = np.flatnonzero((source != bench) & usable)
                if train.size == 0:
                    raise ClassifierError(
                        f"transfer to {bench!r} needs another benchmark in the trace to train on"
                    )
                res = transfer_scores(
                    [prompts[i] for i in train], q[train], [prompts[i] for i in idx_b],
                    estimator=est,
                )  # fmt: skip
                p_hard, gain = res.p_hard, res.gain
                cal_scores = np.concatenate([oof(b)[1].p_hard for b in sorted(set(source[train]))])
                cal_rows += _calibration_rows(
                    bench, protocol, cal_scores, p_hard, target_shares,
                    "out-of-fold scores of the training benchmarks",
                )  # fmt: skip
            m = routing_metrics(p_hard, w, s) | probability_metrics(p_hard, w, s)
            rows.append({"benchmark": bench, "protocol": protocol, "router": "classifier",
                         **m, "n": len(idx_b)})  # fmt: skip
            rows.append({"benchmark": bench, "protocol": protocol, "router": "random",
                         **rand, "brier": np.nan, "roc_auc": np.nan, "n": len(idx_b)})  # fmt: skip
            scores[(bench, protocol)] = pd.DataFrame(
                {
                    "request_id": trace.requests["request_id"].to_numpy()[idx_b],
                    "p_hard": p_hard,
                    "gain": gain,
                }
            )
    published = pd.DataFrame([p for p in PUBLISHED if p["benchmark"] in targets])
    return EvaluationResult(
        metrics=pd.DataFrame(rows),
        calibration=pd.DataFrame(cal_rows),
        scores=scores,
        published=published,
    )
