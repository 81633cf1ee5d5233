"""The recorder against the loopback stub over HTTP, with the real `openai` client: what it
records, how it grades, how it stops at the budget, and every bad input it refuses."""

from __future__ import annotations

import json
import math
import socket

import pytest

from simkit.errors import LiveError, SpecError, TraceError
from simkit.live.endpoints import endpoints_from_dict
from simkit.live.graders import JudgeGrader
from simkit.live.record import read_records, record
from simkit.trace import load_trace
from simkit.trace.tokens import count_tokens

from .conftest import read_jsonl, stub_endpoints, stub_log


def run(trace, eps, names, tmp_path, **kw):
    kw.setdefault("budget_usd", 1.0)
    kw.setdefault("progress", False)
    return record(trace, [eps[n] for n in names], out=tmp_path / "out", **kw)


def by_pair(out) -> dict[tuple[str, str], dict]:
    return {(r["request_id"], r["model"]): r for r in read_records(out)}


def test_answers_are_graded_against_the_key_and_the_trace_flags_live_outcomes(
    small_trace, endpoints, mmlu_key, tmp_path
):
    result = run(small_trace, endpoints, ["oracle", "dunce"], tmp_path, answers=mmlu_key)
    assert result.stopped == "done"
    assert result.by_status["ok"] == 80 and result.n_recorded == 80
    trace = load_trace(tmp_path / "out")
    live = trace.outcomes[trace.outcomes["origin"] == "live"]
    q = live.groupby("model")["quality"].agg(["mean", "count"])
    assert q.loc["oracle"].tolist() == [1.0, 40] and q.loc["dunce"].tolist() == [0.0, 40]
    graders = live.groupby("grader").size().to_dict()
    assert graders == {"exact_letter": 40, "final_number": 40}
    theirs = trace.outcomes[trace.outcomes["origin"] == "trace"]
    assert set(theirs["model"]) == {"gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"}
    assert len(theirs) == len(small_trace.outcomes)
    assert trace.n_requests == 40
    assert (live["latency_s"] > live["ttft_s"]).all() and (live["ttft_s"] > 0).all()
    assert trace.meta["live"]["by_status"]["ok"] == 80


def test_cost_is_the_reported_usage_at_the_endpoint_price(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["oracle"], tmp_path, sample=5, seed=3)
    recs = read_records(tmp_path / "out")
    assert len(recs) == 5
    for r in recs:
        assert r["usage_reported"] is True
        assert r["completion_tokens"] == 16
        assert r["cost_usd"] == pytest.approx((r["prompt_tokens"] * 1.0 + 16 * 2.0) * 1e-6)
        local = int(count_tokens([f"user: {r_prompt(small_trace, r)}"]).iloc[0])
        assert r["prompt_tokens"] == local  # the stub counts the one messages->text convention
        assert r["chunks"] == 16 and r["finish_reason"] == "stop"
        assert r["itl_p50_s"] <= r["itl_p95_s"] <= r["itl_max_s"]


def r_prompt(trace, rec) -> str:
    req = trace.requests.set_index("request_id")
    return str(req.loc[rec["request_id"], "prompt"])


def test_sample_is_seeded_and_differs_by_seed(small_trace, endpoints, tmp_path):
    a = run(small_trace, endpoints, ["oracle"], tmp_path / "a", sample=6, seed=1)
    b = run(small_trace, endpoints, ["oracle"], tmp_path / "b", sample=6, seed=1)
    c = run(small_trace, endpoints, ["oracle"], tmp_path / "c", sample=6, seed=2)
    ids = [set(x.trace.requests["request_id"]) for x in (a, b, c)]
    assert ids[0] == ids[1] and ids[0] != ids[2]


