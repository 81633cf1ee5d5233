"""Chart functions encode the documented columns and draw exactly the rows they are given.

What is drawn is read back from Vega's scenegraph (rendered by vl-convert), so these tests
check the compiled chart, not only the altair objects.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.viz import (
    latency_cdf_chart,
    monthly_cost_chart,
    routing_curve_chart,
    tier_share_chart,
    tradeoff_chart,
)
from simkit.viz.palette import colour_of


@pytest.fixture()
def points() -> pd.DataFrame:
    """Five thresholds of one policy plus one all-frontier baseline; three on the frontier."""
    return pd.DataFrame(
        {
            "policy": ["threshold"] * 5 + ["all frontier"],
            "cost_per_1k_usd": [0.4, 0.9, 1.2, 1.9, 2.3, 2.2],
            "mean_quality": [0.677, 0.74, 0.73, 0.79, 0.805, 0.81],
            "frontier_share": [0.0, 0.3, 0.4, 0.8, 1.0, 1.0],
            "threshold": [1.0, 0.7, 0.6, 0.2, 0.0, math.nan],
            "p95_ttft_s": [math.nan, math.nan, 0.61, math.nan, math.nan, 0.77],
            "on_frontier": [True, True, False, True, False, True],
            "operating_point": [False, False, True, False, False, True],
        }
    )


def _layer_data(chart) -> list[dict]:
    spec = chart.to_dict()
    return next(iter(spec["datasets"].values()))


def test_tradeoff_chart_draws_every_point_the_frontier_and_the_operating_points(points, drawn):
    counts = drawn(tradeoff_chart(points))
    assert {
        k: counts[k] for k in ("points", "frontier", "operating_points", "operating_labels")
    } == {
        "points": 6,
        "frontier": 4,
        "operating_points": 2,
        "operating_labels": 2,
    }
    assert counts["policy_lines"] == 6  # one line per policy through all its points


def test_tradeoff_tooltips_name_threshold_share_cost_quality_and_p95(points):
    spec = tradeoff_chart(points).to_dict()
    dots = next(layer for layer in spec["layer"] if layer.get("name") == "points")
    fields = [t["field"] for t in dots["encoding"]["tooltip"]]
    assert fields == [
        "policy",
        "threshold_label",
        "frontier_share",
        "cost_per_1k_usd",
        "mean_quality",
        "p95_ttft_label",
    ]
    # NaN p95 (not simulated) travels as null and is labelled in the tooltip, never as 0
    rows = _layer_data(tradeoff_chart(points))
    assert [r["p95_ttft_s"] for r in rows] == [None, None, 0.61, None, None, 0.77]


def test_tradeoff_tooltip_says_none_for_a_policy_without_threshold_never_null(points):
    """The all-frontier baseline has no cut-off: its tooltip reads 'none (no cut-off)'."""
    import vl_convert as vlc

    from simkit.viz.report import vega_lite_version

    spec = tradeoff_chart(points).to_dict()
    vega = json.dumps(vlc.vegalite_to_vega(spec, vl_version=vega_lite_version()))
    assert "none (no cut-off)" in vega
    dots = next(layer for layer in spec["layer"] if layer.get("name") == "points")
    assert all(t["field"] != "threshold" for t in dots["encoding"]["tooltip"])


def test_tradeoff_chart_draws_the_oracle_as_a_labelled_reference_off_the_lines(points, drawn):
    with_oracle = pd.concat(
        [
            points.assign(reference=False),
            pd.DataFrame(
                {
                    "policy": ["oracle"],
                    "cost_per_1k_usd": [0.8],
                    "mean_quality": [0.9],
                    "frontier_share": [0.2],
                    "threshold": [math.nan],
                    "p95_ttft_s": [math.nan],
                    "on_frontier": [False],
                    "operating_point": [False],
                    "reference": [True],
                }
            ),
        ],
        ignore_index=True,
    )
    counts = drawn(tradeoff_chart(with_oracle))
    assert counts["reference_points"] == 1 and counts["reference_labels"] == 1
    assert counts["points"] == 6 and counts["frontier"] == 4  # the oracle is neither
    assert counts["policy_lines"] == 6
    labels = _texts(tradeoff_chart(with_oracle), "reference_labels")
    assert labels == ["oracle (reference, not reachable)"]
    # the oracle vectorised and simulated: two crosses, one label
    twice = pd.concat([with_oracle, with_oracle.iloc[[-1]].assign(cost_per_1k_usd=0.85)])
    assert drawn(tradeoff_chart(twice))["reference_points"] == 2
    assert _texts(tradeoff_chart(twice), "reference_labels") == labels


def test_operating_point_labels_are_stacked_not_printed_over_each_other(points):
    """'chosen' and its simulation 'simulated' sit at almost the same place: their labels
    are one line apart."""
    close = pd.concat(
        [
            points,
            points.iloc[[2]].assign(policy="simulated", cost_per_1k_usd=1.201),
        ],
        ignore_index=True,
    ).assign(
        operating_point=lambda d: (
            d["policy"].isin(["threshold", "simulated"]) & (d["cost_per_1k_usd"].round(1) == 1.2)
        )
    )
    items = _text_items(tradeoff_chart(close), "operating_labels")
    assert sorted(i["text"] for i in items) == ["simulated", "threshold"]
    ys = sorted(i["y"] + i.get("dy", 0) for i in items)
    assert ys[1] - ys[0] >= 11  # at least one 11 px line apart


def _scene(chart) -> dict:
    import vl_convert as vlc

    from simkit.viz.report import vega_lite_version

    return vlc.vegalite_to_scenegraph(chart.to_dict(), vl_version=vega_lite_version())


def _text_items(chart, name: str) -> list[dict]:
    found: list[dict] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("name", "").startswith(name) and node.get("marktype") == "text":
                found.extend(node.get("items", []))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(_scene(chart))
    return found


def _texts(chart, name: str) -> list[str]:
    return [i["text"] for i in _text_items(chart, name)]


def _colours(chart) -> dict[str, str]:
    """Series name -> colour, from every colour scale of a chart's Vega-Lite spec."""
    out: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            colour = node.get("color")
            if isinstance(colour, dict) and isinstance(colour.get("scale"), dict):
                scale = colour["scale"]
                if "domain" in scale and "range" in scale:
                    for name, value in zip(scale["domain"], scale["range"], strict=True):
                        assert out.setdefault(name, value) == value, name
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(chart.to_dict())
    return out


