"""A fleet of hosted APIs replayed tier by tier (simkit.sim.by_tier) gives the event run's records.

The reference is the event run itself (SimPy, every tier on one queue), forced by turning the
tier-by-tier replay off: every column of every record, the endpoint rows, the horizon and
``meta`` (``n_events`` included) must be equal, on real RouteLLM requests with binding rate
limits of both styles, server errors, timeouts, an outage, retries with and without
retry-after, context windows refused and truncated, sensitive tags and recorded costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

import simkit.sim.engine as engine
from sim.helpers import (
    STRONG,
    WEAK,
    fixed_api,
    fixture_trace,
    one_tier,
    quarter_second_case,
    slot_server,
    tiny_trace,
)
from simkit import Trace
from simkit.errors import PolicyError
from simkit.fleet import ApiEndpoint, Fleet, GpuServer, Jitter, ModelPrice, RateLimit, Tier
from simkit.fleet.spec import RetryPolicy
from simkit.policies import (
    FallbackPolicy,
    PrivacyPolicy,
    RandomMixPolicy,
    SpillOverPolicy,
    StaticPolicy,
    TargetSharePolicy,
    TaskHeuristicPolicy,
    ThresholdPolicy,
)
from simkit.sim import simulate
from simkit.sim.by_tier import ArrivalEvents, TieFound, replay_by_tier, replays_by_tier
from simkit.sim.requests import RequestTable
from simkit.sim.run import Run


def _trace(shift_s: float = 37.25) -> Trace:
    """The fixture's 2,447 requests from ``shift_s`` on, with a score and recorded costs."""
    base = fixture_trace()
    req = base.requests.copy()
    req["arrival_s"] = req["arrival_s"] + shift_s
    out = base.outcomes.copy()
    out["cost_usd"] = np.random.default_rng(4).uniform(1e-4, 1e-2, len(out))
    trace = Trace(req, out, where="fixture+shift")
    return trace.with_scores({"p_hard": np.random.default_rng(5).random(trace.n_requests)})


def _api(model: str, ttft: float, speed: float, **kw) -> ApiEndpoint:
    return ApiEndpoint(
        model=model,
        price=ModelPrice(0.5, 1.5),
        ttft_s=Jitter(ttft, 0.4),
        output_tokens_per_s=Jitter(speed, 0.3),
        rtt_s=Jitter(0.04, 0.2),
        **kw,
    )


def _fleet() -> Fleet:
    """Three API tiers whose limits bind, that fail and time out, one private."""
    return Fleet(
        (
            Tier(
                "cheap",
                _api(
                    "llama",
                    0.3,
                    60.0,
                    rate_limit=RateLimit(rpm=40, tpm=60_000),
                    error_rate=0.05,
                    retry=RetryPolicy(max_retries=3, honour_retry_after=False),
                ),
                WEAK,
                private=True,
                context_window=1200,
                over_context="truncate",
            ),
            Tier(
                "mid",
                _api(
                    "sonnet",
                    0.6,
                    50.0,
                    rate_limit=RateLimit(
                        style="anthropic", rpm=60, input_tpm=30_000, output_tpm=9_000
                    ),
                    outages=((300.0, 420.0),),
                    prefill_tokens_per_s=4000.0,
                ),
                STRONG,
                context_window=2000,
                over_context="fail",
            ),
            Tier(
                "frontier",
                _api("gpt-4o", 0.5, 90.0, error_rate=0.02, timeout_s=6.0),
                STRONG,
            ),
        ),
        name="three-apis",
    )


class _OneByOne(ThresholdPolicy):
    """The threshold policy routed one request at a time (its ``route`` overridden, so its
    ``route_batch`` is not used): the fallback reads the view's tiers."""

    def route(self, request, fleet, rng):
        return super().route(request, fleet, rng)


POLICIES = {
    "random": RandomMixPolicy({"cheap": 1.0, "mid": 2.0, "frontier": 1.5}),
    "static": StaticPolicy("mid"),
    "threshold": ThresholdPolicy({"frontier": 0.7, "mid": 0.4}),
    "threshold, one at a time": _OneByOne({"frontier": 0.7, "mid": 0.4}),
    "share": TargetSharePolicy(target_share=0.3, strong="frontier", weak="cheap", score=None),
    "task": TaskHeuristicPolicy(),
}


