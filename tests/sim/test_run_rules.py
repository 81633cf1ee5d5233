"""Rules of one simulated run that the records alone did not pin (issue 10: survivors of
``scripts/mutation.py sim --only simkit/sim/engine.py simkit/sim/run.py --tests fast``):
the config hash's exact ingredients, the policy's own check and random stream, the bounded
number of attempts, the hook named in a policy error, what a fallback attempt sees and books,
observed costs, the progress bar's cadence, and the guard against requests left unfinished."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim.helpers import RateLimit, RetryPolicy, fixed_api, one_tier, slot_server, tiny_trace
from simkit.errors import PolicyError, SimulationError, SpecError, TraceError
from simkit.fleet import Fleet, Jitter, Tier
from simkit.policies import RandomMixPolicy, StaticPolicy
from simkit.seeding import named_stream
from simkit.sim import simulate
from simkit.trace import Trace

NO_RETRY = RetryPolicy(max_retries=0)


DOWN = ((0.0, 1e6),)  # an outage longer than any test run


def three_tiers(*down: str) -> Fleet:
    """Tiers 'a', 'b', 'c' (cheapest first); a tier named in ``down`` is in an outage for the
    whole run and nothing is retried."""
    return Fleet(
        tuple(
            Tier(
                name,
                fixed_api(
                    ttft_s=0.1 * (i + 1), outages=DOWN if name in down else (), retry=NO_RETRY
                ),
                "m",
            )
            for i, name in enumerate("abc")
        )  # fmt: skip
    )


# -- the config hash ---------------------------------------------------------------------------

# The digests of two fixed runs. Sweep results and `--resume` compare config hashes across
# versions, so a change of what enters the hash (or how) must be deliberate: it makes every
# earlier result look like another configuration. Recompute them only on purpose.
PLAIN_HASH = "c1fc6224e213320b"
EVERYTHING_HASH = "f1b97821ba85cbf0"


def _scored(trace: Trace) -> Trace:
    return trace.with_scores({"p_hard": np.linspace(0.1, 0.9, len(trace.requests))})


def _everything_run():
    """Every option that enters the hash only when used: a prefix cache (with the trace's
    blocks and block size), a load balancer other than the default, a refusing context
    window, observed costs."""
    trace = _scored(tiny_trace([1.5, 2.0, 4.0], prompt_tokens=12, output_tokens=4))
    req = trace.requests.assign(prefix_blocks=[[1, 2], [1, 3], [4]])
    out = trace.outcomes.assign(cost_usd=[0.01, 0.02, 0.03])
    trace = Trace(req, out, scores=trace.scores, meta={"prefix_block_size": 8})
    gpu = dataclasses.replace(
        slot_server(slots=2, step_s=0.05, replicas=2),
        prefix_cache=True,
        load_balancer="round_robin",
    )
    fleet = Fleet(
        (
            Tier("api", fixed_api(), "m", context_window=64, over_context="fail"),
            Tier("gpu", gpu, "m"),
        )
    )
    return simulate(trace, fleet, StaticPolicy("gpu"), seed=5, cost_source="observed")


def test_config_hash_of_a_plain_run_is_pinned():
    trace = _scored(tiny_trace([1.5, 2.0, 4.0], quality=0.25))
    rec = simulate(trace, one_tier(fixed_api(), name="api"), StaticPolicy("api"), seed=0)
    assert rec.meta["config_hash"] == PLAIN_HASH


def test_config_hash_with_every_option_in_use_is_pinned():
    assert _everything_run().meta["config_hash"] == EVERYTHING_HASH


def test_config_hash_follows_request_ids_and_the_outcome_model():
    base = simulate(tiny_trace([0.5, 1.0]), one_tier(fixed_api()), StaticPolicy("t"), seed=0)
    trace = tiny_trace([0.5, 1.0])
    renamed = Trace(
        trace.requests.assign(request_id=["x0", "x1"]),
        trace.outcomes.assign(request_id=["x0", "x1"]),
    )
    other = simulate(renamed, one_tier(fixed_api()), StaticPolicy("t"), seed=0)
    assert other.meta["config_hash"] != base.meta["config_hash"]


# -- the policy: its own check, its random stream ----------------------------------------------


class _Refusing(StaticPolicy):
    def check(self, tiers, score_names):
        raise PolicyError("refusing", problem=f"will not route on {tiers}")


def test_simulate_runs_the_policys_own_check_first():
    with pytest.raises(PolicyError) as e:
        simulate(tiny_trace([0.0]), three_tiers(), _Refusing("a"), seed=0)
    assert str(e.value) == "refusing: will not route on ('a', 'b', 'c')"


def test_the_policy_draws_from_the_runs_policy_stream():
    """RandomMixPolicy's picks are those of named_stream(seed, 'policy'), in arrival order."""
    policy = RandomMixPolicy({"a": 0.2, "b": 0.3, "c": 0.5})
    trace = tiny_trace(np.arange(40) * 0.5 + 2.0)
    rec = simulate(trace, three_tiers(), policy, seed=11)
    rng = named_stream(11, "policy")
    expected = [policy.route(None, None, rng) for _ in range(40)]
    assert rec.requests["tier"].tolist() == expected
    assert len(set(expected)) == 3


