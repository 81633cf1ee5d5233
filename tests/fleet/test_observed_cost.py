"""cost_source="observed": the costs a trace recorded per (request, model) price API tiers in
the simulator, the vectorised curves, sweeps and RouterBench's oracle; a missing one that is
used is an error naming the request and the model, never a silent 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit import load_trace, simulate
from simkit.errors import SpecError, TraceError
from simkit.fleet import load_fleet
from simkit.metrics import cost_summary, oracle_router
from simkit.policies import ThresholdPolicy
from simkit.sweep import per_request_cost_usd, sweep, threshold_curves

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"
GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
N = 80


def _with_costs(trace, drop: tuple[str, str] | None = None):
    """Recorded costs that no catalog gives: GPT-4 1 mUSD times (row + 1), Mixtral 7 uUSD
    times (row + 1); ``drop`` = (request_id, model) gets no recorded cost."""
    out = trace.outcomes.copy()
    row = pd.Index(trace.requests["request_id"]).get_indexer(out["request_id"]) + 1
    out["cost_usd"] = np.where(out["model"] == GPT4, 1e-3 * row, 7e-6 * row)
    if drop is not None:
        hit = (out["request_id"] == drop[0]) & (out["model"] == drop[1])
        assert hit.sum() == 1
        out.loc[hit, "cost_usd"] = np.nan
    return trace.replace(outcomes=out)


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    t = t.subset(np.arange(t.n_requests) < N)
    t = t.replace(requests=t.requests.assign(arrival_s=t.requests["arrival_s"] + 50.0))
    rng = np.random.default_rng(5)
    return _with_costs(t.with_scores({"p_hard": rng.random(t.n_requests)}))


POLICY = ThresholdPolicy({"frontier": 0.7, "hosted": 0.4})


def _expected_tier(trace) -> np.ndarray:
    p = trace.scores["p_hard"].to_numpy()
    return np.where(p >= 0.7, "frontier", np.where(p >= 0.4, "hosted", "selfhosted"))


def test_the_simulator_charges_api_tiers_what_the_trace_recorded(trace):
    fleet = load_fleet()
    rec = simulate(trace, fleet, POLICY, seed=3, cost_source="observed")
    r = rec.requests
    assert rec.meta["cost_source"] == "observed"
    want = _expected_tier(trace)
    assert (r["tier"].to_numpy() == want).all()  # one attempt each, where the policy sent it
    assert (r["status"] == "completed").all()
    rows = np.arange(1, N + 1)
    catalog = simulate(trace, fleet, POLICY, seed=3)
    assert catalog.meta["cost_source"] == "catalog"
    # a self-hosted tier keeps its own (marginal) token price under either source
    expected = np.select(
        [want == "frontier", want == "hosted"],
        [1e-3 * rows, 7e-6 * rows],
        default=catalog.requests["cost_usd"].to_numpy(),
    )
    assert (expected[want == "selfhosted"] > 0).all()
    np.testing.assert_allclose(r["cost_usd"].to_numpy(), expected, rtol=0, atol=1e-15)
    api = want != "selfhosted"
    assert (catalog.requests["cost_usd"].to_numpy()[api] != expected[api]).all()
    assert rec.meta["config_hash"] != catalog.meta["config_hash"]
    # everything but the cost is the same run
    same = [c for c in r.columns if c != "cost_usd"]
    pd.testing.assert_frame_equal(r[same], catalog.requests[same])
    # the metrics read the records, so they report the recorded spend
    summary = cost_summary(rec.requests, rec.endpoints)
    assert summary.loc[0, "token_cost_usd"] == pytest.approx(expected.sum(), rel=1e-12)


def test_a_missing_recorded_cost_that_is_used_is_an_error_naming_request_and_model(trace):
    fleet = load_fleet()
    want = _expected_tier(trace)
    ids = trace.requests["request_id"].to_numpy()
    sent = int(np.flatnonzero(want == "frontier")[1])
    t = _with_costs(trace, drop=(ids[sent], GPT4))
    with pytest.raises(TraceError) as err:
        simulate(t, fleet, POLICY, seed=3, cost_source="observed")
    msg = str(err.value)
    assert f"row {sent + 1}" in msg and "column 'cost_usd'" in msg
    assert f"request {ids[sent]!r} has no observed cost for model {GPT4!r}" in msg
    assert "tier 'frontier'; 1 such requests" in msg
    # unused: the same gap on a request the policy keeps off the frontier is never read
    kept = int(np.flatnonzero(want != "frontier")[0])
    t2 = _with_costs(trace, drop=(ids[kept], GPT4))
    rec = simulate(t2, fleet, POLICY, seed=3, cost_source="observed")
    assert rec.requests["cost_usd"].notna().all()
    # the vectorised curves may send any request anywhere: every cell of a tier in play counts
    with pytest.raises(TraceError, match=rf"request '{ids[kept]}' has no observed cost"):
        threshold_curves(t2, fleet, [[0.7, 0.4]], cost_source="observed")
    # ... but not one of a tier left out
    curve = threshold_curves(
        t2, fleet, [0.5], tiers=("hosted", "selfhosted"), cost_source="observed"
    )
    assert curve.loc[0, "cost_source"] == "observed"


def test_curves_price_with_the_recorded_costs_and_land_on_the_simulated_run(trace):
    fleet = load_fleet()
    curve = threshold_curves(trace, fleet, [[0.7, 0.4], [-np.inf, -np.inf]], cost_source="observed")
    rec = simulate(trace, fleet, POLICY, seed=3, cost_source="observed")
    assert list(curve["cost_source"]) == ["observed", "observed"]
    assert curve.loc[0, "token_cost_usd"] == pytest.approx(rec.requests["cost_usd"].sum(), 1e-12)
    # all to the frontier: the sum of the recorded GPT-4 costs
    assert curve.loc[1, "token_cost_usd"] == pytest.approx(1e-3 * N * (N + 1) / 2, rel=1e-12)
    catalog = threshold_curves(trace, fleet, [[0.7, 0.4]])
    assert catalog.loc[0, "cost_source"] == "catalog"
    assert catalog.loc[0, "token_cost_usd"] != curve.loc[0, "token_cost_usd"]
    table = per_request_cost_usd(trace, fleet, cost_source="observed")
    assert table.attrs["cost_source"] == "observed"
    np.testing.assert_allclose(table["frontier"], 1e-3 * np.arange(1, N + 1))
    np.testing.assert_allclose(table["hosted"], 7e-6 * np.arange(1, N + 1))
    catalog_table = per_request_cost_usd(trace, fleet)
    assert catalog_table.attrs["cost_source"] == "catalog"
    pd.testing.assert_series_equal(table["selfhosted"], catalog_table["selfhosted"])


def test_a_sweep_says_which_prices_its_costs_used(trace):
    fleet = load_fleet()
    runs = sweep(trace, fleet, {"t": POLICY}, seeds=(3,), cost_source="observed")
    rec = simulate(trace, fleet, POLICY, seed=3, cost_source="observed")
    assert runs.loc[0, "cost_source"] == "observed"
    assert runs.loc[0, "token_cost_usd"] == pytest.approx(rec.requests["cost_usd"].sum(), 1e-12)
    assert sweep(trace, fleet, {"t": POLICY}, seeds=(3,)).loc[0, "cost_source"] == "catalog"


def test_the_cost_matrix_is_the_quality_matrix_counterpart_for_routerbench_oracle(trace):
    ids = trace.requests["request_id"].to_numpy()
    t = _with_costs(trace, drop=(ids[2], MIXTRAL))
    cost = t.cost_matrix([MIXTRAL, GPT4])
    assert list(cost.columns) == [MIXTRAL, GPT4] and list(cost.index) == list(ids)
    assert np.isnan(cost.iloc[2, 0]) and cost.iloc[2, 1] == pytest.approx(3e-3)
    assert cost.iloc[5, 0] == pytest.approx(6 * 7e-6)
    full = trace.cost_matrix([MIXTRAL, GPT4])
    oracle = oracle_router(trace.quality_matrix([MIXTRAL, GPT4]), full)
    q = trace.quality_matrix([MIXTRAL, GPT4]).to_numpy()
    both = (q[:, 0] == 1) & (q[:, 1] == 1)  # both right: the cheaper recorded cost, Mixtral
    assert (oracle["model"].to_numpy()[both] == MIXTRAL).all()
    np.testing.assert_allclose(oracle["cost"].to_numpy()[both], full[MIXTRAL].to_numpy()[both])


def test_bad_cost_sources_and_traces_without_costs_are_clear_errors(trace):
    fleet = load_fleet()
    with pytest.raises(SpecError, match=r"simulate, key 'cost_source': got 'recorded'; expected"):
        simulate(trace, fleet, POLICY, seed=0, cost_source="recorded")
    with pytest.raises(SpecError, match=r"sweep, key 'cost_source': got 'x'"):
        sweep(trace, fleet, [POLICY], cost_source="x")
    with pytest.raises(SpecError, match=r"threshold_curves, key 'cost_source'"):
        threshold_curves(trace, fleet, [0.5], cost_source="bill")
    bare = trace.replace(outcomes=trace.outcomes.assign(cost_usd=np.nan))
    with pytest.raises(TraceError, match=rf"model '{GPT4}' has no recorded cost_usd on any"):
        bare.cost_matrix([GPT4])
    with pytest.raises(TraceError, match="no outcomes for model 'nope'"):
        trace.cost_matrix(["nope"])


def test_charts_say_observed_costs_on_the_cost_axis_and_refuse_mixed_sources(trace):
    from simkit.viz.charts import latency_cost_chart, tier_cost_chart, tradeoff_chart
    from simkit.viz.frames import summary_points, tier_cost_points, tradeoff_points

    fleet = load_fleet()
    policies = {"t": POLICY, "frontier": "static:tier=frontier"}
    observed = sweep(trace, fleet, policies, seeds=(3,), cost_source="observed")
    catalog = sweep(trace, fleet, policies, seeds=(3,))
    titles = {}
    for name, runs in (("observed", observed), ("catalog", catalog)):
        points = tradeoff_points(summary_points(runs, frontier_tier="frontier"))
        assert points.attrs["cost_source"] == name
        costs = tier_cost_points(runs, tiers=fleet.tier_names)
        titles[name] = [
            tradeoff_chart(points).to_dict()["layer"][0]["encoding"]["x"]["title"],
            tier_cost_chart(costs).to_dict()["encoding"]["x"]["title"],
        ]
    assert titles["observed"] == ["cost per 1k requests (USD; observed token costs)"] * 2
    assert titles["catalog"] == ["cost per 1k requests (USD)"] * 2
    mixed = pd.concat([observed, catalog], ignore_index=True)
    with pytest.raises(SpecError, match=r"summary_points summary, key 'cost_source': the rows"):
        summary_points(mixed, frontier_tier="frontier")
    lat = summary_points(observed, frontier_tier="frontier")
    lat = lat.assign(
        cost_per_1k_usd_lo=lat["cost_per_1k_usd"],
        cost_per_1k_usd_hi=lat["cost_per_1k_usd"],
        p95_ttft_s_lo=lat["p95_ttft_s"],
        p95_ttft_s_hi=lat["p95_ttft_s"],
    )
    assert "(USD; observed token costs)" in str(latency_cost_chart(lat).to_dict())
