"""The study's vectorised numbers agree with the simulator and with metrics' cost rules.

Every check compares the fast path with something computed independently: a SimPy run of the
same routing (records summarised by simkit.metrics), a direct numpy evaluation, or the cost
model written out by hand.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SimulationError, SpecError
from simkit.metrics import HOURS_PER_MONTH, SECONDS_PER_MONTH, summarize_runs
from simkit.policies import OraclePolicy, StaticPolicy, ThresholdPolicy
from simkit.study import Study, capacity_rps


def _no_errors(fleet):
    """The fleet without injected API errors, so every request has exactly one attempt."""
    tiers = []
    for t in fleet.tiers:
        e = t.endpoint
        tiers.append(replace(t, endpoint=replace(e, error_rate=0.0)) if t.kind == "api" else t)
    return replace(fleet, tiers=tuple(tiers))


def test_vectorised_point_equals_a_simulation_of_the_same_thresholds(study):
    fleet = _no_errors(study.fleet)
    cutoffs = {"frontier": 0.8, "hosted": 0.55}
    point = study.evaluate(cutoffs, fleet=fleet).iloc[0]
    records, endpoints = study.simulate(
        ThresholdPolicy(cutoffs, score="p_hard"), fleet=fleet, seeds=[0]
    )
    run = summarize_runs(records, endpoints).iloc[0]
    assert run["n_failed"] == 0
    for tier in study.tiers:
        assert point[f"share_{tier}"] == pytest.approx(run[f"share_{tier}"], abs=1e-12)
    assert point["mean_quality"] == pytest.approx(run["mean_quality"], abs=1e-12)
    assert point["token_cost_per_1k_usd"] == pytest.approx(
        run["token_cost_usd"] / run["n_requests"] * 1000, rel=1e-9
    )
    # GPU rent: the simulator charges the run's horizon, the vectorised path a month's rent
    # spread over a month's requests at the trace's rate; they differ by horizon / span only
    horizon = endpoints["horizon_s"].max()
    arrival = records["arrival_s"]
    span_per_request = (arrival.max() - arrival.min()) / (len(arrival) - 1)
    assert point["gpu_cost_per_1k_usd"] == pytest.approx(
        run["gpu_cost_usd"] / run["n_requests"] * 1000 * span_per_request * len(arrival) / horizon,
        rel=1e-9,
    )


def test_tradeoff_ends_are_the_static_policies_and_random_mix_joins_them(study):
    t = study.tradeoff(n_thresholds=11)
    by = {p: g.reset_index(drop=True) for p, g in t.groupby("policy")}
    assert sorted(by) == [
        "all frontier",
        "all hosted",
        "all selfhosted",
        "frontier / hosted",
        "frontier / selfhosted",
        "oracle",
        "random mix",
    ]
    cols = ["share_selfhosted", "share_hosted", "share_frontier", "mean_quality", "cost_per_1k_usd"]
    for cheap in ("selfhosted", "hosted"):
        curve = by[f"frontier / {cheap}"]
        assert curve["threshold"].iloc[0] == -math.inf and curve["threshold"].iloc[-1] == math.inf
        pd.testing.assert_series_equal(
            curve[cols].iloc[0], by["all frontier"][cols].iloc[0], check_names=False
        )
        pd.testing.assert_series_equal(
            curve[cols].iloc[-1], by[f"all {cheap}"][cols].iloc[0], check_names=False
        )
        assert np.all(np.diff(curve["frontier_share"]) <= 0)  # higher cut-off, fewer calls
    q = study.quality
    assert by["all frontier"]["mean_quality"].iloc[0] == pytest.approx(q["frontier"].mean())
    mix = by["random mix"]
    assert mix["mean_quality"].tolist() == pytest.approx(
        list(
            (1 - np.linspace(0, 1, 11)) * q["selfhosted"].mean()
            + np.linspace(0, 1, 11) * q["frontier"].mean()
        )
    )


def test_oracle_row_equals_a_simulated_oracle_policy(study):
    fleet = _no_errors(study.fleet)
    row = study.tradeoff(fleet=fleet).query("policy == 'oracle'").iloc[0]
    oracle = OraclePolicy.from_trace(study.trace, fleet)
    records, endpoints = study.simulate(oracle, fleet=fleet)
    run = summarize_runs(records, endpoints).iloc[0]
    # same quality as selfhosted at a higher price: never best (every tier has its share)
    assert run["share_hosted"] == 0.0
    assert row["share_hosted"] == 0.0
    for tier in ("selfhosted", "frontier"):
        assert row[f"share_{tier}"] == pytest.approx(run[f"share_{tier}"], abs=1e-12)
    assert row["mean_quality"] == pytest.approx(run["mean_quality"], abs=1e-12)
    best = study.quality.max(axis=1).mean()
    assert row["mean_quality"] == pytest.approx(best)


def test_cutoffs_for_shares_realise_the_target_shares_on_the_trace(study):
    cut = study.cutoffs_for_shares({"frontier": 0.2, "hosted": 0.3})
    assert list(cut) == ["frontier", "hosted"]
    point = study.evaluate(cut).iloc[0]
    n = study.trace.n_requests
    assert abs(point["share_frontier"] - 0.2) <= 1 / n
    assert abs(point["share_hosted"] - 0.3) <= 1 / n
    assert study.cutoffs_for_shares({"frontier": 0.0}) == {"frontier": math.inf, "hosted": math.inf}
    with pytest.raises(SpecError, match="key 'shares.hosted': shares add up to 1.1 > 1"):
        study.cutoffs_for_shares({"frontier": 0.6, "hosted": 0.5})
    with pytest.raises(SpecError, match="key 'shares.selfhosted': not a tier above the cheapest"):
        study.cutoffs_for_shares({"selfhosted": 0.5})


def test_fleet_with_overrides_prices_gpu_rent_and_replicas(study):
    fleet = study.fleet_with(
        prices={"frontier": (3.0, 15.0)},
        gpu_usd_per_hour=2.0,
        gpu_replicas=3,
        gpu_marginal_usd_per_mtok=0.0,
    )
    assert fleet.tier("frontier").endpoint.price.input_usd_per_mtok == 3.0
    assert fleet.tier("frontier").endpoint.price.output_usd_per_mtok == 15.0
    assert fleet.tier("hosted").endpoint.price == study.fleet.tier("hosted").endpoint.price
    gpu = fleet.tier("selfhosted").endpoint
    assert (gpu.usd_per_gpu_hour, gpu.replicas, gpu.gpus_per_replica) == (2.0, 3, 4)
    assert gpu.marginal_usd_per_mtok == 0.0 and study.fleet.gpu_servers[0].marginal_usd_per_mtok > 0
    assert study.token_cost_usd(fleet)["selfhosted"].eq(0.0).all()
    assert Study.gpu_usd_per_month(fleet) == pytest.approx(2.0 * 4 * 3 * HOURS_PER_MONTH)
    costs = study.token_cost_usd(fleet)
    n_in = study.prompt_tokens
    n_out = study.output_tokens["frontier"].to_numpy()
    assert np.allclose(costs["frontier"], (n_in * 3.0 + n_out * 15.0) * 1e-6, rtol=1e-12)
    with pytest.raises(SpecError, match="key 'prices.selfhosted': a self-hosted tier has no token"):
        study.fleet_with(prices={"selfhosted": (1.0, 1.0)})
    with pytest.raises(
        SpecError, match="key 'prices.gpt': unknown tier; tiers: selfhosted, hosted"
    ):
        study.fleet_with(prices={"gpt": (1.0, 1.0)})
    with pytest.raises(SpecError, match="key 'gpu_replicas': got 0; expected an int >= 1"):
        study.fleet_with(gpu_replicas=0)


def test_monthly_token_cost_agrees_with_metrics_cost_summary_of_a_simulation(study):
    volume = 2.5e6
    fleet = _no_errors(study.fleet)
    costs = study.monthly_costs([volume], fleet=fleet)
    frontier = costs.query("strategy == 'all frontier'").iloc[0]
    records, endpoints = study.simulate(StaticPolicy("frontier"), fleet=fleet)
    run = summarize_runs(records, endpoints, requests_per_month=volume).iloc[0]
    assert frontier["monthly_cost_usd"] == pytest.approx(run["monthly_token_cost_usd"], rel=1e-9)
    selfhosted = costs.query("strategy == 'all selfhosted'").iloc[0]
    assert selfhosted["gpu_cost_usd"] == pytest.approx(run["monthly_gpu_cost_usd"], rel=1e-12)
    assert selfhosted["replicas"] == 1  # no capacity given: the provisioned replicas


def test_replicas_grow_with_volume_at_the_measured_capacity(study):
    volumes = np.array([1e6, 3e7, 6e7, 9e7])
    costs = study.monthly_costs(volumes, gpu_capacity_rps=20.0, min_replicas=2, peak_to_mean=1.5)
    gpu = costs.query("strategy == 'all selfhosted'")
    expected = np.maximum(2, np.ceil(volumes * 1.5 / (20.0 * SECONDS_PER_MONTH)))
    assert gpu["replicas"].tolist() == expected.astype(int).tolist() == [2, 2, 2, 3]
    replica_month = study.fleet.tier("selfhosted").endpoint.usd_per_hour * HOURS_PER_MONTH
    assert gpu["gpu_cost_usd"].tolist() == pytest.approx((expected * replica_month).tolist())
    assert costs.query("strategy == 'all frontier'")["replicas"].tolist() == [0, 0, 0, 0]


def test_crossovers_are_where_two_strategies_cost_the_same(study):
    cut = {"frontier": 0.8}
    kwargs = {"cutoffs": cut, "gpu_capacity_rps": 15.0}
    cross = study.cost_crossovers((1e4, 1e9), **kwargs)
    assert len(cross) >= 3
    for row in cross.itertuples():
        a, b = row.label.removesuffix(" (step)").split(" = ")
        v = row.requests_per_month
        just = study.monthly_costs([v * (1 - 1e-7), v * (1 + 1e-7)], **kwargs).set_index(
            ["strategy", "requests_per_month"]
        )["monthly_cost_usd"]
        below = just[a].iloc[0] - just[b].iloc[0]
        above = just[a].iloc[1] - just[b].iloc[1]
        assert below * above < 0, row  # the order flips there
        assert (a if below < 0 else b) == row.cheaper_below
        if not row.label.endswith("(step)"):
            assert abs(below) < 1e-3 * just[a].iloc[0]
    first = cross.query("label == 'all selfhosted = all frontier'").iloc[0]
    per_request = study.token_cost_usd()["frontier"].mean()
    gpu_month = study.fleet.fixed_usd_per_hour * HOURS_PER_MONTH
    marginal = study.token_cost_usd()["selfhosted"].mean()
    assert first["requests_per_month"] == pytest.approx(gpu_month / (per_request - marginal))


def test_capacity_is_the_rate_where_p95_ttft_reaches_the_slo(study):
    curve = pd.DataFrame({"rate_per_s": [1.0, 2.0, 4.0], "p95_ttft_s": [0.1, 0.5, 2.5]})
    assert capacity_rps(curve, 1.5) == pytest.approx(3.0)
    assert capacity_rps(curve, 0.05) == 0.0
    assert capacity_rps(curve, 9.0) == 4.0
    with pytest.raises(SpecError, match="no column 'p99_ttft_s'"):
        capacity_rps(curve, 1.0, percentile="p99")
    # on the simulator: just under the measured capacity the SLO holds, well over it not
    load = study.gpu_load_curve(n_requests=1500, rates_per_s=[4.0, 8.0, 12.0, 16.0, 20.0])
    assert load["p95_ttft_s"].is_monotonic_increasing
    cap = capacity_rps(load, 1.0)
    assert 4.0 < cap < 20.0
    check = study.gpu_load_curve(n_requests=1500, rates_per_s=[0.9 * cap, 1.3 * cap])
    assert check["p95_ttft_s"].iloc[0] <= 1.0 < check["p95_ttft_s"].iloc[1]


def test_trace_at_rescales_arrivals_to_the_volume(study):
    doubled = study.trace_at(2 * study.trace_requests_per_month)
    assert np.allclose(
        doubled.requests["arrival_s"], study.trace.requests["arrival_s"] / 2, rtol=1e-12
    )
    assert Study.prepare(doubled, study.fleet).trace_requests_per_month == pytest.approx(
        2 * study.trace_requests_per_month
    )
    assert study.trace_at(None) is study.trace  # already starts at 0, own rate


def test_a_late_slice_is_simulated_from_its_first_request(study):
    """The second half of a trace starts late; its GPUs are not rented for the idle start."""
    late = study.trace.subset(np.arange(study.trace.n_requests) >= 1500)
    half = Study.prepare(late, study.fleet)
    moved = half.trace_at(None)
    first = float(late.requests["arrival_s"].min())
    assert first > 100 and moved.requests["arrival_s"].min() == 0.0
    assert np.allclose(moved.requests["arrival_s"], late.requests["arrival_s"] - first)
    records, endpoints = half.simulate(StaticPolicy("selfhosted"))
    run = summarize_runs(records, endpoints).iloc[0]
    point = half.evaluate({"frontier": math.inf, "hosted": math.inf}).iloc[0]
    # GPU cost per request of the run = rent over the run's own span, as on the vectorised
    # path, plus the tail after the last arrival (here ~6 %); from time 0 it would be > 1.3x
    span = float(moved.requests["arrival_s"].max())
    assert first / span > 0.3
    assert run["gpu_cost_usd"] / run["n_requests"] * 1000 == pytest.approx(
        point["gpu_cost_per_1k_usd"], rel=0.1
    )


def test_prepare_names_a_missing_score_or_model(scored_trace, study):
    with pytest.raises(SpecError, match="no score column 'p_easy'; score columns: p_hard"):
        Study.prepare(scored_trace, study.fleet, score="p_easy")
    tier = replace(study.fleet.tiers[1], quality_model="llama-3-70b")
    fleet = replace(study.fleet, tiers=(study.fleet.tiers[0], tier, study.fleet.tiers[2]))
    with pytest.raises(
        SpecError, match="key 'tiers.hosted.quality_model': the trace has no outcomes for model"
    ):
        Study.prepare(scored_trace, fleet)
    req = scored_trace.requests.copy()
    req["prompt_tokens"] = req["prompt_tokens"].astype("Int64")
    req.loc[5, "prompt_tokens"] = pd.NA
    with pytest.raises(SimulationError, match=r"\(row 6\) has no prompt_tokens \(1 requests"):
        Study.prepare(scored_trace.replace(requests=req), study.fleet)


@pytest.mark.parametrize(
    "cutoffs",
    [
        {"frontier": 0.7, "hosted": 0.7},  # equal: hosted takes nothing
        {"frontier": 0.6, "hosted": 0.8},  # hosted above frontier: takes nothing
        {"frontier": 0.9, "hosted": -math.inf},  # hosted takes everything below 0.9
        {"frontier": -math.inf, "hosted": 0.2},  # all to the frontier
        {"frontier": math.inf},  # all to the cheapest
    ],
)
def test_threshold_policy_routes_as_the_vectorised_path_for_any_cutoffs(study, cutoffs):
    fleet = _no_errors(study.fleet)
    point = study.evaluate(cutoffs, fleet=fleet).iloc[0]
    records, endpoints = study.simulate(study.threshold_policy(cutoffs), fleet=fleet)
    run = summarize_runs(records, endpoints).iloc[0]
    for tier in study.tiers:
        assert point[f"share_{tier}"] == pytest.approx(run.get(f"share_{tier}", 0.0), abs=1e-12)
    assert point["mean_quality"] == pytest.approx(run["mean_quality"], abs=1e-12)