def test_judge_grades_prompts_without_reference_and_its_cost_counts(
    small_trace, endpoints, tmp_path
):
    judge = JudgeGrader(endpoint="judge", max_output_tokens=64)
    result = run(
        small_trace, endpoints, ["gpt-4o"], tmp_path, judge=judge, judge_endpoint=endpoints["judge"]
    )
    recs = read_records(tmp_path / "out")
    judged = [r for r in recs if r["grader"] == "llm_judge"]
    assert len(judged) == 20  # the MMLU prompts: no key in this run
    assert all(1 <= r["raw_score"] <= 10 and r["scale_max"] == 10 for r in judged)
    assert all(r["judge_cost_usd"] > 0 for r in judged)
    total = sum(r["cost_usd"] + r["judge_cost_usd"] for r in recs)
    assert result.spent_usd == pytest.approx(total)
    trace = load_trace(tmp_path / "out")
    live = trace.outcomes[trace.outcomes["grader"] == "llm_judge"]
    assert ((live["raw_score"] - 1) / 9 == live["quality"]).all()
    judge_requests = [e for e in stub_log_for(endpoints["judge"]) if e["model"] == "judge"]
    assert len(judge_requests) >= 20


def stub_log_for(endpoint) -> list[dict]:
    import httpx

    return httpx.get(endpoint.base_url.removesuffix("/v1") + "/stub/log").json()["requests"]


def test_budget_stops_sending_before_the_cap_and_resume_with_more_finishes(
    small_trace, stub, tmp_path
):
    # worst case per request: (1.25 * ~90 + 8) prompt + 64 output tokens at $1000/$1000 per 1M
    price = {"price": {"input_usd_per_mtok": 1000.0, "output_usd_per_mtok": 1000.0}}
    eps = endpoints_from_dict(stub_endpoints(stub.base_url, oracle=price))
    first = run(small_trace, eps, ["oracle"], tmp_path, budget_usd=1.0)
    assert first.stopped == "budget"
    assert 0 < first.n_recorded < 40
    assert first.spent_usd <= 1.0
    second = run(small_trace, eps, ["oracle"], tmp_path, budget_usd=10.0, resume=True)
    assert second.stopped == "done" and second.n_recorded == 40
    assert second.spent_usd <= 10.0
    lines = read_jsonl(tmp_path / "out" / "records.jsonl")
    assert len(lines) == 40  # nothing recorded twice


def test_a_budget_smaller_than_one_request_is_refused_before_sending(
    small_trace, endpoints, stub, tmp_path
):
    before = len(stub_log(stub))
    with pytest.raises(
        LiveError, match=r"cannot cover one request: the cheapest worst case is \$0\.000"
    ):
        run(small_trace, endpoints, ["oracle"], tmp_path, budget_usd=1e-6)
    assert len(stub_log(stub)) == before
    assert not (tmp_path / "out" / "records.jsonl").exists()


def test_unset_api_key_variable_is_refused_before_any_request(small_trace, stub, tmp_path):
    eps = endpoints_from_dict(
        stub_endpoints(stub.base_url, oracle={"api_key_env": "SIMKIT_TEST_NO_SUCH_KEY"})
    )
    before = len(stub_log(stub))
    with pytest.raises(SpecError, match="environment variable SIMKIT_TEST_NO_SUCH_KEY is not set"):
        run(small_trace, eps, ["oracle"], tmp_path, environ={})
    assert len(stub_log(stub)) == before