def test_run_id_defaults_to_zero_and_progress_to_off(capsys):
    rec = simulate(tiny_trace([3.0]), three_tiers(), StaticPolicy("b"), seed=0)
    assert rec.meta["run_id"] == 0 and rec.requests["run_id"].tolist() == [0]
    assert capsys.readouterr().err == ""


# -- attempts: the hook named in errors, the bound on attempts, what a fallback sees ----------


class _Cycle(StaticPolicy):
    """Route to 'a'; after any failure, go to the next tier round the fleet, forever."""

    def next_tier(self, request, attempt, fleet, rng):
        if attempt.completed:
            return None
        names = self.names
        return names[(names.index(attempt.tier) + 1) % len(names)]


def _cycle(names):
    policy = _Cycle(names[0])
    object.__setattr__(policy, "names", names)
    return policy


@pytest.mark.parametrize(("n_tiers", "bound"), [(2, 8), (3, 12)])
def test_a_policy_that_never_gives_up_is_stopped_after_max_8_or_4_per_tier(n_tiers, bound):
    names = "abc"[:n_tiers]
    fleet = Fleet(tuple(Tier(n, fixed_api(outages=DOWN, retry=NO_RETRY), "m") for n in names))
    with pytest.raises(SimulationError) as e:
        simulate(tiny_trace([2.0]), fleet, _cycle(tuple(names)), seed=0)
    assert str(e.value) == (
        f"policy _Cycle sent request 'r0' to {bound} tiers in a row; its next_tier() must "
        "return None eventually"
    )


class _Stray:
    """A policy without check() whose route() answers a tier no fleet has."""

    def route(self, request, fleet, rng):
        return "z"


class _Unknown(StaticPolicy):
    def next_tier(self, request, attempt, fleet, rng):
        return None if attempt.completed else "z"


@pytest.mark.parametrize(
    ("policy", "fleet", "hook"),
    [
        (_Stray(), three_tiers(), "route"),
        (_Unknown("b"), three_tiers("b"), "next_tier"),
    ],
)
def test_a_tier_outside_the_fleet_is_named_with_the_hook_that_returned_it(policy, fleet, hook):
    with pytest.raises(PolicyError) as e:
        simulate(tiny_trace([1.0]), fleet, policy, seed=0)
    assert str(e.value) == (
        f"policy {type(policy).__name__}, key '{hook}': returned 'z' for request 'r0', which "
        "is not a tier of this fleet; tiers: a, b, c"
    )


class _Recorder(StaticPolicy):
    """Route to 'c'; after a failure fall back to 'a'; remember every AttemptView."""

    def next_tier(self, request, attempt, fleet, rng):
        self.seen.append(attempt)
        return None if attempt.completed else "a"


