"""The loopback stub speaks the chat-completions API as OpenAI sends it, to the real `openai`
client over HTTP, with the configured latency, faults and seeded answers."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest

from simkit.errors import SpecError
from simkit.fleet.spec import Jitter
from simkit.live.answers import AnswerKey, shipped_answer_key
from simkit.live.stub import (
    StubConfig,
    StubModel,
    StubServer,
    config_from_dict,
    load_stub_config,
    start_stub_process,
)
from simkit.trace.tokens import count_tokens

GSM8K_Q = (
    "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' market "
    "daily for $2 per fresh duck egg. How much in dollars does she make every day at the "
    "farmers' market?"
)
MMLU_Q = "What is 2 + 2?\nA. 3\nB. 4\nC. 5\nD. 6\nAnswer:"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def stub():
    key = AnswerKey.from_records([{"prompt": MMLU_Q, "kind": "letter", "answer": "B"}], source="t")
    config = StubConfig(
        models=(
            StubModel("right", p_correct=1.0, output_tokens=12),
            StubModel("wrong", p_correct=0.0, output_tokens=12),
            StubModel(
                "slow", ttft_s=Jitter(0.2), output_tokens_per_s=Jitter(50.0), output_tokens=11
            ),
            StubModel("limited", p_429=1.0, retry_after_s=2.0),
            StubModel("broken", p_5xx=1.0),
            StubModel("cut", p_disconnect=1.0),
            StubModel("garbled", p_malformed=1.0),
            StubModel("small", context_window=50),
            StubModel("nousage", report_usage=False),
        ),
        seed=3,
        answers=key,
    )
    with StubServer(config) as server:
        yield server


def client(server, **kw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0, **kw)


async def collect(server, model: str, text: str, **kw):
    c = client(server)
    stream = await c.chat.completions.create(
        model=model,
        messages=user(text),
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    )
    return [chunk async for chunk in stream]


def test_stream_is_role_chunk_tokens_finish_chunk_then_usage_chunk(stub):
    chunks = run(collect(stub, "right", GSM8K_Q))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    tokens = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert len(tokens) == 12
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert usage.completion_tokens == 12
    expected_prompt = int(count_tokens([f"user: {GSM8K_Q}"]).iloc[0])  # the one convention
    assert usage.prompt_tokens == expected_prompt
    assert usage.total_tokens == expected_prompt + 12
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1
    assert "".join(tokens).endswith("The answer is 18.")


def test_raw_sse_ends_with_done_and_every_event_is_json(stub):
    body = {
        "model": "right",
        "messages": user("hi"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    r = httpx.post(f"{stub.base_url}/chat/completions", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    objs = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert {o["object"] for o in objs} == {"chat.completion.chunk"}
    assert "usage" in objs[-1] and objs[-1]["choices"] == []


def test_without_include_usage_no_usage_chunk_is_sent(stub):
    body = {"model": "right", "messages": user("hi"), "stream": True}
    r = httpx.post(f"{stub.base_url}/chat/completions", json=body)
    objs = [json.loads(e.removeprefix("data: ")) for e in r.text.split("\n\n")[:-2] if e]
    assert all("usage" not in o for o in objs)
    assert objs[-1]["choices"][0]["finish_reason"] == "stop"


def test_non_streaming_completion_carries_the_whole_answer_and_usage(stub):
    r = run(client(stub).chat.completions.create(model="wrong", messages=user(MMLU_Q)))
    assert r.object == "chat.completion"
    assert r.choices[0].message.content.endswith("The answer is A.")  # wrong: not B
    assert r.usage.completion_tokens == 12


def test_answers_are_right_with_p_correct_and_seeded(stub):
    right = run(client(stub).chat.completions.create(model="right", messages=user(MMLU_Q)))
    again = run(client(stub).chat.completions.create(model="right", messages=user(MMLU_Q)))
    assert right.choices[0].message.content.endswith("The answer is B.")
    assert right.choices[0].message.content == again.choices[0].message.content


def test_max_tokens_cuts_the_answer_with_finish_reason_length(stub):
    chunks = run(collect(stub, "right", "hi", max_tokens=5))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 5


def test_latency_follows_ttft_and_token_rate(stub):
    async def timed():
        c = client(stub)
        t0 = time.perf_counter()
        stream = await c.chat.completions.create(
            model="slow", messages=user("hi"), stream=True, stream_options={"include_usage": True}
        )
        first = None
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - t0
        return first, time.perf_counter() - t0

    ttft, e2e = run(timed())
    assert 0.2 <= ttft < 0.6
    assert 0.2 + 10 / 50 <= e2e < 1.0  # 10 intervals at 50 tokens/s after the first token


def test_models_lists_every_configured_model(stub):
    async def ids():
        return [m.id async for m in client(stub).models.list()]

    assert run(ids())[:3] == ["right", "wrong", "slow"]


def test_unknown_model_is_a_404_model_not_found(stub):
    with pytest.raises(openai.NotFoundError) as info:
        run(client(stub).chat.completions.create(model="gpt-9", messages=user("hi")))
    assert info.value.code == "model_not_found"
    assert "gpt-9" in str(info.value)


def test_429_carries_retry_after(stub):
    with pytest.raises(openai.RateLimitError) as info:
        run(client(stub).chat.completions.create(model="limited", messages=user("hi")))
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["retry-after-ms"] == "2000"


def test_5xx_is_an_internal_server_error(stub):
    with pytest.raises(openai.InternalServerError):
        run(client(stub).chat.completions.create(model="broken", messages=user("hi")))


def test_context_window_refuses_long_prompts_with_context_length_exceeded(stub):
    with pytest.raises(openai.BadRequestError) as info:
        run(client(stub).chat.completions.create(model="small", messages=user("x " * 60)))
    assert info.value.code == "context_length_exceeded"
    ok = run(client(stub).chat.completions.create(model="small", messages=user("hi"), max_tokens=8))
    assert ok.usage.completion_tokens == 8


def test_mid_stream_disconnect_raises_after_some_tokens(stub):
    got = []

    async def read():
        stream = await client(stub).chat.completions.create(
            model="cut", messages=user("hi"), stream=True
        )
        async for chunk in stream:
            got.append(chunk)

    with pytest.raises((httpx.RemoteProtocolError, openai.APIError)):
        run(read())
    assert 1 < len(got) < 18


def test_malformed_chunk_fails_the_client_parse(stub):
    with pytest.raises((json.JSONDecodeError, openai.APIError)):
        run(collect(stub, "garbled", "hi"))


def test_server_without_usage_sends_no_usage_chunk(stub):
    chunks = run(collect(stub, "nousage", "hi"))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stub_log_has_the_servers_timestamps_per_request_id(stub):
    r = run(client(stub).chat.completions.create(model="right", messages=user("log me")))
    log = httpx.get(stub.base_url.removesuffix("/v1") + "/stub/log").json()["requests"]
    entry = next(e for e in log if e["id"] == r.id)
    assert entry["received_ns"] <= entry["first_token_ns"] <= entry["end_ns"]


def test_api_key_is_required_when_configured():
    config = StubConfig(models=(StubModel("m"),), api_key="s3cret")
    with StubServer(config) as server:
        with pytest.raises(openai.AuthenticationError):
            run(client(server).chat.completions.create(model="m", messages=user("hi")))
        c = openai.AsyncOpenAI(base_url=server.base_url, api_key="s3cret")
        ok = run(c.chat.completions.create(model="m", messages=user("hi")))
        assert ok.choices[0].message.content


def test_subprocess_stub_serves_and_stops():
    config = StubConfig(models=(StubModel("p", p_correct=1.0),))
    with start_stub_process(config) as proc:
        r = httpx.get(f"{proc.base_url}/models").json()
        assert [m["id"] for m in r["data"]] == ["p"]
    assert proc.process.poll() is not None


@pytest.mark.parametrize("keep_log", [True, False])
def test_subprocess_stub_keeps_a_request_log_unless_told_not_to(keep_log):
    """A load test's stub (``--no-request-log``) answers as usual and logs nothing."""
    config = StubConfig(models=(StubModel("p", p_correct=1.0),))
    with start_stub_process(config, keep_log=keep_log) as proc:
        body = {"model": "p", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            r = httpx.post(f"{proc.base_url}/chat/completions", json=body)
            assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
        log = httpx.get(proc.base_url.removesuffix("/v1") + "/stub/log").json()["requests"]
    assert len(log) == (3 if keep_log else 0)


def test_shipped_key_knows_the_gsm8k_questions_of_the_shipped_trace():
    key = shipped_answer_key()
    assert len(key) == 1319
    assert key.lookup(text=GSM8K_Q).answer == "18"
    assert key.lookup(request_id="gsm8k/1").answer == "18"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"models": {"m": {"p_429": 1.5}}}, "key 'models.m.p_429': must be a probability"),
        ({"models": {"m": {"ttft": 1}}}, "key 'models.m.ttft': unknown setting"),
        ({"models": {"m": {"ttft_s": {"median": -1}}}}, "key 'models.m.ttft_s.median'"),
        ({"models": {"m": {"output_tokens": 0}}}, "key 'models.m.output_tokens'"),
        ({"models": {}}, "key 'models'"),
        ({"models": {"m": {}}, "port": 1}, "key 'port': unknown key"),
        (
            {"models": {"m": {}}, "api_key_env": "SIMKIT_TEST_UNSET_VAR"},
            "SIMKIT_TEST_UNSET_VAR is not set",
        ),
    ],
)
def test_bad_stub_config_names_the_key(data, message, monkeypatch):
    monkeypatch.delenv("SIMKIT_TEST_UNSET_VAR", raising=False)
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(".", r"\.")):
        config_from_dict(data)


