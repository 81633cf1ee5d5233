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

from sim.helpers import RetryPolicy, fixed_api, one_tier, slot_server, tiny_trace
from simkit.errors import PolicyError, SimulationError
from simkit.fleet import Fleet, Tier
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
    with pytest.raises(Exception) as e:
        simulate(
            _observed_trace([0.5, float("nan"), float("nan")]), fleet, StaticPolicy("api"),
            seed=0, cost_source="observed",
        )  # fmt: skip
    message = str(e.value)
    assert "'r1'" in message and "row 2" in message and "'api'" in message
    assert "2 " in message  # two pairs without a recorded cost


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


def test_the_progress_bar_counts_requests_in_steps_of_1024_and_ends_at_the_total(monkeypatch):
    import tqdm.auto

    monkeypatch.setattr(_Bar, "made", [])
    monkeypatch.setattr(tqdm.auto, "tqdm", lambda **kw: _Bar(**kw))
    simulate(tiny_trace(np.arange(2500) * 0.01 + 1.0), three_tiers(), StaticPolicy("a"), seed=0,
             progress=True)  # fmt: skip
    (bar,) = _Bar.made
    assert bar.kwargs == {"total": 2500, "unit": "req", "desc": "simulate", "mininterval": 0.5}
    assert bar.updates == [1024, 1024, 452] and bar.n == 2500 and bar.closed


def test_a_request_the_tiers_never_finish_is_reported_not_dropped(monkeypatch):
    from simkit.sim.api import ApiTier

    submit = ApiTier.submit

    def lose_r1(self, job):
        if job.req.request_id != "r1":
            submit(self, job)

    monkeypatch.setattr(ApiTier, "submit", lose_r1)
    with pytest.raises(SimulationError) as e:
        simulate(tiny_trace([1.0, 2.0, 3.0]), three_tiers(), StaticPolicy("b"), seed=0)
    assert str(e.value) == (
        "1 requests did not finish (first: ['r1']); this is a bug in the simulator, please "
        "report it with the fleet spec"
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
