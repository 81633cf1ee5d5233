"""A request's ``max_tokens`` caps the simulated answer; an empty trace is named as empty."""

from __future__ import annotations

import pandas as pd
import pytest

from simkit import Trace, simulate
from simkit.errors import SimulationError
from simkit.fleet import load_fleet
from simkit.policies import StaticPolicy

from .helpers import fixed_api, one_tier, tiny_trace


def test_max_tokens_caps_the_output_and_so_the_time_and_the_cost():
    """Outputs of 649 tokens at 100 tokens/s: a cap of 16 makes them 16 tokens, 0.15 s of
    decoding after the 0.5 s TTFT, and output cost of 16 tokens; an uncapped request and one
    with a cap above its length keep their 649 and 5 tokens."""
    trace = tiny_trace([1.0, 2.0, 3.0], output_tokens=[649, 649, 5], max_tokens=[16, None, 50])
    trace = trace.replace(
        requests=trace.requests.assign(max_tokens=pd.array([16, None, 50], dtype="Int64"))
    )
    rec = simulate(trace, one_tier(fixed_api(price=(1.0, 2.0))), StaticPolicy("t"), seed=0)
    r = rec.requests
    assert list(r["output_tokens"]) == [16, 649, 5]
    # the first token arrives at the TTFT, the other n - 1 at 100 tokens/s
    assert list((r["end_s"] - r["arrival_s"]).round(6)) == [0.65, 6.98, 0.54]
    expected_usd = [(10 * 1.0 + n * 2.0) * 1e-6 for n in (16, 649, 5)]
    assert list(r["cost_usd"].round(12)) == [round(x, 12) for x in expected_usd]


def test_max_tokens_caps_every_tier_of_a_three_tier_fleet():
    fleet = load_fleet()
    trace = tiny_trace(
        [5.0, 5.5, 6.0], output_tokens=400, max_tokens=16, model=fleet.tiers[0].quality_model
    )
    for tier in fleet.tier_names:
        rec = simulate(trace, fleet, StaticPolicy(tier), seed=3, allow_missing_quality=True)
        assert list(rec.requests["output_tokens"]) == [16, 16, 16], tier


def test_an_empty_trace_is_named_as_empty_not_blamed_on_the_fleet():
    empty = Trace(pd.DataFrame({"request_id": pd.Series([], dtype="string"), "arrival_s": []}))
    with pytest.raises(
        SimulationError, match=r"<trace>: the trace is empty \(0 requests\); there is nothing"
    ):
        simulate(empty, load_fleet(), StaticPolicy("frontier"), seed=0)
