"""Streaming replay (``simulate_stream``): the same run as ``simulate`` read and written in
chunks. Records rows, summary, endpoints and meta are compared whole against the in-memory
run; errors in a chunk name the table file, the row in that file and the column."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simkit import load_trace, save_trace, simulate
from simkit.errors import SimulationError, SpecError, TraceError
from simkit.fleet import load_fleet
from simkit.metrics import summarize_runs
from simkit.policies import build_policy
from simkit.sim import simulate_stream
from simkit.trace.arrivals import Poisson
from simkit.trace.repeat import repeat_trace

REPO = Path(__file__).resolve().parents[2]
TRACES = REPO / "traces"
SLICE = REPO / "tests" / "fixtures" / "sim" / "routellm_azure_slice"
STREAM_ONLY = ("chunk_rows", "max_open_chunks", "outcomes_in_request_order")


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(None)  # the default 3-tier fleet: GPU, hosted API, frontier API


@pytest.fixture(scope="module")
def late_slice(tmp_path_factory):
    """The slice fixture starting 250 s into the trace (no request at t=0)."""
    t = load_trace(SLICE)
    req = t.requests.assign(arrival_s=t.requests["arrival_s"] + 250.0)
    out = tmp_path_factory.mktemp("late") / "late"
    save_trace(t.replace(requests=req), out)
    return out


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    """The slice repeated to 6,000 requests on Poisson arrivals (first arrival > 0),
    outcomes written in request order."""
    out = tmp_path_factory.mktemp("rep") / "rep"
    return repeat_trace(
        load_trace(SLICE), out, n_requests=6000, arrivals=Poisson(12.0), seed=4, chunk_rows=1000
    )


def _in_memory(path, fleet, policy_spec, *, seed, n_requests=None, rate=1.0, **kw):
    from simkit.trace import window

    trace = window(load_trace(path), n_requests=n_requests, rate_multiplier=rate)
    policy = build_policy(policy_spec, fleet=fleet, trace=trace)
    return simulate(trace, fleet, policy, seed=seed, **kw)


def _assert_same_run(streamed, records, written: Path):
    pd.testing.assert_frame_equal(pd.read_parquet(written), records.requests, check_exact=True)
    pd.testing.assert_frame_equal(streamed.endpoints, records.endpoints, check_exact=True)
    assert streamed.horizon_s == records.horizon_s
    meta = {k: v for k, v in streamed.meta.items() if k not in STREAM_ONLY}
    assert meta == dict(records.meta)
    for slo in (None, 1.5):
        pd.testing.assert_frame_equal(
            summarize_runs(streamed.requests, streamed.endpoints, slo_ttft_s=slo),
            summarize_runs(records.requests, records.endpoints, slo_ttft_s=slo),
            check_exact=True,
        )


@pytest.mark.parametrize(
    ("trace", "policy", "chunk_rows", "options"),
    [
        # shipped: outcomes in benchmark order (held in memory, sorted), scores, 10 % sensitive
        ("routellm_azure", "privacy>fallback>threshold:p_hard=0.8/0.5", 4000, {}),
        # shipped: 15 models, arrivals from 0, three tiers by weight
        (
            "arena_bench_v1",
            "random:weights.selfhosted=1,weights.hosted=1,weights.frontier=2",
            64,
            {},
        ),
        # shipped timing-only trace, windowed and sped up
        (
            "azure_conv_2023",
            "random:weights.selfhosted=2,weights.hosted=1,weights.frontier=1",
            500,
            {"n_requests": 3001, "rate": 3.0, "allow_missing_quality": True},
        ),
    ],
)
def test_streamed_run_equals_simulate_on_the_shipped_traces(
    tmp_path, fleet, trace, policy, chunk_rows, options
):
    """Records rows (written chunk by chunk), summary, endpoints and meta are the in-memory
    run's, bit for bit."""
    path = TRACES / trace
    n, rate = options.get("n_requests"), options.get("rate", 1.0)
    allow = options.get("allow_missing_quality", False)
    records = _in_memory(
        path, fleet, policy, seed=7, n_requests=n, rate=rate, allow_missing_quality=allow
    )
    out = tmp_path / "records.parquet"
    streamed = simulate_stream(
        path,
        fleet,
        build_policy(policy, fleet=fleet),
        seed=7,
        records=out,
        chunk_rows=chunk_rows,
        n_requests=n,
        rate_multiplier=rate,
        allow_missing_quality=allow,
    )
    _assert_same_run(streamed, records, out)
    assert streamed.meta["outcomes_in_request_order"] is (trace == "azure_conv_2023")
    # every tier served some requests: the comparison covers all three
    assert set(records.requests["tier"]) >= {"selfhosted", "hosted", "frontier"} or (
        trace == "routellm_azure"
    )