def test_a_fallback_sees_each_attempt_and_the_record_keeps_no_earlier_failure():
    policy = _Recorder("c")
    object.__setattr__(policy, "seen", [])
    trace = tiny_trace([2.0, 2.5], quality=0.75)
    rec = simulate(trace, three_tiers("c"), policy, seed=3).requests
    views = [tuple(v) for v in policy.seen]
    nan = [v[5] for v in views if not v[1]]
    assert all(q != q for q in nan) and len(nan) == 2  # a failed attempt has no quality
    assert [v[:5] for v in views] == [
        ("c", False, "outage", ("c",), 0),
        ("a", True, "", ("c", "a"), 0),
        ("c", False, "outage", ("c",), 0),
        ("a", True, "", ("c", "a"), 0),
    ]
    assert [v[5] for v in views if v[1]] == [0.75, 0.75]
    assert rec["tier"].tolist() == ["a", "a"]
    assert rec["tiers_tried"].tolist() == ["c,a", "c,a"]
    assert rec["fail_reason"].tolist() == ["", ""]  # served in the end: no failure reason
    assert rec["status"].tolist() == ["completed", "completed"]


class _ToB(_Recorder):
    """Route to 'a'; after a failure fall back to 'b'; remember every AttemptView."""

    def next_tier(self, request, attempt, fleet, rng):
        self.seen.append(attempt)
        return None if attempt.completed else "b"


def test_a_context_refusal_is_a_failed_attempt_a_policy_can_fall_back_from():
    fleet = Fleet(
        (
            Tier("a", fixed_api(), "m", context_window=8, over_context="fail"),
            Tier("b", fixed_api(), "m"),
            Tier("c", fixed_api(), "m"),
        )
    )
    policy = _ToB("a")
    object.__setattr__(policy, "seen", [])
    rec = simulate(tiny_trace([1.0], prompt_tokens=10), fleet, policy, seed=0).requests
    assert [tuple(v)[:5] for v in policy.seen] == [
        ("a", False, "context_exceeded", ("a",), 0),
        ("b", True, "", ("a", "b"), 0),
    ]
    assert rec[["tier", "tiers_tried", "status"]].iloc[0].tolist() == ["b", "a,b", "completed"]


def test_a_refused_context_costs_nothing_and_says_why():
    fleet = Fleet(
        (
            Tier("a", fixed_api(), "m", context_window=8, over_context="fail"),
            Tier("b", fixed_api(), "m"),
        )
    )
    rec = simulate(tiny_trace([1.0], prompt_tokens=10), fleet, StaticPolicy("a"), seed=0)
    row = rec.requests.iloc[0]
    assert (row["status"], row["fail_reason"], row["cost_usd"]) == (
        "failed",
        "context_exceeded",
        0.0,
    )


# -- observed costs ----------------------------------------------------------------------------


def _observed_trace(costs) -> Trace:
    trace = tiny_trace([1.0, 2.0, 3.0])
    return Trace(trace.requests, trace.outcomes.assign(cost_usd=costs))


def test_observed_costs_replace_the_catalog_price_of_an_api_tier():
    fleet = one_tier(fixed_api(price=(1000.0, 1000.0)), name="api")
    rec = simulate(
        _observed_trace([0.5, 0.25, 0.125]), fleet, StaticPolicy("api"), seed=0,
        cost_source="observed",
    )  # fmt: skip
    assert rec.requests["cost_usd"].tolist() == [0.5, 0.25, 0.125]
    catalog = simulate(_observed_trace([0.5, 0.25, 0.125]), fleet, StaticPolicy("api"), seed=0)
    assert (catalog.requests["cost_usd"] > 0.01).all()  # 15 tokens at $1000/Mtok each


def test_a_missing_observed_cost_names_the_request_row_tier_and_how_many_are_missing():
    fleet = one_tier(fixed_api(), name="api")
    with pytest.raises(TraceError) as e:
        simulate(
            _observed_trace([0.5, float("nan"), float("nan")]), fleet, StaticPolicy("api"),
            seed=0, cost_source="observed",
        )  # fmt: skip
    assert str(e.value) == (
        "<trace>, row 2, column 'cost_usd': request 'r1' has no observed cost for model 'm' "
        "(tier 'api'; 2 such requests); cost_source='observed' needs the recorded cost_usd of "
        "every (request, model) it prices. attach the outcomes' cost_usd for that model, or use "
        "cost_source='catalog'"
    )


# -- progress and the unfinished-request guard -------------------------------------------------


