"""altair charts of the cost-quality-latency trade-off; each is a function of one tidy frame.

A chart function checks that its frame has the documented columns, then *encodes*: it never
simulates or computes a metric (STYLE.md habit 7). The frames come from
:mod:`simkit.viz.frames` (built from :mod:`simkit.metrics` outputs) or from your own code; the
columns each chart reads are listed in the ``*_COLUMNS`` mappings below (column -> meaning),
so a frame from anywhere works as long as it has them.

Every chart returns an altair chart object: display it in JupyterLab, ``.save()`` it, or pass it
to :func:`simkit.viz.write_report` for the offline HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import altair as alt
import pandas as pd

from simkit.errors import SpecError
from simkit.schema import require_columns
from simkit.viz.palette import NAMED_COLOURS, colour_scale

__all__ = [
    "CAPACITY_COLUMNS",
    "CROSSOVER_COLUMNS",
    "LATENCY_CDF_COLUMNS",
    "LATENCY_COST_COLUMNS",
    "TIER_COST_COLUMNS",
    "MONTHLY_COST_COLUMNS",
    "ROUTING_CURVE_COLUMNS",
    "TIER_SHARE_COLUMNS",
    "TRADEOFF_COLUMNS",
    "capacity_chart",
    "latency_cdf_chart",
    "latency_cost_chart",
    "monthly_cost_chart",
    "routing_curve_chart",
    "tier_cost_chart",
    "tier_share_chart",
    "tradeoff_chart",
]

#: :func:`tradeoff_chart` input: one row per evaluated configuration (policy x parameter).
TRADEOFF_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "policy": "policy label; one line per policy",
        "cost_per_1k_usd": "total cost per 1,000 requests (tokens + GPU time), USD",
        "mean_quality": "mean answer quality in [0, 1]",
        "frontier_share": "fraction of requests answered by the frontier tier",
        "threshold": "the policy's parameter at this point (NaN for parameter-free baselines)",
        "p95_ttft_s": "95th percentile time to first token, s (NaN where not simulated)",
        "on_frontier": "bool: the point is on the cost-quality Pareto frontier",
        "operating_point": "bool: a point chosen for operation (highlighted and labelled)",
        "reference": "bool: a reference no router reaches (the oracle): drawn as a labelled "
        "point, never on the frontier",
    }
)

#: :func:`routing_curve_chart` input: points of RouteLLM-style quality/share curves.
ROUTING_CURVE_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "policy": "curve label (a router, 'random' or 'oracle')",
        "kind": "'router', 'random' or 'oracle' (baselines are drawn dashed)",
        "frontier_share": "fraction of requests sent to the strong (frontier) model",
        "mean_quality": "mean quality at that share",
    }
)

#: :func:`latency_cdf_chart` input: empirical CDF points per tier and latency metric.
LATENCY_CDF_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "tier": "the tier that answered",
        "metric": "'ttft' (time to first token) or 'e2e' (end to end)",
        "latency_s": "latency, s",
        "cdf": "fraction of that tier's completed requests with latency <= latency_s",
    }
)

#: :func:`tier_share_chart` input: one row per (policy, tier).
TIER_SHARE_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "policy": "policy label; one bar per policy",
        "tier": "tier name",
        "share": "fraction of the policy's requests answered by the tier",
    }
)

#: :func:`monthly_cost_chart` input: one line per strategy over request volume.
MONTHLY_COST_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "strategy": "e.g. 'all frontier API', 'hosted open API', 'self-hosted', 'tiered'",
        "requests_per_month": "monthly request volume",
        "monthly_cost_usd": "monthly cost at that volume, USD",
    }
)

#: :func:`monthly_cost_chart` crossover marks: where two strategies cost the same.
CROSSOVER_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "requests_per_month": "volume at the crossover",
        "monthly_cost_usd": "cost of either strategy there, USD",
        "label": "what crosses, e.g. 'self-hosted = all frontier API'",
    }
)
#: :func:`latency_cost_chart` input: one row per policy, mean and interval over seeds.
LATENCY_COST_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "policy": "policy label; one point per policy",
        "n_runs": "runs (seeds) behind the point",
        "cost_per_1k_usd": "mean cost per 1,000 requests over the runs, USD",
        "cost_per_1k_usd_lo": "lower end of its interval over the seeds (NaN: one run)",
        "cost_per_1k_usd_hi": "upper end",
        "p95_ttft_s": "mean 95th percentile time to first token over the runs, s",
        "p95_ttft_s_lo": "lower end of its interval over the seeds (NaN: one run)",
        "p95_ttft_s_hi": "upper end",
    }
)

#: :func:`tier_cost_chart` input: one row per (policy, tier).
TIER_COST_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "policy": "policy label; one bar per policy",
        "tier": "tier name",
        "cost_per_1k_usd": "the tier's part of the cost per 1,000 requests (tokens + GPU), USD",
    }
)

#: :func:`capacity_chart` input: the self-hosted load curve, one row per offered rate.
CAPACITY_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "rate_per_s": "offered arrival rate, requests per second",
        "p50_ttft_s": "median time to first token at that rate, s",
        "p95_ttft_s": "95th percentile time to first token, s",
        "p99_ttft_s": "99th percentile time to first token, s",
    }
)

# optional: ``tag``, a short mark written next to each crossover (e.g. "1") and listed with
# its label in the plot's top-left corner (without it the labels are written in full)

_WIDTH = 420
_GPU_COLOUR = NAMED_COLOURS["selfhosted"]  # the capacity chart is the self-hosted tier's
_HEIGHT = 300


def _checked(df: pd.DataFrame, columns: Mapping[str, str], where: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise SpecError(where, problem=f"expected a pandas DataFrame, got {type(df).__name__}")
    require_columns(
        df, columns, where=where, hint="see simkit.viz.charts for what each column means"
    )
    if df.empty:
        raise SpecError(where, problem="the frame has no rows; nothing to draw")
    return df


def _stacked_by_tier(
    df: pd.DataFrame, columns: Mapping[str, str], tiers: Sequence[str] | None, where: str
) -> tuple[pd.DataFrame, list[str]]:
    """The chart's columns plus a ``tier_rank`` stacking key, and the tier order (``tiers``,
    else first appearance); a tier of the frame missing from ``tiers`` is a SpecError."""
    data = df[list(columns)].copy()
    order = list(tiers) if tiers is not None else list(dict.fromkeys(data["tier"].astype(str)))
    missing = sorted(set(data["tier"].astype(str)) - set(order))
    if missing:
        raise SpecError(
            where,
            key="tiers",
            problem=f"tier {missing[0]!r} is in the frame but not in tiers {order}",
        )
    data["tier_rank"] = data["tier"].astype(str).map({t: i for i, t in enumerate(order)})
    return data, order


def cost_source_of(frame: pd.DataFrame, where: str) -> str:
    """Which prices a frame's costs used: its ``cost_source`` column (sweep and curve output)
    or ``attrs["cost_source"]`` (frames built from them), else ``"catalog"``.

    Raises
    ------
    SpecError
        The frame mixes sources: observed and catalog costs are not comparable on one axis.
    """
    if "cost_source" in frame:
        sources = sorted(set(frame["cost_source"].astype(str)))
    else:
        sources = [str(frame.attrs.get("cost_source", "catalog"))]
    if len(sources) != 1:
        raise SpecError(
            where,
            key="cost_source",
            problem=f"the rows mix cost sources {sources}; observed and catalog costs are "
            "not comparable on one axis",
            hint="draw one chart per cost source",
        )
    return sources[0]


def _cost_title(frame: pd.DataFrame, where: str) -> str:
    """The cost axis title; it says so when the token costs are the trace's recorded ones."""
    if cost_source_of(frame, where) == "observed":
        return "cost per 1k requests (USD; observed token costs)"
    return "cost per 1k requests (USD)"