def _event_run(monkeypatch: pytest.MonkeyPatch, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(engine, "replays_by_tier", lambda fleet, policy: False)
        return simulate(*args, **kw)


def _by_tier(monkeypatch: pytest.MonkeyPatch, *args, **kw):
    """``simulate``, checked to have replayed tier by tier to the end."""
    runs = []
    real = engine.replay_by_tier
    with monkeypatch.context() as m:
        m.setattr(engine, "replay_by_tier", lambda run: runs.append(run) or real(run))
        records = simulate(*args, **kw)
    assert len(runs) == 1 and runs[0].replayed_by_tier is not None
    return records


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.requests, b.requests, check_exact=True)
    pd.testing.assert_frame_equal(a.endpoints, b.endpoints, check_exact=True)
    assert a.horizon_s == b.horizon_s
    assert dict(a.meta) == dict(b.meta)


@pytest.mark.parametrize("name", sorted(POLICIES))
@pytest.mark.parametrize("cost_source", ["catalog", "observed"])
def test_records_equal_the_event_runs(monkeypatch, name, cost_source):
    trace, fleet, policy = _trace(), _fleet(), POLICIES[name]
    assert replays_by_tier(fleet, policy)
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=11, run_id=3, cost_source=cost_source)
    want = _event_run(monkeypatch, trace, fleet, policy, seed=11, run_id=3, cost_source=cost_source)
    _same(got, want)


def _mixed_fleet() -> Fleet:
    """A continuously batching GPU tier (two replicas, least-outstanding) before the three
    API tiers of :func:`_fleet`."""
    gpu = slot_server(slots=6, step_s=0.02, replicas=2)
    return Fleet(
        (Tier("gpu", gpu, WEAK, context_window=1500, over_context="fail"), *_fleet().tiers)
    )


MIXED = {
    "random": RandomMixPolicy({"gpu": 3.0, "cheap": 1.0, "mid": 1.0, "frontier": 1.0}),
    "threshold": ThresholdPolicy({"frontier": 0.8, "mid": 0.6, "cheap": 0.4}),
    "share": TargetSharePolicy(target_share=0.25, strong="frontier", weak="gpu"),
}


@pytest.mark.parametrize("name", sorted(MIXED))
def test_a_self_hosted_tier_beside_them_replays_by_events_with_the_same_records(monkeypatch, name):
    """The GPU tier keeps the SimPy environment (its batches, queue and deliveries), with every
    arrival event of the event run; the API tiers go alone."""
    trace, fleet, policy = _trace(), _mixed_fleet(), MIXED[name]
    assert replays_by_tier(fleet, policy)
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=5, run_id=1)
    want = _event_run(monkeypatch, trace, fleet, policy, seed=5, run_id=1)
    _same(got, want)
    r = got.requests
    on_gpu = r["tier"] == "gpu"
    assert on_gpu.sum() > 300 and (r["tier"] == "frontier").sum() > 100
    assert got.meta["gpu_steps"] > 1000 and got.meta["context"]["gpu"]["exceeded"] > 0
    # the GPU tier queued: some of its requests waited for a slot
    assert ((r["first_token_s"] - r["dispatch_s"])[on_gpu] > 0.5).any()


def test_the_comparison_covers_what_the_tiers_do(monkeypatch):
    """The fleet above exercises every branch of an API attempt under the random mix."""
    rec = simulate(_trace(), _fleet(), POLICIES["random"], seed=11)
    r = rec.requests
    reasons = set(r["fail_reason"])
    assert {"rate_limited", "context_exceeded", "outage", "error", "timeout"} <= reasons, reasons
    assert (r["n_429"] > 0).sum() > 50 and (r["retries"] > 0).sum() > 50
    assert r["privacy_violation"].any()
    assert rec.meta["context"]["cheap"]["truncated"] > 0
    assert rec.meta["context"]["mid"]["exceeded"] > 0


