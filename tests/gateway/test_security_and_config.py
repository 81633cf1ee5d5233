"""Keys, logs and startup: what never reaches a log, and what stops the gateway from starting."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys

import httpx
import pytest

from simkit.errors import BundleError, SpecError
from simkit.gateway import hash_api_key, load_gateway_config
from simkit.gateway.auth import KeyChecker, new_api_key
from simkit.gateway.server import build
from simkit.live.stub import StubConfig, StubModel, StubServer
from tests.gateway.conftest import (
    AUTH,
    DEFAULT_BUNDLE,
    KEY,
    MODELS,
    TIERS,
    running_gateway,
    three_tier_config,
    upstream,
)

UPSTREAM_KEY = "sk-upstream-secret-5d1c7e"


@pytest.fixture()
def every_log_line(caplog):
    """Every log record of every logger (uvicorn's access and error logs do not propagate to
    the root logger, so they are captured at their own loggers too)."""
    names = ["uvicorn", "uvicorn.access", "uvicorn.error", "simkit", "simkit.gateway"]
    loggers = [logging.getLogger(n) for n in names]
    for lg in loggers:
        lg.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for lg in loggers:
        lg.removeHandler(caplog.handler)


def test_no_key_prompt_or_answer_reaches_any_log_line(
    bundle3, arena_prompts, tmp_path, monkeypatch, every_log_line, capfd
):
    monkeypatch.setenv("SIMKIT_TEST_UPSTREAM_KEY", UPSTREAM_KEY)
    stub = StubConfig(models=tuple(StubModel(MODELS[t]) for t in TIERS), api_key=UPSTREAM_KEY)
    prompts = arena_prompts[:4]
    answers = []
    with StubServer(stub, log_level="debug") as server:
        config = three_tier_config(
            server.base_url,
            upstreams={t: {"api_key_env": "SIMKIT_TEST_UPSTREAM_KEY"} for t in TIERS},
        )
        log_path = tmp_path / "decisions.jsonl"
        with running_gateway(bundle3, config, log_path, log_level="debug") as (gw, _):
            with httpx.Client(base_url=gw.base_url, timeout=30) as c:
                for i, p in enumerate(prompts):
                    body = {"model": "router", "stream": i % 2 == 1,
                            "messages": [{"role": "user", "content": p}]}  # fmt: skip
                    r = c.post("/chat/completions", json=body, headers=AUTH)
                    assert r.status_code == 200  # the upstream key went through
                    answers.append(r.text)
                bad = c.post("/chat/completions", json=body,
                             headers={"authorization": f"Bearer {KEY}x"})  # fmt: skip
                assert bad.status_code == 401
    captured = capfd.readouterr()
    lines = [every_log_line.text, captured.out, captured.err]
    assert "POST /v1/chat/completions" in "".join(lines)  # the access log was captured
    contents = [a for a in answers if a]
    secrets = [KEY, UPSTREAM_KEY, *prompts, *[p[:40] for p in prompts]]
    for text in lines:
        for secret in secrets:
            assert secret not in text
    answer_text = httpx.Response(200, content=answers[0]).json()["choices"][0]["message"]["content"]
    assert answer_text and all(answer_text not in t for t in lines)
    decisions = log_path.read_text()
    assert all(s not in decisions for s in [KEY, UPSTREAM_KEY, answer_text, *prompts])
    assert contents


def test_keys_are_stored_hashed_and_checked_against_every_hash():
    key = new_api_key()
    assert key.startswith("sk-simkit-") and len(key) > 50
    checker = KeyChecker(tuple(bytes.fromhex(hash_api_key(k)[7:]) for k in ("other", key)))
    assert checker.check(f"Bearer {key}") and checker.check(f"bearer {key}")
    assert not checker.check(f"Bearer {key[:-1]}")
    assert not checker.check(key) and not checker.check(None) and not checker.check("Basic x")


def config_error(config: dict, tiers=TIERS) -> str:
    with pytest.raises(SpecError) as info:
        load_gateway_config(config, bundle_tiers=tiers)
    return str(info.value)


def test_config_errors_name_the_key_and_what_was_expected(monkeypatch):
    url = "http://127.0.0.1:9/v1"
    base = three_tier_config(url)
    monkeypatch.delenv("SIMKIT_TEST_UNSET", raising=False)
    assert config_error(
        {**base, "upstreams": {**base["upstreams"], "gpu": upstream(url, "m")}}
    ) == (
        "<gateway config>, key 'upstreams.gpu': the bundle has no tier 'gpu'; its tiers: "
        "small, mid, frontier"
    )
    ups = dict(base["upstreams"])
    del ups["mid"]
    assert "no upstream for the bundle's tier 'mid'" in config_error({**base, "upstreams": ups})
    assert config_error({**base, "api_keys": [KEY]}) == (
        "<gateway config>, key 'api_keys[0]': expected 'sha256:' and 64 hex digits (the value "
        "is not shown). store the key's hash, never the key: simkit gateway hash-key"
    )
    env = three_tier_config(url, upstreams={"mid": {"api_key_env": "SIMKIT_TEST_UNSET"}})
    assert config_error(env) == (
        "<gateway config>, key 'upstreams.mid.api_key_env': the environment variable "
        "'SIMKIT_TEST_UNSET' is not set. export it before starting the gateway; keys are never "
        "read from the file"
    )
    bad = three_tier_config(url, upstreams={"frontier": {"timeout_s": -1}})
    assert "key 'upstreams.frontier.timeout_s': must be a number > 0, got -1" in config_error(bad)
    bad = three_tier_config(url, upstreams={"small": {"price": {"input_usd_per_mtok": 1}}})
    assert "key 'upstreams.small.price.input_usd_per_mtok'" in config_error(bad)
    assert "key 'decision_log.prompt': expected 'hash', 'text' or 'none', got 'all'" in (
        config_error({**base, "decision_log": {"prompt": "all"}})
    )
    assert "key 'fallback.order': unknown tier 'gpu'; tiers: small, mid, frontier" in (
        config_error({**base, "fallback": {"order": ["gpu"]}})
    )
    assert "key 'colour': unknown key" in config_error({**base, "colour": "red"})


def test_a_tampered_bundle_or_a_config_for_another_bundle_stops_the_start(tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFAULT_BUNDLE, bundle)
    url = "http://127.0.0.1:9/v1"
    config = tmp_path / "gateway.yaml"
    import yaml

    two = {"api_keys": [hash_api_key(KEY)],
           "upstreams": {"cheap": upstream(url, "a"), "strong": upstream(url, "b")}}  # fmt: skip
    config.write_text(yaml.safe_dump(two))
    app, cfg, router = build(bundle, config)
    assert cfg.tiers == ("cheap", "strong") and router.bundle.tiers == cfg.tiers
    manifest = bundle / "bundle.json"
    manifest.write_text(manifest.read_text().replace('"share_0.20"', '"share_0.25"', 1))
    with pytest.raises(BundleError, match="SHA256SUMS"):
        build(bundle, config)
    cli = [sys.executable, "-m", "simkit.cli", "gateway", "serve", "--bundle", str(bundle),
           "--config", str(config), "--port", "0"]  # fmt: skip
    done = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "simkit gateway: error:" in done.stderr and "bundle.json" in done.stderr
    config.write_text(yaml.safe_dump(three_tier_config(url)))
    with pytest.raises(
        SpecError,
        match="key 'upstreams.frontier': the bundle has no tier 'frontier'; its tiers: cheap, strong",
    ):
        build(DEFAULT_BUNDLE, config)


def test_hash_key_reads_the_key_from_stdin():
    cmd = [sys.executable, "-m", "simkit.cli", "gateway", "hash-key"]
    done = subprocess.run(cmd, input=KEY + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == hash_api_key(KEY)
    new = subprocess.run(cmd + ["--new"], capture_output=True, text=True, timeout=60)
    key_line, store_line = new.stdout.splitlines()
    assert store_line.split()[1] == hash_api_key(key_line.split()[1])
