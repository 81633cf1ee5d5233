"""sweep(): one tidy row per run, same results serially and in parallel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit import load_trace
from simkit.fleet import load_fleet
from simkit.policies import StaticPolicy, build_policy
from simkit.sweep import expand_grid, sweep

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    return t.subset(np.arange(t.n_requests) < 600)


def test_expand_grid_makes_one_spec_per_combination():
    assert expand_grid(
        "cascade:accept_at=0.5", {"judge_error": [0.0, 0.1], "chain": [["a", "b"]]}
    ) == [
        "cascade:accept_at=0.5,judge_error=0.0,chain=a/b",
        "cascade:accept_at=0.5,judge_error=0.1,chain=a/b",
    ]
    assert expand_grid({"policy": "threshold"}, {"cutoffs.frontier": [0.3, 0.6]}) == [
        {"policy": "threshold", "cutoffs": {"frontier": 0.3}},
        {"policy": "threshold", "cutoffs": {"frontier": 0.6}},
    ]


def test_sweep_gives_one_row_per_policy_and_seed_and_the_same_in_parallel(trace):
    fleet = load_fleet()
    policies = [
        "static:tier=frontier",
        "cascade:judge_error=0.1",
        *expand_grid("share:score=null", {"target_share": [0.2, 0.5]}),
    ]
    serial = sweep(trace, fleet, policies, seeds=[0, 1], n_jobs=1)
    parallel = sweep(trace, fleet, policies, seeds=[0, 1], n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert list(serial["run_id"]) == list(range(8))
    assert list(serial["policy"]) == [p for p in policies for _ in (0, 1)]
    assert list(serial["seed"]) == [0, 1] * 4
    assert list(serial["param_target_share"].iloc[4:]) == [0.2, 0.2, 0.5, 0.5]
    assert serial.loc[0, "share_frontier"] == 1.0
    assert serial.loc[0, "gpu_cost_usd"] > 0  # idle GPUs still cost (metrics.summarize_runs)
    share = serial.loc[serial["param_target_share"] == 0.5, "share_frontier"]
    assert (abs(share - 0.5) < 0.05).all()


def test_a_bad_policy_in_a_sweep_fails_before_any_run(trace):
    from simkit.errors import PolicyError

    with pytest.raises(PolicyError, match="the trace has no score column 'p_hard'"):
        sweep(trace, load_fleet(), ["static:tier=frontier", "threshold:p_hard=0.7"], n_jobs=2)
    assert build_policy("static:tier=frontier") == StaticPolicy("frontier")


def test_kept_records_are_those_of_a_serial_simulate_loop_in_parallel_too(trace):
    """keep_records: the tables equal simulate() called run by run with the same seeds and
    run ids (policy-major, seed-minor), whatever n_jobs; progress counts runs in order."""
    from simkit.sim import simulate

    fleet = load_fleet()
    policies = {"cheap": "static:tier=selfhosted", "cascade": "cascade:judge_error=0.1"}
    seeds = [3, 7]
    calls = []
    kept = sweep(
        trace,
        fleet,
        policies,
        seeds=seeds,
        n_jobs=2,
        keep_records=True,
        progress=lambda done, total: calls.append((done, total)),
    )
    loop = [
        simulate(trace, fleet, build_policy(spec, fleet=fleet, trace=trace), seed=s, run_id=i)
        for i, (spec, s) in enumerate((spec, s) for spec in policies.values() for s in seeds)
    ]
    pd.testing.assert_frame_equal(
        kept.records, pd.concat([r.requests for r in loop], ignore_index=True)
    )
    pd.testing.assert_frame_equal(
        kept.endpoints, pd.concat([r.endpoints for r in loop], ignore_index=True)
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert list(kept.runs["policy"]) == ["cheap", "cheap", "cascade", "cascade"]
    assert list(kept.runs["seed"]) == [3, 7, 3, 7]
    pd.testing.assert_frame_equal(kept.runs, sweep(trace, fleet, policies, seeds=seeds))


def test_a_sweep_without_seeds_or_policies_says_which_is_empty(trace):
    from simkit.errors import SpecError

    with pytest.raises(SpecError, match="seeds.*empty; give at least one"):
        sweep(trace, load_fleet(), ["static:tier=frontier"], seeds=[])
    with pytest.raises(SpecError, match="policies.*empty; give at least one"):
        sweep(trace, load_fleet(), {}, seeds=[0])


def test_a_sweep_over_several_traces_runs_every_policy_on_each_trace_major(trace):
    """A mapping of traces: rows carry the trace's label, run ids go trace-major, and every
    run is the one a single-trace sweep of that trace gives (its run id aside)."""
    fleet = load_fleet()
    fast = trace.replace(requests=trace.requests.assign(arrival_s=trace.requests["arrival_s"] / 3))
    policies = {
        "cheap": "static:tier=selfhosted",
        "spill": "spillover:max_wait_s=1>static:tier=selfhosted",
    }
    both = sweep({"1x": trace, "3x": fast}, fleet, policies, seeds=[2], keep_records=True, n_jobs=2)
    assert both.runs["trace"].tolist() == ["1x", "1x", "3x", "3x"]
    assert both.runs["policy"].tolist() == ["cheap", "spill", "cheap", "spill"]
    alone = sweep(fast, fleet, policies, seeds=[2], keep_records=True)
    got = both.records[both.records["run_id"] >= 2].reset_index(drop=True)
    want = alone.records.assign(run_id=alone.records["run_id"] + 2)
    pd.testing.assert_frame_equal(got, want)
    assert "trace" not in alone.runs
    # the burst makes the self-hosted tier queue: spill-over sends some requests away
    spill_3x = both.runs.query("trace == '3x' and policy == 'spill'").iloc[0]
    assert spill_3x["share_selfhosted"] < 1.0


def test_grid_per_policy_gives_each_policy_its_own_keys_and_names_every_parameter_list():
    from simkit.errors import PolicyError
    from simkit.sweep import grid_per_policy

    grid = {"target_share": [0.2, 0.5], "max_wait_s": [1, 2], "cutoffs.frontier": [0.7]}
    got = grid_per_policy(
        ["share:score=p_hard", "spillover:max_wait_s=1>static:tier=selfhosted", "threshold"],
        grid,
    )
    assert got["share:score=p_hard"] == {"target_share": [0.2, 0.5]}
    assert got["spillover:max_wait_s=1>static:tier=selfhosted"] == {"max_wait_s": [1, 2]}
    assert got["threshold"] == grid  # a threshold's shorthand takes any key
    with pytest.raises(PolicyError) as err:
        grid_per_policy(["share", "static:tier=frontier"], {"nosuch": [1]}, where="G")
    msg = str(err.value)
    assert msg.startswith("G, key 'nosuch': not a parameter of any policy; share: ")
    assert "; static: tier" in msg
