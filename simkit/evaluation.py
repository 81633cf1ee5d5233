"""Classifier evaluation: out-of-fold and transfer scores from :mod:`simkit.classify`, scored
with the simulator's RouteLLM metrics (:mod:`simkit.metrics.routing`).

This is the workflow layer joining the two (``simkit.classify`` may not import
``simkit.metrics``). Protocols:

* ``"cv"`` (protocol i) - within each benchmark (``source`` column), k-fold out-of-fold
  scores, identical prompts in one fold, hyper-parameters chosen on training folds only;
* ``"transfer"`` (protocol ii) - train on every other benchmark of the trace, score this one;
* ``"leave-one-domain-out"`` - the same fits as ``transfer``, read as the out-of-domain
  protocol: for every source (domain) of one or several traces (:func:`domain_trace`), train
  on all the others and test on the one left out; :attr:`EvaluationResult.out_of_domain`
  holds the mean over the held-out domains with a bootstrap interval (resampling the
  requests of every domain independently), the number to read first.

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
from sklearn.base import clone

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
    "PROTOCOLS",
    "SeedEvaluations",
    "bootstrap_intervals",
    "domain_trace",
    "evaluate_classifier",
    "evaluate_over_seeds",
    "learning_curve",
    "probability_metrics",
    "routing_metrics",
    "seed_summary",
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


#: Metrics that :func:`bootstrap_intervals` gives intervals for.
BOOTSTRAP_METRICS = ("apgr", "cpt50", "cpt80")


def bootstrap_intervals(
    scores: np.ndarray,
    weak_quality: np.ndarray,
    strong_quality: np.ndarray,
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of APGR, CPT(50 %) and CPT(80 %) over requests.

    The scores are held fixed (e.g. out-of-fold scores) and the requests resampled with
    replacement, so the interval says how much the metric would move on another sample of the
    same kind of traffic of this size; it does not include the variation from refitting
    the classifier (repeat the cross-validation with other fold seeds for that,
    :func:`seed_summary`). Seeded: the same inputs give the same interval.

    Parameters
    ----------
    scores, weak_quality, strong_quality : ndarray, shape (n,)
        As for :func:`routing_metrics`.
    n_resamples : int
        Bootstrap resamples (>= 2).
    level : float
        Coverage of the two-sided interval, in (0, 1).
    seed : int
        Seeds the resampling.
    progress : bool
        Show a progress bar of the resamples on stderr (tqdm).

    Returns
    -------
    dict
        ``{"apgr": (lo, hi), "cpt50": (lo, hi), "cpt80": (lo, hi)}``.

    Raises
    ------
    ClassifierError
        On ``n_resamples < 2``, ``level`` outside (0, 1), or fewer than two requests.
    """
    if not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise ClassifierError(f"n_resamples must be an integer >= 2, got {n_resamples!r}")
    if not 0.0 < level < 1.0:
        raise ClassifierError(f"level must lie in (0, 1), got {level!r}")
    sc = np.asarray(scores, dtype=np.float64)
    w = np.asarray(weak_quality, dtype=np.float64)
    s = np.asarray(strong_quality, dtype=np.float64)
    if len(sc) < 2:
        raise ClassifierError(f"a bootstrap needs at least 2 requests, got {len(sc)}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB007]))
    return _intervals(_bootstrap_draws(sc, w, s, int(n_resamples), rng, progress), level)


def _bootstrap_draws(
    sc: np.ndarray,
    w: np.ndarray,
    s: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Metric of each resample of the requests (NaN where a resample has no gap to recover)."""
    draws = {k: np.full(n_resamples, np.nan) for k in BOOTSTRAP_METRICS}
    for r in _bar(range(n_resamples), progress, desc="bootstrap", unit="resample"):
        ix = rng.integers(0, len(sc), len(sc))
        if np.mean(s[ix]) == np.mean(w[ix]):
            continue  # no gap to recover in this resample: PGR is undefined
        m = routing_metrics(sc[ix], w[ix], s[ix])
        for k in BOOTSTRAP_METRICS:
            draws[k][r] = m[k]
    return draws


def _intervals(draws: dict[str, np.ndarray], level: float) -> dict[str, tuple[float, float]]:
    tail = (1.0 - level) / 2.0
    out = {}
    for k, v in draws.items():
        a = np.asarray(v, dtype=np.float64)
        a = a[np.isfinite(a)]
        out[k] = (
            (float(np.quantile(a, tail)), float(np.quantile(a, 1.0 - tail)))
            if a.size
            else (float("nan"), float("nan"))
        )
    return out


def _bar(items: Any, show: bool, **options: Any) -> Any:
    """``items`` wrapped in a tqdm bar on stderr when ``show`` (the bar disappears when done)."""
    if not show:
        return items
    import sys

    from tqdm.auto import tqdm

    return tqdm(items, file=sys.stderr, leave=False, mininterval=0.5, **options)


def seed_summary(
    metrics: pd.DataFrame,
    by: Sequence[str] = ("benchmark", "protocol"),
    columns: Sequence[str] = ("apgr", "cpt50", "cpt80", "auc"),
) -> pd.DataFrame:
    """Mean and standard deviation over fold seeds of the classifier's metrics.

    ``metrics`` is the concatenation of :attr:`EvaluationResult.metrics` of several runs with
    a ``seed`` column added (only the ``"classifier"`` rows count), or a
    :func:`learning_curve` frame with ``by=("benchmark", "fraction")``. Returns one row per
    group of ``by``: ``n_seeds`` and ``<column>_mean``, ``<column>_sd`` (sample standard
    deviation, NaN for one seed) of each of ``columns``.
    """
    if "seed" not in metrics.columns:
        raise ClassifierError("seed_summary needs a 'seed' column (one run per fold seed)")
    if "router" in metrics.columns:
        metrics = metrics[metrics["router"] == "classifier"]
    rows = []
    for key, g in metrics.groupby(list(by), sort=True):
        row: dict[str, Any] = {**dict(zip(by, key, strict=True)), "n_seeds": len(g)}
        for k in columns:
            vals = g[k].to_numpy(dtype=np.float64)
            row[f"{k}_mean"] = float(vals.mean())
            row[f"{k}_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


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
        against ``1[strong > weak]`` and, with a bootstrap, ``<metric>_lo``/``<metric>_hi``
        (:func:`bootstrap_intervals`); routers are ``"classifier"`` and ``"random"``.
    calibration : DataFrame
        Thresholds calibrated to target shares on calibration scores, with the share each
        realises on held-out scores.
    scores : dict
        ``(benchmark, protocol) -> DataFrame`` of ``request_id``, ``p_hard``, ``gain``.
    published : DataFrame
        :data:`PUBLISHED` rows for the evaluated benchmarks.
    out_of_domain : DataFrame
        With protocol ``"leave-one-domain-out"``: one row, the mean over the held-out domains
        of the classifier's ``apgr``, ``cpt50``, ``cpt80`` with ``<metric>_lo``/``_hi``
        (percentile bootstrap of that mean: each domain's requests resampled on their own,
        the same resample index averaged over domains), ``random_apgr`` (the random router's
        mean), ``n_domains``, ``domains`` (comma separated) and ``n`` (requests). Empty
        otherwise.
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    scores: dict[tuple[str, str], pd.DataFrame] = field(repr=False)
    published: pd.DataFrame
    out_of_domain: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_json(self) -> dict[str, Any]:
        """``{benchmark: {protocol: {apgr, cpt50, cpt80, auc, n, random: {...}}}}`` plus the
        out-of-domain summary (``out_of_domain``: ``null`` unless protocol
        ``leave-one-domain-out`` ran), the calibration rows and the published comparison."""
        out: dict[str, Any] = {}
        for row in self.metrics.itertuples(index=False):
            slot = out.setdefault(row.benchmark, {}).setdefault(row.protocol, {})
            vals = {
                k: _num(getattr(row, k))
                for k in ("apgr", "cpt50", "cpt80", "auc", "monotone", "brier", "roc_auc", "n")
            }
            if row.router == "classifier":
                for k in BOOTSTRAP_METRICS:
                    lo, hi = getattr(row, f"{k}_lo", None), getattr(row, f"{k}_hi", None)
                    if lo is not None:
                        vals[f"{k}_ci"] = [_num(lo), _num(hi)]
                slot.update(vals)
            else:
                slot[row.router] = vals
        ood = None
        if len(self.out_of_domain):
            r = self.out_of_domain.iloc[0].to_dict()
            ood = {k: _num(r[k]) for k in ("apgr", "cpt50", "cpt80", "random_apgr", "n")}
            for k in BOOTSTRAP_METRICS:
                if f"{k}_lo" in r:
                    ood[f"{k}_ci"] = [_num(r[f"{k}_lo"]), _num(r[f"{k}_hi"])]
            ood["n_domains"] = int(r["n_domains"])
            ood["domains"] = str(r["domains"]).split(",")
        return {
            "out_of_domain": ood,
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


def _benchmark_data(
    trace: Trace, weak: str, strong: str, benchmarks: Sequence[str] | None
) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """Quality matrix (weak, strong), prompts, source per request and the benchmarks to
    evaluate, with the trace's prompts and the requested benchmarks checked."""
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
    return q, prompts, source, targets


#: Evaluation protocols of :func:`evaluate_classifier`.
PROTOCOLS = ("cv", "transfer", "leave-one-domain-out")
LODO = "leave-one-domain-out"


def domain_trace(traces: Sequence[Trace], *, weak: str, strong: str) -> Trace:
    """One trace whose sources are the domains of a leave-one-domain-out evaluation.

    Each trace keeps its ``source`` column (MMLU and GSM8K in ``routellm_azure``,
    ``arena-bench-v1`` in ``arena_bench_v1``, or a team's own categories); the traces are
    merged with :func:`simkit.trace.compose.combine`. Every trace must have outcomes for both
    ``weak`` and ``strong`` (other models' outcomes are kept: the N-model difficulty uses them).

    Raises
    ------
    ClassifierError
        On no trace, or a trace without outcomes for ``weak`` or ``strong`` (naming the trace
        and the models it has).
    TraceError
        If two traces share a request id.
    """
    from simkit.trace.compose import combine

    if not traces:
        raise ClassifierError("leave-one-domain-out needs at least one trace")
    for t in traces:
        missing = [m for m in (weak, strong) if m not in set(t.models)]
        if missing:
            raise ClassifierError(
                f"{t.where}: no outcomes for model {missing[0]!r} (the pair is weak {weak!r}, "
                f"strong {strong!r}); models with outcomes: {', '.join(t.models) or 'none'}"
            )
    if len(traces) == 1:
        return traces[0]
    name = " + ".join(str(t.where) for t in traces)
    return combine(list(traces), name=name, meta={"weak_model": weak, "strong_model": strong})


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
    n_bootstrap: int = 1000,
    level: float = 0.95,
    progress: bool = False,
    label: str = "gain",
    irt_shrinkage: float = 0.3,
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
    protocols : sequence of {'cv', 'transfer', 'leave-one-domain-out'}
        ``leave-one-domain-out`` fits what ``transfer`` fits (train on every other source,
        score this one) and adds :attr:`EvaluationResult.out_of_domain`, the mean over the
        held-out domains with its bootstrap interval; it needs at least two sources (several
        traces: :func:`domain_trace`).
    benchmarks : sequence of str, optional
        Which sources to evaluate on (default: all in the trace).
    n_splits, seed : int
        Outer folds and their seed (protocol ``cv``).
    target_shares : sequence of float
        Strong shares to calibrate thresholds for (empty: no calibration rows, and
        ``transfer``/``leave-one-domain-out`` skip the training benchmarks' out-of-fold
        fits). ``cv``: calibrated on the out-of-fold scores of half the benchmark's requests
        (a seeded split of the requests), realised share reported on the other half.
        ``transfer`` and ``leave-one-domain-out``: calibrated on the training benchmarks'
        out-of-fold scores, realised share on the evaluated benchmark.
    n_bootstrap, level : int, float
        Resamples and coverage of the bootstrap intervals of APGR and CPT over requests
        (:func:`bootstrap_intervals`, seeded by ``seed``; for ``leave-one-domain-out`` each
        held-out domain gets its own stream spawned from ``seed``); ``n_bootstrap=0`` skips
        them.
    progress : bool
        Show progress on stderr (tqdm): one step per benchmark and protocol (the ``cv``
        step fits ``n_splits`` folds, ``transfer`` one model), then the bootstrap resamples.
    label : {'gain', 'irt'}
        Training labels of the pair. ``'gain'``: the observed outcomes of ``weak`` and
        ``strong``. ``'irt'``: those outcomes shrunk by ``irt_shrinkage`` towards what a Rasch
        model fitted to *every* model's outcomes on the same source expects
        (:func:`simkit.classify.difficulty.irt_pair_labels`), on every source with outcomes
        of a third model (Arena-Bench-v1 has 15; MMLU and GSM8K only the pair, whose labels
        stay as observed). Fitted per source, so a held-out domain's outcomes
        never shape the labels of the others; within ``cv`` the abilities see every fold.
        Metrics are always computed on the observed outcomes.

    Raises
    ------
    ClassifierError
        On an unknown protocol or benchmark, a trace without prompts, or
        ``leave-one-domain-out`` on a trace with fewer than two sources.
    TraceError
        If the trace has no outcomes for ``weak`` or ``strong`` (lists the models it has).
    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ClassifierError(
            f"unknown protocol {unknown[0]!r}; choose from {', '.join(map(repr, PROTOCOLS))}"
        )
    est = ComplexityClassifier() if estimator is None else estimator
    q, prompts, source, targets = _benchmark_data(trace, weak, strong, benchmarks)
    usable = np.isfinite(q).all(axis=1)
    q_train = _training_labels(trace, q, source, weak, strong, label, irt_shrinkage)
    domains = sorted(set(source[usable]))
    if LODO in protocols and len(domains) < 2:
        raise ClassifierError(
            f"{trace.where}: leave-one-domain-out needs at least two sources (the 'source' "
            f"column) with outcomes for both {weak!r} and {strong!r}; it has "
            f"{len(domains)}: {', '.join(domains) or 'none'}. Give several traces or a trace "
            "with several sources"
        )
    lodo_streams = dict(
        zip(targets, np.random.SeedSequence([int(seed), 0xB007, 0x10D0]).spawn(len(targets)),
            strict=True)
    )  # fmt: skip
    lodo_draws: dict[str, dict[str, np.ndarray]] = {}
    embedded = embed_once(est, prompts)
    rows: list[dict[str, Any]] = []
    cal_rows: list[dict[str, Any]] = []
    scores: dict[tuple[str, str], pd.DataFrame] = {}
    oof_cache: dict[str, Any] = {}
    transfer_cache: dict[str, Any] = {}
    random_metrics: dict[str, dict[str, float]] = {}

    def oof(bench: str) -> tuple[np.ndarray, Any]:
        if bench not in oof_cache:
            m = (source == bench) & usable
            idx = np.flatnonzero(m)
            res = out_of_fold_scores(
                [prompts[i] for i in idx],
                q_train[idx],
                estimator=est,
                n_splits=n_splits,
                random_state=seed,
                embedded=embedded[idx],
            )
            oof_cache[bench] = (idx, res)
        return oof_cache[bench]

    steps = _bar(
        [(bench, protocol) for bench in targets for protocol in protocols],
        progress,
        desc=f"evaluate (cv: {n_splits} folds each)",
        unit="step",
    )
    for bench, protocol in steps:
        if progress:
            steps.set_postfix_str(f"{bench} {protocol}")
        idx_b = np.flatnonzero((source == bench) & usable)
        w, s = q[idx_b, 0], q[idx_b, 1]
        if bench not in random_metrics:
            random_metrics[bench] = _random_metrics(w, s)
        rand = random_metrics[bench]
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
                    f"{protocol} to {bench!r} needs another benchmark in the trace to train on"
                )
            if bench not in transfer_cache:  # transfer and leave-one-domain-out: one fit
                transfer_cache[bench] = transfer_scores(
                    [prompts[i] for i in train], q_train[train], [prompts[i] for i in idx_b],
                    estimator=est, train_embedded=embedded[train],
                    test_embedded=embedded[idx_b],
                )  # fmt: skip
            res = transfer_cache[bench]
            p_hard, gain = res.p_hard, res.gain
            if len(target_shares):  # the training benchmarks' out-of-fold scores cost k fits
                train_benches = sorted(set(source[train]))
                cal_scores = np.concatenate([oof(b)[1].p_hard for b in train_benches])
                cal_rows += _calibration_rows(
                    bench, protocol, cal_scores, p_hard, target_shares,
                    "out-of-fold scores of the training benchmarks",
                )  # fmt: skip
        m = routing_metrics(p_hard, w, s) | probability_metrics(p_hard, w, s)
        if n_bootstrap and protocol == LODO:
            rng = np.random.default_rng(lodo_streams[bench])
            lodo_draws[bench] = _bootstrap_draws(p_hard, w, s, int(n_bootstrap), rng, progress)
            for k, (lo, hi) in _intervals(lodo_draws[bench], level).items():
                m[f"{k}_lo"], m[f"{k}_hi"] = lo, hi
        elif n_bootstrap:
            ci = bootstrap_intervals(
                p_hard, w, s, n_resamples=n_bootstrap, level=level, seed=seed,
                progress=progress,
            )  # fmt: skip
            for k, (lo, hi) in ci.items():
                m[f"{k}_lo"], m[f"{k}_hi"] = lo, hi
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
    metrics = pd.DataFrame(rows)
    return EvaluationResult(
        metrics=metrics,
        calibration=pd.DataFrame(cal_rows),
        scores=scores,
        published=published,
        out_of_domain=(
            _out_of_domain(metrics, lodo_draws, level) if LODO in protocols else pd.DataFrame()
        ),
    )


def _training_labels(
    trace: Trace,
    q: np.ndarray,
    source: np.ndarray,
    weak: str,
    strong: str,
    label: str,
    shrinkage: float,
) -> np.ndarray:
    """The (weak, strong) training labels: observed, or, on a source with outcomes of more
    models than the pair, shrunk towards a per-source Rasch model of every model's outcomes."""
    if label == "gain":
        return q
    if label != "irt":
        raise ClassifierError(f"unknown label {label!r}; choose from 'gain', 'irt'")
    from simkit.classify.difficulty import irt_pair_labels

    every = trace.quality_matrix()
    out = q.copy()
    for src in sorted(set(source)):
        rows = np.flatnonzero(source == src)
        block = every.iloc[rows]
        block = block.loc[:, block.notna().any(axis=0)]
        cols = list(block.columns)
        if weak not in cols or strong not in cols or len(cols) < 3:
            continue  # no usable row, or no model beyond the pair: observed labels stay
        pair = (cols.index(weak), cols.index(strong))
        out[rows] = irt_pair_labels(block.to_numpy(), pair, shrinkage=shrinkage)
    return out


def _out_of_domain(
    metrics: pd.DataFrame, draws: dict[str, dict[str, np.ndarray]], level: float
) -> pd.DataFrame:
    """Mean over the held-out domains of the leave-one-domain-out rows, with the bootstrap
    interval of that mean (resample r of every domain averaged; a resample with no gap in
    some domain is left out)."""
    rows = metrics[metrics["protocol"] == LODO]
    clf = rows[rows["router"] == "classifier"].sort_values("benchmark")
    rnd = rows[rows["router"] == "random"]
    out: dict[str, Any] = {
        "protocol": LODO,
        "n_domains": len(clf),
        "domains": ",".join(clf["benchmark"]),
        "n": int(clf["n"].sum()),
        "random_apgr": float(rnd["apgr"].mean()),
    }
    for k in BOOTSTRAP_METRICS:
        out[k] = float(clf[k].mean())
        if draws:
            mean_draws = np.mean([draws[b][k] for b in clf["benchmark"]], axis=0)
            out[f"{k}_lo"], out[f"{k}_hi"] = _intervals({k: mean_draws}, level)[k]
    return pd.DataFrame([out])


def learning_curve(
    trace: Trace,
    *,
    weak: str,
    strong: str,
    estimator: ComplexityClassifier | None = None,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    benchmarks: Sequence[str] | None = None,
    n_splits: int = 5,
    seeds: Sequence[int] = (0,),
) -> pd.DataFrame:
    """Protocol (i) with each fold's model trained on a fraction of its training prompts.

    Answers "would more labelled traffic help?": if APGR still rises (and CPT falls) from
    75 % to 100 % of the training data, more outcomes of the same kind are worth recording.
    The test folds are the full benchmark at every fraction, so the points are comparable;
    the training sample is a seeded sample of prompt groups.

    Parameters
    ----------
    trace, weak, strong, estimator, benchmarks, n_splits
        As for :func:`evaluate_classifier`.
    fractions : sequence of float
        Shares of each training fold to train on, in (0, 1].
    seeds : sequence of int
        Fold seeds (each also seeds the estimator and the training sample).

    Returns
    -------
    DataFrame
        One row per (benchmark, fraction, seed): ``n_train`` (mean training prompts per
        fold), ``apgr``, ``cpt50``, ``cpt80``, ``auc``.

    Raises
    ------
    ClassifierError
        On a fraction outside (0, 1], no seeds, an unknown benchmark, or a trace without
        prompts.
    """
    bad = [f for f in fractions if not 0.0 < float(f) <= 1.0]
    if bad or not len(fractions):
        raise ClassifierError(f"fractions must lie in (0, 1], got {list(fractions)!r}")
    if not len(seeds):
        raise ClassifierError("learning_curve needs at least one fold seed")
    est = ComplexityClassifier() if estimator is None else estimator
    q, prompts, source, targets = _benchmark_data(trace, weak, strong, benchmarks)
    usable = np.isfinite(q).all(axis=1)
    embedded = embed_once(est, prompts)
    rows = []
    for bench in targets:
        idx = np.flatnonzero((source == bench) & usable)
        bp = [prompts[i] for i in idx]
        for fraction in fractions:
            for seed in seeds:
                res = out_of_fold_scores(
                    bp,
                    q[idx],
                    estimator=clone(est).set_params(random_state=int(seed)),
                    n_splits=n_splits,
                    random_state=int(seed),
                    embedded=embedded[idx],
                    train_fraction=float(fraction),
                )
                m = routing_metrics(res.p_hard, q[idx, 0], q[idx, 1])
                rows.append(
                    {
                        "benchmark": bench,
                        "fraction": float(fraction),
                        "seed": int(seed),
                        "n_train": res.n_train,
                        **{k: m[k] for k in ("apgr", "cpt50", "cpt80", "auc")},
                    }
                )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SeedEvaluations:
    """:func:`evaluate_classifier` repeated over fold seeds.

    Attributes
    ----------
    seeds : tuple of int
        The fold seeds, in order.
    results : tuple of EvaluationResult
        One per seed.
    summary : DataFrame or None
        :func:`seed_summary` of the classifier's metrics over the seeds (``None`` for one seed).
    """

    seeds: tuple[int, ...]
    results: tuple[EvaluationResult, ...]
    summary: pd.DataFrame | None

    def to_json(self) -> dict[str, Any]:
        """The first seed's :meth:`EvaluationResult.to_json`; with several seeds also ``seeds``,
        ``per_seed`` (seed -> metrics), ``over_seeds`` (the summary's rows) and, with protocol
        ``leave-one-domain-out``, ``out_of_domain_per_seed`` (seed -> out-of-domain mean)."""
        payload = self.results[0].to_json()
        if self.summary is not None:
            payload["seeds"] = list(self.seeds)
            payload["per_seed"] = {
                str(s): r.to_json()["metrics"]
                for r, s in zip(self.results, self.seeds, strict=True)
            }
            payload["over_seeds"] = self.summary.to_dict("records")
            if payload.get("out_of_domain") is not None:
                payload["out_of_domain_per_seed"] = {
                    str(s): r.to_json()["out_of_domain"]
                    for r, s in zip(self.results, self.seeds, strict=True)
                }
        return payload


def evaluate_over_seeds(
    trace: Trace,
    *,
    weak: str,
    strong: str,
    estimator: ComplexityClassifier | None = None,
    seeds: Sequence[int] = (0,),
    progress: bool = False,
    **options: Any,
) -> SeedEvaluations:
    """:func:`evaluate_classifier` once per fold seed, and the mean and sd over them.

    CPT on a benchmark of ~1,000 prompts moves a point or more between fold seeds; repeating
    the evaluation says how much. For each seed the estimator is cloned with
    ``random_state=seed`` (its inner folds follow the outer ones) and the outer folds and the
    bootstrap are seeded with it.

    Parameters
    ----------
    trace : Trace
    weak, strong : str
        The cheap and the strong model.
    estimator : ComplexityClassifier, optional
        Default ``ComplexityClassifier()``.
    seeds : sequence of int
        At least one fold seed.
    progress : bool
        A bar over the seeds (with more than one) and each evaluation's own bars, on stderr.
    **options
        Passed to :func:`evaluate_classifier` (``protocols``, ``benchmarks``, ``n_splits``,
        ``n_bootstrap``, ...).

    Returns
    -------
    SeedEvaluations
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ClassifierError("evaluate_over_seeds needs at least one seed")
    base = ComplexityClassifier() if estimator is None else estimator
    repeats: Any = seeds
    if progress and len(seeds) > 1:
        import sys

        from tqdm.auto import tqdm

        repeats = tqdm(seeds, desc="fold seeds", unit="repeat", file=sys.stderr)
    results = tuple(
        evaluate_classifier(
            trace,
            weak=weak,
            strong=strong,
            estimator=clone(base).set_params(random_state=seed),
            seed=seed,
            progress=progress,
            **options,
        )
        for seed in repeats
    )
    summary = None
    if len(seeds) > 1:
        summary = seed_summary(
            pd.concat([r.metrics.assign(seed=s) for r, s in zip(results, seeds, strict=True)])
        )
    return SeedEvaluations(seeds, results, summary)