def test_an_api_tiers_endpoint_row_counts_the_tokens_of_its_completed_attempts():
    """The frontier tier (no context window, errors and timeouts): its row's prompt and
    output tokens are the sums over the requests completed there, failed attempts left out."""
    rec = simulate(_trace(), _fleet(), POLICIES["random"], seed=11)
    r = rec.requests
    row = rec.endpoints.set_index("tier").loc["frontier"]
    done = r[(r["tier"] == "frontier") & (r["status"] == "completed")]
    tried = r[r["tiers_tried"] == "frontier"]
    assert len(done) < len(tried)  # some failed there
    assert row["prompt_tokens"] == done["prompt_tokens"].sum()
    assert row["output_tokens"] == done["output_tokens"].sum()


def test_arrival_events_are_the_event_runs():
    """Same-time arrivals share one event; the event times come from SimPy's arithmetic."""
    arrival = [0.1, 0.1, 0.3, 0.7, 0.7, 0.7, 1e-17 + 2.0, 5.0]
    dispatch, times = ArrivalEvents().add(arrival)
    assert dispatch == [0.1, 0.1, 0.1 + (0.3 - 0.1), 0.7, 0.7, 0.7, 2.0, 5.0]
    assert times == [0.1, 0.1 + (0.3 - 0.1), 0.7, 2.0, 5.0]
    events = len(times)
    trace = tiny_trace(arrival)
    fleet = one_tier(fixed_api(ttft_s=0.25, speed=50.0, rtt_s=0.01))
    rec = simulate(trace, fleet, StaticPolicy("t"), seed=0)
    assert rec.requests["dispatch_s"].tolist() == dispatch
    assert rec.meta["n_events"] == events  # one event per arrival time, completions deferred


def test_an_arrival_event_that_lands_short_is_one_more_event(monkeypatch):
    """``now + (236.129492246605 - now)`` at ``now = 71.81083289788565`` is 236.12949224660497:
    the event run's next arrival event comes a hair early, starts nothing and schedules one
    more. The replica clock walks the same events: the same count on a GPU-only fleet."""
    arrival = [71.81083289788565, 236.129492246605, 240.0]
    dispatch, times = ArrivalEvents().add(arrival)
    assert times == [71.81083289788565, 236.12949224660497, 236.129492246605, 240.0]
    assert dispatch == [71.81083289788565, 236.129492246605, 240.0]
    trace = tiny_trace(arrival, prompt_tokens=20, output_tokens=400)
    fleet = Fleet((Tier("gpu", slot_server(slots=2, step_s=0.5), "m"),))
    got = _by_tier(monkeypatch, trace, fleet, StaticPolicy("gpu"), seed=0)
    _same(got, _event_run(monkeypatch, trace, fleet, StaticPolicy("gpu"), seed=0))
    # 4 arrival events; the replica's start and its wake-up at the first; r0's prefill and
    # its decodes in one fast-forward, interrupted by r1 (the interruption, the step in
    # flight), r1's prefill, the fast-forward to r0's end, then r2 (it waited: 2 slots), its
    # prefill and two fast-forwards to r1's and r2's ends
    assert got.meta["n_events"] == 4 + 2 + 2 + 2 + 2 + 1 + 2
    assert got.requests["first_token_s"].iloc[2] == pytest.approx(271.81083289788565 + 0.5)


def test_a_tie_with_an_arrival_falls_back_to_the_event_run(monkeypatch):
    """Constant latencies: an outage's failure (one RTT of 1 s later) lands exactly on the next
    arrival, whose order against it SimPy decides from the other tiers: replay by events."""
    trace = tiny_trace([10.0, 11.0, 12.0, 13.0, 40.0], model="m")
    fleet = Fleet(
        (
            Tier("a", fixed_api(rtt_s=1.0, outages=((0.0, 12.5),)), "m"),
            Tier("b", fixed_api(rtt_s=0.5), "m"),
        )
    )
    policy = StaticPolicy("a")
    run = Run(
        fleet, policy, 0, RequestTable(trace, fleet, False, "sensitive"), False, True, "catalog"
    )
    with pytest.raises(TieFound, match=r"tier 'a': a callback at 11\.0 s, an arrival time"):
        replay_by_tier(run)
    got = simulate(trace, fleet, policy, seed=0)
    _same(got, _event_run(monkeypatch, trace, fleet, policy, seed=0))
    assert got.requests["retries"].tolist() == [2, 2, 1, 0, 0]