def test_a_tier_and_a_policy_have_one_colour_in_every_chart(points):
    """selfhosted in the tier-share bars is selfhosted in the latency CDFs (in any order and
    company); oracle in the trade-off is oracle in the RouteLLM curves; a name of the user's
    own keeps its colour between charts too."""
    shares = pd.DataFrame(
        {
            "policy": ["tiered"] * 3,
            "tier": ["selfhosted", "hosted", "frontier"],
            "share": [0.5, 0.3, 0.2],
        }
    )
    bars = _colours(tier_share_chart(shares, tiers=["selfhosted", "hosted", "frontier"]))
    cdf = pd.DataFrame(
        {
            "tier": ["frontier", "selfhosted", "my-gpu"],
            "metric": "ttft",
            "latency_s": [0.4, 0.1, 0.2],
            "cdf": [1.0, 1.0, 1.0],
        }
    )
    cdfs = _colours(latency_cdf_chart(cdf, tiers=["selfhosted", "hosted", "frontier"]))
    assert list(cdfs) == ["selfhosted", "frontier", "my-gpu"]  # the fleet's order first
    assert cdfs["selfhosted"] == bars["selfhosted"] and cdfs["frontier"] == bars["frontier"]
    assert len(set(bars.values())) == 3 and len(set(cdfs.values())) == 3
    with_oracle = pd.concat(
        [points, points.iloc[[0]].assign(policy="oracle", reference=True)], ignore_index=True
    ).assign(reference=lambda d: d["policy"] == "oracle")
    curve = pd.DataFrame(
        {
            "policy": ["my router", "my router", "oracle", "oracle"],
            "kind": ["router", "router", "oracle", "oracle"],
            "frontier_share": [0.0, 1.0, 0.0, 1.0],
            "mean_quality": [0.6, 0.8, 0.6, 0.9],
        }
    )
    trade = _colours(
        tradeoff_chart(
            with_oracle.assign(policy=lambda d: d["policy"].replace("threshold", "my router"))
        )
    )
    routing = _colours(routing_curve_chart(curve))
    assert trade["oracle"] == routing["oracle"]
    assert trade["my router"] == routing["my router"]
    assert trade["all frontier"] == bars["frontier"]  # a static policy wears its tier's colour
    costs = pd.DataFrame(
        {
            "strategy": ["all selfhosted", "all frontier"] * 2,
            "requests_per_month": [1e4, 1e4, 1e6, 1e6],
            "monthly_cost_usd": [4000.0, 20.0, 4000.0, 2000.0],
        }
    )
    monthly = _colours(monthly_cost_chart(costs))
    assert monthly["all selfhosted"] == bars["selfhosted"]
    assert monthly["all frontier"] == trade["all frontier"]


