"""The gateway over HTTP: a three-tier bundle decides, the loopback stub answers as upstream.

Each test starts the stub (the project's OpenAI-compatible loopback server) with the faults it
needs and a gateway in front of it, both on 127.0.0.1, and sends real HTTP requests.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
import pytest

from simkit.fleet.spec import Jitter
from simkit.live.stub import StubConfig, StubModel, StubServer
from tests.gateway.conftest import (
    AUTH,
    KEY,
    MODELS,
    TIERS,
    running_gateway,
    three_tier_config,
)


def stub_models(**overrides: dict) -> StubConfig:
    """The three upstream models, each with optional StubModel settings."""
    return StubConfig(models=tuple(StubModel(MODELS[t], **overrides.get(t, {})) for t in TIERS))


def expected_tier(router, prompt: str) -> str:
    """The tier the bundle's three-tier threshold gives ``prompt`` (computed here, not asked)."""
    cut = router.bundle.manifest["thresholds"]["three"]["cutoffs"]
    p = router.score(prompt)
    return "frontier" if p >= cut["frontier"] else "mid" if p >= cut["mid"] else "small"


def chat(client: httpx.Client, prompt: str, **body) -> httpx.Response:
    return client.post(
        "/chat/completions",
        json={"model": "router", "messages": [{"role": "user", "content": prompt}], **body},
    )