class EventRandomMix(RandomMixPolicy):
    """The random mix, declared to read live values."""

    reads_live_state = True


def test_which_runs_replay_by_tier():
    apis = _fleet()
    gpu = Fleet((Tier("gpu", slot_server(4, 0.01), "m"), Tier("api", fixed_api(), "m")))
    gpu_only = Fleet((Tier("gpu", slot_server(4, 0.01), "m"),))
    assert isinstance(gpu.tiers[0].endpoint, GpuServer)
    assert replays_by_tier(apis, StaticPolicy("mid"))
    assert replays_by_tier(gpu, StaticPolicy("gpu"))  # each kind of tier alone
    assert replays_by_tier(gpu_only, StaticPolicy("gpu"))  # the replicas on their own clock
    assert not replays_by_tier(gpu_only, EventRandomMix({"gpu": 1.0}))  # reads live values
    assert not replays_by_tier(apis, FallbackPolicy(StaticPolicy("mid")))  # next_tier
    assert not replays_by_tier(apis, SpillOverPolicy(StaticPolicy("mid"), max_queued=3))
    assert not replays_by_tier(apis, PrivacyPolicy(StaticPolicy("mid")))  # next_tier too

    class Undeclared:
        def route(self, request, fleet, rng):
            return "mid"

    class DeclaredWithNextTier:
        reads_live_state = False

        def route(self, request, fleet, rng):
            return "mid"

        def next_tier(self, request, attempt, fleet, rng):
            return None

    assert not replays_by_tier(apis, Undeclared())
    assert not replays_by_tier(apis, DeclaredWithNextTier())  # its hook answers completions


class _Peeking:
    """Declares that it reads no live value, then reads one."""

    reads_live_state = False

    def __init__(self, what: str) -> None:
        self.what = what

    def route(self, request, fleet, rng):
        if self.what == "queued":
            return "mid" if fleet.queued["mid"] < 3 else "cheap"
        if self.what == "now_s":
            return "mid" if fleet.now_s < 400.0 else "frontier"
        if self.what == "routed":
            return "mid" if fleet.routed["mid"] <= fleet.decided // 2 else "cheap"
        if self.what == "private_tiers":
            return "cheap" if "cheap" in fleet.private_tiers else "frontier"
        if self.what == "spend_usd":
            return "mid" if fleet.spend_usd < 1.0 else "cheap"
        if self.what == "prefix_hits":
            return "mid" if fleet.prefix_hits((7, 8))["mid"] else "cheap"
        if self.what == "queued (listed)":
            return "mid" if "mid" in list(fleet.queued) else "cheap"
        if self.what == "in_flight (counted)":
            return "mid" if len(fleet.in_flight) == 4 else "cheap"
        return "mid" if getattr(fleet, self.what)["mid"] else "cheap"


@pytest.mark.parametrize(
    ("what", "read"),
    [
        ("queued", "queued"),
        ("queued (listed)", "queued"),
        ("in_flight", "in_flight"),
        ("in_flight (counted)", "in_flight"),
        ("headroom", "headroom"),
        ("est_wait_s", "est_wait_s"),
        ("recent_429s", "recent_429s"),
        ("recent_errors", "recent_errors"),
        ("spend_usd", "spend_usd"),
        ("prefix_hits", "prefix_hits"),
    ],
)
def test_a_policy_that_reads_live_values_after_declaring_it_does_not_is_stopped(what, read):
    with pytest.raises(PolicyError) as exc:
        simulate(_trace(), _fleet(), _Peeking(what), seed=0)
    assert str(exc.value) == (
        f"policy _Peeking, key 'reads_live_state': is False, but route() read fleet.{read}, "
        "a value that moves while requests are served. set reads_live_state = True on the "
        "policy (or leave the attribute out): it is then replayed by events and sees the live "
        "value"
    )


