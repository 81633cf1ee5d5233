"""Chart-ready frames from metric outputs: pure reshaping (plus the Pareto flag).

Each function takes what :mod:`simkit.metrics` (or a sweep, or :mod:`simkit.study`) returns and
gives the tidy frame one chart of :mod:`simkit.viz.charts` reads; none simulates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.metrics import RoutingCurve, pareto_front, request_latencies
from simkit.schema import require_columns
from simkit.viz.charts import TRADEOFF_COLUMNS, cost_source_of

__all__ = [
    "first_crossings",
    "latency_cdf_points",
    "routing_curve_points",
    "seed_interval_points",
    "summary_points",
    "tier_cost_points",
    "tier_share_points",
    "tradeoff_points",
]


def tradeoff_points(
    points: pd.DataFrame, *, references: Sequence[str] = ("oracle",)
) -> pd.DataFrame:
    """Rows for :func:`~simkit.viz.charts.tradeoff_chart`, with the Pareto frontier flagged.

    Parameters
    ----------
    points : DataFrame
        ``policy``, ``cost_per_1k_usd``, ``mean_quality``, ``frontier_share``; optional
        ``threshold`` and ``p95_ttft_s`` (NaN when absent), ``operating_point`` (False when
        absent) and ``reference`` (default: True for the rows of ``references``). E.g.
        :meth:`simkit.study.Study.tradeoff`, or :func:`summary_points` of simulated runs, or
        both concatenated.
    references : sequence of str
        Policies no router can reach (the oracle knows every answer in advance): without a
        ``reference`` column, their rows are flagged ``reference``.

    Returns
    -------
    DataFrame
        The columns of :data:`~simkit.viz.charts.TRADEOFF_COLUMNS`, same rows and order;
        ``on_frontier`` marks the achievable rows (not ``reference``) that no other
        achievable row beats on both cost (lower) and quality (higher)
        (:func:`simkit.metrics.pareto_front`); reference rows and rows with unknown quality
        are never on it.
    """
    require_columns(
        points,
        ["policy", "cost_per_1k_usd", "mean_quality", "frontier_share"],
        where="tradeoff_points points",
    )
    out = pd.DataFrame(index=points.index)
    out["policy"] = points["policy"].astype(str)
    for column in ("cost_per_1k_usd", "mean_quality", "frontier_share"):
        out[column] = points[column].astype("float64")
    for column in ("threshold", "p95_ttft_s"):
        out[column] = points[column].astype("float64") if column in points else np.nan
    out["operating_point"] = (
        points["operating_point"].astype("boolean").fillna(False).astype(bool)
        if "operating_point" in points
        else False
    )
    out["reference"] = (
        points["reference"].astype("boolean").fillna(False).astype(bool)
        if "reference" in points
        else out["policy"].isin([str(r) for r in references])
    )
    known = out["mean_quality"].notna() & out["cost_per_1k_usd"].notna() & ~out["reference"]
    front = np.zeros(len(out), dtype=bool)
    if known.any():
        front[known.to_numpy()] = pareto_front(
            out.loc[known], minimize=["cost_per_1k_usd"], maximize=["mean_quality"]
        )
    out["on_frontier"] = front
    out = out[list(TRADEOFF_COLUMNS)].reset_index(drop=True)
    out.attrs["cost_source"] = cost_source_of(points, "tradeoff_points points")
    return out


def summary_points(
    summary: pd.DataFrame,
    *,
    frontier_tier: str,
    label: str = "policy",
    threshold: str | None = None,
    operating: Sequence[str] = (),
    family: str | None = None,
) -> pd.DataFrame:
    """Simulated runs as trade-off points: the mean over seeds of each label.

    Parameters
    ----------
    summary : DataFrame
        :func:`simkit.metrics.summarize_runs` or :func:`simkit.sweep.sweep` rows (one per run).
    frontier_tier : str
        The tier whose ``share_<tier>`` is the frontier share.
    label : str
        Column naming the policy of each run.
    threshold : str, optional
        Column holding the policy parameter to show as ``threshold``.
    operating : sequence of str
        Labels to flag as operating points.
    family : str, optional
        Column whose value becomes the ``policy`` drawn (e.g. the vectorised curve a
        simulated threshold run lies on); runs are still averaged per ``label``.

    Returns
    -------
    DataFrame
        ``policy``, ``threshold``, ``frontier_share``, ``cost_per_1k_usd``, ``mean_quality``,
        ``p95_ttft_s``, ``operating_point``, ``n_runs`` (one row per label, in first-seen
        order), ``cost_source`` (which prices the costs used; also in ``attrs``); pass it to
        :func:`tradeoff_points`.
    """
    share = f"share_{frontier_tier}"
    needed = [label, share, "cost_per_1k_usd", "mean_quality", "p95_ttft_s"]
    require_columns(
        summary,
        needed + ([threshold] if threshold else []) + ([family] if family else []),
        where="summary_points summary",
        hint="pass summarize_runs or sweep output, and the frontier tier's name",
    )
    values = {
        "threshold": summary[threshold].astype("float64") if threshold else np.nan,
        "frontier_share": summary[share],
        "cost_per_1k_usd": summary["cost_per_1k_usd"],
        "mean_quality": summary["mean_quality"],
        "p95_ttft_s": summary["p95_ttft_s"],
    }
    frame = pd.DataFrame(values).assign(policy=summary[label].astype(str).to_numpy())
    grouped = frame.groupby("policy", sort=False)
    out = grouped.mean()
    out["n_runs"] = grouped.size()
    out = out.reset_index()
    out["operating_point"] = out["policy"].isin(list(operating))
    if family:
        names = dict(zip(summary[label].astype(str), summary[family].astype(str), strict=True))
        out["policy"] = out["policy"].map(names)
    source = cost_source_of(summary, "summary_points summary")
    out["cost_source"] = source  # a column too, so it survives a concat with curve rows
    out.attrs["cost_source"] = source
    return out[
        [
            "policy",
            "threshold",
            "frontier_share",
            "cost_per_1k_usd",
            "mean_quality",
            "p95_ttft_s",
            "operating_point",
            "n_runs",
            "cost_source",
        ]
    ]


def routing_curve_points(
    routers: Mapping[str, RoutingCurve],
    *,
    random: RoutingCurve | None = None,
    oracle: RoutingCurve | None = None,
) -> pd.DataFrame:
    """RouteLLM-style curves (:class:`simkit.metrics.RoutingCurve`) as one tidy frame.

    Returns
    -------
    DataFrame
        ``policy``, ``kind`` (``'router'``, ``'random'``, ``'oracle'``), ``frontier_share``,
        ``mean_quality``, ``pgr``; routers first, then the baselines.
    """
    parts = []
    named = [(name, "router", c) for name, c in routers.items()]
    named += [("random", "random", random)] if random is not None else []
    named += [("oracle", "oracle", oracle)] if oracle is not None else []
    if not named:
        raise SpecError("routing_curve_points", key="routers", problem="no curves given")
    for name, kind, curve in named:
        if not isinstance(curve, RoutingCurve):
            raise SpecError(
                "routing_curve_points",
                key=name,
                problem=f"expected a simkit.metrics.RoutingCurve, got {type(curve).__name__}",
            )
        frame = curve.to_frame().rename(
            columns={"strong_share": "frontier_share", "quality": "mean_quality"}
        )
        parts.append(frame.assign(policy=name, kind=kind))
    out = pd.concat(parts, ignore_index=True)
    return out[["policy", "kind", "frontier_share", "mean_quality", "pgr"]]


def latency_cdf_points(records: pd.DataFrame, *, max_points: int = 200) -> pd.DataFrame:
    """Empirical CDFs of TTFT and E2E per tier over the completed requests of ``records``.

    With ``n <= max_points`` requests in a tier every request is a point (``cdf = i / n``);
    with more, the ECDF is read at ``max_points`` evenly spaced levels (exact order
    statistics, ``np.quantile(..., method="inverted_cdf")``), so a 1M-request run draws as
    quickly as a small one. Zero latencies are dropped (log axis); their share still counts.

    Parameters
    ----------
    records : DataFrame
        Simulator records (one or several runs; pooled).
    max_points : int
        Points per tier and metric.

    Returns
    -------
    DataFrame
        ``tier``, ``metric`` (``'ttft'``, ``'e2e'``), ``latency_s``, ``cdf``, ``n`` (requests
        behind the curve).
    """
    if isinstance(max_points, bool) or int(max_points) != max_points or max_points < 2:
        raise SpecError(
            "latency_cdf_points", key="max_points", problem=f"got {max_points!r}; expected >= 2"
        )
    lat = request_latencies(records)
    done = lat[lat["status"] == "completed"]
    parts = []
    for tier, group in done.groupby("tier", sort=True):
        for metric in ("ttft", "e2e"):
            values = np.sort(group[f"{metric}_s"].to_numpy(dtype="float64"))
            n = values.size
            if n <= max_points:
                x, level = values, np.arange(1, n + 1) / n
            else:
                level = np.linspace(1.0 / max_points, 1.0, int(max_points))
                x = np.quantile(values, level, method="inverted_cdf")
            keep = x > 0
            parts.append(
                pd.DataFrame(
                    {"tier": str(tier), "metric": metric, "latency_s": x[keep], "cdf": level[keep]}
                ).assign(n=n)
            )
    if not parts:
        raise SpecError("latency_cdf_points", problem="no completed request in the records")
    return pd.concat(parts, ignore_index=True)


def tier_share_points(
    summary: pd.DataFrame, *, tiers: Sequence[str], label: str = "policy"
) -> pd.DataFrame:
    """Per-run ``share_<tier>`` columns as (policy, tier, share) rows, mean over seeds.

    Parameters
    ----------
    summary : DataFrame
        Rows with ``label`` and ``share_<tier>`` for every tier in ``tiers`` (e.g.
        :func:`simkit.metrics.summarize_runs` output, or :meth:`simkit.study.Study.tradeoff`).
    tiers : sequence of str
        Tier names, in stacking order.
    label : str
        Column naming the policy.

    Returns
    -------
    DataFrame
        ``policy``, ``tier``, ``share``.
    """
    columns = [f"share_{t}" for t in tiers]
    require_columns(summary, [label, *columns], where="tier_share_points summary")
    mean = summary.groupby(label, sort=False)[columns].mean()
    long = mean.reset_index().melt(id_vars=label, var_name="tier", value_name="share")
    long["tier"] = long["tier"].str.removeprefix("share_")
    long = long.rename(columns={label: "policy"})
    order = {t: i for i, t in enumerate(tiers)}
    long["_p"] = long["policy"].map({p: i for i, p in enumerate(mean.index)})
    long["_t"] = long["tier"].map(order)
    return long.sort_values(["_p", "_t"]).drop(columns=["_p", "_t"]).reset_index(drop=True)


def first_crossings(crossovers: pd.DataFrame) -> pd.DataFrame:
    """The first crossover (lowest volume) of each pair of strategies, numbered.

    Replica steps can make two strategies cross many times; the first crossing of each pair
    is the one a reader looks for. ``tag`` (``"1"``, ``"2"``, ... by volume) is what
    :func:`~simkit.viz.charts.monthly_cost_chart` writes next to each mark.
    """
    require_columns(crossovers, ["label", "requests_per_month"], where="first_crossings")
    pair = crossovers["label"].str.removesuffix(" (step)")
    out = (
        crossovers.assign(_pair=pair)
        .sort_values("requests_per_month", kind="stable")
        .drop_duplicates("_pair")
        .drop(columns="_pair")
        .reset_index(drop=True)
    )
    out["tag"] = [str(i + 1) for i in range(len(out))]
    return out


def seed_interval_points(
    summary: pd.DataFrame,
    *,
    label: str = "policy",
    columns: Sequence[str] = ("cost_per_1k_usd", "p95_ttft_s"),
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean over seeds of each policy, with a confidence interval of that mean.

    The interval is Student's t interval over the runs of a label (one run per seed):
    ``mean +- t(level, n - 1) * sd / sqrt(n)``. It says how far another set of seeds could
    move the mean; with one run there is no interval (NaN).

    Parameters
    ----------
    summary : DataFrame
        One row per run (e.g. :func:`simkit.metrics.summarize_runs` with a ``label`` column).
    label : str
        Column naming the policy of each run.
    columns : sequence of str
        The numbers to average.
    level : float
        Coverage of the interval, in (0, 1).

    Returns
    -------
    DataFrame
        ``policy``, ``n_runs`` and, per column ``c``, ``c``, ``c_lo``, ``c_hi``; one row per
        label in first-seen order.
    """
    from scipy import stats

    if not 0.0 < float(level) < 1.0:
        raise SpecError(
            "seed_interval_points", key="level", problem=f"got {level!r}; expected in (0, 1)"
        )
    require_columns(summary, [label, *columns], where="seed_interval_points summary")
    grouped = summary.groupby(label, sort=False)
    n = grouped.size()
    out = pd.DataFrame({"policy": n.index.astype(str), "n_runs": n.to_numpy()})
    t = np.where(
        n.to_numpy() > 1, stats.t.ppf(0.5 + level / 2, np.maximum(n.to_numpy() - 1, 1)), np.nan
    )
    for c in columns:
        mean = grouped[c].mean().to_numpy(dtype="float64")
        sem = (grouped[c].std(ddof=1) / np.sqrt(n)).to_numpy(dtype="float64")
        out[c] = mean
        out[f"{c}_lo"] = mean - t * sem
        out[f"{c}_hi"] = mean + t * sem
    out.attrs["cost_source"] = cost_source_of(summary, "seed_interval_points summary")
    return out