def stub_log(stub: StubServer) -> list[dict]:
    return httpx.get(stub.base_url.removesuffix("/v1") + "/stub/log").json()["requests"]


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait_for_lines(path, n: int, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return read_log(path)
        time.sleep(0.02)
    raise AssertionError(f"the decision log did not reach {n} lines")


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def prompts(arena_prompts) -> list[str]:
    return arena_prompts[:60]


def test_each_request_goes_to_the_upstream_of_the_tier_the_threshold_policy_picks(
    bundle3, prompts, tmp_path
):
    with StubServer(stub_models()) as stub:
        config = three_tier_config(stub.base_url)
        with running_gateway(bundle3, config, tmp_path / "log.jsonl") as (gw, router):
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                answers = [chat(c, p) for p in prompts[:30]]
        upstream = stub_log(stub)
    expected = [expected_tier(router, p) for p in prompts[:30]]
    assert set(expected) == set(TIERS)  # the cut-offs split these prompts three ways
    assert [r.status_code for r in answers] == [200] * 30
    assert [r.headers["x-simkit-tier"] for r in answers] == expected
    assert [r.headers["x-simkit-model"] for r in answers] == [MODELS[t] for t in expected]
    assert [r.json()["model"] for r in answers] == [MODELS[t] for t in expected]
    assert [e["model"] for e in upstream] == [MODELS[t] for t in expected]
    p_hard = [float(r.headers["x-simkit-p-hard"]) for r in answers]
    assert p_hard == pytest.approx([router.score(p) for p in prompts[:30]], abs=1e-6)
    log = read_log(tmp_path / "log.jsonl")
    assert [(r["tier"], r["status"], r["routed"]) for r in log] == [
        (t, "completed", True) for t in expected
    ]
    assert all("prompt" not in r and len(r["prompt_sha256"]) == 64 for r in log)


def test_sensitive_requests_stay_on_the_private_tier_by_header_or_metadata(bundle3, prompts):
    with StubServer(stub_models()) as stub:
        config = three_tier_config(stub.base_url, unknown_models="passthrough")
        with running_gateway(bundle3, config) as (gw, router):
            hard = [p for p in prompts if expected_tier(router, p) == "frontier"][:4]
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                by_header = [
                    c.post(
                        "/chat/completions",
                        headers={"x-simkit-tags": "team-a, sensitive"},
                        json={"model": "router", "messages": [{"role": "user", "content": p}]},
                    )
                    for p in hard[:2]
                ]
                by_metadata = [chat(c, p, metadata={"tags": ["sensitive"]}) for p in hard[2:]]
                untagged = chat(c, hard[0])
                public_by_name = c.post(
                    "/chat/completions",
                    headers={"x-simkit-tags": "sensitive"},
                    json={"model": "big-model", "messages": [{"role": "user", "content": "x"}]},
                )
    assert len(hard) == 4
    assert [r.headers["x-simkit-tier"] for r in by_header + by_metadata] == ["small"] * 4
    assert untagged.headers["x-simkit-tier"] == "frontier"
    assert public_by_name.status_code == 403
    err = public_by_name.json()["error"]
    assert err["code"] == "sensitive_to_public_model" and "'frontier'" in err["message"]


def test_a_429_falls_back_to_the_next_tier_and_its_retry_after_keeps_requests_away(
    bundle3, prompts, tmp_path
):
    stub_cfg = stub_models(frontier={"p_429": 1.0, "retry_after_s": 30.0})
    with StubServer(stub_cfg) as stub:
        with running_gateway(bundle3, three_tier_config(stub.base_url), tmp_path / "l.jsonl") as (
            gw,
            router,
        ):
            hard = [p for p in prompts if expected_tier(router, p) == "frontier"][:3]
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                answers = [chat(c, p) for p in hard]
            metrics = httpx.get(gw.base_url.removesuffix("/v1") + "/metrics").text
        upstream = stub_log(stub)
    assert [r.status_code for r in answers] == [200, 200, 200]  # no client-visible error
    assert [r.headers["x-simkit-tier"] for r in answers] == ["mid"] * 3
    assert [r.headers["x-simkit-fallbacks"] for r in answers] == ["1"] * 3
    # only the first request reached the rate-limited upstream: the others waited out its
    # retry-after elsewhere instead of asking again
    assert [e["model"] for e in upstream] == ["big-model", "mid-model", "mid-model", "mid-model"]
    log = read_log(tmp_path / "l.jsonl")
    assert log[0]["attempts"] == [
        {"tier": "frontier", "outcome": "rate_limited", "retry_after_s": 30.0, "http_status": 429},
        {"tier": "mid", "outcome": "completed"},
    ]
    assert log[1]["attempts"][0]["tier"] == "frontier"
    assert log[1]["attempts"][0]["outcome"] == "rate_limited"
    assert 29.0 < log[1]["attempts"][0]["retry_after_s"] <= 30.0
    assert 'simkit_gateway_rate_limited_total{tier="frontier"} 1.0' in metrics
    assert 'simkit_gateway_requests_total{status="completed",tier="mid"} 3.0' in metrics


def test_errors_and_a_down_upstream_fall_back_and_with_no_tier_left_give_502(bundle3, prompts):
    down = f"http://127.0.0.1:{closed_port()}/v1"
    with StubServer(stub_models(mid={"p_5xx": 1.0})) as stub:
        config = three_tier_config(stub.base_url, upstreams={"frontier": {"base_url": down}})
        with running_gateway(bundle3, config) as (gw, router):
            hard = next(p for p in prompts if expected_tier(router, p) == "frontier")
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                answered = chat(c, hard)
        all_down = three_tier_config(
            stub.base_url, upstreams={t: {"base_url": down} for t in TIERS}
        )
        with running_gateway(bundle3, all_down) as (gw, _):
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                refused = chat(c, hard)
    assert answered.status_code == 200
    assert answered.headers["x-simkit-tier"] == "small"  # frontier down, mid 500, then small
    assert answered.headers["x-simkit-fallbacks"] == "2"
    assert refused.status_code == 502
    err = refused.json()["error"]
    assert err["code"] == "upstream_unavailable"
    assert "tier 'frontier': error" in err["message"] and "tier 'small': error" in err["message"]


def test_an_upstream_slower_than_its_timeout_falls_back(bundle3, prompts, tmp_path):
    with StubServer(stub_models(frontier={"ttft_s": Jitter(3.0)})) as stub:
        config = three_tier_config(stub.base_url, upstreams={"frontier": {"timeout_s": 0.3}})
        with running_gateway(bundle3, config, tmp_path / "l.jsonl") as (gw, router):
            hard = next(p for p in prompts if expected_tier(router, p) == "frontier")
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                r = chat(c, hard)
    assert (r.status_code, r.headers["x-simkit-tier"]) == (200, "mid")
    (record,) = read_log(tmp_path / "l.jsonl")
    assert record["attempts"] == [
        {"tier": "frontier", "outcome": "timeout"},
        {"tier": "mid", "outcome": "completed"},
    ]


def test_fallback_only_on_the_configured_failures(bundle3, prompts):
    with StubServer(stub_models(frontier={"p_5xx": 1.0})) as stub:
        config = three_tier_config(stub.base_url, fallback={"on": ["rate_limited"]})
        with running_gateway(bundle3, config) as (gw, router):
            hard = next(p for p in prompts if expected_tier(router, p) == "frontier")
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                r = chat(c, hard)
    assert r.status_code == 502
    assert r.json()["error"]["message"] == "No upstream answered (tier 'frontier': error)."


def test_spillover_leaves_a_tier_whose_slots_are_taken(bundle3, prompts):
    slow = {"ttft_s": Jitter(0.0), "output_tokens_per_s": Jitter(10.0), "output_tokens": 10}
    with StubServer(stub_models(frontier=slow)) as stub:
        config = three_tier_config(
            stub.base_url,
            spillover={"min_headroom": 0.5},
            upstreams={"frontier": {"max_concurrency": 1}},
        )
        with running_gateway(bundle3, config) as (gw, router):
            hard = [p for p in prompts if expected_tier(router, p) == "frontier"][:2]
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                body = {"model": "router", "stream": True,
                        "messages": [{"role": "user", "content": hard[0]}]}  # fmt: skip
                with c.stream("POST", "/chat/completions", json=body) as first:
                    lines = first.iter_lines()
                    next(lines)  # the slow stream holds frontier's only slot
                    during = chat(c, hard[1])
                    list(lines)
                after = chat(c, hard[1])
    assert first.headers["x-simkit-tier"] == "frontier"
    assert during.headers["x-simkit-tier"] == "small"  # spilled over (fleet order, wrapping)
    assert after.headers["x-simkit-tier"] == "frontier"


def test_streams_pass_through_event_by_event_the_first_before_the_upstream_ends(
    bundle3, prompts, tmp_path
):
    slow = {"output_tokens_per_s": Jitter(20.0), "output_tokens": 12}
    with StubServer(stub_models(small=slow, mid=slow, frontier=slow)) as stub:
        with running_gateway(bundle3, three_tier_config(stub.base_url), tmp_path / "l.jsonl") as (
            gw,
            router,
        ):
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                body = {"model": "router", "stream": True,
                        "messages": [{"role": "user", "content": prompts[0]}]}  # fmt: skip
                first_ns = None
                with c.stream("POST", "/chat/completions", json=body) as r:
                    events = []
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            first_ns = first_ns or time.time_ns()
                            events.append(line[6:])
                asked = {**body, "stream_options": {"include_usage": True}}
                with c.stream("POST", "/chat/completions", json=asked) as r2:
                    events2 = [ln[6:] for ln in r2.iter_lines() if ln.startswith("data: ")]
        upstream = stub_log(stub)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-simkit-tier"] == expected_tier(router, prompts[0])
    assert first_ns < upstream[0]["end_ns"]  # the first event came before the upstream's last
    chunks = [json.loads(e) for e in events[:-1]]
    assert events[-1] == "[DONE]"
    text = "".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks)
    assert len(chunks) == 1 + 12 + 1 and text  # role, 12 tokens, finish; no usage chunk
    assert all(ch["choices"] for ch in chunks)
    usage = json.loads(events2[-2])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 12
    log = read_log(tmp_path / "l.jsonl")
    assert [(r["stream"], r["output_tokens"], r["status"]) for r in log] == [
        (True, 12, "completed"), (True, 12, "completed")
    ]  # fmt: skip
    assert 0 < log[0]["ttft_s"] < log[0]["latency_s"]


