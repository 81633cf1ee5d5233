"""The decision log closes the loop: traffic through the gateway reads back as a trace that
``simkit trace inspect`` and ``simkit replay`` take after one ``simkit trace convert`` step."""

from __future__ import annotations

import hashlib
import json

import httpx
import numpy as np
import pytest

from simkit import simulate
from simkit.cli import main
from simkit.errors import TraceError
from simkit.fleet import load_fleet
from simkit.gateway import DecisionLog
from simkit.live.stub import StubConfig, StubModel, StubServer
from simkit.policies import ThresholdPolicy
from simkit.trace import convert, load_trace
from tests.gateway.conftest import AUTH, MODELS, TIERS, running_gateway, three_tier_config

FLEET = """
name: gateway-upstreams
tiers:
  small: {kind: api, model: small-model, price: {input_usd_per_mtok: 1, output_usd_per_mtok: 2},
          ttft_s: 0.1, output_tokens_per_s: 100, quality_model: small-model, private: true}
  mid: {kind: api, model: mid-model, price: {input_usd_per_mtok: 1, output_usd_per_mtok: 2},
        ttft_s: 0.1, output_tokens_per_s: 100, quality_model: mid-model}
  frontier: {kind: api, model: big-model, price: {input_usd_per_mtok: 1, output_usd_per_mtok: 2},
             ttft_s: 0.1, output_tokens_per_s: 100, quality_model: big-model}
"""


def _traffic(bundle3, prompts, log_path, **config):
    stub = StubConfig(models=tuple(StubModel(MODELS[t]) for t in TIERS))
    with StubServer(stub) as server:
        with running_gateway(bundle3, three_tier_config(server.base_url, **config), log_path) as (
            gw,
            router,
        ):
            with httpx.Client(base_url=gw.base_url, headers=AUTH, timeout=30) as c:
                for i, p in enumerate(prompts):
                    body = {"model": "router", "messages": [{"role": "user", "content": p}],
                            "max_tokens": 64 + i, "stream": i % 5 == 0}  # fmt: skip
                    tags = {"x-simkit-tags": "sensitive"} if i % 7 == 3 else {}
                    r = c.post("/chat/completions", json=body, headers=tags)
                    assert r.status_code == 200
    return router


