"""The engine against queueing theory: Lindley's recursion (one server, exact) and Erlang-C
(M/M/c, statistical), using a GPU server whose step time is fixed so that a request with n
output tokens holds a slot for exactly n steps."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pandas as pd

from sim.helpers import slot_server
from simkit import Trace
from simkit.fleet import Fleet, Tier
from simkit.policies import StaticPolicy
from simkit.sim import simulate


def _trace(arrival_s: np.ndarray, n_out: np.ndarray) -> Trace:
    n = len(arrival_s)
    req = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "arrival_s": arrival_s,
            "prompt_tokens": 1,
            "output_tokens": n_out,
        }
    )
    return Trace(req, pd.DataFrame({"request_id": req["request_id"], "model": "m", "quality": 1.0}))


def _erlang_c_wait_s(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1 - a / c)
    return tail / (head + tail) / (c * mu - lam)


def test_one_slot_server_reproduces_the_lindley_recursion_exactly():
    """With one slot, departures follow D_i = max(A_i, D_{i-1}) + S_i (Lindley) to rounding."""
    rng = np.random.default_rng(3)
    n, step = 5000, 0.01
    arrival = np.cumsum(rng.exponential(1 / 0.8, n))
    n_out = rng.geometric(step, n)  # service S = n_out * step, mean 1 s -> rho = 0.8
    fleet = Fleet((Tier("gpu", slot_server(1, step), "m"),))
    rec = simulate(_trace(arrival, n_out), fleet, StaticPolicy("gpu"), seed=0).requests
    service = n_out * step
    lindley = np.empty(n)
    prev = 0.0
    for i in range(n):
        prev = max(arrival[i], prev) + service[i]
        lindley[i] = prev
    np.testing.assert_allclose(rec["end_s"].to_numpy(), lindley, rtol=0, atol=1e-6)
    # first token = end of the prefill step, one step after service starts
    start = lindley - service
    np.testing.assert_allclose(rec["first_token_s"].to_numpy(), start + step, rtol=0, atol=1e-6)


def test_m_m_c_mean_wait_agrees_with_erlang_c():
    """M/M/4 at rho = 0.5 (exponential service through geometric token counts, 1 ms steps):
    the mean wait's 95% batch-means interval holds Erlang-C's value, and each wait is within
    one step of the exact FCFS multi-server recursion on the same sample path."""
    c, lam, mu, step, n = 4, 2.0, 1.0, 0.001, 100_000
    rng = np.random.default_rng(11)
    arrival = np.cumsum(rng.exponential(1 / lam, n))
    n_out = rng.geometric(step * mu, n)
    service = n_out * step
    fleet = Fleet((Tier("gpu", slot_server(c, step), "m"),))
    rec = simulate(_trace(arrival, n_out), fleet, StaticPolicy("gpu"), seed=0).requests
    wait = rec["end_s"].to_numpy() - service - arrival

    free = [0.0] * c  # Kiefer-Wolfowitz: FCFS with c servers, start on the earliest free one
    exact = np.empty(n)
    for i in range(n):
        f = heapq.heappop(free)
        start = max(arrival[i], f)
        exact[i] = start - arrival[i]
        heapq.heappush(free, start + service[i])
    assert np.abs(wait - exact).max() <= step + 1e-9  # admission waits for a step boundary

    batches = wait[n // 20 :].reshape(19, -1).mean(axis=1)  # drop a warm-up batch
    mean, half = batches.mean(), 2.1 * batches.std(ddof=1) / math.sqrt(len(batches))
    theory = _erlang_c_wait_s(lam, mu, c)
    assert abs(mean - theory) <= half, (mean, half, theory)
    assert abs(mean / theory - 1) < 0.1
