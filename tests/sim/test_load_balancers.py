"""Load balancing across the replicas of a GPU tier: which replica each balancer picks, and
the shared queue as M/M/c against Erlang-C (a slow test; the 1M-request check is
benchmarks/bench_erlang_c.py)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit import Trace, load_trace, simulate
from simkit.errors import SpecError
from simkit.fleet import load_fleet
from simkit.metrics.queueing import erlang_c
from simkit.policies import StaticPolicy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_erlang_c import DT_S, P_END, mmc_fleet, mmc_waits  # noqa: E402

# (arrival_s, output tokens): one-slot replicas serve n tokens in n ms
REQUESTS = [
    (10.0, 100),
    (10.0, 10),
    (10.0, 10),
    (10.05, 10),
    (10.05, 10),
    (10.052, 10),
    (10.052, 10),
]


def _run(load_balancer: str):
    n = len(REQUESTS)
    ids = [f"r{i}" for i in range(n)]
    req = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": [a for a, _ in REQUESTS],
            "prompt_tokens": 0,
            "output_tokens": [k for _, k in REQUESTS],
        }
    )
    trace = Trace(req, pd.DataFrame({"request_id": ids, "model": "mmc", "quality": 1.0}))
    rec = simulate(trace, mmc_fleet(3, load_balancer), StaticPolicy("gpu"), seed=2)
    served = rec.endpoints.set_index("replica")["n_requests"].to_dict()
    return rec.requests["end_s"].to_numpy(), served


@pytest.mark.parametrize(
    ("load_balancer", "ends", "served"),
    [
        # fewest outstanding: r3, r4 go to the idle B and C; r5 ties (1, 1, 1) -> A, behind r0
        (
            "least_outstanding",
            [10.1, 10.01, 10.01, 10.06, 10.06, 10.11, 10.07],
            {"gpu-0": 2, "gpu-1": 3, "gpu-2": 2},
        ),
        # in turn: r3 waits behind r0 on A although B and C are idle
        (
            "round_robin",
            [10.1, 10.01, 10.01, 10.11, 10.06, 10.062, 10.12],
            {"gpu-0": 3, "gpu-1": 2, "gpu-2": 2},
        ),
        # fewest waiting, blind to running: r3 joins A (nothing waiting there, r0 running)
        (
            "shortest_queue",
            [10.1, 10.01, 10.01, 10.11, 10.06, 10.07, 10.062],
            {"gpu-0": 2, "gpu-1": 3, "gpu-2": 2},
        ),
        # one queue: r5 and r6 wait for the first free slots (B and C at 10.06), not for A
        (
            "shared_queue",
            [10.1, 10.01, 10.01, 10.06, 10.06, 10.07, 10.07],
            {"gpu-0": 1, "gpu-1": 3, "gpu-2": 3},
        ),
    ],
)
def test_each_balancer_sends_each_request_where_its_rule_says(load_balancer, ends, served):
    got_ends, got_served = _run(load_balancer)
    np.testing.assert_allclose(got_ends, ends, rtol=0, atol=1e-9)
    assert got_served == served


def test_the_balancer_is_read_from_the_fleet_spec_and_checked():
    spec = {
        "tiers": {
            "gpu": {
                "kind": "gpu",
                "preset": "llama3-8b-a100-tp1",
                "usd_per_gpu_hour": 1.0,
                "replicas": 3,
                "quality_model": "m",
                "load_balancer": "round_robin",
            }
        }
    }
    assert load_fleet(spec).tier("gpu").endpoint.load_balancer == "round_robin"
    spec["tiers"]["gpu"]["load_balancer"] = "random"
    with pytest.raises(SpecError) as err:
        load_fleet(spec)
    assert (
        "key 'tiers.gpu.load_balancer': got 'random'; expected one of least_outstanding, "
        "round_robin, shortest_queue, shared_queue" in str(err.value)
    )


def test_the_default_balancer_keeps_records_and_config_hash():
    fleet = load_fleet()
    trace_path = (
        Path(__file__).resolve().parent.parent / "fixtures" / "sim" / "routellm_azure_slice"
    )
    trace = load_trace(trace_path)
    trace = trace.subset(np.arange(trace.n_requests) < 300)
    gpu = fleet.tiers[0]
    explicit = replace(
        fleet,
        tiers=(
            replace(gpu, endpoint=replace(gpu.endpoint, load_balancer="least_outstanding")),
            *fleet.tiers[1:],
        ),
    )
    a = simulate(trace, fleet, StaticPolicy("selfhosted"), seed=1)
    b = simulate(trace, explicit, StaticPolicy("selfhosted"), seed=1)
    pd.testing.assert_frame_equal(a.requests, b.requests)
    assert a.meta["config_hash"] == b.meta["config_hash"]


def test_erlang_c_closed_form_on_hand_values():
    # M/M/1: P(wait) = rho, E[Wq] = rho / (mu - lambda)
    assert erlang_c(0.8, 1.0, 1) == pytest.approx((0.8, 4.0))
    # M/M/2 at a = 1 (rho 0.5): P(wait) = 1/3, E[Wq] = (1/3) / (2 - 1)
    assert erlang_c(1.0, 1.0, 2) == pytest.approx((1 / 3, 1 / 3))
    with pytest.raises(SpecError, match="utilisation 1 >= 1: no steady state"):
        erlang_c(2.0, 1.0, 2)


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.9])
def test_the_shared_queue_is_m_m_c(rho):
    """200k requests per utilisation, c = 4. Tolerance: the mean wait must lie within 4
    batch-means standard errors (20 batches) of Erlang-C, and P(wait) within 4 binomial-
    with-correlation standard errors -- a false alarm well under 1e-3 per check. The 2 %
    check at >= 1M requests is benchmarks/bench_erlang_c.py."""
    c, n = 4, 200_000
    mu = P_END / DT_S
    wait = mmc_waits(n, rho, c, seed=7)[n // 100 :]
    p_theory, w_theory = erlang_c(rho * c * mu, mu, c)
    means = np.array([b.mean() for b in np.array_split(wait, 20)])
    se = means.std(ddof=1) / np.sqrt(len(means))
    assert abs(wait.mean() - w_theory) <= 4 * se
    assert abs(wait.mean() / w_theory - 1) < 0.15
    waited = np.array([(b > 1e-9).mean() for b in np.array_split(wait, 20)])
    se_p = waited.std(ddof=1) / np.sqrt(len(waited))
    assert abs(waited.mean() - p_theory) <= 4 * se_p