def test_unreachable_endpoint_is_named_after_bounded_retries(small_trace, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    eps = endpoints_from_dict(stub_endpoints(f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(
        LiveError,
        match=rf"endpoint 'oracle' is unreachable at http://127.0.0.1:{port}/v1 after 3 tries",
    ):
        run(small_trace, eps, ["oracle"], tmp_path)


def test_unknown_model_reports_the_404_with_the_endpoint_name(small_trace, stub, tmp_path):
    body = stub_endpoints(stub.base_url)
    body["endpoints"]["ghost"] = {**body["endpoints"]["oracle"], "model": "no-such-model"}
    eps = endpoints_from_dict(body)
    with pytest.raises(
        LiveError, match=r"endpoint 'ghost' .* does not serve model 'no-such-model' \(404"
    ):
        run(small_trace, eps, ["ghost"], tmp_path)


def test_server_closing_mid_stream_is_an_error_with_the_partial_token_count(
    small_trace, endpoints, tmp_path
):
    run(small_trace, endpoints, ["cut"], tmp_path, sample=3)
    for r in read_records(tmp_path / "out"):
        assert r["status"] == "error"
        assert "mid-stream" in r["reason"] and "(after 8 chunks)" in r["reason"]
        assert r["completion_tokens"] == int(count_tokens([r["answer"]]).iloc[0]) > 0
        assert r["retries"] == 2
        assert r["raw_score"] is None and r["grade_reason"] == "no answer (error)"
    assert load_trace(tmp_path / "out").outcomes.query("origin == 'live'").empty


def test_malformed_sse_is_an_error_naming_it(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["garbled"], tmp_path, sample=2)
    for r in read_records(tmp_path / "out"):
        assert r["status"] == "error"
        assert "from garbled" in r["reason"]


def test_prompt_beyond_the_context_window_is_recorded_unsent(small_trace, stub, tmp_path):
    eps = endpoints_from_dict(stub_endpoints(stub.base_url, tiny={"context_window": 150}))
    before = len([e for e in stub_log(stub) if e["model"] == "tiny"])
    run(small_trace, eps, ["tiny"], tmp_path)
    recs = read_records(tmp_path / "out")
    over = [r for r in recs if r["status"] == "context_exceeded"]
    sent = [r for r in recs if r["status"] == "ok"]
    assert over and sent
    assert all(r["prompt_tokens"] + 64 > 150 and "not sent" in r["reason"] for r in over)
    after = len([e for e in stub_log(stub) if e["model"] == "tiny"])
    assert after - before == len(sent)


def test_server_refusing_the_context_is_context_exceeded_too(small_trace, stub, tmp_path):
    """The endpoint file names no window; the stub's is 200 tokens."""
    run(small_trace, endpoints_from_dict(stub_endpoints(stub.base_url)), ["tiny"], tmp_path)
    recs = read_records(tmp_path / "out")
    refused = [r for r in recs if r["status"] == "context_exceeded"]
    assert refused and len(refused) < len(recs)
    assert all("maximum context length is 200 tokens" in r["reason"] for r in refused)
    assert all(r["retries"] == 0 and r["cost_usd"] == 0 for r in refused)
    assert {r["status"] for r in recs} == {"ok", "context_exceeded"}


def test_429s_are_retried_after_retry_after_and_counted(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["flaky", "always429"], tmp_path, sample=10)
    recs = read_records(tmp_path / "out")
    flaky = [r for r in recs if r["model"] == "flaky"]
    assert any(r["n_429"] > 0 and r["status"] == "ok" for r in flaky)
    assert all(r["retries"] >= r["n_429"] - (r["status"] != "ok") for r in flaky)
    always = [r for r in recs if r["model"] == "always429"]
    assert all(
        r["status"] == "rate_limited" and r["n_429"] == 3 and r["retries"] == 2 for r in always
    )
    assert all(r["e2e_s"] is None and r["cost_usd"] == 0 for r in always)


def test_missing_usage_is_counted_locally_and_flagged(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["nousage"], tmp_path, sample=3)
    for r in read_records(tmp_path / "out"):
        assert r["usage_reported"] is False
        assert r["completion_tokens"] == int(count_tokens([r["answer"]]).iloc[0])
        assert r["cost_usd"] > 0


def test_no_text_drops_the_answers(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["oracle"], tmp_path, sample=3, keep_text=False)
    assert [r["answer"] for r in read_records(tmp_path / "out")] == [None] * 3


def test_an_existing_recording_needs_resume_and_the_same_settings(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["oracle"], tmp_path, sample=3)
    with pytest.raises(LiveError, match="already holds a recording; continue it with --resume"):
        run(small_trace, endpoints, ["oracle"], tmp_path, sample=3)
    with pytest.raises(LiveError, match="'request_ids' differs"):
        run(small_trace, endpoints, ["oracle"], tmp_path, sample=3, seed=9, resume=True)
    with pytest.raises(LiveError, match="'models' differs"):
        run(small_trace, endpoints, ["oracle", "dunce"], tmp_path, sample=3, resume=True)
    again = run(small_trace, endpoints, ["oracle"], tmp_path, sample=3, resume=True)
    assert again.n_recorded == 3 and len(read_jsonl(tmp_path / "out" / "records.jsonl")) == 3


def test_resume_drops_a_torn_last_line_and_redoes_that_pair(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["oracle"], tmp_path, sample=4)
    path = tmp_path / "out" / "records.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + lines[3][:25])  # a crash mid-write
    again = run(small_trace, endpoints, ["oracle"], tmp_path, sample=4, resume=True)
    assert again.n_recorded == 4
    recs = read_jsonl(path)
    assert len(recs) == 4 and len({r["request_id"] for r in recs}) == 4


def test_a_bad_line_before_the_last_is_an_error_naming_it(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["oracle"], tmp_path, sample=3)
    path = tmp_path / "out" / "records.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{oops", *lines[1:]]) + "\n")
    with pytest.raises(TraceError, match=r"records.jsonl, line 2: not a JSON record"):
        run(small_trace, endpoints, ["oracle"], tmp_path, sample=3, resume=True)


