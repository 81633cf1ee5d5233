"""sweep() on a Dask ``distributed`` cluster and on Ray (both local, started and stopped here):
the same rows as the local loky backend; clear errors for bad backends and addresses; per-run
files and ``resume``."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit import load_trace
from simkit.errors import SpecError
from simkit.fleet import load_fleet
from simkit.sweep import backends, sweep
from simkit.sweep.backends import BackendError

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"
POLICIES = ["static:tier=frontier", "cascade:judge_error=0.1", "share:score=null,target_share=0.4"]
SEEDS = [3, 7]


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    return t.subset(np.arange(t.n_requests) < 300)


@pytest.fixture(scope="module")
def fleet():
    return load_fleet()


@pytest.fixture(scope="module")
def local(trace, fleet):
    """Two traces (a mapping) so the runs also exercise the trace index sent with each task."""
    traces = {"a": trace, "b": trace.subset(np.arange(trace.n_requests) < 200)}
    return traces, sweep(traces, fleet, POLICIES, seeds=SEEDS, n_jobs=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dependencies_plugin(scheduler):
    """A Dask scheduler plugin that notes which keys each finished task needed."""
    from distributed.diagnostics.plugin import SchedulerPlugin

    class Dependencies(SchedulerPlugin):
        name = "simkit-test-dependencies"

        def __init__(self) -> None:
            self.runs: dict = {}

        def transition(self, key, start, finish, *args, **kwargs) -> None:
            if finish != "memory":
                return
            if start == "processing":
                self.runs[key] = {d.key for d in scheduler.tasks[key].dependencies}

    return Dependencies()


def test_a_dask_cluster_gives_the_rows_of_the_local_backend(local, fleet):
    distributed = pytest.importorskip("distributed")
    traces, expected = local
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        seen = _dependencies_plugin(cluster.scheduler)
        cluster.scheduler.add_plugin(seen)
        got = sweep(
            traces, fleet, POLICIES, seeds=SEEDS, backend="dask", address=cluster.scheduler_address
        )
    pd.testing.assert_frame_equal(got, expected)
    # the trace and the fleet went to the workers as two scattered keys (not inside any task),
    # and each of the 12 runs depended on exactly those two
    assert len(seen.runs) == 12, seen.runs
    shared = set.union(*seen.runs.values())
    assert len(shared) == 2 and not shared & set(seen.runs), seen.runs
    assert all(deps == shared for deps in seen.runs.values())
    assert list(got["run_id"]) == list(range(12))
    assert list(got["trace"]) == ["a"] * 6 + ["b"] * 6
    assert list(got["seed"]) == SEEDS * 6
    assert got.loc[0, "share_frontier"] == 1.0


def test_ray_gives_the_rows_of_the_local_backend(local, fleet):
    ray = pytest.importorskip("ray")
    traces, expected = local
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )
    try:
        got = sweep(traces, fleet, POLICIES, seeds=SEEDS, backend="ray")
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(got, expected)


def test_an_unknown_backend_lists_the_valid_ones(trace, fleet):
    with pytest.raises(
        BackendError, match="unknown backend 'spark'; expected one of loky, dask, ray"
    ):
        sweep(trace, fleet, POLICIES, backend="spark")


def test_loky_takes_no_address(trace, fleet):
    with pytest.raises(BackendError, match="loky backend runs on this host and takes no address"):
        sweep(trace, fleet, POLICIES, address="tcp://127.0.0.1:8786")


def test_a_missing_backend_package_names_the_extra(trace, fleet, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    with pytest.raises(BackendError, match=r"needs the 'ray' package.*simkit\[distributed\]"):
        sweep(trace, fleet, POLICIES, backend="ray")


def test_an_unreachable_dask_scheduler_is_named_within_the_timeout(trace, fleet, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT_S", 2.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(BackendError, match=f"no dask cluster answered at {address} within 2 s"):
        sweep(trace, fleet, POLICIES, backend="dask", address=address)


def test_an_unreachable_ray_address_is_named(trace, fleet):
    pytest.importorskip("ray")
    address = f"ray://127.0.0.1:{_free_port()}"
    with pytest.raises(BackendError, match=f"no ray cluster answered at {address} within 10 s"):
        sweep(trace, fleet, POLICIES, backend="ray", address=address)
    with pytest.raises(BackendError, match="expected host:port"):
        sweep(trace, fleet, POLICIES, backend="ray", address="ray://nohost")


def test_an_interrupted_sweep_resumes_to_the_uninterrupted_table(trace, fleet, tmp_path):
    expected = sweep(trace, fleet, POLICIES, seeds=SEEDS, n_jobs=1)
    out = tmp_path / "runs"

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(trace, fleet, POLICIES, seeds=SEEDS, n_jobs=1, out=out, progress=stop_after_two)
    assert sorted(p.name for p in out.glob("run-*.json")) == [
        "run-000000.json",
        "run-000001.json",
    ]
    with pytest.raises(SpecError, match="already holds 2 finished runs"):
        sweep(trace, fleet, POLICIES, seeds=SEEDS, n_jobs=1, out=out)
    seen = []
    resumed = sweep(
        trace,
        fleet,
        POLICIES,
        seeds=SEEDS,
        n_jobs=1,
        out=out,
        resume=True,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(3, 6), (4, 6), (5, 6), (6, 6)]  # the two finished runs were not rerun
    pd.testing.assert_frame_equal(resumed, expected)
    assert len(list(out.glob("run-*.json"))) == 6


def test_resume_refuses_a_folder_of_another_sweep(trace, fleet, tmp_path):
    sweep(trace, fleet, POLICIES[:1], seeds=[0], n_jobs=1, out=tmp_path)
    with pytest.raises(SpecError, match="holds the runs of a different sweep"):
        sweep(trace, fleet, POLICIES[:1], seeds=[1], n_jobs=1, out=tmp_path, resume=True)


def test_a_corrupt_run_file_is_named(trace, fleet, tmp_path):
    sweep(trace, fleet, POLICIES[:1], seeds=[0], n_jobs=1, out=tmp_path)
    (tmp_path / "run-000000.json").write_text("{not json")
    with pytest.raises(SpecError, match=r"run-000000\.json: not a JSON run row"):
        sweep(trace, fleet, POLICIES[:1], seeds=[0], n_jobs=1, out=tmp_path, resume=True)


SLICE_ARGS = ["--trace", str(FIXTURE), "--n-requests", "120", "--n-jobs", "1", "--seeds", "3,7"]


def test_the_command_writes_each_run_to_a_folder_and_resumes(tmp_path, capsys):
    from simkit.cli import main

    out = tmp_path / "runs"
    argv = ["sweep", *SLICE_ARGS, "--policy", POLICIES[0], "--policy", POLICIES[2], "--json"]
    assert main([*argv, "--out", str(out)]) == 0
    first = capsys.readouterr()
    assert "4/4" in first.err  # the progress bar across the grid, on stderr
    assert len(list(out.glob("run-*.json"))) == 4
    (out / "run-000002.json").unlink()  # as if the sweep had stopped before this run
    assert main([*argv, "--out", str(out), "--resume", "--no-progress"]) == 0
    again = capsys.readouterr()
    assert again.err == ""
    assert again.out == first.out
    table = pd.read_csv(out / "runs.csv")
    assert list(table["run_id"]) == [0, 1, 2, 3]
    assert list(table["policy"]) == [POLICIES[0]] * 2 + [POLICIES[2]] * 2


def test_the_command_refuses_resume_without_a_folder(capsys, tmp_path):
    from simkit.cli import main

    argv = ["sweep", *SLICE_ARGS, "--policy", POLICIES[0], "--resume"]
    assert main([*argv, "--out", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert "--resume: needs --out FOLDER (per-run rows to resume from), got the file" in err


def test_the_command_names_an_unreachable_scheduler(capsys, monkeypatch):
    pytest.importorskip("distributed")
    from simkit.cli import main

    monkeypatch.setattr(backends, "CONNECT_TIMEOUT_S", 1.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    argv = ["sweep", *SLICE_ARGS, "--policy", POLICIES[0], "--backend", "dask"]
    assert main([*argv, "--address", address]) == 2
    assert f"no dask cluster answered at {address} within 1 s" in capsys.readouterr().err


def test_cluster_backends_send_the_tasks_in_eight_batches_per_worker_in_order():
    """200 runs on 2 workers: 16 batches of 13 (the last 5), every index once, in order."""
    tasks = [(f"t{i}",) for i in range(200)]
    batches = backends._batches(tasks, workers=2)
    assert [len(b) for b in batches] == [13] * 15 + [5]
    assert [i for b in batches for i, _ in b] == list(range(200))
    assert batches[3][0] == (39, ("t39",))
    assert [len(b) for b in backends._batches(tasks[:3], workers=4)] == [1, 1, 1]
    assert backends._call_batch(lambda a, b, x: f"{a}{b}{x}", [(7, ("q",))], "s", "h") == [
        (7, "shq")
    ]