def _title(text: str, subtitle: str | None) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or "", anchor="start")


def tradeoff_chart(
    points: pd.DataFrame, *, title: str = "Cost vs quality", subtitle: str | None = None
) -> alt.LayerChart:
    """Cost per 1k requests against mean quality: one line per policy, the Pareto frontier of
    the achievable policies (black), the operating points (diamonds, labelled) and the
    references no router reaches (the oracle: a labelled cross, off every line).

    Parameters
    ----------
    points : DataFrame
        The columns of :data:`TRADEOFF_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.tradeoff_points`); ``reference`` may be left out (no
        reference points then).
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.LayerChart
        Tooltips give the policy, threshold (when the policy has one), frontier share, cost
        per 1k, quality and p95 TTFT.
    """
    if isinstance(points, pd.DataFrame) and "reference" not in points:
        points = points.assign(reference=False)
    points = _checked(points, TRADEOFF_COLUMNS, "tradeoff_chart points")
    cost_title = _cost_title(points, "tradeoff_chart points")
    data = points[list(TRADEOFF_COLUMNS)].copy()
    for flag in ("on_frontier", "operating_point", "reference"):
        data[flag] = data[flag].astype(bool)
    x = alt.X("cost_per_1k_usd:Q").title(cost_title).scale(zero=False)
    y = alt.Y("mean_quality:Q").title("mean quality").scale(zero=False)
    color = alt.Color("policy:N").title("policy").scale(colour_scale(data["policy"]))
    tooltip = [
        alt.Tooltip("policy:N"),
        alt.Tooltip("threshold_label:N", title="threshold"),
        alt.Tooltip("frontier_share:Q", title="frontier share", format=".1%"),
        alt.Tooltip("cost_per_1k_usd:Q", title="cost / 1k (USD)", format="$,.3f"),
        alt.Tooltip("mean_quality:Q", title="quality", format=".3f"),
        alt.Tooltip("p95_ttft_label:N", title="p95 TTFT"),
    ]
    base = alt.Chart().transform_calculate(
        p95_ttft_label="isValid(datum.p95_ttft_s) ? format(datum.p95_ttft_s, '.3f') + ' s'"
        " : 'not simulated'",
        threshold_label="isValid(datum.threshold) ? format(datum.threshold, '.3f')"
        " : 'none (no cut-off)'",
    )
    reachable = base.transform_filter("!datum.reference")
    pick = alt.selection_point(fields=["policy"], bind="legend")
    dim = alt.condition(pick, alt.value(1.0), alt.value(0.15))
    lines = (
        reachable.mark_line(strokeWidth=1.5)
        .encode(x=x, y=y, color=color, order="cost_per_1k_usd:Q", opacity=dim)
        .add_params(pick)
        .properties(name="policy_lines")
    )
    dots = (
        reachable.mark_circle(size=36)
        .encode(x=x, y=y, color=color, opacity=dim, tooltip=tooltip)
        .properties(name="points")
    )
    frontier = (
        base.transform_filter("datum.on_frontier")
        .mark_line(color="black", strokeWidth=2.5, strokeDash=[6, 3], interpolate="step-after")
        .encode(x=x, y=y, order="cost_per_1k_usd:Q")
        .properties(name="frontier")
    )
    references = (
        base.transform_filter("datum.reference")
        .mark_point(shape="cross", size=160, filled=True, strokeWidth=1)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
        .properties(name="reference_points")
    )
    reference_labels = (
        base.transform_filter("datum.reference")
        # one label per reference (the report draws the oracle vectorised and simulated)
        .transform_window(reference_rank="row_number()", groupby=["policy"])
        .transform_filter("datum.reference_rank == 1")
        .transform_calculate(reference_label="datum.policy + ' (reference, not reachable)'")
        .mark_text(align="left", dx=10, dy=4, fontSize=11, fontStyle="italic")
        .encode(x=x, y=y, text="reference_label:N")
        .properties(name="reference_labels")
    )
    operating = (
        base.transform_filter("datum.operating_point")
        .mark_point(shape="diamond", size=220, filled=True, stroke="black", strokeWidth=1)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
        .properties(name="operating_points")
    )
    # several operating points (e.g. "chosen" and its simulation "simulated") sit close
    # together: the first label goes above its diamond, the second below, later ones left
    ranked = base.transform_filter("datum.operating_point").transform_window(
        label_rank="row_number()"
    )
    labels = [
        ranked.transform_filter(rank)
        .mark_text(align=align, dx=dx, dy=dy, fontSize=11)
        .encode(x=x, y=y, text="policy:N")
        .properties(name=f"operating_labels_{i}")
        for i, (rank, align, dx, dy) in enumerate(
            [
                ("datum.label_rank == 1", "left", 10, -10),
                ("datum.label_rank == 2", "left", 10, 14),
                ("datum.label_rank > 2", "right", -10, 2),
            ]
        )
    ]
    return alt.layer(
        lines, frontier, dots, references, reference_labels, operating, *labels, data=data
    ).properties(
        width=_WIDTH,
        height=_HEIGHT,
        title=_title(
            title,
            subtitle
            or "black dashed: Pareto frontier of achievable policies; diamonds: operating points",
        ),
    )