def test_chart_without_a_required_column_names_it_and_what_is_there(points):
    with pytest.raises(TraceError) as err:
        tradeoff_chart(points.drop(columns=["p95_ttft_s"]))
    message = str(err.value)
    assert message.startswith("tradeoff_chart points, column 'p95_ttft_s': required column missing")
    assert "columns present: 'policy', 'cost_per_1k_usd'" in message
    assert "see simkit.viz.charts" in message


def test_chart_of_an_empty_frame_says_there_is_nothing_to_draw(points):
    with pytest.raises(SpecError, match="tradeoff_chart points: the frame has no rows"):
        tradeoff_chart(points.iloc[:0])


def test_routing_curve_chart_dashes_the_random_and_oracle_baselines(drawn):
    curve = pd.DataFrame(
        {
            "policy": ["classifier"] * 3 + ["random"] * 2 + ["oracle"] * 3,
            "kind": ["router"] * 3 + ["random"] * 2 + ["oracle"] * 3,
            "frontier_share": [0.0, 0.5, 1.0, 0.0, 1.0, 0.0, 0.18, 1.0],
            "mean_quality": [0.677, 0.78, 0.81, 0.677, 0.81, 0.677, 0.86, 0.86],
        }
    )
    chart = routing_curve_chart(curve)
    assert drawn(chart) == {"curves": 8, "curve_points": 8}
    dash = chart.to_dict()["layer"][0]["encoding"]["strokeDash"]
    assert dash["scale"] == {
        "domain": ["router", "random", "oracle"],
        "range": [[1, 0], [6, 4], [2, 2]],
    }
    with pytest.raises(SpecError, match=r"key 'kind': unknown kind 'best'; expected 'router'"):
        routing_curve_chart(curve.assign(kind=["router"] * 7 + ["best"]))


def test_latency_cdf_chart_has_one_panel_per_metric_and_the_slo_rule(drawn):
    ttft = np.array([0.05, 0.06, 0.09, 0.45, 0.5, 0.8])
    cdf = pd.DataFrame(
        {
            "tier": ["selfhosted"] * 3 + ["frontier"] * 3,
            "metric": "ttft",
            "latency_s": ttft,
            "cdf": [1 / 3, 2 / 3, 1.0] * 2,
        }
    )
    both = pd.concat([cdf, cdf.assign(metric="e2e", latency_s=ttft * 20)], ignore_index=True)
    counts = drawn(latency_cdf_chart(both, slo_ttft_s=0.1))
    assert counts == {"cdf_ttft": 6, "slo_ttft": 1, "cdf_e2e": 6}
    assert drawn(latency_cdf_chart(cdf)) == {"cdf_ttft": 6}
    with pytest.raises(SpecError, match="key 'latency_s': latencies must be > 0"):
        latency_cdf_chart(cdf.assign(latency_s=0.0))
    with pytest.raises(SpecError, match="unknown metric 'tpot'; expected 'ttft' or 'e2e'"):
        latency_cdf_chart(cdf.assign(metric="tpot"))


def test_tier_share_chart_stacks_tiers_in_the_given_order(drawn):
    shares = pd.DataFrame(
        {
            "policy": ["tiered", "tiered", "tiered", "all frontier"],
            "tier": ["frontier", "selfhosted", "hosted", "frontier"],
            "share": [0.2, 0.5, 0.3, 1.0],
        }
    )
    chart = tier_share_chart(shares, tiers=["selfhosted", "hosted", "frontier"])
    assert drawn(chart) == {"bars": 4}
    encoding = chart.to_dict()["encoding"]
    assert encoding["color"]["scale"]["domain"] == ["selfhosted", "hosted", "frontier"]
    assert [r["tier_rank"] for r in _layer_data(chart)] == [2, 0, 1, 2]
    with pytest.raises(SpecError, match="key 'tiers': tier 'hosted' is in the frame but not"):
        tier_share_chart(shares, tiers=["selfhosted", "frontier"])


def test_monthly_cost_chart_marks_crossovers_and_your_volume(drawn):
    volume = np.geomspace(1e4, 1e8, 9)
    costs = pd.concat(
        [
            pd.DataFrame(
                {
                    "strategy": "all frontier API",
                    "requests_per_month": volume,
                    "cost": volume * 2e-3,
                }
            ),
            pd.DataFrame({"strategy": "self-hosted", "requests_per_month": volume, "cost": 4000.0}),
        ]
    ).rename(columns={"cost": "monthly_cost_usd"})
    cross = pd.DataFrame(
        {
            "requests_per_month": [2e6],
            "monthly_cost_usd": [4000.0],
            "label": ["self-hosted = all frontier API"],
        }
    )
    counts = drawn(monthly_cost_chart(costs, cross, volume=5e6))
    assert counts == {"cost_lines": 18, "crossovers": 1, "crossover_labels": 1, "volume": 1}
    assert drawn(monthly_cost_chart(costs)) == {"cost_lines": 18}
    with pytest.raises(SpecError, match="key 'monthly_cost_usd': values must be > 0"):
        monthly_cost_chart(costs.assign(monthly_cost_usd=0.0))


