"""README, "Put the router in your gateway": both ways run as written, against the loopback stub
(the only edits: upstream URLs point at the stub, and the gateway's port is a free one)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import socket
import subprocess
import sys
import time

import httpx
import pytest
import yaml

from simkit.live.stub import StubConfig, StubModel, StubServer
from simkit.router import Router
from tests.gateway.conftest import DEFAULT_BUNDLE, REPO

URLS = ("http://127.0.0.1:8001/v1", "https://api.openai.com/v1")


def section() -> dict[str, list[str]]:
    text = (REPO / "README.md").read_text("utf-8")
    body = text.split("## Put the router in your gateway", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, list[str]] = {}
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", body, re.S):
        blocks.setdefault(lang, []).append(code)
    return blocks


def to_stub(code: str, url: str) -> str:
    for u in URLS:
        code = code.replace(u, url)
    return code


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture()
def stub():
    with StubServer(StubConfig(models=(StubModel("mixtral"), StubModel("gpt-4o")))) as server:
        yield server


def test_the_gateway_way_runs_as_written(stub, tmp_path, monkeypatch):
    blocks = section()
    config, _proxy = blocks["yaml"]
    (serve,) = blocks["bash"]
    client_code, _litellm = blocks["python"]
    assert len(client_code.strip().splitlines()) <= 10
    (tmp_path / "gateway.yaml").write_text(to_stub(config, stub.base_url))
    port = free_port()
    argv = shlex.split(serve.strip().replace("--port 8080", f"--port {port}"))
    assert argv[:3] == ["simkit", "gateway", "serve"]
    argv = [a if a != "gateway.yaml" else str(tmp_path / "gateway.yaml") for a in argv]
    argv = [a if a != "classifiers/routellm-static-minilm" else str(DEFAULT_BUNDLE) for a in argv]
    env = {"OPENAI_API_KEY": "sk-for-the-stub", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "simkit.cli", *argv[1:]],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.1)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(client_code.replace("8080", str(port)), "README.md", "exec"), {})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    tier, p_hard = out.getvalue().split()
    prompt = "Prove that 2 has no rational root."
    assert tier == Router.load(DEFAULT_BUNDLE).decide(prompt).tier
    assert float(p_hard) == pytest.approx(Router.load(DEFAULT_BUNDLE).score(prompt), abs=1e-6)
    log = (tmp_path / "decisions.jsonl").read_text().splitlines()
    assert len(log) == 1 and prompt not in log[0]
    from simkit.cli import main

    assert main(["trace", "convert", str(tmp_path / "decisions.jsonl"), str(tmp_path / "gw"),
                 "--format", "gateway-log"]) == 0  # fmt: skip


@pytest.mark.skipif(importlib.util.find_spec("litellm") is None, reason="needs simkit[litellm]")
def test_the_litellm_way_runs_as_written_and_the_proxy_block_matches_the_plugin(
    stub, monkeypatch, capsys
):
    blocks = section()
    _config, proxy = blocks["yaml"]
    _client, code = blocks["python"]
    assert len(code.strip().splitlines()) <= 10
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-the-stub")
    exec(compile(to_stub(code, stub.base_url), "README.md", "exec"), {})
    model = capsys.readouterr().out.strip()
    expected = Router.load(DEFAULT_BUNDLE).decide("Hi!").tier
    assert model == {"cheap": "mixtral", "strong": "gpt-4o"}[expected]

    from simkit.gateway.litellm import SimkitClassifier

    (entry,) = yaml.safe_load(proxy)
    documented = entry["litellm_params"]["complexity_router_config"]
    made = SimkitClassifier(DEFAULT_BUNDLE).complexity_router_config(
        {"cheap": "cheap", "strong": "strong"}
    )
    assert documented["classifier_plugin"] == "simkit_router.clf"
    assert {
        k: v for k, v in made.items() if k not in ("classifier_plugin", "tier_definitions")
    } == {k: v for k, v in documented.items() if k not in ("classifier_plugin", "tier_definitions")}
    assert [d["name"] for d in documented["tier_definitions"]] == ["cheap", "strong"]
    assert entry["litellm_params"]["model"] == "auto_router/complexity_router"