@pytest.mark.parametrize("which", ["late_slice", "repeated"])
def test_streamed_run_equals_simulate_with_a_late_start(request, tmp_path, fleet, which):
    """Arrivals that start well after 0, chunks of 97 and 1000 requests: still the same run."""
    path = request.getfixturevalue(which)
    spec = "random:weights.selfhosted=2,weights.hosted=1,weights.frontier=1"
    records = _in_memory(path, fleet, spec, seed=11)
    assert records.requests["arrival_s"].iloc[0] > 0.0
    out = tmp_path / "r.parquet"
    streamed = simulate_stream(
        path, fleet, build_policy(spec, fleet=fleet), seed=11, records=out, chunk_rows=97
    )
    _assert_same_run(streamed, records, out)
    if which == "repeated":
        assert streamed.meta["outcomes_in_request_order"] is True
    assert (records.requests["tier"].value_counts() > 100).all()


def test_finished_chunks_leave_memory_and_the_same_seed_writes_the_same_bytes(
    tmp_path, fleet, repeated
):
    """62 chunks of 97 requests (about 8 s of arrivals each; the slowest answers take tens of
    seconds), and at most 6 are held at once; a second run writes a byte-identical file."""
    policy = build_policy("random:weights.frontier=1,weights.hosted=1", fleet=fleet)
    runs = [
        simulate_stream(
            repeated, fleet, policy, seed=3, records=tmp_path / f"{k}.parquet", chunk_rows=97
        )
        for k in range(2)
    ]
    assert 2 <= runs[0].meta["max_open_chunks"] <= 6
    assert (tmp_path / "0.parquet").read_bytes() == (tmp_path / "1.parquet").read_bytes()
    assert not list(tmp_path.glob("*.partial"))


# -- bad tables: the file, the row in it, the column -----------------------------------------
def _tamper(path: Path, table: str, edit) -> None:
    """Edit one table of a saved trace and record its checksum (no validation: the streaming
    reader must find the problem)."""
    p = path / table
    frame = pq.read_table(p).to_pandas()
    frame = edit(frame)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), p)
    manifest = json.loads((path / "trace.json").read_text())
    manifest["tables"][table] = hashlib.sha256(p.read_bytes()).hexdigest()
    (path / "trace.json").write_text(json.dumps(manifest))


@pytest.fixture
def copy(tmp_path, repeated):
    out = tmp_path / "copy"
    save_trace(load_trace(repeated), out)
    return out


def _stream(path, fleet, **kw):
    policy = build_policy("random:weights.selfhosted=1,weights.hosted=1", fleet=fleet)
    return simulate_stream(path, fleet, policy, seed=0, chunk_rows=1000, **kw)


def _set(column, row, value):
    def edit(frame):
        frame = frame.copy()
        frame.loc[row - 1, column] = value
        return frame

    return edit


def test_a_bad_value_in_a_later_chunk_names_its_row_in_the_file(copy, fleet):
    _tamper(copy, "requests.parquet", _set("prompt_tokens", 2500, -3))
    with pytest.raises(TraceError) as info:
        _stream(copy, fleet)
    assert str(info.value) == (
        f"{copy / 'requests.parquet'}, row 2500, column 'prompt_tokens': negative in 1 rows "
        "(first: -3); expected a count >= 0"
    )