def routing_curve_chart(
    curve: pd.DataFrame,
    *,
    title: str = "Quality vs frontier share",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """RouteLLM-style curves: mean quality against the share sent to the frontier model, one
    line per router, with the random and oracle baselines dashed.

    Parameters
    ----------
    curve : DataFrame
        The columns of :data:`ROUTING_CURVE_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.routing_curve_points`).
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.LayerChart
    """
    curve = _checked(curve, ROUTING_CURVE_COLUMNS, "routing_curve_chart curve")
    kinds = set(curve["kind"].astype(str))
    unknown = sorted(kinds - {"router", "random", "oracle"})
    if unknown:
        raise SpecError(
            "routing_curve_chart curve",
            key="kind",
            problem=f"unknown kind {unknown[0]!r}; expected 'router', 'random' or 'oracle'",
        )
    data = curve[list(ROUTING_CURVE_COLUMNS)].copy()
    x = alt.X("frontier_share:Q").title("share sent to the frontier model").axis(format="%")
    y = alt.Y("mean_quality:Q").title("mean quality").scale(zero=False)
    dash = (
        alt.StrokeDash("kind:N")
        .title("kind")
        .scale(domain=["router", "random", "oracle"], range=[[1, 0], [6, 4], [2, 2]])
    )
    tooltip = [
        alt.Tooltip("policy:N"),
        alt.Tooltip("frontier_share:Q", title="frontier share", format=".1%"),
        alt.Tooltip("mean_quality:Q", title="quality", format=".4f"),
    ]
    color = alt.Color("policy:N").title("curve").scale(colour_scale(data["policy"]))
    lines = (
        alt.Chart()
        .mark_line()
        .encode(x=x, y=y, color=color, strokeDash=dash, order="frontier_share:Q")
        .properties(name="curves")
    )
    dots = (
        alt.Chart()
        .mark_point(size=30, filled=True)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
        .properties(name="curve_points")
    )
    return alt.layer(lines, dots, data=data).properties(
        width=_WIDTH, height=_HEIGHT, title=_title(title, subtitle)
    )


def latency_cdf_chart(
    cdf: pd.DataFrame,
    *,
    slo_ttft_s: float | None = None,
    slo_e2e_s: float | None = None,
    tiers: Sequence[str] | None = None,
    title: str = "Latency CDFs per tier",
    subtitle: str | None = None,
) -> alt.HConcatChart:
    """Empirical CDFs of TTFT (left) and end-to-end latency (right) per tier, log time axis,
    with the latency SLOs as vertical rules.

    Parameters
    ----------
    cdf : DataFrame
        The columns of :data:`LATENCY_CDF_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.latency_cdf_points`); latencies > 0 (log axis).
    slo_ttft_s, slo_e2e_s : float, optional
        Budgets drawn as red rules on the matching panel.
    tiers : sequence of str, optional
        Legend order (e.g. the fleet's tiers, cheapest first; tiers without requests are
        left out); default the order of the frame.
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.HConcatChart
    """
    cdf = _checked(cdf, LATENCY_CDF_COLUMNS, "latency_cdf_chart cdf")
    metrics = set(cdf["metric"].astype(str))
    unknown = sorted(metrics - {"ttft", "e2e"})
    if unknown:
        raise SpecError(
            "latency_cdf_chart cdf",
            key="metric",
            problem=f"unknown metric {unknown[0]!r}; expected 'ttft' or 'e2e'",
        )
    data = cdf[list(LATENCY_CDF_COLUMNS)].copy()
    if (data["latency_s"] <= 0).any():
        raise SpecError(
            "latency_cdf_chart cdf",
            key="latency_s",
            problem="latencies must be > 0 on the log axis; drop zero-latency points",
        )
    present = list(dict.fromkeys(data["tier"].astype(str)))
    order = [t for t in tiers if t in present] if tiers is not None else present
    order += [t for t in present if t not in order]
    tier_colours = colour_scale(order)
    panels = []
    for metric, label, slo in (
        ("ttft", "time to first token (s)", slo_ttft_s),
        ("e2e", "end-to-end latency (s)", slo_e2e_s),
    ):
        part = data[data["metric"] == metric]
        if part.empty:
            continue
        line = (
            alt.Chart(part)
            .mark_line(interpolate="step-after")
            .encode(
                x=alt.X("latency_s:Q").title(label).scale(type="log"),
                y=alt.Y("cdf:Q").title("fraction of requests").axis(format="%"),
                color=alt.Color("tier:N").title("tier").scale(tier_colours),
                tooltip=[
                    alt.Tooltip("tier:N"),
                    alt.Tooltip("latency_s:Q", title="latency (s)", format=".3f"),
                    alt.Tooltip("cdf:Q", title="CDF", format=".1%"),
                ],
            )
            .properties(name=f"cdf_{metric}")
        )
        layers = [line]
        if slo is not None:
            layers.append(
                alt.Chart(pd.DataFrame({"slo_s": [float(slo)], "what": [f"SLO {slo:g} s"]}))
                .mark_rule(color="#c0392b", strokeDash=[4, 4], strokeWidth=2)
                .encode(x="slo_s:Q", tooltip=[alt.Tooltip("what:N", title="budget")])
                .properties(name=f"slo_{metric}")
            )
        panels.append(alt.layer(*layers).properties(width=_WIDTH * 0.75, height=_HEIGHT * 0.8))
    return alt.hconcat(*panels).properties(title=_title(title, subtitle))


def tier_share_chart(
    shares: pd.DataFrame,
    *,
    tiers: Sequence[str] | None = None,
    title: str = "Share of requests per tier",
    subtitle: str | None = None,
) -> alt.Chart:
    """One horizontal stacked bar per policy: the fraction of its requests each tier answered.

    Parameters
    ----------
    shares : DataFrame
        The columns of :data:`TIER_SHARE_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.tier_share_points`).
    tiers : sequence of str, optional
        Stacking and legend order (e.g. the fleet's tiers, cheapest first); default the order
        of first appearance.
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.Chart
    """
    shares = _checked(shares, TIER_SHARE_COLUMNS, "tier_share_chart shares")
    data, order = _stacked_by_tier(shares, TIER_SHARE_COLUMNS, tiers, "tier_share_chart")
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("policy:N").title(None).sort(None),
            x=alt.X("share:Q").title("share of requests").axis(format="%").scale(domain=[0, 1]),
            color=alt.Color("tier:N").title("tier").scale(colour_scale(order)),
            order=alt.Order("tier_rank:Q"),
            tooltip=[
                alt.Tooltip("policy:N"),
                alt.Tooltip("tier:N"),
                alt.Tooltip("share:Q", format=".1%"),
            ],
        )
        .properties(name="bars", width=_WIDTH, title=_title(title, subtitle))
    )


