"""The vectorised threshold curves agree with the simulator, point for point."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simkit import load_trace, simulate
from simkit.errors import PolicyError
from simkit.fleet import load_fleet
from simkit.metrics import cost_summary, quality_summary, tier_shares
from simkit.policies import ThresholdPolicy
from simkit.sweep import per_request_cost_usd, threshold_curves

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"


@pytest.fixture(scope="module")
def scored():
    trace = load_trace(FIXTURE)
    rng = np.random.default_rng(7)
    return trace.with_scores({"p_hard": rng.random(trace.n_requests)})


def test_a_simulated_threshold_policy_lands_exactly_on_its_curve_point(scored):
    """Shares, mean quality and per-token spend of a simulated run in which every request
    completes equal the vectorised row for the same cut-offs (failed attempts are not billed,
    so retries do not change the spend)."""
    fleet = load_fleet()
    cut = {"frontier": 0.8, "hosted": 0.5}
    rec = simulate(scored, fleet, ThresholdPolicy(cut), seed=3)
    assert (rec.requests["status"] == "completed").all()
    curve = threshold_curves(scored, fleet, [[0.8, 0.5]])
    row = curve.iloc[0]
    shares = tier_shares(rec.requests).loc[0]
    for tier in fleet.tier_names:
        assert row[f"share_{tier}"] == pytest.approx(shares.get(tier, 0.0), abs=1e-12)
    q = quality_summary(rec.requests).iloc[0]
    assert row["mean_quality"] == pytest.approx(q["mean_quality"], abs=1e-12)
    cost = cost_summary(rec.requests, rec.endpoints).iloc[0]
    assert row["token_cost_usd"] == pytest.approx(cost["token_cost_usd"], rel=1e-12)


def test_many_cutoffs_at_once_match_one_at_a_time(scored):
    fleet = load_fleet()
    grid = np.array([[c1, c2] for c1 in (0.9, 0.7, 0.5) for c2 in (0.4, 0.2) if c2 < c1])
    together = threshold_curves(scored, fleet, grid)
    for i, cut in enumerate(grid):
        alone = threshold_curves(scored, fleet, [cut])
        assert together.iloc[i].to_dict() == pytest.approx(alone.iloc[0].to_dict())
    # more frontier share never lowers the per-token spend in this fleet (frontier costliest)
    assert together["fixed_cost_usd"].nunique() == 1


def test_per_request_cost_prices_prompt_and_tier_output_tokens(scored):
    fleet = load_fleet()
    costs = per_request_cost_usd(scored, fleet)
    frontier = fleet.tier("frontier").endpoint.price
    req = scored.requests.iloc[0]
    out = scored.outcomes
    n_out = out[
        (out["request_id"] == req["request_id"])
        & (out["model"] == fleet.tier("frontier").quality_model)
    ]
    n_out = (
        int(n_out["output_tokens"].iloc[0])
        if n_out["output_tokens"].notna().all()
        else int(req["output_tokens"])
    )
    expected = frontier.cost_usd(int(req["prompt_tokens"]), max(n_out, 1))
    assert costs["frontier"].iloc[0] == pytest.approx(expected, rel=1e-12)


def test_missing_score_names_the_scores_the_trace_has():
    trace = load_trace(FIXTURE)
    with pytest.raises(
        PolicyError,
        match="threshold_curves, key 'score': the trace has no score column 'p_hard'; score columns: none",
    ):
        threshold_curves(trace, load_fleet(), [0.5])