def test_a_request_id_repeated_in_another_chunk_is_refused_before_the_run(copy, fleet):
    ids = load_trace(copy).requests["request_id"]
    _tamper(copy, "requests.parquet", _set("request_id", 4321, ids.iloc[9]))
    with pytest.raises(TraceError) as info:
        _stream(copy, fleet)
    assert str(info.value) == (
        f"{copy / 'requests.parquet'}, row 4321, column 'request_id': duplicate id "
        f"{ids.iloc[9]!r} (first seen in row 10); 1 duplicate rows in all; every request needs "
        "its own id"
    )


def test_arrivals_going_back_across_a_chunk_boundary_are_refused(copy, fleet):
    _tamper(copy, "requests.parquet", _set("arrival_s", 3001, 0.0))
    with pytest.raises(TraceError) as info:
        _stream(copy, fleet)
    assert str(info.value).startswith(
        f"{copy / 'requests.parquet'}, row 3001, column 'arrival_s': 0.0 is earlier than the "
        "row before"
    )


def test_an_outcome_for_no_request_names_its_row_in_the_outcomes_file(copy, fleet):
    _tamper(copy, "outcomes.parquet", _set("request_id", 5000, "nobody"))
    with pytest.raises(TraceError) as info:
        _stream(copy, fleet)
    assert str(info.value) == (
        f"{copy / 'outcomes.parquet'}, row 5000, column 'request_id': outcome for unknown "
        "request 'nobody' (1 such rows); every outcome must match a request"
    )


def test_a_request_without_prompt_tokens_names_its_row_in_the_whole_trace(copy, fleet):
    _tamper(copy, "requests.parquet", _set("prompt_tokens", 3500, None))
    with pytest.raises(SimulationError) as info:
        _stream(copy, fleet)
    assert "(row 3500) has no prompt_tokens (1 requests without)" in str(info.value)
    assert str(info.value).startswith(f"{copy}/requests.parquet: request ")


def test_a_table_changed_behind_the_manifest_is_refused(copy, fleet):
    p = copy / "requests.parquet"
    data = bytearray(p.read_bytes())
    data[100] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(TraceError, match="does not match its SHA-256 in trace.json"):
        _stream(copy, fleet)


def test_a_run_that_fails_leaves_no_records_file(copy, fleet, tmp_path):
    _tamper(copy, "requests.parquet", _set("prompt_tokens", 5500, -1))
    out = tmp_path / "r.parquet"
    with pytest.raises(TraceError, match="row 5500"):
        _stream(copy, fleet, records=out)
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_records_into_a_missing_folder_are_refused_before_the_run(repeated, fleet, tmp_path):
    out = tmp_path / "nope" / "r.parquet"
    with pytest.raises(SpecError, match="is not a directory"):
        _stream(repeated, fleet, records=out)


def test_a_policy_needing_a_missing_score_is_refused(fleet):
    with pytest.raises(Exception, match="p_hard"):
        simulate_stream(
            TRACES / "arena_bench_v1",
            fleet,
            build_policy("threshold:p_hard=0.5", fleet=fleet),
            seed=0,
        )


# -- repeat_trace -------------------------------------------------------------------------------
def test_repeat_writes_copies_with_suffixed_ids_and_outcomes_in_request_order(repeated):
    src = load_trace(SLICE)
    t = load_trace(repeated)
    m = src.n_requests
    assert t.n_requests == 6000
    ids = t.requests["request_id"].astype(str)
    copies = ids.str.rsplit("#", n=1).str[1].astype(int).to_numpy()
    assert (copies == np.arange(6000) // m).all()
    base = ids.str.rsplit("#", n=1).str[0]
    # each copy holds every source request once, in its own order
    assert sorted(base[:m]) == sorted(src.requests["request_id"].astype(str))
    assert list(base[:m]) != list(base[m : 2 * m])
    # outcomes follow the requests' order, every request's rows together
    pos = pd.Index(ids).get_indexer(t.outcomes["request_id"].astype(str))
    assert (np.diff(pos) >= 0).all() and len(t.outcomes) == 2 * 6000
    assert t.requests["arrival_s"].iloc[0] > 0 and t.requests["arrival_s"].is_monotonic_increasing


def test_repeat_is_deterministic(tmp_path):
    src = load_trace(SLICE)
    for k in range(2):
        repeat_trace(src, tmp_path / str(k), n_requests=3000, seed=1, keep_text=False)
    for name in ("requests.parquet", "outcomes.parquet", "trace.json"):
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "1" / name).read_bytes()
    assert load_trace(tmp_path / "0").requests["prompt"].isna().all()


