"""A small real trace (GSM8K and MMLU prompts of the shipped ``routellm_azure`` trace) and a
loopback stub serving several models, for the recorder tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simkit.fleet.spec import Jitter
from simkit.live.answers import AnswerKey
from simkit.live.endpoints import endpoints_from_dict
from simkit.live.stub import StubConfig, StubModel, StubServer
from simkit.trace import Trace, load_trace

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def small_trace() -> Trace:
    """20 GSM8K and 20 MMLU requests of the shipped trace (first by arrival), with outcomes."""
    full = load_trace(REPO / "traces" / "routellm_azure")
    src = full.requests["source"].to_numpy()
    keep = np.zeros(full.n_requests, dtype=bool)
    for name in ("gsm8k", "mmlu"):
        keep[np.flatnonzero(src == name)[:20]] = True
    return full.subset(keep)


@pytest.fixture(scope="session")
def mmlu_key(small_trace) -> AnswerKey:
    """A letter for every MMLU prompt of the small trace (the shared data has no gold letters,
    so the test supplies them: A, B, C, D in turn)."""
    req = small_trace.requests[small_trace.requests["source"] == "mmlu"]
    records = [
        {"request_id": rid, "prompt": p, "kind": "letter", "answer": "ABCD"[i % 4]}
        for i, (rid, p) in enumerate(zip(req["request_id"], req["prompt"], strict=True))
    ]
    return AnswerKey.from_records(records, source="test key")


STUB_MODELS = (
    StubModel("oracle", p_correct=1.0),
    StubModel("dunce", p_correct=0.0),
    StubModel("gpt-4o", p_correct=0.8, ttft_s=Jitter(0.01, 0.2)),
    StubModel("judge", output_tokens=20),
    StubModel("flaky", p_429=0.5, retry_after_s=0.05),
    StubModel("always429", p_429=1.0, retry_after_s=0.05),
    StubModel("cut", p_disconnect=1.0),
    StubModel("garbled", p_malformed=1.0),
    StubModel("tiny", context_window=200),
    StubModel("nousage", report_usage=False),
)


@pytest.fixture(scope="session")
def stub(mmlu_key):
    config = StubConfig(models=STUB_MODELS, seed=7, answers=mmlu_key)
    with StubServer(config) as server:
        yield server


def stub_endpoints(base_url: str, **overrides: dict) -> dict:
    """Endpoint settings for every stub model (priced $1/$2 per 1M unless overridden)."""
    body = {}
    for m in STUB_MODELS:
        body[m.name] = {
            "base_url": base_url,
            "model": m.name,
            "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
            "max_concurrency": 8,
            "max_output_tokens": 64,
            "max_retries": 2,
        }
        body[m.name].update(overrides.get(m.name, {}))
    return {"endpoints": body}


@pytest.fixture
def endpoints(stub):
    return endpoints_from_dict(stub_endpoints(stub.base_url))


def stub_log(server) -> list[dict]:
    import httpx

    return httpx.get(server.base_url.removesuffix("/v1") + "/stub/log").json()["requests"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