class _Bar:
    """Stands in for tqdm: records how the run drives its bar."""

    made: list[_Bar] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.n = 0
        self.updates: list[int] = []
        self.closed = False
        _Bar.made.append(self)

    def update(self, k):
        self.updates.append(k)
        self.n += k

    def close(self):
        self.closed = True


@pytest.mark.parametrize(
    ("n", "updates"), [(2500, [1024, 1024, 452]), (1024, [1024, 0]), (1023, [1023])]
)
def test_the_progress_bar_counts_requests_in_steps_of_1024_and_ends_at_the_total(
    monkeypatch, n, updates
):
    import tqdm.auto

    monkeypatch.setattr(_Bar, "made", [])
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: _Bar(**kw))
    simulate(tiny_trace(np.arange(n) * 0.01 + 1.0), three_tiers(), StaticPolicy("a"), seed=0,
             progress=True)  # fmt: skip
    (bar,) = _Bar.made
    assert bar.kwargs == {"total": n, "unit": "req", "desc": "simulate", "mininterval": 0.5}
    assert bar.updates == updates and bar.n == n and bar.closed


def test_requests_the_tiers_never_finish_are_reported_not_dropped(monkeypatch):
    from simkit.sim.api import ApiTier

    submit = ApiTier.submit

    def lose_four(self, job):
        if job.i not in (1, 2, 3, 4):  # requests r1 .. r4
            submit(self, job)

    monkeypatch.setattr(ApiTier, "submit", lose_four)
    with pytest.raises(SimulationError) as e:
        simulate(tiny_trace([1.0, 2.0, 3.0, 4.0, 5.0]), three_tiers(), StaticPolicy("b"), seed=0)
    assert str(e.value) == (
        "4 requests did not finish (first: ['r1', 'r2', 'r3']); this is a bug in the "
        "simulator, please report it with the fleet spec"
    )


def test_an_idle_replica_of_a_prefix_cache_reports_no_lookups_or_hits():
    trace = tiny_trace([1.0], prompt_tokens=16)
    trace = Trace(trace.requests.assign(prefix_blocks=[[1, 2]]), trace.outcomes,
                  meta={"prefix_block_size": 8})  # fmt: skip
    gpu = dataclasses.replace(slot_server(slots=1, step_s=0.1, replicas=2), prefix_cache=True)
    rec = simulate(trace, Fleet((Tier("gpu", gpu, "m"),)), StaticPolicy("gpu"), seed=0)
    ends = rec.endpoints
    assert ends["n_requests"].tolist() == [1, 0]
    idle = ends.iloc[1]
    assert (idle["prefix_lookup_blocks"], idle["prefix_hit_blocks"]) == (0, 0)
    assert int(idle["prefix_saved_tokens"]) == 0
    assert isinstance(rec.endpoints, pd.DataFrame)


def test_prefix_blocks_enter_the_hash_only_when_a_tier_caches_prefixes():
    trace = tiny_trace([1.0, 2.0])
    with_blocks = Trace(trace.requests.assign(prefix_blocks=[[1], [1, 2]]), trace.outcomes,
                        meta={"prefix_block_size": 8})  # fmt: skip
    fleet = three_tiers()
    a = simulate(trace, fleet, StaticPolicy("a"), seed=0).meta["config_hash"]
    b = simulate(with_blocks, fleet, StaticPolicy("a"), seed=0).meta["config_hash"]
    assert a == b


def test_an_unknown_cost_source_is_named_with_the_choices():
    with pytest.raises(SpecError) as e:
        simulate(tiny_trace([1.0]), three_tiers(), StaticPolicy("a"), seed=0, cost_source="bill")
    assert str(e.value) == (
        "simulate, key 'cost_source': got 'bill'; expected one of 'catalog', 'observed'"
    )


