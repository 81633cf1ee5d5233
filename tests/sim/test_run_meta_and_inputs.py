"""What ``simulate`` says about a run (``Records.meta``), which inputs change its
``config_hash``, and the errors for inputs of the wrong type (issue 10: mutation survivors of
``simkit/sim/engine.py`` under ``scripts/mutation.py sim``)."""

from __future__ import annotations

import dataclasses
import platform

import numpy as np
import pandas as pd
import pytest
import simpy

import simkit
from sim.helpers import fixed_api, one_tier, slot_server, tiny_trace
from simkit.errors import PolicyError, SimulationError, SpecError
from simkit.fleet import Fleet, Tier
from simkit.policies import RandomMixPolicy, StaticPolicy
from simkit.sim import simulate
from simkit.trace import Trace

API = one_tier(fixed_api(), name="api")


def hash_of(trace: Trace, fleet: Fleet = API, policy=None) -> str:
    policy = policy or StaticPolicy(fleet.tier_names[0])
    return simulate(trace, fleet, policy, seed=0).meta["config_hash"]


def test_meta_names_the_run_its_policy_fleet_trace_and_library_versions():
    trace = tiny_trace([0.5, 1.0, 3.0])
    trace = dataclasses.replace(trace, meta={"name": "three requests"})
    meta = dict(simulate(trace, API, StaticPolicy("api"), seed=3, run_id=2).meta)
    assert {
        k: meta[k] for k in ("seed", "run_id", "policy", "policy_params", "fleet", "trace")
    } == {
        "seed": 3,
        "run_id": 2,
        "policy": "StaticPolicy",
        "policy_params": {"tier": "api"},
        "fleet": "fleet",
        "trace": "three requests",
    }
    assert meta["versions"] == {
        "simkit": simkit.__version__,
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }
    assert meta["cost_source"] == "catalog"
    assert meta["context"] == {"api": {"exceeded": 0, "truncated": 0, "truncated_prompt_tokens": 0}}
    assert (meta["gpu_steps"], meta["preemptions"]) == (0, 0)
    assert type(meta["n_events"]) is int and meta["n_events"] >= 3  # one arrival each at least
    assert len(meta["config_hash"]) == 16
    # a trace without a name is named by where it came from
    assert simulate(tiny_trace([0.0]), API, StaticPolicy("api"), seed=0).meta["trace"] == "<trace>"


def test_meta_counts_gpu_steps_of_a_self_hosted_tier():
    """One request of 5 output tokens on a slot server: a prefill step and 4 decode steps."""
    gpu = Fleet((Tier("gpu", slot_server(slots=1, step_s=0.1), "m"),))
    meta = simulate(tiny_trace([0.0]), gpu, StaticPolicy("gpu"), seed=0).meta
    assert meta["gpu_steps"] == 5 and meta["preemptions"] == 0


def test_config_hash_follows_every_input_that_changes_a_run():
    trace = tiny_trace([0.5, 1.0, 3.0], quality=0.5)
    base = hash_of(trace)
    assert hash_of(tiny_trace([0.5, 1.0, 3.0], quality=0.5)) == base  # same inputs, same hash
    assert hash_of(tiny_trace([0.5, 1.0, 4.0], quality=0.5)) != base  # an arrival
    assert hash_of(tiny_trace([0.5, 1.0, 3.0], quality=0.75)) != base  # an outcome
    assert hash_of(trace.with_scores({"p_hard": [0.1, 0.2, 0.3]})) != hash_of(
        trace.with_scores({"p_hard": [0.1, 0.2, 0.4]})
    )  # a score
    assert hash_of(trace, one_tier(fixed_api(ttft_s=0.6), name="api")) != base  # the fleet
    two = Fleet((Tier("a", fixed_api(), "m"), Tier("b", fixed_api(), "m")))
    mix = hash_of(trace, two, RandomMixPolicy({"a": 0.5, "b": 0.5}))
    assert mix != hash_of(trace, two, RandomMixPolicy({"a": 0.25, "b": 0.75}))  # the policy


@pytest.mark.parametrize(
    ("args", "error", "expected"),
    [
        (
            lambda t: (t.requests, API, StaticPolicy("api")),
            SimulationError,
            "trace must be a simkit Trace, got DataFrame",
        ),
        (
            lambda t: (t, [API], StaticPolicy("api")),
            SimulationError,
            "fleet must be a simkit Fleet, got list",
        ),
        (
            lambda t: (t, API, "api"),
            PolicyError,
            "policy: expected an object with route(), got 'api'",
        ),
    ],
)
def test_inputs_of_the_wrong_type_are_named(args, error, expected):
    with pytest.raises(error) as e:
        simulate(*args(tiny_trace([0.0])), seed=0)
    assert str(e.value) == expected


def test_a_prefix_cache_without_prefix_blocks_in_the_trace_is_a_spec_error():
    server = dataclasses.replace(slot_server(slots=2, step_s=0.1), prefix_cache=True)
    fleet = Fleet((Tier("gpu", server, "m"),))
    with pytest.raises(SpecError) as e:
        simulate(tiny_trace([0.0]), fleet, StaticPolicy("gpu"), seed=0)
    assert str(e.value) == (
        "fleet 'fleet', key 'tiers.gpu.prefix_cache': is true but trace '<trace>' has no "
        "'prefix_blocks' column (each request's prefix-block ids), so the cache could never "
        "hit. load the trace with a 'prefix_blocks' column mapping (and 'prefix_block_size'), "
        "or set prefix_cache: false"
    )