def test_the_openai_client_streams_through_the_gateway(bundle3, prompts):
    with StubServer(stub_models()) as stub:
        with running_gateway(bundle3, three_tier_config(stub.base_url)) as (gw, router):
            client = openai.OpenAI(base_url=gw.base_url, api_key=KEY)
            stream = client.chat.completions.create(
                model="router", messages=[{"role": "user", "content": prompts[1]}], stream=True
            )
            text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
            whole = client.chat.completions.create(
                model="router", messages=[{"role": "user", "content": prompts[1]}]
            )
    assert text and text == whole.choices[0].message.content
    assert whole.model == MODELS[expected_tier(router, prompts[1])]


def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_request_and_is_logged(
    bundle3, prompts, tmp_path
):
    slow = {"output_tokens_per_s": Jitter(5.0), "output_tokens": 40}  # an 8-second answer
    with StubServer(stub_models(small=slow, mid=slow, frontier=slow)) as stub:
        connections = stub._server.server_state.connections  # the stub's open connections
        log_path = tmp_path / "l.jsonl"
        with running_gateway(bundle3, three_tier_config(stub.base_url), log_path) as (gw, _):
            body = {"model": "router", "stream": True,
                    "messages": [{"role": "user", "content": prompts[2]}]}  # fmt: skip
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                with c.stream("POST", "/chat/completions", json=body) as r:
                    next(r.iter_lines())  # one event, then hang up
                    opened = time.monotonic() + 5.0  # the stub's thread registers it a bit later
                    while not connections and time.monotonic() < opened:
                        time.sleep(0.01)
                    assert connections  # the gateway's request to the upstream is open
            (record,) = wait_for_lines(log_path, 1)
            deadline = time.monotonic() + 5.0
            while connections and time.monotonic() < deadline:
                time.sleep(0.01)
            closed_ns = time.time_ns()
            assert not connections  # the gateway closed its upstream connection
        upstream = stub_log(stub)
    assert (record["status"], record["fail_reason"]) == ("cancelled", "client_disconnected")
    assert closed_ns < upstream[0]["received_ns"] + 6_000_000_000  # long before the answer's end