def monthly_cost_chart(
    costs: pd.DataFrame,
    crossovers: pd.DataFrame | None = None,
    *,
    volume: float | None = None,
    title: str = "Monthly cost vs request volume",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """Monthly cost of each strategy against monthly request volume (log-log), crossovers
    marked and labelled, and an optional rule at your volume.

    Parameters
    ----------
    costs : DataFrame
        The columns of :data:`MONTHLY_COST_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.monthly_cost_lines`); volumes and costs > 0 (log axes).
    crossovers : DataFrame, optional
        The columns of :data:`CROSSOVER_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.cost_crossovers`).
    volume : float, optional
        Your monthly request volume, drawn as a vertical rule.
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.LayerChart
    """
    costs = _checked(costs, MONTHLY_COST_COLUMNS, "monthly_cost_chart costs")
    observed = cost_source_of(costs, "monthly_cost_chart costs") == "observed"
    data = costs[list(MONTHLY_COST_COLUMNS)].copy()
    for column in ("requests_per_month", "monthly_cost_usd"):
        if (data[column] <= 0).any():
            raise SpecError(
                "monthly_cost_chart costs",
                key=column,
                problem="values must be > 0 on the log axes",
            )
    x = alt.X("requests_per_month:Q").title("requests per month").scale(type="log")
    y_title = "monthly cost (USD; observed token costs)" if observed else "monthly cost (USD)"
    y = alt.Y("monthly_cost_usd:Q").title(y_title).scale(type="log")
    money = alt.Tooltip("monthly_cost_usd:Q", title="monthly cost", format="$,.0f")
    volume_tip = alt.Tooltip("requests_per_month:Q", title="requests / month", format=",.0f")
    layers: list[alt.Chart] = [
        alt.Chart(data)
        .mark_line(interpolate="linear", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color("strategy:N").title("strategy").scale(colour_scale(data["strategy"])),
            order="requests_per_month:Q",
            tooltip=[alt.Tooltip("strategy:N"), volume_tip, money],
        )
        .properties(name="cost_lines")
    ]
    if crossovers is not None and len(crossovers):
        cross = _checked(crossovers, CROSSOVER_COLUMNS, "monthly_cost_chart crossovers")
        tagged = "tag" in cross.columns
        cross = cross[list(CROSSOVER_COLUMNS) + (["tag"] if tagged else [])].copy()
        layers.append(
            alt.Chart(cross)
            .mark_point(shape="circle", size=120, filled=False, color="black", strokeWidth=2)
            .encode(
                x=x, y=y, tooltip=[alt.Tooltip("label:N", title="crossover"), volume_tip, money]
            )
            .properties(name="crossovers")
        )
        # crossovers close in volume (e.g. two strategies crossing a third near one point)
        # would print their labels over each other: in volume order, labels alternate
        # above-right and below-left of their circles
        cross = cross.sort_values("requests_per_month", kind="stable").reset_index(drop=True)
        cross["label_side"] = [i % 2 for i in range(len(cross))]
        for side, (align, dx, dy) in enumerate([("left", 8, -9), ("right", -8, 15)]):
            layers.append(
                alt.Chart(cross[cross["label_side"] == side])
                .mark_text(align=align, dx=dx, dy=dy, fontSize=11, fontWeight="bold", color="black")
                .encode(x=x, y=y, text="tag:N" if tagged else "label:N")
                .properties(name=f"crossover_labels_{side}")
            )
        if tagged:
            key = cross.assign(
                key=cross["tag"] + ": " + cross["label"],
                key_y=[14 + 14 * i for i in range(len(cross))],
            )
            layers.append(
                alt.Chart(key)
                .mark_text(align="left", baseline="middle", fontSize=10, color="#333")
                .encode(x=alt.value(8), y=alt.Y("key_y:Q").scale(None), text="key:N")
                .properties(name="crossover_key")
            )
    if volume is not None:
        layers.append(
            alt.Chart(
                pd.DataFrame({"requests_per_month": [float(volume)], "what": ["your volume"]})
            )
            .mark_rule(color="#555", strokeDash=[4, 4])
            .encode(x="requests_per_month:Q", tooltip=[alt.Tooltip("what:N"), volume_tip])
            .properties(name="volume")
        )
    return alt.layer(*layers).properties(
        width=_WIDTH * 1.2, height=_HEIGHT, title=_title(title, subtitle)
    )


def latency_cost_chart(
    points: pd.DataFrame,
    *,
    slo_ttft_s: float | None = None,
    title: str = "Latency vs cost per policy",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """p95 time to first token against cost per 1k requests, one point per policy, with the
    interval over seeds as error bars in both directions and the TTFT SLO as a rule.

    Parameters
    ----------
    points : DataFrame
        The columns of :data:`LATENCY_COST_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.seed_interval_points`); p95 TTFT > 0 (log axis).
    slo_ttft_s : float, optional
        The TTFT budget, drawn as a red rule.
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.LayerChart
    """
    points = _checked(points, LATENCY_COST_COLUMNS, "latency_cost_chart points")
    cost_title = _cost_title(points, "latency_cost_chart points")
    data = points[list(LATENCY_COST_COLUMNS)].copy()
    if (data["p95_ttft_s"] <= 0).any():
        raise SpecError(
            "latency_cost_chart points",
            key="p95_ttft_s",
            problem="p95 TTFT must be > 0 on the log axis",
        )
    x = alt.X("cost_per_1k_usd:Q").title(cost_title).scale(zero=False)
    y = alt.Y("p95_ttft_s:Q").title("p95 time to first token (s)").scale(type="log")
    color = alt.Color("policy:N").title("policy").scale(colour_scale(data["policy"]))
    tooltip = [
        alt.Tooltip("policy:N"),
        alt.Tooltip("n_runs:Q", title="seeds"),
        alt.Tooltip("cost_per_1k_usd:Q", title="cost / 1k (USD)", format="$,.3f"),
        alt.Tooltip("p95_ttft_s:Q", title="p95 TTFT (s)", format=".3f"),
    ]
    band = alt.Chart().transform_filter("datum.n_runs > 1 && isValid(datum.p95_ttft_s_lo)")
    layers = [
        band.mark_rule(strokeWidth=2)
        .encode(x=x, y=alt.Y("p95_ttft_s_lo:Q").scale(type="log"), y2="p95_ttft_s_hi:Q",
                color=color)
        .properties(name="ttft_interval"),
        band.mark_rule(strokeWidth=2)
        .encode(x=alt.X("cost_per_1k_usd_lo:Q"), x2="cost_per_1k_usd_hi:Q", y=y, color=color)
        .properties(name="cost_interval"),
        alt.Chart()
        .mark_point(size=90, filled=True)
        .encode(x=x, y=y, color=color, tooltip=tooltip)
        .properties(name="policies"),
    ]  # fmt: skip
    if slo_ttft_s is not None:
        layers.append(
            alt.Chart(
                pd.DataFrame({"slo_s": [float(slo_ttft_s)], "what": [f"SLO {slo_ttft_s:g} s"]})
            )
            .mark_rule(color="#c0392b", strokeDash=[4, 4], strokeWidth=2)
            .encode(y="slo_s:Q", tooltip=[alt.Tooltip("what:N", title="budget")])
            .properties(name="slo")
        )
    return alt.layer(*layers, data=data).properties(
        width=_WIDTH,
        height=_HEIGHT,
        title=_title(title, subtitle or "points: mean over seeds; bars: 95% interval of that mean"),
    )


def tier_cost_chart(
    costs: pd.DataFrame,
    *,
    tiers: Sequence[str] | None = None,
    title: str = "Cost per 1k requests, by tier",
    subtitle: str | None = None,
) -> alt.Chart:
    """One horizontal stacked bar per policy: what each tier costs per 1k requests (its
    tokens plus its GPU rental).

    Parameters
    ----------
    costs : DataFrame
        The columns of :data:`TIER_COST_COLUMNS` (e.g. from
        :func:`simkit.viz.frames.tier_cost_points`).
    tiers : sequence of str, optional
        Stacking and legend order (default the order of first appearance).
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.Chart
    """
    costs = _checked(costs, TIER_COST_COLUMNS, "tier_cost_chart costs")
    data, order = _stacked_by_tier(costs, TIER_COST_COLUMNS, tiers, "tier_cost_chart")
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("policy:N").title(None).sort(None),
            x=alt.X("cost_per_1k_usd:Q")
            .title(_cost_title(costs, "tier_cost_chart costs"))
            .stack("zero"),
            color=alt.Color("tier:N").title("tier").scale(colour_scale(order)),
            order=alt.Order("tier_rank:Q"),
            tooltip=[
                alt.Tooltip("policy:N"),
                alt.Tooltip("tier:N"),
                alt.Tooltip("cost_per_1k_usd:Q", title="cost / 1k (USD)", format="$,.3f"),
            ],
        )
        .properties(name="bars", width=_WIDTH, title=_title(title, subtitle))
    )