@pytest.mark.parametrize("what", ["now_s", "routed", "private_tiers"])
def test_the_decision_time_and_routed_counts_are_the_event_runs(monkeypatch, what):
    trace, fleet, policy = _trace(), _fleet(), _Peeking(what)
    got = simulate(trace, fleet, policy, seed=2)
    _same(got, _event_run(monkeypatch, trace, fleet, policy, seed=2))
    assert (
        set(got.requests["tiers_tried"])
        == {
            "now_s": {"mid", "frontier"},
            "routed": {"mid", "cheap"},
            "private_tiers": {"cheap"},
        }[what]
    )


def test_an_unknown_tier_is_named_as_in_the_event_run(monkeypatch):
    class Lost:
        reads_live_state = False

        def route(self, request, fleet, rng):
            return "nowhere" if request.request_id == "r2" else "a"

    trace, fleet = (
        tiny_trace([1.0, 2.0, 3.0, 4.0]),
        Fleet((Tier("a", fixed_api(), "m"), Tier("b", fixed_api(), "m"))),
    )
    with pytest.raises(PolicyError) as by_tier:
        simulate(trace, fleet, Lost(), seed=0)
    with pytest.raises(PolicyError) as by_events:
        _event_run(monkeypatch, trace, fleet, Lost(), seed=0)
    assert str(by_tier.value) == str(by_events.value)
    assert (
        "returned 'nowhere' for request 'r2', which is not a tier of this fleet; tiers: a, b"
        in str(by_tier.value)
    )


def test_completions_at_an_arrival_time_are_applied_before_it_and_not_within_it(monkeypatch):
    """Constant latencies: the answer of the request at 10 s ends at exactly 11 s, when the next
    request arrives; its token refund must reach the bucket before that request is admitted
    (else a 429). Two requests arriving together with zero latency: the first one's completion,
    at that same time, is applied after the second starts, as in the event run (one drain per
    arrival event): its refund comes too late for the second."""
    limited = fixed_api(
        ttft_s=0.5,
        rtt_s=0.5,
        speed=10.0,
        rate_limit=RateLimit(tpm=100),
        retry=RetryPolicy(max_retries=0),
    )
    trace = tiny_trace([10.0, 11.0, 30.0, 30.0], prompt_tokens=10, output_tokens=1, max_tokens=50)
    instant = fixed_api(
        ttft_s=0.0, rtt_s=0.0, rate_limit=RateLimit(tpm=100), retry=RetryPolicy(max_retries=2)
    )
    fleet = Fleet((Tier("a", limited, "m"), Tier("b", instant, "m")))

    class Split:
        reads_live_state = False

        def route(self, request, fleet, rng):
            return "a" if request.arrival_s < 20 else "b"

    policy = Split()  # one object: the config hash reads its repr
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=0)
    _same(got, _event_run(monkeypatch, trace, fleet, policy, seed=0))
    r = got.requests
    # at 11 s the refund came first: no 429; at 30 s the first answer's refund came after the
    # second request asked: 60 tokens charged of 100, 40 left, the second one gets a 429 and
    # comes back after its retry-after, (60 - 40) / (100 / 60) = 12 s later
    assert r["status"].tolist() == ["completed"] * 4
    assert r["n_429"].tolist() == [0, 0, 0, 1]
    assert r["retries"].tolist() == [0, 0, 0, 1]
    assert r["end_s"].tolist()[:3] == [11.0, 12.0, 30.0]
    assert r["end_s"].iloc[3] == pytest.approx(42.0)


def _batching(**kw) -> GpuServer:
    """A continuously batching server (the 70B/H100 step model) whose KV runs short under the
    fixture's load: replicas preempt, queue and fast-forward decodes."""
    base = dict(
        model="m",
        usd_per_gpu_hour=2.0,
        replicas=2,
        max_num_seqs=12,
        max_batched_tokens=1024,
        kv_capacity_tokens=9_000,
        t_floor_s=0.015,
        x_sat_tokens_per_s=9000.0,
        beta_s_per_ctx_token=2.7e-7,
        t_ovh_s=0.0074,
        rtt_s=Jitter(0.002, 0.3),
    )
    base.update(kw)
    return GpuServer(**base)