def test_sample_larger_than_the_prompts_is_refused(small_trace, endpoints, tmp_path):
    with pytest.raises(
        TraceError, match="--sample 41 is more than the 40 requests with prompt text"
    ):
        run(small_trace, endpoints, ["oracle"], tmp_path, sample=41)


def test_records_are_strict_json(small_trace, endpoints, tmp_path):
    run(small_trace, endpoints, ["cut", "oracle"], tmp_path, sample=2)
    text = (tmp_path / "out" / "records.jsonl").read_text()
    for line in text.splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    run_json = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_json["endpoints"]["oracle"]["api_key_env"] is None
    assert len(run_json["rtt_s"]["oracle"]) == 3 and all(v > 0 for v in run_json["rtt_s"]["oracle"])
    assert not any(math.isnan(v) for v in run_json["rtt_s"]["oracle"])


def test_a_grader_of_your_own_grades_every_answer(small_trace, endpoints, tmp_path):
    from dataclasses import dataclass

    from simkit.live.graders import Grade

    @dataclass(frozen=True)
    class LengthGrader:
        """Scores the answer's length in characters on 0..200 (a toy rule, a real class)."""

        name: str = "length"

        def grade(self, answer, reference):
            return Grade(self.name, float(min(len(answer), 200)), 0.0, 200.0)

    run(small_trace, endpoints, ["oracle"], tmp_path, sample=6, grader=LengthGrader())
    recs = read_records(tmp_path / "out")
    assert {r["grader"] for r in recs} == {"length"}
    assert all(r["raw_score"] == min(len(r["answer"]), 200) for r in recs)
    live = load_trace(tmp_path / "out").outcomes.query("origin == 'live'")
    assert (live["scale_max"] == 200).all()


async def _collect(lines):
    from simkit.live.record import _sse_data

    async def gen():
        for line in lines:
            yield line

    return [d async for d in _sse_data(gen())]


def test_sse_events_join_data_lines_and_skip_other_fields():
    import asyncio

    lines = [": a comment", "event: message", "data: {\"a\":", "data:1}", "", "", "id: 7",
             "data: [DONE]"]  # fmt: skip
    assert asyncio.run(_collect(lines)) == ['{"a":\n1}', "[DONE]"]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (b'data: {"error": {"message": "overloaded upstream"}}\n\n', "overloaded upstream"),
        (b"data: [1, 2]\n\n", "malformed SSE/JSON from raw: a chunk is a JSON list"),
        (b'data: {"choices": [\n\n', "malformed SSE/JSON from raw"),
    ],
)
def test_an_error_event_or_a_chunk_that_is_not_an_object_is_an_error_naming_it(events, expected):
    """A real HTTP server on 127.0.0.1 that streams the given events, then closes."""
    import asyncio

    from simkit.live.record import _Caller, _make_client

    async def main():
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
                + b'data: {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
                + events
            )
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        body = {"raw": {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m",
                        "price": {"input_usd_per_mtok": 0, "output_usd_per_mtok": 0}}}  # fmt: skip
        ep = endpoints_from_dict({"endpoints": body})["raw"]
        client = _make_client(ep, "unused", "aiohttp")
        try:
            return await _Caller(ep, client).attempt([{"role": "user", "content": "q"}], 8, 0)
        finally:
            await client.close()
            server.close()

    a = asyncio.run(main())
    assert a.status == "error"
    assert expected in a.reason and "(after 1 chunks)" in a.reason
    assert a.text == "Hi" and a.server_id == "c1"