def test_gateway_traffic_replays_from_its_decision_log(bundle3, arena_prompts, tmp_path, capsys):
    prompts = arena_prompts[:30]
    log_path = tmp_path / "decisions.jsonl"
    router = _traffic(bundle3, prompts, log_path)
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(logged) == 30

    out = tmp_path / "gw_trace"
    assert main(["trace", "convert", str(log_path), str(out), "--format", "gateway-log"]) == 0
    capsys.readouterr()
    assert main(["trace", "inspect", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_requests"] == 30
    (tmp_path / "fleet.yaml").write_text(FLEET)
    cut = router.bundle.manifest["thresholds"]["three"]["cutoffs"]
    policy = f"threshold:p_hard={cut['frontier']!r}/{cut['mid']!r}"
    args = ["replay", "--trace", str(out), "--fleet", str(tmp_path / "fleet.yaml"),
            "--policy", policy, "--json", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["n_requests"] == 30

    trace = load_trace(out)
    by_id = {r["request_id"]: r for r in logged}
    req = trace.requests
    assert list(req["request_id"]) == sorted(by_id, key=lambda k: by_id[k]["time"])
    assert req["prompt"].isna().all()  # text off by default: only its hash is kept
    assert list(req["prompt_sha256"]) == [by_id[i]["prompt_sha256"] for i in req["request_id"]]
    assert list(req["max_tokens"]) == [by_id[i]["max_tokens"] for i in req["request_id"]]
    assert list(req["tags"]) == [",".join(by_id[i]["tags"]) for i in req["request_id"]]
    assert np.allclose(trace.scores["p_hard"], [by_id[i]["p_hard"] for i in req["request_id"]])
    out_rows = trace.outcomes.set_index("request_id").loc[req["request_id"]]
    assert list(out_rows["model"]) == [by_id[i]["model"] for i in req["request_id"]]
    assert list(out_rows["output_tokens"]) == [by_id[i]["output_tokens"] for i in req["request_id"]]

    # replaying the bundle's own threshold policy sends each request where the gateway did
    # (sensitive requests aside: the gateway kept those private, as a privacy policy would)
    records = simulate(trace, load_fleet(tmp_path / "fleet.yaml"), ThresholdPolicy(cut), seed=0)
    sim = records.requests.set_index("request_id")["tier"]
    plain = [i for i in req["request_id"] if not by_id[i]["tags"]]
    assert [sim[i] for i in plain] == [by_id[i]["tier"] for i in plain]
    assert {by_id[i]["tier"] for i in req["request_id"] if by_id[i]["tags"]} == {"small"}


def test_the_prompt_text_is_logged_only_when_configured(bundle3, arena_prompts, tmp_path):
    log_path = tmp_path / "d.jsonl"
    _traffic(bundle3, arena_prompts[:3], log_path, decision_log={"prompt": "text"})
    trace = convert(log_path, "gateway-log")
    # the text the bundle scored (simkit.trace.messages.messages_to_text), as an OpenAI log
    # converted with --format openai-log would hold it
    assert sorted(trace.requests["prompt"]) == sorted(arena_prompts[:3])
    sha = [hashlib.sha256(t.encode()).hexdigest() for t in trace.requests["prompt"]]
    assert list(trace.requests["prompt_sha256"]) == sha
    _traffic(bundle3, arena_prompts[:3], tmp_path / "n.jsonl", decision_log={"prompt": "none"})
    lines = [json.loads(x) for x in (tmp_path / "n.jsonl").read_text().splitlines()]
    assert [(r["prompt_sha256"], "prompt" in r) for r in lines] == [(None, False)] * 3


def _record(rid: str, t: float, **extra) -> dict:
    return {"v": 1, "request_id": rid, "time": t, "tier": "small", "model": "small-model",
            "p_hard": 0.1, "status": "completed", "tags": [], "attempts": [],
            "prompt_tokens": 5, "output_tokens": 3, "latency_s": 0.2, "ttft_s": 0.1,
            "cost_usd": 1e-5, **extra}  # fmt: skip


def test_a_line_cut_short_by_a_crash_is_ended_and_the_loader_names_it(tmp_path, caplog):
    path = tmp_path / "d.jsonl"
    log = DecisionLog(path).open()
    log.append(_record("a", 100.0))
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"v": 1, "request_id": "b", "ti')  # the process died mid-write
    log = DecisionLog(path).open()
    log.append(_record("c", 101.0))
    log.close()
    assert "last line was cut short" in caplog.text
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["request_id"] == "c"
    with pytest.raises(TraceError, match=r"d\.jsonl, line 2: invalid JSON"):
        convert(path, "gateway-log")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_record("a", 1.0, v=2), r"line 2, column 'v': expected a simkit gateway decision "
         r"record of version 1, got v=2"),
        (_record("first", 1.0), r"line 2, column 'request_id': duplicate request id 'first' "
         r"\(first on line 1\)"),
        (_record("a", 1.0, status="done"), r"line 2, column 'status': expected one of "
         r"completed, failed, cancelled, got 'done'"),
        (_record("a", 1.0, output_tokens=-3), r"line 2, column 'output_tokens': expected a "
         r"count >= 0, got -3"),
        (_record("a", 1.0, p_hard=1.5), r"line 2, column 'p_hard': expected a number in "
         r"\[0, 1\], got 1.5"),
    ],
)  # fmt: skip
def test_bad_decision_records_are_refused_naming_line_and_key(tmp_path, line, message):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_record("first", 0.5)) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(TraceError, match=message):
        convert(path, "gateway-log")


def test_failed_requests_keep_their_row_without_an_outcome(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [_record("ok", 10.5), _record("gone", 10.0, status="cancelled", output_tokens=None),
            _record("bad", 11.0, status="failed", fail_reason="error", p_hard=None)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    trace = convert(path, "gateway-log")
    assert list(trace.requests["request_id"]) == ["gone", "ok", "bad"]  # by arrival
    assert list(trace.requests["arrival_s"]) == [0.0, 0.5, 1.0]
    assert list(trace.outcomes["request_id"]) == ["ok"]
    assert trace.scores is None  # one request has no p_hard: scores stay a request column
    assert np.isnan(trace.requests["gateway_p_hard"].iloc[2])
    assert trace.meta["gateway"] == {
        "completed": 1, "failed": 1, "cancelled": 1, "scores": "column gateway_p_hard"
    }  # fmt: skip