def test_repeat_refuses_a_count_below_one(tmp_path):
    with pytest.raises(SpecError, match="n_requests.*expected a whole number >= 1, got 0"):
        repeat_trace(load_trace(SLICE), tmp_path / "x", n_requests=0)


# -- the command line ---------------------------------------------------------------------------
def _replay(capsys, *argv):
    from simkit.cli import main

    rc = main(["replay", "--no-progress", "--json", *argv])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_replay_streams_by_default_with_the_numbers_and_records_of_in_memory(
    tmp_path, capsys, late_slice
):
    """Same JSON and same records file rows; the streamed file is written chunk by chunk."""
    argv = [
        "--trace",
        str(late_slice),
        "--policy",
        "privacy>random:weights.hosted=1,weights.frontier=1",
    ]
    argv += ["--n-requests", "2000", "--rate-multiplier", "1.5", "--seed", "5"]
    streamed = _replay(
        capsys, *argv, "--records", str(tmp_path / "s.parquet"), "--chunk-rows", "300"
    )
    loaded = _replay(capsys, *argv, "--records", str(tmp_path / "m.parquet"), "--in-memory")
    assert streamed == loaded and streamed["n_requests"] == 2000
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "s.parquet"), pd.read_parquet(tmp_path / "m.parquet")
    )
    assert pq.ParquetFile(tmp_path / "s.parquet").metadata.num_row_groups == 7


def test_replay_with_the_oracle_loads_the_trace_itself(capsys):
    summary = _replay(capsys, "--trace", str(SLICE), "--policy", "oracle", "--n-requests", "200")
    assert summary["policy_name"] == "oracle" and summary["n_requests"] == 200


def test_replay_refuses_a_chunk_size_below_one(capsys):
    from simkit.cli import main

    with pytest.raises(SystemExit):
        main(
            ["replay", "--trace", str(SLICE), "--policy", "static:tier=hosted", "--chunk-rows", "0"]
        )
    assert "argument --chunk-rows: expected a whole number >= 1, got 0" in capsys.readouterr().err


