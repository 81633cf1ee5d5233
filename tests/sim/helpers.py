"""Small builders shared by the simulator tests (fleets with exactly known behaviour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simkit import Trace, load_trace
from simkit.fleet import (
    ApiEndpoint,
    Fleet,
    GpuServer,
    Jitter,
    ModelPrice,
    RateLimit,
    RetryPolicy,
    Tier,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"
STRONG = "gpt-4-1106-preview"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"


def fixture_trace() -> Trace:
    """2,447 real RouteLLM requests with Azure-2023 arrivals and lengths (see PROVENANCE.md)."""
    return load_trace(FIXTURE)


def tiny_trace(
    arrival_s, prompt_tokens=10, output_tokens=5, max_tokens=None, tags="", quality=1.0, model="m"
):
    n = len(arrival_s)
    req = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_s": np.asarray(arrival_s, dtype=float),
            "prompt_tokens": np.broadcast_to(prompt_tokens, n).copy(),
            "output_tokens": np.broadcast_to(output_tokens, n).copy(),
            "tags": np.broadcast_to(np.asarray(tags, dtype=object), n).copy(),
        }
    )
    if max_tokens is not None:
        req["max_tokens"] = np.broadcast_to(max_tokens, n).copy()
    out = pd.DataFrame({"request_id": req["request_id"], "model": model, "quality": quality})
    return Trace(req, out)


def slot_server(slots: int, step_s: float, replicas: int = 1) -> GpuServer:
    """A GPU server whose step time is exactly ``step_s`` whatever the batch: a request with
    n output tokens holds one of ``slots`` slots for n steps (prefill step + n - 1 decodes)."""
    return GpuServer(
        model="m",
        usd_per_gpu_hour=1.0,
        replicas=replicas,
        max_num_seqs=slots,
        max_batched_tokens=10**6,
        kv_capacity_tokens=10**9,
        t_floor_s=step_s,
        x_sat_tokens_per_s=1e15,
        beta_s_per_ctx_token=0.0,
        t_ovh_s=0.0,
        rtt_s=Jitter(0.0),
    )


def linear_server(**kw) -> GpuServer:
    """One replica whose step time is batched tokens / 1000 tok/s exactly (no floor, overhead
    or context cost), with a prefix cache; ``kw`` overrides any field."""
    base = dict(
        model="m",
        usd_per_gpu_hour=1.0,
        max_num_seqs=8,
        max_batched_tokens=10_000,
        kv_capacity_tokens=100_000,
        t_floor_s=0.0,
        x_sat_tokens_per_s=1000.0,
        beta_s_per_ctx_token=0.0,
        t_ovh_s=0.0,
        rtt_s=Jitter(0.0),
        prefix_cache=True,
    )
    base.update(kw)
    return GpuServer(**base)


def fixed_api(
    *,
    ttft_s=0.5,
    speed=100.0,
    rtt_s=0.0,
    rate_limit=None,
    retry=None,
    price=(1.0, 2.0),
    **kw,
) -> ApiEndpoint:
    """An API endpoint without jitter (every latency exactly as given)."""
    return ApiEndpoint(
        model="m",
        price=ModelPrice(*price),
        ttft_s=Jitter(ttft_s),
        output_tokens_per_s=Jitter(speed),
        rtt_s=Jitter(rtt_s),
        rate_limit=rate_limit,
        retry=retry if retry is not None else RetryPolicy(),
        **kw,
    )


def one_tier(endpoint, name="t", model="m") -> Fleet:
    return Fleet((Tier(name, endpoint, model),))


__all__ = [
    "STRONG",
    "WEAK",
    "RateLimit",
    "RetryPolicy",
    "fixed_api",
    "fixture_trace",
    "linear_server",
    "one_tier",
    "quarter_second_case",
    "slot_server",
    "tiny_trace",
]


def quarter_second_case(n: int) -> tuple[Trace, Fleet]:
    """``n`` requests arriving on quarter seconds from 7 s, up to three at a time, and two
    self-hosted tiers stepping in exactly 0.25 s and 0.5 s: replica events fall on arrival
    times (ties SimPy orders by when each event was scheduled)."""
    rng = np.random.default_rng(3)
    arrival = 7.0 + np.cumsum(rng.integers(0, 3, n)) * 0.25
    trace = tiny_trace(
        arrival.tolist(),
        prompt_tokens=rng.integers(1, 50, n).tolist(),
        output_tokens=rng.integers(1, 12, n).tolist(),
    )
    fleet = Fleet(
        (
            Tier("a", slot_server(slots=3, step_s=0.25, replicas=2), "m"),
            Tier("b", slot_server(slots=2, step_s=0.5), "m"),
        )
    )
    return trace, fleet