@pytest.mark.parametrize(
    ("max_tokens", "tpm", "n_429"), [(None, 26, [0, 1]), (3, 26, [0, 0]), (0, 20, [0, 0])]
)
def test_a_token_limit_charges_max_tokens_or_else_the_answer_length(max_tokens, tpm, n_429):
    """A bucket of ``tpm`` tokens: two requests of 10 prompt tokens at once fit in 26 when each
    is charged max_tokens=3 (13 + 13), not when charged its 5-token answer (15 + 15); with
    max_tokens=0 each is charged its prompt alone (10 + 10 fit in 20)."""
    fleet = one_tier(fixed_api(rate_limit=RateLimit(tpm=tpm)), name="api")
    rec = simulate(tiny_trace([1.0, 1.0], max_tokens=max_tokens), fleet, StaticPolicy("api"),
                   seed=0).requests  # fmt: skip
    assert rec["n_429"].tolist() == n_429
    assert rec["status"].tolist() == ["completed", "completed"]


def test_a_request_served_after_a_429_on_the_cheapest_tier_keeps_no_fail_reason():
    fleet = Fleet((Tier("a", fixed_api(rate_limit=RateLimit(rpm=1)), "m"),
                   Tier("b", fixed_api(), "m")))  # fmt: skip
    rec = simulate(tiny_trace([1.0, 1.0]), fleet, StaticPolicy("a"), seed=0).requests
    assert rec["tier"].tolist() == ["a", "a"] and rec["n_429"].tolist() == [0, 1]
    assert rec["fail_reason"].tolist() == ["", ""]


def test_a_request_served_on_the_cheapest_tier_after_a_retried_outage_has_no_fail_reason():
    """An outage until t=1.2 on tier 'a' (index 0): the request at t=1.0 fails once, is
    retried after the back-off and served; its record keeps no reason of the failed try."""
    fleet = Fleet((Tier("a", fixed_api(outages=((0.0, 1.2),)), "m"), Tier("b", fixed_api(), "m")))
    rec = simulate(tiny_trace([1.0]), fleet, StaticPolicy("a"), seed=0).requests
    row = rec.iloc[0]
    assert (row["tier"], row["status"], row["retries"]) == ("a", "completed", 1)
    assert row["fail_reason"] == ""


def test_an_api_request_is_dispatched_when_it_arrives_and_api_tiers_cache_no_prefixes():
    rec = simulate(tiny_trace([1.0, 2.0, 2.5]), three_tiers(), StaticPolicy("c"), seed=0)
    assert rec.requests["dispatch_s"].tolist() == [1.0, 2.0, 2.5]
    prefix = ["prefix_lookup_blocks", "prefix_hit_blocks", "prefix_saved_tokens"]
    assert rec.endpoints[prefix].to_numpy().tolist() == [[0, 0, 0]] * 3


def test_api_completions_and_gpu_deliveries_schedule_no_events_of_their_own():
    """Deferred completions: an API-only run schedules one event per arrival and nothing for
    its completions, and a GPU run only its arrivals and batch steps (the records are the same
    as with an event each: tests/sim/test_deferred*.py)."""
    rec = simulate(tiny_trace([1.0, 2.0, 2.5]), three_tiers(), StaticPolicy("a"), seed=0)
    assert rec.meta["n_events"] == 3
    gpu = Fleet((Tier("gpu", slot_server(slots=2, step_s=0.1), "m"),))
    rec = simulate(tiny_trace([1.0, 2.0, 2.5]), gpu, StaticPolicy("gpu"), seed=0)
    assert rec.meta["n_events"] == 14  # 3 arrivals and the steps of 3 five-token answers


def test_a_gpu_tier_draws_its_network_jitter_from_its_own_stream():
    gpu = dataclasses.replace(slot_server(slots=2, step_s=0.1), rtt_s=Jitter(0.05, 0.5))
    fleet = Fleet((Tier("gpu", gpu, "m"),))
    a = simulate(tiny_trace([1.0, 2.0, 3.0]), fleet, StaticPolicy("gpu"), seed=4).requests
    b = simulate(tiny_trace([1.0, 2.0, 3.0]), fleet, StaticPolicy("gpu"), seed=4).requests
    waits = (a["first_token_s"] - a["dispatch_s"]).tolist()
    assert waits == (b["first_token_s"] - b["dispatch_s"]).tolist()
    assert len(set(waits)) == 3 and min(waits) > 0.1  # the prefill step plus a jittered rtt


class _Viewer(StaticPolicy):
    """Route everything to 'a' and remember each RequestView."""

    def route(self, request, fleet, rng):
        self.views.append(request)
        return "a"