def test_crossover_labels_close_together_do_not_print_over_each_other():
    volume = np.geomspace(1e5, 1e8, 7)
    costs = pd.DataFrame(
        {
            "strategy": ["all frontier"] * 7 + ["all selfhosted"] * 7 + ["tiered"] * 7,
            "requests_per_month": np.tile(volume, 3),
            "monthly_cost_usd": np.concatenate([volume * 3e-3, [4000.0] * 7, 3500 + volume * 1e-3]),
        }
    )
    cross = pd.DataFrame(
        {
            "requests_per_month": [1.33e6, 1.40e6],
            "monthly_cost_usd": [4000.0, 4150.0],
            "label": ["all selfhosted = all frontier", "all frontier = tiered"],
            "tag": ["1", "2"],
        }
    )
    items = _text_items(monthly_cost_chart(costs, cross), "crossover_labels")
    assert sorted(i["text"] for i in items) == ["1", "2"]
    one, two = sorted(items, key=lambda i: i["text"])
    assert abs((one["y"] + one.get("dy", 0)) - (two["y"] + two.get("dy", 0))) >= 11
    assert one.get("align", "left") != two.get("align", "left")  # one right, one left


def test_latency_cost_chart_draws_a_point_per_policy_and_intervals_only_for_several_seeds(
    drawn,
):
    from simkit.viz import latency_cost_chart

    points = pd.DataFrame(
        {
            "policy": ["all frontier", "chosen", "oracle"],
            "n_runs": [3, 3, 1],
            "cost_per_1k_usd": [3.0, 1.0, 0.9],
            "cost_per_1k_usd_lo": [2.9, 0.95, math.nan],
            "cost_per_1k_usd_hi": [3.1, 1.05, math.nan],
            "p95_ttft_s": [0.77, 0.57, 0.56],
            "p95_ttft_s_lo": [0.70, 0.50, math.nan],
            "p95_ttft_s_hi": [0.84, 0.64, math.nan],
        }
    )
    chart = latency_cost_chart(points, slo_ttft_s=1.0)
    assert drawn(chart) == {"ttft_interval": 2, "cost_interval": 2, "policies": 3, "slo": 1}
    assert _colours(chart)["all frontier"] == colour_of("frontier")
    with pytest.raises(SpecError, match="key 'p95_ttft_s': p95 TTFT must be > 0"):
        latency_cost_chart(points.assign(p95_ttft_s=0.0))


def test_tier_cost_chart_stacks_each_tier_in_its_colour(drawn):
    from simkit.viz import tier_cost_chart

    costs = pd.DataFrame(
        {
            "policy": ["chosen"] * 3 + ["all frontier"] * 3,
            "tier": ["selfhosted", "hosted", "frontier"] * 2,
            "cost_per_1k_usd": [0.3, 0.1, 0.6, 0.3, 0.0, 2.7],
        }
    )
    chart = tier_cost_chart(costs, tiers=["selfhosted", "hosted", "frontier"])
    assert drawn(chart) == {"bars": 6}
    assert _colours(chart) == {t: colour_of(t) for t in ("selfhosted", "hosted", "frontier")}
    with pytest.raises(SpecError, match="key 'tiers': tier 'hosted' is in the frame but not"):
        tier_cost_chart(costs, tiers=["selfhosted", "frontier"])


def test_capacity_chart_draws_three_percentiles_the_slo_and_the_capacity(drawn):
    from simkit.viz import capacity_chart

    load = pd.DataFrame(
        {
            "rate_per_s": [2.0, 4.0, 8.0, 16.0],
            "p50_ttft_s": [0.05, 0.06, 0.08, 2.0],
            "p95_ttft_s": [0.08, 0.09, 0.2, 7.0],
            "p99_ttft_s": [0.1, 0.12, 0.5, 9.0],
            "requests_per_month": [5e6, 1e7, 2e7, 4e7],
        }
    )
    counts = drawn(capacity_chart(load, slo_ttft_s=1.0, capacity_rps=8.0))
    assert counts["slo"] == 1 and counts["capacity"] == 1
    assert counts["ttft_lines"] == 12  # a point per rate and percentile, on its line
    assert "capacity" not in drawn(capacity_chart(load, slo_ttft_s=1.0, capacity_rps=0.0))
    with pytest.raises(SpecError, match="latencies must be > 0"):
        capacity_chart(load.assign(p50_ttft_s=0.0))
