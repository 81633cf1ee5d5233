"""Fixtures of the gateway tests: a three-tier bundle trained here on the shipped Arena-Bench
trace (a tiny local embedder, as in the classifier tests), the loopback stub as upstream, and
a helper that starts a gateway on 127.0.0.1 and stops it after the test."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simkit.gateway import DecisionLog, hash_api_key, load_gateway_config
from simkit.gateway.app import create_app
from simkit.gateway.server import GatewayServer
from simkit.router import Router
from tests.classify.conftest import _one_blas_thread, small_trace, static_cache, tiny_model  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE = REPO / "classifiers" / "routellm-static-minilm"
ARENA = REPO / "traces" / "arena_bench_v1"
KEY = "sk-simkit-test-0f3a9c2e7b4d4e1f8a6c"  # a client key the tests send (never logged)
AUTH = {"authorization": f"Bearer {KEY}"}
TIERS = ("small", "mid", "frontier")
MODELS = {"small": "small-model", "mid": "mid-model", "frontier": "big-model"}


@pytest.fixture(scope="session")
def arena_prompts() -> list[str]:
    from simkit.trace import load_trace

    return [str(p) for p in load_trace(ARENA).requests["prompt"]]


@pytest.fixture(scope="session")
def bundle3(tmp_path_factory, tiny_model, static_cache, arena_prompts) -> Path:  # noqa: F811
    """A real three-tier bundle (small < mid < frontier) with cut-offs at the 40th and 75th
    percentiles of its own scores on the first 60 Arena prompts, so all three tiers are used."""
    from simkit.classify.bundle import export_bundle, load_bundle
    from simkit.classify.embed import StaticEmbedder
    from simkit.classify.model import ComplexityClassifier
    from simkit.trace import load_trace

    arena = load_trace(ARENA)
    n = 240  # enough prompts for three graded heads; fits in seconds
    q = arena.quality_matrix(
        ["mistralai/Mistral-7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1",
         "gpt-4-1106-preview"]
    ).to_numpy()[:n]  # fmt: skip
    clf = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    clf.fit(arena_prompts[:n], q)
    tmp = tmp_path_factory.mktemp("b3")
    tiers = [{"tier": t, "model": MODELS[t]} for t in TIERS]
    first = export_bundle(
        clf, tmp / "probe", tiers=tiers, thresholds={"x": {"p_hard": 0.5}},
        default_threshold="x", training={"data_sha256": "test"},
    )  # fmt: skip
    p = load_bundle(first).p_hard(arena_prompts[:60])
    lo, hi = (float(v) for v in np.quantile(p, [0.40, 0.75]))
    thresholds = {"three": {"p_hard": hi, "cutoffs": {"frontier": hi, "mid": lo}}}
    return export_bundle(
        clf, tmp / "b3", tiers=tiers, thresholds=thresholds, default_threshold="three",
        training={"data_sha256": "test"},
    )  # fmt: skip


def upstream(base_url: str, model: str, **extra: Any) -> dict[str, Any]:
    """One upstream entry of a gateway config."""
    return {
        "base_url": base_url,
        "model": model,
        "price": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0},
        **extra,
    }


def three_tier_config(stub_url: str, **top: Any) -> dict[str, Any]:
    """A gateway config over the stub's three models; ``small`` is the private tier."""
    ups = {t: upstream(stub_url, MODELS[t]) for t in TIERS}
    ups["small"]["private"] = True
    overrides = top.pop("upstreams", {})
    for t, extra in overrides.items():
        ups[t] = {**ups[t], **extra}
    return {"api_keys": [hash_api_key(KEY)], "upstreams": ups, **top}


@contextlib.contextmanager
def running_gateway(
    bundle: Path, config: dict[str, Any], log_path: Path | None = None, log_level: str = "warning"
):
    """Start a gateway for ``bundle`` and ``config`` on 127.0.0.1; yield (server, router)."""
    router = Router.load(bundle)
    cfg = load_gateway_config(config, bundle_tiers=router.bundle.tiers)
    if cfg.threshold is not None:
        router = Router(router.bundle, cfg.threshold)
    log = DecisionLog(log_path) if log_path is not None else None
    with GatewayServer(create_app(cfg, router, decision_log=log), log_level=log_level) as server:
        yield server, router
