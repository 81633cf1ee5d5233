"""One rule for a request's token cost and one for GPU rental per 1k requests
(simkit.fleet.costs), used by the simulator, the vectorised curves and the study alike."""

from __future__ import annotations

import ast
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import simkit
from simkit import load_trace, simulate
from simkit.fleet import ModelPrice, load_fleet
from simkit.fleet.costs import request_token_cost_usd, token_cost_matrix
from simkit.metrics import (
    HOURS_PER_MONTH,
    SECONDS_PER_MONTH,
    gpu_cost_per_1k_usd,
    per_1k_requests_usd,
)
from simkit.policies import ThresholdPolicy
from simkit.sim import tier_arrays
from simkit.study import Study
from simkit.sweep import threshold_curves

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    t = t.subset(np.arange(t.n_requests) < 400)
    rng = np.random.default_rng(11)
    return t.with_scores({"p_hard": rng.random(t.n_requests)})


def _fleet_with_long_context_and_marginal_cost():
    """Three tiers: self-hosted with a marginal token price, hosted with a long-context price
    tier that starts inside the trace's prompt lengths, frontier as shipped."""
    fleet = load_fleet()
    gpu = fleet.tier("selfhosted")
    hosted = fleet.tier("hosted")
    price = ModelPrice(0.5, 1.5, input_tiers=((300, 2.0),), output_tiers=((300, 4.0),))
    tiers = (
        replace(gpu, endpoint=replace(gpu.endpoint, marginal_usd_per_mtok=0.3)),
        replace(hosted, endpoint=replace(hosted.endpoint, price=price)),
        fleet.tier("frontier"),
    )
    return replace(fleet, tiers=tiers)


def test_the_cost_matrix_prices_every_request_as_the_one_request_rule(trace):
    """Every cell of token_cost_matrix equals request_token_cost_usd of that request on that
    tier, on both sides of a long-context price tier and with a self-hosted marginal price."""
    fleet = _fleet_with_long_context_and_marginal_cost()
    arrays = tier_arrays(trace, fleet)
    matrix = token_cost_matrix(fleet, arrays.prompt_tokens, arrays.output_tokens)
    assert (arrays.prompt_tokens > 300).any() and (arrays.prompt_tokens <= 300).any()
    for j, tier in enumerate(fleet.tiers):
        one_by_one = [
            request_token_cost_usd(tier.endpoint, int(n_in), int(n_out))
            for n_in, n_out in zip(arrays.prompt_tokens, arrays.output_tokens[:, j], strict=True)
        ]
        np.testing.assert_allclose(matrix[:, j], one_by_one, rtol=1e-15, atol=0)
    n_in, n_out = 400, 30  # above the tier: 2.0 and 4.0 USD per 1M for every token
    assert request_token_cost_usd(fleet.tiers[1].endpoint, n_in, n_out) == pytest.approx(
        (400 * 2.0 + 30 * 4.0) / 1e6
    )
    assert request_token_cost_usd(fleet.tiers[0].endpoint, n_in, n_out) == pytest.approx(
        430 * 0.3 / 1e6
    )


def test_the_simulator_charges_each_request_what_the_matrix_says(trace):
    """A run where every request completes on its first attempt: records.cost_usd is the
    matrix cell of the tier that answered (the self-hosted marginal price included)."""
    fleet = _fleet_with_long_context_and_marginal_cost()
    fleet = replace(
        fleet,
        tiers=tuple(
            replace(t, endpoint=replace(t.endpoint, error_rate=0.0))
            if hasattr(t.endpoint, "error_rate")
            else t
            for t in fleet.tiers
        ),
    )
    rec = simulate(trace, fleet, ThresholdPolicy({"frontier": 0.8, "hosted": 0.4}), seed=5)
    r = rec.requests
    assert (r["status"] == "completed").all() and (r["retries"] == 0).all()
    arrays = tier_arrays(trace, fleet)
    matrix = token_cost_matrix(fleet, arrays.prompt_tokens, arrays.output_tokens)
    column = r["tier"].map({t: j for j, t in enumerate(fleet.tier_names)}).to_numpy()
    assert set(column) == {0, 1, 2}
    np.testing.assert_allclose(
        r["cost_usd"].to_numpy(), matrix[np.arange(len(r)), column], rtol=1e-12
    )


def test_gpu_rental_per_1k_requests_is_a_months_rent_over_a_months_requests():
    assert gpu_cost_per_1k_usd(2.5, 1e6) == pytest.approx(2.5 * 720 / 1e6 * 1000)
    assert gpu_cost_per_1k_usd(2.5, 1e6) == per_1k_requests_usd(2.5 * HOURS_PER_MONTH, 1e6)
    assert HOURS_PER_MONTH * 3600 == SECONDS_PER_MONTH
    assert gpu_cost_per_1k_usd(0.0, math.nan) == 0.0  # nothing rented: nothing to spread
    assert math.isnan(gpu_cost_per_1k_usd(1.0, math.nan))  # a rate nobody knows


def test_the_study_and_the_threshold_curves_price_gpu_rental_per_1k_the_same_way(trace):
    """At the trace's own rate, both vectorised paths give the same cost per 1k requests for
    the same cut-offs: a second convention for spreading the rental would split them."""
    fleet = _fleet_with_long_context_and_marginal_cost()
    study = Study.prepare(trace, fleet)
    point = study.evaluate({"frontier": 0.8, "hosted": 0.4}).iloc[0]
    curve = threshold_curves(trace, fleet, [[0.8, 0.4]]).iloc[0]
    n = trace.n_requests
    volume = (n - 1) / trace.duration_s * SECONDS_PER_MONTH
    assert point["requests_per_month"] == pytest.approx(volume, rel=1e-12)
    gpu = gpu_cost_per_1k_usd(fleet.fixed_usd_per_hour, volume)
    assert gpu > 0
    assert point["gpu_cost_per_1k_usd"] == pytest.approx(gpu, rel=1e-12)
    assert curve["cost_per_1k_usd"] == pytest.approx(point["cost_per_1k_usd"], rel=1e-12)
    assert curve["token_cost_usd"] / n * 1000 == pytest.approx(
        point["token_cost_per_1k_usd"], rel=1e-12
    )
    assert curve["monthly_cost_usd"] == pytest.approx(point["monthly_cost_usd"], rel=1e-9)


def test_only_simkit_fleet_applies_a_price_to_token_counts():
    """Reads the package source: outside simkit/fleet, no arithmetic on a per-million-token
    price (``*_usd_per_mtok``) and no vector pricing (``cost_usd_many``): a second copy of
    the token-cost rule. Calling a price's own ``cost_usd`` is using the rule, not copying it.
    (A test reading module source: deselect it under mutation testing.)"""
    root = Path(simkit.__file__).resolve().parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.parent.name == "fleet":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            where = f"{path.relative_to(root)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.BinOp):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Attribute) and side.attr.endswith("usd_per_mtok"):
                        offenders.append(f"{where} arithmetic on .{side.attr}")
            if isinstance(node, ast.Attribute) and node.attr == "cost_usd_many":
                offenders.append(f"{where} .cost_usd_many")
    assert offenders == []
