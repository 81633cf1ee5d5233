"""Crash safety: a recorder killed with SIGKILL at random points and resumed ends with exactly
the (request, model) pairs of an uninterrupted run: no duplicate, no loss. Ctrl-C stops
sending, writes what was in flight and prints how to resume."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from simkit.fleet.spec import Jitter
from simkit.live.endpoints import endpoints_from_dict
from simkit.live.record import read_records, record
from simkit.live.stub import StubConfig, StubModel, StubServer
from simkit.trace import save_trace

from .conftest import read_jsonl

MODELS = ("m0", "m1", "m2", "m3", "m4")


@pytest.fixture(scope="module")
def slow_stub():
    """About 0.25 s per request: TTFT 0.1 s, 16 tokens at 100 tokens/s."""
    models = tuple(
        StubModel(m, ttft_s=Jitter(0.1), output_tokens_per_s=Jitter(100.0), p_correct=0.5)
        for m in MODELS
    )
    with StubServer(StubConfig(models=models, seed=1)) as server:
        yield server


def write_inputs(tmp_path: Path, trace, base_url: str) -> tuple[Path, Path]:
    trace_dir = save_trace(trace, tmp_path / "trace")
    body = {
        m: {
            "base_url": base_url,
            "model": m,
            "max_concurrency": 1,
            "max_output_tokens": 32,
            "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0},
        }
        for m in MODELS
    }
    eps = tmp_path / "endpoints.yaml"
    eps.write_text(yaml.safe_dump({"endpoints": body}))
    return trace_dir, eps


def cli(trace_dir: Path, eps: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simkit.cli",
        "live",
        "record",
        str(trace_dir),
        "--endpoints",
        str(eps),
        "--models",
        ",".join(MODELS),
        "--budget-usd",
        "5",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def lines_in(out: Path) -> int:
    path = out / "records.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(
    small_trace, slow_stub, tmp_path
):
    trace_dir, eps_path = write_inputs(tmp_path, small_trace, slow_stub.base_url)
    out = tmp_path / "killed"
    rng = random.Random(12)
    kills = 0
    mid_record = 0
    while kills < 20:
        args = cli(trace_dir, eps_path, out, *(["--resume"] if (out / "run.json").exists() else []))
        before = lines_in(out)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills % 4 == 3:  # now and then anywhere: start-up, preflight, run.json
            time.sleep(rng.uniform(0.0, 2.5))
        else:  # mostly while records are being written
            deadline = time.monotonic() + 30
            while lines_in(out) == before and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is not None:
            assert proc.returncode == 0, proc.stderr.read().decode()
            break  # finished before this kill point: nothing left to kill
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        mid_record += lines_in(out) > before
    assert kills == 20, f"the run finished after {kills} kills; make it longer"
    assert mid_record >= 10
    final = subprocess.run(
        cli(trace_dir, eps_path, out, "--resume"), capture_output=True, text=True, timeout=120
    )
    assert final.returncode == 0, final.stderr

    reference = tmp_path / "reference"
    eps = endpoints_from_dict(yaml.safe_load(eps_path.read_text()))
    record(small_trace, [eps[m] for m in MODELS], out=reference, budget_usd=5, progress=False)

    killed = read_records(out)
    whole = read_records(reference)
    pairs = [(r["request_id"], r["model"]) for r in killed]
    assert len(pairs) == len(set(pairs)) == 200  # no duplicate
    assert set(pairs) == {(r["request_id"], r["model"]) for r in whole}  # no loss
    assert {r["status"] for r in killed} == {"ok"}
    answers = {(r["request_id"], r["model"]): r["answer"] for r in whole}
    assert all(r["answer"] == answers[(r["request_id"], r["model"])] for r in killed)
    raw = read_jsonl(out / "records.jsonl")  # the file itself: complete lines, each pair once
    assert len(raw) == len({(r["request_id"], r["model"]) for r in raw}) == 200


@pytest.mark.slow
def test_ctrl_c_stops_sending_writes_in_flight_and_says_how_to_resume(
    small_trace, slow_stub, tmp_path
):
    trace_dir, eps_path = write_inputs(tmp_path, small_trace, slow_stub.base_url)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        cli(trace_dir, eps_path, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while lines_in(out) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; resume with: simkit live record" in stderr and "--resume" in stderr
    assert "recorded" in stdout
    recs = read_records(out)
    assert 5 <= len(recs) < 200
    assert all(r["status"] in ("ok", "cancelled") for r in recs)
    resumed = record(
        small_trace,
        list(endpoints_from_dict(yaml.safe_load(eps_path.read_text())).values()),
        out=out,
        budget_usd=5,
        resume=True,
        progress=False,
    )
    assert resumed.n_recorded == 200 and resumed.stopped == "done"
    final = read_records(out)
    assert len(final) == 200 and {r["status"] for r in final} == {"ok"}


@pytest.mark.slow
def test_second_ctrl_c_cancels_requests_in_flight_and_records_them_as_cancelled(
    small_trace, tmp_path
):
    from .conftest import stub_log

    config = StubConfig(models=(StubModel("staller", p_stall=1.0, stall_s=60.0),), seed=0)
    with StubServer(config) as stub:
        trace_dir = save_trace(small_trace, tmp_path / "trace")
        body = {
            "staller": {
                "base_url": stub.base_url,
                "model": "staller",
                "max_concurrency": 2,
                "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 1.0},
            }
        }
        (tmp_path / "e.yaml").write_text(yaml.safe_dump({"endpoints": body}))
        out = tmp_path / "out"
        cmd = [
            sys.executable,
            "-m",
            "simkit.cli",
            "live",
            "record",
            str(trace_dir),
            "--endpoints",
            str(tmp_path / "e.yaml"),
            "--models",
            "staller",
            "--budget-usd",
            "5",
            "--out",
            str(out),
            "--no-progress",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while len(stub_log(stub)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        _, stderr = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 20  # not the 60 s stall, nor the 30 s drain
    assert proc.returncode == 130, stderr
    assert "Ctrl-C again to cancel them" in stderr and "--resume" in stderr
    recs = read_records(out)
    assert [r["status"] for r in recs] == ["cancelled", "cancelled"]
