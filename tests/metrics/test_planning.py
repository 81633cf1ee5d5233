"""Capacity and monthly-cost planning as pure functions of a frozen CostPlan."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError
from simkit.metrics.planning import (
    CostPlan,
    Strategy,
    capacity_rps,
    cost_crossovers,
    monthly_costs,
    replicas_needed,
)

MONTH_S = 30 * 24 * 3600


def _plan(**kwargs) -> CostPlan:
    """An API at $0.002 a request against one self-hosted replica at $1,000 a month that
    serves 1 request/s (2,592,000 a month) within the SLO."""
    strategies = {
        "api": Strategy(token_usd_per_request=0.002, gpu_share=0.0, usd_per_replica_month=0.0),
        "gpu": Strategy(token_usd_per_request=0.0, gpu_share=1.0, usd_per_replica_month=1000.0),
    }
    return CostPlan(strategies, **{"gpu_capacity_rps": 1.0, **kwargs})


def test_replicas_follow_the_volume_the_share_and_the_peak_to_mean_ratio():
    plan = _plan(min_replicas=2, peak_to_mean=2.0)
    gpu = plan.strategies["gpu"]
    volumes = np.array([1e5, 2.592e6, 2.6e6, 6e6])
    # 2x the mean rate: a replica carries 1,296,000 requests a month; at least 2
    assert replicas_needed(plan, gpu, volumes).tolist() == [2, 2, 3, 5]
    half = dataclasses.replace(gpu, gpu_share=0.5)
    assert replicas_needed(plan, half, volumes).tolist() == [2, 2, 2, 3]
    assert replicas_needed(plan, plan.strategies["api"], volumes).tolist() == [0, 0, 0, 0]
    fixed = dataclasses.replace(plan, gpu_capacity_rps=None)
    assert replicas_needed(fixed, gpu, volumes).tolist() == [2, 2, 2, 2]


def test_monthly_costs_are_tokens_plus_whole_replicas():
    costs = monthly_costs(_plan(), [1e5, 3e6]).set_index(["strategy", "requests_per_month"])
    assert costs.loc[("api", 1e5), "monthly_cost_usd"] == pytest.approx(200.0)
    assert costs.loc[("api", 3e6), "token_cost_usd"] == pytest.approx(6000.0)
    assert costs.loc[("gpu", 1e5)].to_dict() == {
        "monthly_cost_usd": 1000.0,
        "token_cost_usd": 0.0,
        "gpu_cost_usd": 1000.0,
        "replicas": 1,
    }
    assert costs.loc[("gpu", 3e6), "replicas"] == 2  # 3e6 > 2,592,000 a replica
    with pytest.raises(SpecError, match="key 'requests_per_month'.*finite volumes > 0"):
        monthly_costs(_plan(), [1e5, 0.0])


def test_crossovers_are_exact_and_say_which_strategy_is_cheaper_below():
    """$0.002 x v = $1,000 at v = 500,000; above it the API only grows away (one replica
    more every 2,592,000 requests costs $1,000, the API $5,184 for those)."""
    cross = cost_crossovers(_plan(), (1e4, 1e8))
    assert cross["label"].tolist() == ["api = gpu"]
    assert cross["requests_per_month"].iloc[0] == pytest.approx(5e5, rel=1e-9)
    assert cross["cheaper_below"].iloc[0] == "api"
    assert cross["monthly_cost_usd"].iloc[0] == pytest.approx(1000.0, rel=1e-9)


def test_a_replica_step_that_makes_one_strategy_overtake_is_a_step_crossover():
    """An API at $0.0004 a request reaches the GPU's $1,000 at 2,500,000 requests; at
    2,592,000 the GPU steps to a second replica ($2,000) and is dearer again, until the API
    reaches $2,000 at 5,000,000; at 5,184,000 the third replica flips the order once more."""
    plan = _plan()
    plan = dataclasses.replace(
        plan, strategies={**plan.strategies, "api": Strategy(0.0004, 0.0, 0.0)}
    )
    cross = cost_crossovers(plan, (1e5, 7e6))
    assert cross["label"].tolist() == ["api = gpu", "api = gpu (step)"] * 2
    assert cross["requests_per_month"].tolist() == pytest.approx([2.5e6, 2.592e6, 5e6, 5.184e6])
    assert cross["cheaper_below"].tolist() == ["api", "gpu", "api", "gpu"]
    # the step rows carry the cost just below the step: the API's, dearer than one replica
    assert cross["monthly_cost_usd"].tolist() == pytest.approx([1000, 1036.8, 2000, 2073.6])


def test_a_plan_checks_its_provisioning_and_the_volume_range():
    with pytest.raises(SpecError, match="key 'gpu_capacity_rps'.*expected a finite number > 0"):
        _plan(gpu_capacity_rps=0.0)
    with pytest.raises(SpecError, match="key 'peak_to_mean'.*expected a finite number > 0"):
        _plan(peak_to_mean=float("inf"))
    with pytest.raises(SpecError, match="key 'volume_range'.*expected 0 < lo < hi"):
        cost_crossovers(_plan(), (1e6, 1e5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        _plan().min_replicas = 3


def test_capacity_is_interpolated_where_the_percentile_crosses_the_slo():
    load = pd.DataFrame(
        {"rate_per_s": [4.0, 2.0, 6.0], "p95_ttft_s": [0.8, 0.4, 1.6], "p99_ttft_s": [1, 1, 2]}
    )
    assert capacity_rps(load, 1.0) == pytest.approx(4.0 + 0.2 * 2.0 / 0.8)
    assert capacity_rps(load, 0.3) == 0.0  # even the lowest rate misses the SLO
    assert capacity_rps(load, 2.0) == 6.0  # none misses it: the highest rate measured
    assert capacity_rps(load, 1.5, percentile="p99") == pytest.approx(5.0)
    with pytest.raises(SpecError, match="no column 'p50_ttft_s'; columns: rate_per_s"):
        capacity_rps(load, 1.0, percentile="p50")