def _prefix_trace() -> Trace:
    """:func:`_trace` with prefix blocks: one of six shared system prompts, then the request's
    own blocks (100 tokens a block)."""
    trace = _trace()
    req = trace.requests.copy()
    rng = np.random.default_rng(8)
    shared = rng.integers(0, 6, len(req))
    req["prefix_blocks"] = [
        [1000 + s, 2000 + s, *range(10_000 * i, 10_000 * i + p // 100)][: -(-p // 100)]
        for i, (s, p) in enumerate(zip(shared, req["prompt_tokens"], strict=True))
    ]
    return Trace(req, trace.outcomes, where="fixture+prefix", meta={"prefix_block_size": 100})


GPU_VARIANTS = {
    "least outstanding, preempting": (_batching(), {}),
    "shared queue, three replicas": (_batching(replicas=3, load_balancer="shared_queue"), {}),
    "round robin, no fast-forward": (
        _batching(load_balancer="round_robin"),
        {"decode_fast_forward": False},
    ),
    "shortest queue, some too large": (
        _batching(load_balancer="shortest_queue", kv_capacity_tokens=4_000),
        {},
    ),
    "prefix affinity": (
        _batching(load_balancer="prefix_affinity", prefix_cache=True, prefix_cache_tokens=3000),
        {},
    ),
}


@pytest.mark.parametrize("variant", sorted(GPU_VARIANTS))
def test_self_hosted_tiers_on_their_own_clock_give_the_event_runs_records(monkeypatch, variant):
    """Two self-hosted tiers and an API tier: the replicas run on a ProcessClock (no SimPy),
    with the event run's arrival events; every record, endpoint row and count is the event
    run's."""
    server, kw = GPU_VARIANTS[variant]
    fleet = Fleet(
        (
            Tier("gpu", server, WEAK, private=True),
            Tier("gpu-small", slot_server(slots=3, step_s=0.03), WEAK),
            _fleet().tiers[2],
        )
    )
    trace = _prefix_trace() if server.prefix_cache else _trace()
    policy = RandomMixPolicy({"gpu": 5.0, "gpu-small": 1.0, "frontier": 1.0})
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=9, run_id=2, **kw)
    want = _event_run(monkeypatch, trace, fleet, policy, seed=9, run_id=2, **kw)
    _same(got, want)
    r, meta = got.requests, got.meta
    assert set(r["tiers_tried"]) == {"gpu", "gpu-small", "frontier"}
    assert meta["preemptions"] > 0 and meta["gpu_steps"] > 2000
    gpu_rows = got.endpoints[got.endpoints["tier"] == "gpu"]
    assert (gpu_rows["n_requests"] > 100).all()
    if variant == "shortest queue, some too large":
        assert (r["fail_reason"] == "too_large").sum() > 10
    if server.prefix_cache:
        assert (gpu_rows["prefix_hit_blocks"] > 50).all()


def test_replica_events_tied_with_arrival_events_keep_the_event_runs_order(monkeypatch):
    """Steps of exactly 0.25 s and arrivals on quarter seconds: replica events fall at arrival
    times, and SimPy orders them by when each was scheduled (the arrival event when the one
    before it ran). A GPU-only fleet: nothing but the clock and the arrival events."""
    trace, fleet = quarter_second_case(400)
    policy = RandomMixPolicy({"a": 2.0, "b": 1.0})
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=4)
    _same(got, _event_run(monkeypatch, trace, fleet, policy, seed=4))
    r = got.requests
    # ties happened: answers ending exactly when other requests arrive
    assert len(set(r["end_s"]) & set(r["arrival_s"])) > 50
    assert (r["first_token_s"] - r["dispatch_s"]).max() > 2.0  # and the replicas queued


@dataclass(frozen=True)
class _BadBatch:
    """Routes through ``route_batch``, whose answer names no tier at position 5, or is one
    short."""

    reads_live_state: ClassVar[bool] = False
    short: bool = False

    def route(self, request, fleet, rng):
        return "mid"

    def route_batch(self, requests, tiers, rng):
        out = ["mid"] * len(requests.request_id)
        if self.short:
            return out[:-1]
        out[5] = "nowhere"
        return out


