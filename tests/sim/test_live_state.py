"""What policies read from the running simulation (spend, decisions, routed counts, 429s,
headroom), budget- and share-targeting policies inside ``simulate``, failed rows without
quality, and the per-tier token-cost table (issue 10: each was a surviving mutant).

Fleets have no jitter, so every time and dollar below is worked out by hand.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest

from sim.helpers import fixed_api, slot_server, tiny_trace
from simkit.fleet import Fleet, GpuServer, Jitter, ModelPrice, RateLimit, RetryPolicy, Tier
from simkit.policies import (
    BudgetPolicy,
    FallbackPolicy,
    FleetView,
    RequestView,
    StaticPolicy,
    TargetSharePolicy,
)
from simkit.sim import simulate, tier_arrays, token_cost_matrix

NO_RETRY = RetryPolicy(max_retries=0)


@dataclass(frozen=True)
class Watch:
    """Follows ``base`` and notes what the fleet view showed at each decision."""

    base: object
    seen: list = field(default_factory=list, compare=False)

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        self.seen.append(
            {
                "now_s": fleet.now_s,
                "spend_usd": fleet.spend_usd,
                "decided": fleet.decided,
                "routed": dict(fleet.routed),
                "recent_429s": dict(fleet.recent_429s),
                "recent_errors": dict(fleet.recent_errors),
                "headroom": dict(fleet.headroom),
                "in_flight": dict(fleet.in_flight),
            }
        )
        return self.base.route(request, fleet, rng)

    def next_tier(self, request, attempt, fleet, rng):  # noqa: ANN001, ANN201
        hook = getattr(self.base, "next_tier", None)
        return hook(request, attempt, fleet, rng) if hook is not None else None


def two_apis(strong_price=(200_000.0, 0.0)) -> Fleet:
    """'weak' is free; 'strong' charges $0.2 per prompt token ($2 for 10 tokens). Both answer
    5 tokens in 0.5 + 4 / 100 = 0.54 s."""
    return Fleet(
        (
            Tier("weak", fixed_api(price=(0.0, 0.0)), "m"),
            Tier("strong", fixed_api(price=strong_price), "m"),
        )
    )


def scored(arrivals, score):
    trace = tiny_trace(arrivals)
    return trace.with_scores({"p_hard": [score] * len(arrivals)})


# --- spend, decisions and routed counts ----------------------------------------------------------
def test_policies_see_the_spend_of_finished_attempts_decisions_and_routed_counts():
    """Requests at t = 0, 1, 2, 3 on 'strong', each $2, done 0.54 s after arrival: at each
    decision the earlier requests are paid for."""
    watch = Watch(StaticPolicy("strong"))
    rec = simulate(tiny_trace([0.0, 1.0, 2.0, 3.0]), two_apis(), watch, seed=0).requests
    assert [s["spend_usd"] for s in watch.seen] == [0.0, 2.0, 4.0, 6.0]
    assert [s["decided"] for s in watch.seen] == [0, 1, 2, 3]
    assert [s["routed"] for s in watch.seen] == [{"weak": 0, "strong": k} for k in range(4)]
    assert [s["now_s"] for s in watch.seen] == [0.0, 1.0, 2.0, 3.0]
    assert rec["cost_usd"].tolist() == [2.0] * 4


def test_budget_policy_in_a_run_alternates_to_hold_its_budget():
    """$3,600/h is $1 per second (and $60 a minute); gain 60 makes the threshold
    0.5 + overspend in dollars; every score is 0.6. t=0: nothing spent, 0.6 >= 0.5 -> strong
    ($2, paid at 0.54). t=1: $2 spent, $1 allowed: threshold 1.5 -> weak. t=2: $2 of $2 ->
    strong. t=3: $4 of $3 -> weak. t=4 strong, t=5 weak."""
    policy = BudgetPolicy(usd_per_hour=3600.0, score="p_hard", strong="strong", gain=60.0)
    arrivals = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    rec = simulate(scored(arrivals, 0.6), two_apis(), policy, seed=0).requests
    assert rec["tier"].tolist() == ["strong", "weak"] * 3
    assert rec["cost_usd"].sum() == 6.0


def test_share_policy_in_a_run_follows_decided_and_routed_counts():
    """Target 0.5, start 0.5, gain 0.1, every score 0.56: threshold 0.5 + 0.1 * (strong -
    0.5 * decided) = 0.5, 0.55, 0.6, 0.55, 0.6, 0.55 -> strong, strong, weak, strong, weak,
    strong."""
    policy = TargetSharePolicy(0.5, score="p_hard", gain=0.1, start=0.5)
    arrivals = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    rec = simulate(scored(arrivals, 0.56), two_apis(), policy, seed=0).requests
    assert rec["tier"].tolist() == ["strong", "strong", "weak", "strong", "weak", "strong"]


def test_routed_counts_every_attempt_and_decided_only_first_decisions():
    """Every attempt on 'flaky' fails (an error, no retries) and falls back to 'weak': each
    request is decided once and routed twice."""
    fleet = Fleet(
        (
            Tier("weak", fixed_api(price=(0.0, 0.0)), "m"),
            Tier("flaky", fixed_api(error_rate=0.999999, retry=NO_RETRY, ttft_s=0.1), "m"),
        )
    )
    watch = Watch(FallbackPolicy(StaticPolicy("flaky")))
    rec = simulate(tiny_trace([0.0, 1.0, 2.0]), fleet, watch, seed=0).requests
    assert [s["decided"] for s in watch.seen] == [0, 1, 2]
    assert [s["routed"] for s in watch.seen] == [{"weak": k, "flaky": k} for k in range(3)]
    assert rec["tiers_tried"].tolist() == ["flaky,weak"] * 3
    assert [s["recent_errors"]["flaky"] for s in watch.seen] == [0, 1, 2]


# --- failed requests -----------------------------------------------------------------------------
def test_a_failed_request_has_no_quality_tier_model_or_cost():
    """r0 and r2 go to a tier that always errors (no retries, no fallback); r1 to a working
    one. The trace records quality 1.0 for every request: only r1 keeps it."""

    @dataclass(frozen=True)
    class Alternate:
        def route(self, request, fleet, rng):  # noqa: ANN001, ANN201
            return "ok" if request.request_id == "r1" else "broken"

    fleet = Fleet(
        (
            Tier("ok", fixed_api(), "m"),
            Tier("broken", fixed_api(error_rate=0.999999, retry=NO_RETRY), "m"),
        )
    )
    rec = simulate(tiny_trace([0.0, 1.0, 2.0], quality=1.0), fleet, Alternate(), seed=0).requests
    assert rec["status"].tolist() == ["failed", "completed", "failed"]
    assert rec["fail_reason"].tolist() == ["error", "", "error"]
    assert rec["quality"].isna().tolist() == [True, False, True]
    assert rec["quality"].iloc[1] == 1.0
    assert rec["tier"].tolist() == ["", "ok", ""]
    assert rec["model"].tolist() == ["", "m", ""]
    assert rec["tiers_tried"].tolist() == ["broken", "ok", "broken"]
    assert rec["cost_usd"].tolist() == pytest.approx([0.0, (10 * 1.0 + 5 * 2.0) / 1e6, 0.0])
    assert rec["output_tokens"].tolist() == [0, 5, 0]
    assert rec["first_token_s"].isna().tolist() == [True, False, True]


# --- 429s and headroom ---------------------------------------------------------------------------
def test_policies_see_429s_of_the_last_60_seconds():
    """rpm 1 (a bucket of one request, refilled over 60 s), no retries: r0 at t=0 is admitted,
    r1 (t=1), r2 (t=2) and r3 (t=50, the bucket 5/6 full) get a 429 and fail. At t=50 two
    429s are recent; at t=61.5 r1's (t=1 < 61.5 - 60) has left the window, r2's and r3's
    count; by then the bucket has refilled and r4 is admitted."""
    fleet = Fleet((Tier("api", fixed_api(rate_limit=RateLimit(rpm=1), retry=NO_RETRY), "m"),))
    watch = Watch(StaticPolicy("api"))
    arrivals = [0.0, 1.0, 2.0, 50.0, 61.5]
    rec = simulate(tiny_trace(arrivals), fleet, watch, seed=0).requests
    assert [s["recent_429s"]["api"] for s in watch.seen] == [0, 0, 1, 2, 2]
    assert rec["n_429"].tolist() == [0, 1, 1, 1, 0]
    assert rec["status"].tolist() == ["completed", "failed", "failed", "failed", "completed"]


def test_policies_see_rate_limit_headroom_and_free_gpu_slots():
    """API: rpm 4 is a bucket of 4 requests; three requests at t=0 leave 1, 3/4 and 1/2 for
    the next decision. GPU: two slots, each request holds one for 10 steps of 1 s; the
    request at t=1.5 sees one slot taken, the one at t=3 (after the second was admitted at
    the step boundary t=2) sees none free."""
    api = Fleet((Tier("api", fixed_api(rate_limit=RateLimit(rpm=4)), "m"),))
    watch = Watch(StaticPolicy("api"))
    simulate(tiny_trace([0.0, 0.0, 0.0]), api, watch, seed=0)
    assert [s["headroom"]["api"] for s in watch.seen] == pytest.approx([1.0, 0.75, 0.5])
    gpu = Fleet((Tier("gpu", slot_server(slots=2, step_s=1.0), "m"),))
    watch = Watch(StaticPolicy("gpu"))
    simulate(tiny_trace([0.0, 1.5, 3.0], output_tokens=10), gpu, watch, seed=0)
    assert [s["headroom"]["gpu"] for s in watch.seen] == [1.0, 0.5, 0.0]
    assert [s["in_flight"]["gpu"] for s in watch.seen] == [0, 1, 2]


# --- token cost table ----------------------------------------------------------------------------
def test_token_cost_matrix_prices_api_tiers_by_catalog_and_gpu_tiers_by_marginal_rate():
    """API: $1/$2 per M tokens, $3/$6 above 100 prompt tokens (long-context tier). GPU:
    $0.5 per M tokens, prompt and output alike."""
    price = ModelPrice(1.0, 2.0, input_tiers=((100, 3.0),), output_tiers=((100, 6.0),))
    gpu = GpuServer(
        model="m",
        usd_per_gpu_hour=1.0,
        marginal_usd_per_mtok=0.5,
        t_floor_s=0.01,
        x_sat_tokens_per_s=1e4,
        beta_s_per_ctx_token=0.0,
        t_ovh_s=0.0,
        kv_capacity_tokens=10**6,
        rtt_s=Jitter(0.0),
    )
    long_api = dataclasses.replace(fixed_api(), price=price)
    fleet = Fleet((Tier("gpu", gpu, "m"), Tier("api", long_api, "m")))
    prompt = np.array([10, 200])
    output = np.array([[4, 5], [40, 50]])
    expected = np.array(
        [
            [(10 + 4) * 0.5e-6, (10 * 1.0 + 5 * 2.0) * 1e-6],
            [(200 + 40) * 0.5e-6, (200 * 3.0 + 50 * 6.0) * 1e-6],
        ]
    )
    np.testing.assert_allclose(token_cost_matrix(fleet, prompt, output), expected, rtol=1e-12)


def test_token_cost_matrix_is_what_the_simulator_charges():
    """The cost of every completed request equals its tier's entry in the table."""
    fleet = Fleet(
        (
            Tier("gpu", slot_server(slots=4, step_s=0.01), "m"),
            Tier("api", fixed_api(price=(1.0, 2.0)), "m"),
        )
    )
    trace = tiny_trace([0.0, 0.5, 1.0, 1.5], prompt_tokens=[10, 20, 30, 40], output_tokens=3)
    arrays = tier_arrays(trace, fleet)
    table = token_cost_matrix(fleet, arrays.prompt_tokens, arrays.output_tokens)
    rec = simulate(trace, fleet, StaticPolicy("api"), seed=0).requests
    np.testing.assert_allclose(rec["cost_usd"], table[:, 1], rtol=1e-12)
    np.testing.assert_allclose(table[:, 1], [(p + 6) * 1e-6 for p in (10, 20, 30, 40)])