def capacity_chart(
    load: pd.DataFrame,
    *,
    slo_ttft_s: float | None = None,
    capacity_rps: float | None = None,
    title: str = "Self-hosted capacity",
    subtitle: str | None = None,
) -> alt.LayerChart:
    """TTFT percentiles of one self-hosted replica against the offered rate (log latency
    axis), with the SLO and the capacity it gives as rules.

    Parameters
    ----------
    load : DataFrame
        The columns of :data:`CAPACITY_COLUMNS` (e.g.
        :meth:`simkit.study.Study.gpu_load_curve`); latencies > 0.
    slo_ttft_s : float, optional
        The TTFT budget (a horizontal red rule).
    capacity_rps : float, optional
        The highest rate within the SLO (a vertical rule; 0 or None: not drawn).
    title, subtitle : str
        Chart title and subtitle.

    Returns
    -------
    altair.LayerChart
    """
    load = _checked(load, CAPACITY_COLUMNS, "capacity_chart load")
    wide = load[list(CAPACITY_COLUMNS)].copy()
    long = wide.melt(id_vars="rate_per_s", var_name="percentile", value_name="ttft_s")
    long["percentile"] = long["percentile"].str.removesuffix("_ttft_s")
    if (long["ttft_s"] <= 0).any():
        raise SpecError(
            "capacity_chart load", key="p50_ttft_s", problem="latencies must be > 0 (log axis)"
        )
    x = alt.X("rate_per_s:Q").title("offered rate (requests/s)")
    y = alt.Y("ttft_s:Q").title("time to first token (s)").scale(type="log")
    layers: list[alt.Chart] = [
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=x,
            y=y,
            strokeDash=alt.StrokeDash("percentile:N")
            .title("percentile")
            .scale(domain=["p50", "p95", "p99"], range=[[2, 2], [1, 0], [6, 3]]),
            color=alt.value(_GPU_COLOUR),
            tooltip=[
                alt.Tooltip("percentile:N"),
                alt.Tooltip("rate_per_s:Q", title="rate (req/s)", format=".2f"),
                alt.Tooltip("ttft_s:Q", title="TTFT (s)", format=".3f"),
            ],
        )
        .properties(name="ttft_lines")
    ]
    if slo_ttft_s is not None:
        layers.append(
            alt.Chart(
                pd.DataFrame({"slo_s": [float(slo_ttft_s)], "what": [f"SLO {slo_ttft_s:g} s"]})
            )
            .mark_rule(color="#c0392b", strokeDash=[4, 4], strokeWidth=2)
            .encode(y="slo_s:Q", tooltip=[alt.Tooltip("what:N", title="budget")])
            .properties(name="slo")
        )
    if capacity_rps:
        layers.append(
            alt.Chart(
                pd.DataFrame(
                    {
                        "rate_per_s": [float(capacity_rps)],
                        "what": [f"capacity {capacity_rps:.2f}/s"],
                    }
                )
            )
            .mark_rule(color="#333", strokeWidth=1.5)
            .encode(x="rate_per_s:Q", tooltip=[alt.Tooltip("what:N", title="capacity")])
            .properties(name="capacity")
        )
    return alt.layer(*layers).properties(
        width=_WIDTH, height=_HEIGHT * 0.8, title=_title(title, subtitle)
    )