def test_stub_yaml_with_answers_file(tmp_path):
    (tmp_path / "key.jsonl").write_text(
        json.dumps({"prompt": MMLU_Q, "kind": "letter", "answer": "c"}) + "\n"
    )
    (tmp_path / "stub.yaml").write_text(
        "seed: 1\nanswers: key.jsonl\nmodels:\n  m: {p_correct: 1}\n"
    )
    config = load_stub_config(tmp_path / "stub.yaml")
    assert config.answers.lookup(text=MMLU_Q).answer == "C"
    assert config.model("m").p_correct == 1.0


def test_bad_answer_key_line_is_named(tmp_path):
    from simkit.live.answers import load_answer_key

    (tmp_path / "k.jsonl").write_text(
        '{"prompt": "q", "kind": "letter", "answer": "B"}\n{"prompt": "q2", "kind": "letter", "answer": "BB"}\n'
    )
    with pytest.raises(SpecError, match=r"key 'record 2\.answer': expected one letter"):
        load_answer_key(tmp_path / "k.jsonl")


def test_cli_live_stub_serves_on_a_free_port_and_stops_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys

    (tmp_path / "stub.yaml").write_text("models:\n  cli-model: {}\n")
    cmd = [
        sys.executable,
        "-m",
        "simkit.cli",
        "live",
        "stub",
        "--port",
        "0",
        "--config",
        str(tmp_path / "stub.yaml"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("simkit stub listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        assert [m["id"] for m in httpx.get(f"{url}/models").json()["data"]] == ["cli-model"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_cli_live_stub_bad_config_exits_2_naming_the_key(tmp_path):
    import subprocess
    import sys

    (tmp_path / "stub.yaml").write_text("models:\n  m: {p_5xx: 2}\n")
    cmd = [
        sys.executable,
        "-m",
        "simkit.cli",
        "live",
        "stub",
        "--config",
        str(tmp_path / "stub.yaml"),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "key 'models.m.p_5xx': must be a probability in [0, 1], got 2" in r.stderr


def test_judge_prompts_get_a_rating_that_follows_the_judged_answer(stub):
    from simkit.live.graders import JudgeGrader

    judge = JudgeGrader(endpoint="right")
    scores = {}
    for verdict in ("I am sure.", "I am unsure."):
        got = []
        for i in range(12):
            msgs = judge.messages(f"question {i}", f"Some reasoning {i}. {verdict}")
            r = run(client(stub).chat.completions.create(model="right", messages=msgs))
            got.append(judge.parse(r.choices[0].message.content).raw_score)
        scores[verdict] = got
    assert all(6 <= s <= 10 for s in scores["I am sure."])
    assert all(1 <= s <= 5 for s in scores["I am unsure."])


def test_unkeyed_questions_end_sure_with_p_correct(stub):
    right = run(client(stub).chat.completions.create(model="right", messages=user("Why?")))
    wrong = run(client(stub).chat.completions.create(model="wrong", messages=user("Why?")))
    assert right.choices[0].message.content.endswith("I am sure.")
    assert wrong.choices[0].message.content.endswith("I am unsure.")


def test_importing_the_live_modules_loads_no_client_or_server_stack():
    import subprocess
    import sys

    code = (
        "import sys, simkit.live.record, simkit.live.stub, simkit.live.calibrate;"
        "heavy = [m for m in ('openai', 'uvicorn', 'starlette', 'aiohttp') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