def tier_cost_points(
    summary: pd.DataFrame, *, tiers: Sequence[str], label: str = "policy"
) -> pd.DataFrame:
    """Each tier's part of the cost per 1k requests, per policy (mean over seeds).

    Parameters
    ----------
    summary : DataFrame
        One row per run with ``label``, ``n_requests`` and ``cost_usd_<tier>`` for every tier
        (:func:`simkit.metrics.summarize_runs`: a tier's tokens plus its GPU rental).
    tiers : sequence of str
        Tier names, in stacking order.
    label : str
        Column naming the policy.

    Returns
    -------
    DataFrame
        ``policy``, ``tier``, ``cost_per_1k_usd``; the tiers of a policy add up to its
        ``total_cost_usd / n_requests * 1000`` when every request reached a tier.
    """
    columns = [f"cost_usd_{t}" for t in tiers]
    require_columns(summary, [label, "n_requests", *columns], where="tier_cost_points summary")
    per_1k = summary[columns].div(summary["n_requests"].astype("float64"), axis=0) * 1000.0
    per_1k[label] = summary[label].astype(str).to_numpy()
    mean = per_1k.groupby(label, sort=False)[columns].mean()
    long = mean.reset_index().melt(id_vars=label, var_name="tier", value_name="cost_per_1k_usd")
    long["tier"] = long["tier"].str.removeprefix("cost_usd_")
    long = long.rename(columns={label: "policy"})
    long["_p"] = long["policy"].map({p: i for i, p in enumerate(mean.index)})
    long["_t"] = long["tier"].map({t: i for i, t in enumerate(tiers)})
    out = long.sort_values(["_p", "_t"]).drop(columns=["_p", "_t"]).reset_index(drop=True)
    out.attrs["cost_source"] = cost_source_of(summary, "tier_cost_points summary")
    return out