def test_a_policy_sees_each_request_as_the_trace_has_it():
    """Category and source (missing -> ''), tags split on commas and trimmed, max_tokens
    (missing -> -1), both score columns, prefix blocks; arrivals from t=2.5."""
    req = pd.DataFrame(
        {
            "request_id": ["q0", "q1", "q2"],
            "arrival_s": [2.5, 3.0, 7.25],
            "prompt_tokens": [11, 12, 13],
            "output_tokens": [4, 4, 4],
            "max_tokens": pd.array([None, 3, 2], dtype="Int64"),
            "category": pd.array(["math", None, "code"], dtype="string"),
            "source": pd.array([None, "gsm8k", "humaneval"], dtype="string"),
            "tags": pd.array([" sensitive , eu ", None, ",,eu,"], dtype="string"),
            "prefix_blocks": [[7, 8], [], [9]],
        }
    )
    out = pd.DataFrame({"request_id": ["q0", "q1", "q2"], "model": "m", "quality": 1.0})
    trace = Trace(req, out, meta={"prefix_block_size": 8}).with_scores(
        {"p_hard": [0.25, 0.5, 0.75], "p_code": [0.0, 0.125, 1.0]}
    )
    policy = _Viewer("a")
    object.__setattr__(policy, "views", [])
    simulate(trace, three_tiers(), policy, seed=0)
    got = [
        (v.request_id, v.arrival_s, v.prompt_tokens, v.max_tokens, v.category, v.source,
         v.tags, dict(v.scores), tuple(v.prefix_blocks))
        for v in policy.views
    ]  # fmt: skip
    assert got == [
        ("q0", 2.5, 11, -1, "math", "", frozenset({"sensitive", "eu"}),
         {"p_hard": 0.25, "p_code": 0.0}, (7, 8)),
        ("q1", 3.0, 12, 3, "", "gsm8k", frozenset(), {"p_hard": 0.5, "p_code": 0.125}, ()),
        ("q2", 7.25, 13, 2, "code", "humaneval", frozenset({"eu"}),
         {"p_hard": 0.75, "p_code": 1.0}, (9,)),
    ]  # fmt: skip


@pytest.mark.parametrize("storage", ["pyarrow", "python"])
def test_the_records_strings_take_pandas_string_dtype_as_configured(storage):
    with pd.option_context("mode.string_storage", storage):
        rec = simulate(tiny_trace([1.0, 2.0, 3.0]), three_tiers("b"), RandomMixPolicy({"a": 1.0, "b": 1.0}), seed=4)  # fmt: skip
        want = pd.StringDtype()
    r = rec.requests
    for column in ("request_id", "tier", "model", "tiers_tried", "status", "fail_reason"):
        assert r[column].dtype == want and r[column].dtype.storage == storage, column
    assert r["request_id"].tolist() == ["r0", "r1", "r2"]
    assert r["tiers_tried"].tolist() == ["a", "b", "b"]
    assert r["tier"].tolist() == ["a", "", ""]  # failed: no tier, no model
    assert r["model"].tolist() == ["m", "", ""]
    assert r["status"].tolist() == ["completed", "failed", "failed"]
    assert r["fail_reason"].tolist() == ["", "outage", "outage"]


class _ThirdToB:
    """Sends a request to ``b`` exactly when ``a`` has had two and ``b`` none: the view's
    ``routed`` counts one per routing decision, in both replays."""

    def __init__(self, reads_live_state: bool) -> None:
        self.reads_live_state = reads_live_state

    def route(self, request, fleet, rng):
        return "b" if fleet.routed["a"] == 2 and fleet.routed["b"] == 0 else "a"


@pytest.mark.parametrize("reads_live_state", [False, True])  # tier by tier, by events
def test_the_routed_counts_a_policy_reads_grow_by_one_a_decision(reads_live_state):
    fleet = Fleet((Tier("a", fixed_api(), "m"), Tier("b", fixed_api(), "m")))
    rec = simulate(
        tiny_trace([3.0, 4.5, 6.0, 7.5, 9.0]), fleet, _ThirdToB(reads_live_state), seed=0
    )
    assert rec.requests["tier"].tolist() == ["a", "a", "b", "a", "a"]