def test_an_invalid_event_from_the_upstream_ends_the_stream_with_an_error_event(
    bundle3, prompts, tmp_path
):
    with StubServer(stub_models(**{t: {"p_malformed": 1.0} for t in TIERS})) as stub:
        log_path = tmp_path / "l.jsonl"
        with running_gateway(bundle3, three_tier_config(stub.base_url), log_path) as (gw, _):
            body = {"model": "router", "stream": True,
                    "messages": [{"role": "user", "content": prompts[3]}]}  # fmt: skip
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                with c.stream("POST", "/chat/completions", json=body) as r:
                    events = [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]
            (record,) = wait_for_lines(log_path, 1)
    last = json.loads(events[-1])
    assert last["error"]["code"] == "invalid_upstream_stream"
    assert "data is not JSON" in last["error"]["message"]
    assert all("choices" in json.loads(e) for e in events[:-1])  # the valid part came through
    assert (record["status"], record["fail_reason"]) == ("failed", "invalid_sse")


@pytest.mark.parametrize(
    ("send", "status", "code", "message"),
    [
        (dict(content=b'{"model": "router", "messages": [', headers=AUTH), 400, "invalid_json",
         "The request body is not valid JSON"),
        (dict(json={"model": "router"}, headers=AUTH), 400, "missing_messages",
         "'messages' is required"),
        (dict(json={"model": "router", "messages": "hi"}, headers=AUTH), 400, "invalid_messages",
         "'messages' is required"),
        (dict(json={"model": "gpt-5", "messages": [{"role": "user", "content": "x"}]},
              headers=AUTH), 404, "model_not_found", "The model 'gpt-5' does not exist"),
        (dict(json={"model": "router", "messages": [{"role": "user", "content": "x" * 5000}]},
              headers=AUTH), 413, "request_too_large", "Request body exceeds the gateway's limit of 4000 bytes"),
        (dict(json={"model": "router", "messages": [{"role": "user", "content": "x"}]}),
         401, "invalid_api_key", "Missing or invalid API key"),
        (dict(json={"model": "router", "messages": [{"role": "user", "content": "x"}]},
              headers={"authorization": "Bearer sk-wrong"}), 401, "invalid_api_key",
         "Missing or invalid API key"),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_style_errors(bundle3, send, status, code, message):
    with StubServer(stub_models()) as stub:
        with running_gateway(bundle3, three_tier_config(stub.base_url, max_body_bytes=4000)) as (
            gw,
            _,
        ):
            r = httpx.post(gw.base_url + "/chat/completions", timeout=30, **send)
        upstream = stub_log(stub)
    assert r.status_code == status
    err = r.json()["error"]
    assert err["code"] == code and err["message"].startswith(message)
    assert set(err) == {"message", "type", "param", "code"}
    assert upstream == []  # nothing reached an upstream


def test_models_health_and_metrics(bundle3, prompts):
    with StubServer(stub_models()) as stub:
        config = three_tier_config(stub.base_url, alias="auto", unknown_models="passthrough")
        with running_gateway(bundle3, config) as (gw, router):
            root = gw.base_url.removesuffix("/v1")
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                models = c.get("/models").json()
                c.post("/chat/completions", json={"model": "auto",
                       "messages": [{"role": "user", "content": prompts[0]}]})  # fmt: skip
                passed = c.post("/chat/completions", json={"model": "mid-model",
                                "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
            health = httpx.get(root + "/healthz")
            unauth = httpx.get(gw.base_url + "/models")
            metrics = httpx.get(root + "/metrics").text
    assert [m["id"] for m in models["data"]] == ["auto", "small-model", "mid-model", "big-model"]
    assert health.json() == {"status": "ok"} and unauth.status_code == 401
    assert passed.status_code == 200 and passed.headers["x-simkit-tier"] == "mid"
    tier = expected_tier(router, prompts[0])
    assert f'simkit_gateway_requests_total{{status="completed",tier="{tier}"}}' in metrics
    assert "simkit_gateway_decision_seconds_count 2.0" in metrics
    assert 'simkit_gateway_spend_usd_total{tier="mid"}' in metrics
    assert 'simkit_gateway_e2e_seconds_count{tier="mid"}' in metrics


def test_a_transformer_bundle_scores_concurrent_requests_in_batches(
    tmp_path, tiny_model, small_trace, monkeypatch
):
    """A sentence-transformers bundle (the tiny local BERT): concurrent decisions are scored
    together in the embedder, and each request still goes where the bundle sends it."""
    import asyncio

    from simkit.classify.embed import SentenceEmbedder
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.train import train_bundle

    est = ComplexityClassifier(SentenceEmbedder(str(tiny_model), cache_dir=False), cv=3)
    bundle = train_bundle(small_trace, tmp_path / "st", estimator=est).path
    monkeypatch.chdir(tiny_model.parent)  # the bundle names its embedder by folder name
    prompts = [str(p) for p in small_trace.requests["prompt"][:24]]
    stub = StubConfig(models=(StubModel("small-model"), StubModel("big-model")))
    with StubServer(stub) as server:
        config = three_tier_config(server.base_url)
        config["upstreams"] = {
            "cheap": {**config["upstreams"]["small"]},
            "strong": {**config["upstreams"]["frontier"]},
        }
        config["threshold"] = 0.5
        with running_gateway(bundle, config) as (gw, router):

            async def send() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=gw.base_url, headers=AUTH, timeout=60) as c:
                    return await asyncio.gather(*(
                        c.post("/chat/completions", json={"model": "router",
                               "messages": [{"role": "user", "content": p}]})
                        for p in prompts
                    ))  # fmt: skip

            answers = asyncio.run(send())
            batches = gw.app.state.gateway.scorer.batches
    assert [r.status_code for r in answers] == [200] * len(prompts)
    assert [r.headers["x-simkit-tier"] for r in answers] == [router.decide(p).tier for p in prompts]
    assert sum(batches) == len(prompts)
    assert max(batches) > 1  # requests that arrived together were scored together