def test_trace_repeat_command_writes_a_trace_that_loads(tmp_path, capsys):
    from simkit.cli import main

    out = tmp_path / "big"
    argv = ["trace", "repeat", str(SLICE), str(out), "--n-requests", "5000", "--drop-text"]
    argv += ["--arrivals", f"replay:{TRACES / 'azure_conv_2023'}", "--rate-multiplier", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert capsys.readouterr().out == f"wrote {out}: 5,000 requests\n"
    t = load_trace(out)
    azure = load_trace(TRACES / "azure_conv_2023").requests["arrival_s"].to_numpy()
    assert t.n_requests == 5000
    np.testing.assert_array_equal(t.requests["arrival_s"].to_numpy()[:100], azure[:100] / 2)
    assert t.meta["composition"][-1]["repeat"]["copies"] == 3


def _event_run(monkeypatch, *args, **kw):
    """``simulate`` through the event run (SimPy, every tier on one queue)."""
    import simkit.sim.engine as engine

    with monkeypatch.context() as m:
        m.setattr(engine, "replays_by_tier", lambda fleet, policy: False)
        return simulate(*args, **kw)


def _streamed_by_tier(monkeypatch, *args, **kw):
    """``simulate_stream``, checked to have replayed tier by tier to the end."""
    import simkit.sim.stream as stream

    runs = []
    real = stream._StreamRun.replay_by_tier
    with monkeypatch.context() as m:
        m.setattr(stream._StreamRun, "replay_by_tier", lambda run: runs.append(run) or real(run))
        streamed = simulate_stream(*args, **kw)
    assert len(runs) == 1 and runs[0].replayed_by_tier is not None
    return streamed


def test_a_streamed_tier_by_tier_run_is_the_event_run_across_chunks(monkeypatch, tmp_path):
    """Chunks of 50 requests: retries, 429 waits and outages of three rate-limited API tiers
    and a batching GPU tier's queue run across chunk boundaries; each tier stops at a chunk's
    last arrival event and goes on with the next. Records, endpoints, horizon and event
    counts are the in-memory event run's."""
    from sim.test_by_tier import _batching, _fleet, _trace
    from simkit.fleet import Fleet, Tier

    trace = _trace()
    path = tmp_path / "t"
    save_trace(trace, path)
    fleet = Fleet((Tier("gpu", _batching(), "gpt-4-1106-preview"), *_fleet().tiers))
    spec = "random:weights.gpu=3,weights.cheap=1,weights.mid=1,weights.frontier=1"
    policy = build_policy(spec, fleet=fleet)
    want = _event_run(monkeypatch, load_trace(path), fleet, policy, seed=6, run_id=4)
    out = tmp_path / "r.parquet"
    got = _streamed_by_tier(
        monkeypatch, path, fleet, policy, seed=6, run_id=4, records=out, chunk_rows=50
    )
    _assert_same_run(got, want, out)
    assert got.meta["max_open_chunks"] > 3  # requests stayed in flight across chunks
    r = want.requests
    assert (r["retries"] > 0).sum() > 50 and (r["tier"] == "gpu").sum() > 500


@pytest.mark.parametrize(
    ("arrival", "chunk_rows", "n_429"),
    [
        # requests 2 and 3 at 30 s, a chunk boundary between them
        ([10.0, 20.0, 30.0, 30.0, 50.0], 3, [0, 0, 0, 1, 0]),
        # requests 1-3 at 30 s: the second chunk holds only requests of the first chunk's
        # last arrival event (no event of its own)
        ([10.0, 30.0, 30.0, 30.0, 50.0], 2, [0, 0, 1, 1, 0]),
    ],
)
def test_arrivals_at_one_time_split_by_a_chunk_boundary_are_one_arrival_event(
    monkeypatch, tmp_path, arrival, chunk_rows, n_429
):
    """Same-time requests split by a chunk boundary, each answered at once (zero latency)
    from a 100-token budget (60 tokens charged a request). In the event run they all start in
    one arrival event, so none sees an earlier one's token refund (a 429 for all but the
    first); the streamed replay keeps that, although the tiers stop between the chunks."""
    from sim.helpers import fixed_api, tiny_trace
    from simkit.fleet import Fleet, RateLimit, Tier
    from simkit.fleet.spec import RetryPolicy
    from simkit.policies import StaticPolicy

    instant = fixed_api(
        ttft_s=0.0, rtt_s=0.0, rate_limit=RateLimit(tpm=100), retry=RetryPolicy(max_retries=2)
    )
    fleet = Fleet((Tier("b", instant, "m"), Tier("a", fixed_api(), "m")))
    trace = tiny_trace(arrival, prompt_tokens=10, output_tokens=1, max_tokens=50)
    path = tmp_path / "t"
    save_trace(trace, path)
    policy = StaticPolicy("b")
    want = _event_run(monkeypatch, load_trace(path), fleet, policy, seed=0)
    out = tmp_path / "r.parquet"
    got = _streamed_by_tier(
        monkeypatch, path, fleet, policy, seed=0, records=out, chunk_rows=chunk_rows
    )
    _assert_same_run(got, want, out)
    assert want.requests["n_429"].tolist() == n_429
    # one arrival event per distinct time, one retry per 429
    assert want.meta["n_events"] == len(set(arrival)) + sum(n_429)


def test_a_tie_in_a_streamed_run_replays_it_by_events_with_one_records_file(monkeypatch, tmp_path):
    """An API callback exactly at an arrival time (constant latencies): the tier-by-tier
    replay stops at the tie, and the run starts again by events; the records file holds
    each request once."""
    from sim.helpers import fixed_api, tiny_trace
    from simkit.fleet import Fleet, Tier
    from simkit.policies import StaticPolicy

    trace = tiny_trace([10.0, 11.0, 12.0, 13.0, 40.0], model="m")
    fleet = Fleet(
        (
            Tier("a", fixed_api(rtt_s=1.0, outages=((0.0, 12.5),)), "m"),
            Tier("b", fixed_api(rtt_s=0.5), "m"),
        )
    )
    path = tmp_path / "t"
    save_trace(trace, path)
    policy = StaticPolicy("a")
    want = _event_run(monkeypatch, load_trace(path), fleet, policy, seed=0)
    out = tmp_path / "r.parquet"
    got = simulate_stream(path, fleet, policy, seed=0, records=out, chunk_rows=2)
    _assert_same_run(got, want, out)
    assert want.requests["retries"].tolist() == [2, 2, 1, 0, 0]
    assert not out.with_name(out.name + ".partial").exists()


def test_replica_events_and_split_arrival_groups_in_chunks_are_the_event_runs(
    monkeypatch, tmp_path
):
    """Quarter-second arrivals, several at a time, chunks of 7 requests (boundaries inside
    same-time groups), two self-hosted tiers stepping in exact quarter seconds: replica events
    tied with arrival events keep SimPy's order, and a group split by a boundary is still one
    arrival event."""
    from sim.helpers import quarter_second_case
    from simkit.policies import RandomMixPolicy

    n = 300
    trace, fleet = quarter_second_case(n)
    arrival = trace.requests["arrival_s"].to_numpy()
    path = tmp_path / "t"
    save_trace(trace, path)
    policy = RandomMixPolicy({"a": 2.0, "b": 1.0})
    want = _event_run(monkeypatch, load_trace(path), fleet, policy, seed=4)
    out = tmp_path / "r.parquet"
    got = _streamed_by_tier(monkeypatch, path, fleet, policy, seed=4, records=out, chunk_rows=7)
    _assert_same_run(got, want, out)
    split = [k for k in range(7, n, 7) if arrival[k] == arrival[k - 1]]
    assert len(split) > 5  # boundaries inside groups


def test_a_callback_on_the_last_event_of_the_chunk_before_is_a_tie_too(monkeypatch, tmp_path):
    """Request 2 arrives at 20 s, with request 1, but in the next chunk; its tier is down and
    answers at once (no round trip), so the failure's callback lands on that arrival event:
    a tie, as it would be in memory. The streamed replay falls back to the event run."""
    import simkit.sim.stream as stream
    from sim.helpers import fixed_api, tiny_trace
    from simkit.fleet import Fleet, Tier
    from simkit.sim.by_tier import TieFound

    class OneToTheOutage:
        reads_live_state = False

        def route(self, request, fleet, rng):
            return "down" if request.request_id == "r2" else "up"

    fleet = Fleet(
        (
            Tier("down", fixed_api(rtt_s=0.0, outages=((0.0, 100.0),)), "m"),
            Tier("up", fixed_api(), "m"),
        )
    )
    trace = tiny_trace([10.0, 20.0, 20.0, 30.0], model="m")
    path = tmp_path / "t"
    save_trace(trace, path)
    policy = OneToTheOutage()
    want = _event_run(monkeypatch, load_trace(path), fleet, policy, seed=0)
    ties = []
    real = stream._StreamRun.replay_by_tier

    def watched(run):
        try:
            real(run)
        except TieFound as exc:
            ties.append(str(exc))
            raise

    out = tmp_path / "r.parquet"
    with monkeypatch.context() as m:
        m.setattr(stream._StreamRun, "replay_by_tier", watched)
        got = simulate_stream(path, fleet, policy, seed=0, records=out, chunk_rows=2)
    _assert_same_run(got, want, out)
    assert ties == ["tier 'down': a callback at 20.0 s, an arrival time"]
    assert want.requests["fail_reason"].tolist() == ["", "", "outage", ""]