def test_a_batch_answer_naming_no_tier_is_refused_with_the_request():
    trace = _trace()
    with pytest.raises(PolicyError) as e:
        simulate(trace, _fleet(), _BadBatch(), seed=0)
    assert str(e.value).startswith(
        "policy _BadBatch, key 'route_batch': returned 'nowhere' for request "
        f"{trace.requests['request_id'].iloc[5]!r}, which is not a tier of this fleet; tiers: "
        "cheap, mid, frontier"
    )


def test_a_batch_answer_of_the_wrong_length_is_refused():
    trace = _trace()
    with pytest.raises(PolicyError) as e:
        simulate(trace, _fleet(), _BadBatch(short=True), seed=0)
    n = trace.n_requests
    assert str(e.value).startswith(
        f"policy _BadBatch, key 'route_batch': returned {n - 1} tiers for {n} requests (from "
        f"request {trace.requests['request_id'].iloc[0]!r}); it must return one tier per "
        "request, in order"
    )


@dataclass(frozen=True)
class _EveryColumn:
    """Picks a tier from every field of a request, one at a time (``route``) or a batch at a
    time (``route_batch``): the batch's columns must be the requests' fields."""

    reads_live_state: ClassVar[bool] = False

    @staticmethod
    def _pick(tiers, rid, arrival, prompt, max_tok, category, source, tags, blocks, score):
        h = (
            len(rid)
            + int(arrival * 4)
            + prompt
            + 7 * max_tok
            + len(category)
            + 5 * len(source)
            + 11 * ("sensitive" in tags)
            + 13 * sum(blocks[:2])
            + int(score * 17)
        )
        return tiers[h % len(tiers)]

    def route(self, request, fleet, rng):
        return self._pick(
            fleet.tiers, *request[:7], request.prefix_blocks, request.scores["p_hard"]
        )

    def route_batch(self, requests, tiers, rng):
        n = len(requests.request_id)
        blocks = requests.prefix_blocks if requests.prefix_blocks is not None else [()] * n
        columns = (*requests[:7], blocks, requests.scores["p_hard"].tolist())
        return [self._pick(tiers, *row) for row in zip(*columns, strict=True)]


def test_a_route_batch_sees_every_column_of_the_requests_it_routes(monkeypatch):
    """Prefix blocks, tags, scores and the rest: the batch-routed replay gives the records of
    the event run, which asks ``route`` one request at a time."""
    trace = _prefix_trace()
    req = trace.requests.copy()
    n = req["request_id"].str.len()
    req["max_tokens"] = pd.array((300 + n).where(n % 3 != 0), dtype="Int64")  # some unknown
    trace = Trace(req, trace.outcomes, where=trace.where, meta=trace.meta)
    trace = trace.with_scores({"p_hard": np.random.default_rng(12).random(trace.n_requests)})
    got = _by_tier(monkeypatch, trace, _fleet(), _EveryColumn(), seed=3)
    _same(got, _event_run(monkeypatch, trace, _fleet(), _EveryColumn(), seed=3))
    assert set(got.requests["tiers_tried"]) == {"cheap", "mid", "frontier"}


def test_replicas_due_before_an_arrival_in_the_first_second_run_first(monkeypatch):
    """Arrivals from 0.05 s on, about 40 a second: a replica's step ends between two of them
    before 1 s (an event of priority 1 due before an arrival time below 1)."""
    base = _trace()
    req = base.requests.copy()
    req["arrival_s"] = 0.05 + np.cumsum(np.random.default_rng(2).exponential(1 / 40, len(req)))
    trace = Trace(req, base.outcomes, where="early")
    policy = RandomMixPolicy({"gpu": 3.0, "frontier": 1.0})
    fleet = Fleet((Tier("gpu", slot_server(slots=4, step_s=0.01), WEAK), _fleet().tiers[2]))
    got = _by_tier(monkeypatch, trace, fleet, policy, seed=6)
    _same(got, _event_run(monkeypatch, trace, fleet, policy, seed=6))
    first = got.requests.iloc[:40]
    assert (first["tier"] == "gpu").sum() > 20 and first["end_s"].min() < 1.0
