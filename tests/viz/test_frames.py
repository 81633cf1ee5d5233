"""Chart frames reshape metric outputs without changing a number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import (
    routellm_curve,
    routellm_oracle_curve,
    routellm_random_curve,
    summarize_runs,
)
from simkit.policies import ThresholdPolicy
from simkit.viz import (
    first_crossings,
    latency_cdf_points,
    routing_curve_points,
    summary_points,
    tier_share_points,
    tradeoff_points,
)
from simkit.viz.charts import TRADEOFF_COLUMNS


def test_tradeoff_points_flag_exactly_the_undominated_achievable_rows(study):
    """The oracle is a reference (no router knows the answers in advance): it is never on
    the frontier and dominates nothing, so routers above its cost can be on the frontier."""
    raw = study.tradeoff()
    points = tradeoff_points(raw)
    assert list(points.columns) == list(TRADEOFF_COLUMNS)
    assert points["reference"].tolist() == (raw["policy"] == "oracle").tolist()
    reachable = points[~points["reference"]]
    cost = reachable["cost_per_1k_usd"].to_numpy()
    quality = reachable["mean_quality"].to_numpy()
    dominated = [
        bool(np.any((cost <= c) & (quality >= q) & ((cost < c) | (quality > q))))
        for c, q in zip(cost, quality, strict=True)
    ]
    assert reachable["on_frontier"].tolist() == [not d for d in dominated]
    assert not points.loc[points["policy"] == "oracle", "on_frontier"].item()
    oracle = points[points["policy"] == "oracle"].iloc[0]
    above = reachable[reachable["cost_per_1k_usd"] > oracle["cost_per_1k_usd"]]
    assert above["on_frontier"].any()  # through the oracle, all of these were dominated
    assert (above["mean_quality"] < oracle["mean_quality"]).all()
    # a caller's own flag wins over the name: here the oracle counts as achievable
    as_given = tradeoff_points(raw.assign(reference=False))
    assert as_given.loc[as_given["policy"] == "oracle", "on_frontier"].item()
    named = tradeoff_points(raw, references=["all frontier"])
    assert named.loc[named["reference"], "policy"].tolist() == ["all frontier"]
    assert points["p95_ttft_s"].isna().all() and not points["operating_point"].any()
    with pytest.raises(TraceError, match="column 'frontier_share': required column missing"):
        tradeoff_points(raw.drop(columns="frontier_share"))


def test_summary_points_average_the_seeds_of_each_policy(study):
    records, endpoints = study.simulate(ThresholdPolicy({"frontier": 0.7}), seeds=[0, 1])
    summary = summarize_runs(records, endpoints).assign(policy="t0.7", cut=0.7)
    points = summary_points(summary, frontier_tier="frontier", threshold="cut", operating=["t0.7"])
    assert points.shape[0] == 1
    row = points.iloc[0]
    assert row["n_runs"] == 2 and row["operating_point"] and row["threshold"] == 0.7
    assert row["p95_ttft_s"] == pytest.approx(summary["p95_ttft_s"].mean())
    assert row["frontier_share"] == pytest.approx(summary["share_frontier"].mean())
    with pytest.raises(TraceError, match="column 'share_gpt'"):
        summary_points(summary, frontier_tier="gpt")


def test_routing_curve_points_keep_every_point_of_every_curve(study):
    weak = study.quality["selfhosted"].to_numpy()
    strong = study.quality["frontier"].to_numpy()
    router = routellm_curve(study.scores, weak, strong)
    random = routellm_random_curve(weak, strong, seed=0, iters=2)
    oracle = routellm_oracle_curve(weak, strong)
    frame = routing_curve_points({"length": router}, random=random, oracle=oracle)
    assert frame.groupby("kind", sort=False).size().to_dict() == {
        "router": len(router.strong_share),
        "random": len(random.strong_share),
        "oracle": len(oracle.strong_share),
    }
    length = frame[frame["policy"] == "length"]
    assert length["mean_quality"].tolist() == router.quality.tolist()
    assert length["frontier_share"].tolist() == router.strong_share.tolist()
    with pytest.raises(SpecError, match="key 'length': expected a simkit.metrics.RoutingCurve"):
        routing_curve_points({"length": length})


def test_latency_cdf_points_are_the_empirical_cdf_per_tier(study):
    records, _ = study.simulate(ThresholdPolicy({"frontier": 0.9}))
    small = latency_cdf_points(records, max_points=10_000)
    big = latency_cdf_points(records, max_points=50)
    ttft = (records["first_token_s"] - records["arrival_s"]).to_numpy()
    for frame in (small, big):
        for (tier, metric), group in frame.groupby(["tier", "metric"]):
            mine = records["tier"].to_numpy() == tier
            values = (
                ttft[mine] if metric == "ttft" else (records["end_s"] - records["arrival_s"])[mine]
            )
            values = np.asarray(values)
            assert group["n"].iloc[0] == mine.sum()
            # the CDF at each drawn latency is the share of requests at or below it
            level = group["cdf"].to_numpy()
            share_at = np.array([np.mean(values <= x) for x in group["latency_s"]])
            share_below = np.array([np.mean(values < x) for x in group["latency_s"]])
            assert np.all(share_at >= level - 1e-12) and np.all(share_below < level + 1e-12)
            assert np.all(np.diff(group["latency_s"]) >= 0)
    assert big.groupby(["tier", "metric"]).size().max() == 50
    frontier = small[(small["tier"] == "frontier") & (small["metric"] == "ttft")]
    assert len(frontier) == (records["tier"] == "frontier").sum()


def test_tier_share_points_melt_and_order_the_tiers(study):
    t = study.tradeoff().query("policy in ['oracle', 'all hosted']")
    long = tier_share_points(t, tiers=study.tiers)
    assert long["policy"].tolist() == ["all hosted"] * 3 + ["oracle"] * 3
    assert long["tier"].tolist() == list(study.tiers) * 2
    assert long.groupby("policy")["share"].sum().tolist() == pytest.approx([1.0, 1.0])


def test_first_crossings_keep_the_lowest_volume_of_each_pair():
    cross = pd.DataFrame(
        {
            "label": ["a = b", "a = b (step)", "a = c", "a = b"],
            "requests_per_month": [1e6, 3e6, 2e6, 5e6],
            "monthly_cost_usd": [1.0, 2.0, 3.0, 4.0],
        }
    )
    assert first_crossings(cross)["label"].tolist() == ["a = b", "a = c"]


def test_seed_interval_points_give_the_t_interval_of_the_mean_over_seeds():
    from scipy import stats

    from simkit.viz import seed_interval_points

    runs = pd.DataFrame(
        {
            "policy": ["a", "a", "a", "b"],
            "cost_per_1k_usd": [1.0, 1.2, 1.4, 2.0],
            "p95_ttft_s": [0.5, 0.6, 0.7, 0.9],
        }
    )
    out = seed_interval_points(runs).set_index("policy")
    half = stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3)
    assert out.loc["a", "n_runs"] == 3
    assert out.loc[
        "a", ["cost_per_1k_usd_lo", "cost_per_1k_usd", "cost_per_1k_usd_hi"]
    ].tolist() == (pytest.approx([1.2 - half, 1.2, 1.2 + half]))
    assert np.isnan(out.loc["b", "p95_ttft_s_lo"]) and out.loc["b", "p95_ttft_s"] == 0.9
    with pytest.raises(SpecError, match="key 'level': got 1.5"):
        seed_interval_points(runs, level=1.5)


def test_tier_cost_points_split_the_cost_per_1k_by_tier(study):
    from simkit.viz import tier_cost_points

    records, endpoints = study.simulate(ThresholdPolicy({"frontier": 0.8}), seeds=[0])
    summary = summarize_runs(records, endpoints).assign(policy="t0.8")
    out = tier_cost_points(summary, tiers=study.tiers)
    assert out["tier"].tolist() == list(study.tiers)
    n = summary["n_requests"].item()
    for tier in study.tiers:
        value = out.set_index("tier").loc[tier, "cost_per_1k_usd"]
        assert value == pytest.approx(summary[f"cost_usd_{tier}"].item() / n * 1000)
    assert out["cost_per_1k_usd"].sum() == pytest.approx(summary["cost_per_1k_usd"].item())
