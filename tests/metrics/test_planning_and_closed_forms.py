"""Planning edge cases, the per-1k conventions, Erlang-C and RouterBench's inputs (issue 10:
each case here was a surviving or untested mutant of ``scripts/mutation.py metrics``).

Expected numbers are worked out in the docstrings from the definitions; Erlang-C is checked
against the textbook sum formula, computed independently of the library's Erlang-B recursion.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import aiq_code, aiq_paper, zero_router
from simkit.metrics.cost import gpu_cost_per_1k_usd, per_1k_requests_usd
from simkit.metrics.planning import (
    CostPlan,
    Strategy,
    capacity_rps,
    cost_crossovers,
    monthly_costs,
    replicas_needed,
)
from simkit.metrics.queueing import erlang_c

MONTH_S = 30 * 24 * 3600
CROSSOVER_COLUMNS = ["label", "cheaper_below", "requests_per_month", "monthly_cost_usd"]


def message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


def plan(api_usd: float = 0.002, replica_usd: float = 1000.0, *, gpu_first=False, **kw) -> CostPlan:
    """An API at ``api_usd`` a request against self-hosted replicas at ``replica_usd`` a month
    that each serve 1 request/s (2,592,000 a month)."""
    api = Strategy(token_usd_per_request=api_usd, gpu_share=0.0, usd_per_replica_month=0.0)
    gpu = Strategy(token_usd_per_request=0.0, gpu_share=1.0, usd_per_replica_month=replica_usd)
    strategies = {"gpu": gpu, "api": api} if gpu_first else {"api": api, "gpu": gpu}
    return CostPlan(strategies, **{"gpu_capacity_rps": 1.0, **kw})


# --- cost_crossovers ------------------------------------------------------------------------------
def test_crossovers_say_which_strategy_is_cheaper_below_whatever_the_plans_order():
    """The step case of test_planning with the GPU listed first: the labels read 'gpu = api'
    and the strategy cheaper below each crossover is the same one as before."""
    cross = cost_crossovers(plan(0.0004, gpu_first=True), (1e5, 7e6))
    assert list(cross.columns) == CROSSOVER_COLUMNS
    assert cross.index.tolist() == [0, 1, 2, 3]
    assert cross["label"].tolist() == ["gpu = api", "gpu = api (step)"] * 2
    assert cross["requests_per_month"].tolist() == pytest.approx([2.5e6, 2.592e6, 5e6, 5.184e6])
    assert cross["cheaper_below"].tolist() == ["api", "gpu", "api", "gpu"]


def test_crossovers_do_not_depend_on_the_currency_unit():
    """Every price divided by 10,000 (costs of cents): the same volumes, the same strategies
    cheaper below, costs divided by 10,000. The comparisons are of signs, not of dollars."""
    big = cost_crossovers(plan(0.0004), (1e5, 7e6))
    small = cost_crossovers(plan(0.0004e-4, 1000.0e-4), (1e5, 7e6))
    assert small["label"].tolist() == big["label"].tolist()
    assert small["cheaper_below"].tolist() == big["cheaper_below"].tolist()
    assert small["requests_per_month"].tolist() == pytest.approx(big["requests_per_month"])
    assert small["monthly_cost_usd"].tolist() == pytest.approx(big["monthly_cost_usd"] * 1e-4)
    # a crossover just inside the range, where the GPU is dearer by less than a dollar
    near = cost_crossovers(plan(gpu_first=True), (499_750.0, 1e6))
    assert near["cheaper_below"].tolist() == ["api"]
    assert near["requests_per_month"].tolist() == pytest.approx([5e5])
    # two strategies a hundredth of a cent apart never cross
    close = CostPlan({"a": Strategy(0.001, 0.0, 0.0), "b": Strategy(0.0010001, 0.0, 0.0)})
    assert cost_crossovers(close, (1e3, 2e3)).empty


def test_strategies_that_always_cost_the_same_tie_from_the_start_of_the_range():
    same = Strategy(0.001, 0.0, 0.0)
    cross = cost_crossovers(CostPlan({"a": same, "b": same}), (1e3, 2e3))
    assert cross["label"].tolist() == ["a = b"]
    assert cross["cheaper_below"].tolist() == ["b"]
    assert cross["requests_per_month"].tolist() == pytest.approx([1e3])
    assert cross["monthly_cost_usd"].tolist() == pytest.approx([1.0])


def test_a_replica_step_that_flips_the_order_is_found_where_it_happens():
    """Replicas of $1,000 every 1,000,000 requests (capacity 1e6 / month) against an API at
    $0.0015: the API is dearer just below 1e6 ($1,500 vs $1,000) and cheaper just above (the
    GPU's second replica: $2,000). Linear crossings at 666,667 and 1,333,333."""
    unit_rps = 1e6 / MONTH_S
    cross = cost_crossovers(plan(0.0015, gpu_capacity_rps=unit_rps), (5e5, 1.5e6))
    assert cross["label"].tolist() == ["api = gpu", "api = gpu (step)", "api = gpu"]
    assert cross["requests_per_month"].tolist() == pytest.approx([2e6 / 3, 1e6, 4e6 / 3])
    assert cross["cheaper_below"].tolist() == ["api", "gpu", "api"]


def test_replica_steps_follow_the_gpu_share_and_the_peak_to_mean_ratio():
    """Half the traffic on the GPU, provisioned for 3x the mean rate: a replica carries
    2,592,000 / 1.5 = 1,728,000 requests a month. The API at $0.0008 a request crosses one
    replica ($1,000) at 1,250,000, two at 2,500,000 and three at 3,750,000; the GPU adds a
    replica at 1,728,000 and 3,456,000, where it becomes the dearer one (at 5,184,000 the
    API is dearer on both sides: no crossover)."""
    strategies = {
        "api": Strategy(0.0008, 0.0, 0.0),
        "mixed": Strategy(0.0, 0.5, 1000.0),
    }
    p = CostPlan(strategies, gpu_capacity_rps=1.0, peak_to_mean=3.0)
    cross = cost_crossovers(p, (1e5, 6e6))
    assert cross["requests_per_month"].tolist() == pytest.approx(
        [1.25e6, 1.728e6, 2.5e6, 3.456e6, 3.75e6]
    )
    assert cross["label"].tolist() == ["api = mixed", "api = mixed (step)"] * 2 + ["api = mixed"]
    assert cross["cheaper_below"].tolist() == ["api", "mixed"] * 2 + ["api"]
    volumes = np.array([1.7e6, 1.75e6, 3.4e6, 3.5e6, 5.1e6, 5.2e6])
    assert replicas_needed(p, strategies["mixed"], volumes).tolist() == [1, 2, 2, 3, 3, 4]


def test_crossovers_are_reported_only_inside_the_range():
    """The API at $0.0004 crosses two replicas ($2,000) at 5,000,000, below this range; only
    the replica step at 5,184,000 is inside (5,100,000 to 7,000,000)."""
    cross = cost_crossovers(plan(0.0004), (5.1e6, 7e6))
    assert cross["label"].tolist() == ["api = gpu (step)"]
    assert cross["requests_per_month"].tolist() == pytest.approx([5.184e6])


def test_the_volume_range_must_be_positive_increasing_and_finite():
    for bad in ((1e6, 1e5), (0.0, 1e5), (1e5, 1e5), (1e5, math.inf)):
        with pytest.raises(SpecError) as e:
            cost_crossovers(plan(), bad)
        assert message(e) == (f"study, key 'volume_range': got {bad!r}; expected 0 < lo < hi")
    # a fraction of a request a month is a valid (if odd) lower end
    assert cost_crossovers(plan(), (0.5, 1e6))["requests_per_month"].tolist() == pytest.approx(
        [5e5]
    )


# --- monthly_costs, replicas_needed, capacity_rps -------------------------------------------------
def test_monthly_costs_is_a_flat_table_with_float_volumes_and_int_replicas():
    costs = monthly_costs(plan(), [100_000, 3_000_000])
    assert costs.index.tolist() == [0, 1, 2, 3]
    assert costs["strategy"].tolist() == ["api", "api", "gpu", "gpu"]
    assert costs["requests_per_month"].dtype == np.float64
    assert costs["replicas"].dtype == np.int64
    assert costs["replicas"].tolist() == [0, 0, 1, 2]
    small = monthly_costs(plan(), [0.5])  # below one request a month is still a volume
    assert small["monthly_cost_usd"].tolist() == pytest.approx([0.001, 1000.0])


@pytest.mark.parametrize("volumes", [1e5, [[1e5, 2e5]], [], [1e5, math.nan]])
def test_monthly_costs_want_a_flat_list_of_positive_volumes(volumes):
    with pytest.raises(SpecError) as e:
        monthly_costs(plan(), volumes)
    assert message(e) == (
        "study, key 'requests_per_month': expected one or more finite volumes > 0"
    )


def test_integer_volumes_give_the_replicas_of_float_volumes():
    gpu = plan().strategies["gpu"]
    fixed = dataclasses.replace(plan(), gpu_capacity_rps=None, min_replicas=2)
    for p, strategy in ((plan(), gpu), (fixed, gpu), (plan(), plan().strategies["api"])):
        ints = replicas_needed(p, strategy, [100, 3_000_000])
        floats = replicas_needed(p, strategy, np.array([100.0, 3e6]))
        assert ints.dtype == np.float64 and ints.tolist() == floats.tolist()


def test_capacity_errors_name_the_function_and_key():
    load = pd.DataFrame({"rate_per_s": [4.0, 2.0, 6.0], "p95_ttft_s": [0.8, 0.4, 1.6]})
    with pytest.raises(SpecError) as e:
        capacity_rps(load, 1.0, percentile="p50")
    assert message(e) == (
        "capacity_rps, key 'percentile': no column 'p50_ttft_s'; columns: rate_per_s, p95_ttft_s"
    )
    with pytest.raises(SpecError) as e:
        capacity_rps(load, 0.0)
    assert message(e) == "study, key 'slo_ttft_s': got 0.0; expected a finite number > 0"
    with pytest.raises(SpecError) as e:
        CostPlan({}, gpu_capacity_rps=-1)
    assert message(e) == "study, key 'gpu_capacity_rps': got -1; expected a finite number > 0"


def test_a_rate_whose_percentile_meets_the_slo_exactly_is_within_it():
    load = pd.DataFrame({"rate_per_s": [1, 2], "p95_ttft_s": [1, 2]})  # integers work too
    assert capacity_rps(load, 1.0) == 1.0


# --- per-1k conventions ---------------------------------------------------------------------------
def test_per_1k_requests_spreads_a_monthly_cost_over_the_monthly_volume():
    assert per_1k_requests_usd(500.0, 250_000.0) == pytest.approx(2.0)


def test_gpu_rental_per_1k_requests_is_a_720_hour_month_over_the_volume():
    """$2/h for 720 h = $1,440 a month; over 1,440,000 requests: $1 per 1k requests."""
    assert gpu_cost_per_1k_usd(2.0, 1_440_000) == pytest.approx(1.0)
    assert gpu_cost_per_1k_usd(0, math.nan) == 0.0  # nothing rented costs nothing
    assert gpu_cost_per_1k_usd(0.0, 1e6) == 0.0
    assert math.isnan(gpu_cost_per_1k_usd(2.0, math.nan))


# --- Erlang-C -------------------------------------------------------------------------------------
def textbook_erlang_c(lam: float, mu: float, c: int) -> tuple[float, float]:
    a = lam / mu
    rho = a / c
    top = a**c / math.factorial(c) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
    return p_wait, p_wait / (c * mu - lam)


@pytest.mark.parametrize(("lam", "mu", "c"), [(0.5, 2.0, 1), (3.0, 1.25, 3), (7.0, 0.5, 16)])
def test_erlang_c_matches_the_textbook_sum_formula(lam, mu, c):
    assert erlang_c(lam, mu, c) == pytest.approx(textbook_erlang_c(lam, mu, c), rel=1e-12)


def test_erlang_c_of_one_server_is_the_m_m_1_queue():
    """M/M/1: P(wait) = rho and E[W_q] = rho / (mu - lambda); here rho = 0.25."""
    p_wait, wait_s = erlang_c(1.0, 4.0, 1)
    assert p_wait == pytest.approx(0.25)
    assert wait_s == pytest.approx(0.25 / 3.0)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0, 1, 1), "erlang_c, key 'rates': expected > 0, got 0.0, 1.0"),
        ((1, 0, 1), "erlang_c, key 'rates': expected > 0, got 1.0, 0.0"),
        ((math.inf, 1, 1), "erlang_c, key 'rates': expected > 0, got inf, 1.0"),
        ((1, math.inf, 1), "erlang_c, key 'rates': expected > 0, got 1.0, inf"),
        ((1, 1, 0), "erlang_c, key 'servers': expected an int >= 1, got 0"),
        ((1, 2, 1.0), "erlang_c, key 'servers': expected an int >= 1, got 1.0"),
        ((2, 1, 2), "erlang_c, key 'arrival_rate': utilisation 1 >= 1: no steady state"),
        ((3, 1, 2), "erlang_c, key 'arrival_rate': utilisation 1.5 >= 1: no steady state"),
    ],
)
def test_erlang_c_refuses_what_has_no_steady_state(args, expected):
    with pytest.raises(SpecError) as e:
        erlang_c(*args)
    assert message(e) == expected


# --- RouterBench inputs ---------------------------------------------------------------------------
POINTS = pd.DataFrame(
    {
        "system": ["a"] * 3 + ["b"] * 3,
        "cost": [0.1, 0.2, 0.3, 0.1, 0.15, 0.3],
        "quality": [0.2, 0.5, 0.6, 0.3, 0.4, 0.7],
    }
)


def test_aiq_code_works_below_one_dollar_and_names_its_series_and_index():
    """Hull costs under $1 (RouterBench's totals can be cents): router a's hull
    (0.1, 0.2) (0.2, 0.5) (0.3, 0.6): trapezoid 0.035 + 0.055 = 0.09, over c_max 0.3."""
    aiq = aiq_code(POINTS, router="system")
    assert aiq.name == "aiq" and aiq.index.name == "system" and aiq.dtype == np.float64
    assert aiq["a"] == pytest.approx(0.09 / 0.3)


def test_aiq_code_refuses_hulls_that_end_at_zero_cost():
    """A free model that is also the best: the hull is one vertex at cost 0."""
    free = pd.DataFrame({"router": ["a"] * 3, "cost": [0.0, 1.0, 2.0], "quality": [1, 0.5, 0.2]})
    with pytest.raises(TraceError) as e:
        aiq_code(free)
    assert message(e) == "points, column 'cost': largest hull cost is 0; AIQ undefined"


@pytest.mark.parametrize(
    ("c_min", "c_max", "shown"),
    [(None, math.inf, "[0.1, inf]"), (-math.inf, None, "[-inf, 0.3]"), (0.2, 0.2, "[0.2, 0.2]")],
)
def test_aiq_paper_needs_a_finite_non_empty_cost_range(c_min, c_max, shown):
    with pytest.raises(SpecError) as e:
        aiq_paper(POINTS, router="system", c_min=c_min, c_max=c_max)
    assert message(e) == (
        f"aiq_paper, key 'c_max': cost range {shown} is empty; expected c_min < c_max"
    )


def test_zero_router_names_the_missing_column_and_the_hull_choices():
    with pytest.raises(SpecError) as e:
        zero_router(POINTS, hull="bad")
    assert message(e) == "zero_router, key 'hull': got 'bad'; valid choices: 'code', 'paper'"
    with pytest.raises(TraceError) as e:
        zero_router(POINTS[["system", "cost"]])
    assert message(e) == "points, column 'quality': required column missing; have 'system', 'cost'"
    with pytest.raises(TraceError) as e:
        zero_router(pd.DataFrame())
    assert message(e) == "points, column 'cost': required column missing; have none"


def test_router_points_name_the_column_with_a_missing_cost():
    bad = POINTS.assign(cost=[0.1, np.nan, 0.3, 0.1, 0.15, 0.3])
    with pytest.raises(TraceError) as e:
        aiq_code(bad, router="system")
    assert message(e) == (
        "points['cost'], row 2: missing or non-finite in 1 rows (first: nan); "
        "expected a finite number"
    )


def test_a_crossover_at_the_last_point_sampled_in_the_range_is_found():
    """$0.5 a request against $0.25 plus one replica at $1,000: equal at exactly 4,000.
    The range ends at 4,000.000004, whose point sampled just inside (``hi * (1 - 1e-9)``) is
    4,000.0 exactly, where the two costs are equal: still a crossover inside the range (it
    was missed while only a strict change of sign counted)."""
    p = CostPlan({"a": Strategy(0.5, 0.0, 0.0), "b": Strategy(0.25, 1.0, 1000.0)})
    hi = 4000.000004
    assert hi * (1 - 1e-9) == 4000.0
    cross = cost_crossovers(p, (1000.0, hi))
    assert cross["label"].tolist() == ["a = b"]
    assert cross["cheaper_below"].tolist() == ["a"]
    assert cross["requests_per_month"].tolist() == pytest.approx([4000.0], rel=1e-12)
    assert cross["monthly_cost_usd"].tolist() == pytest.approx([2000.0], rel=1e-12)


def test_a_strategy_dearer_by_exactly_one_dollar_everywhere_never_crosses():
    dearer = CostPlan({"a": Strategy(0.0, 1.0, 1.0), "b": Strategy(0.0, 0.0, 0.0)})
    assert cost_crossovers(dearer, (1e3, 2e3)).empty


def test_steps_that_do_not_flip_the_order_are_no_crossovers_in_cents_either():
    """The mixed-share plan above with every price divided by 10,000: the same volumes (the
    step at 5,184,000, where the API stays dearer, is still no crossover)."""
    strategies = {
        "api": Strategy(0.0008e-4, 0.0, 0.0),
        "mixed": Strategy(0.0, 0.5, 1000.0e-4),
    }
    p = CostPlan(strategies, gpu_capacity_rps=1.0, peak_to_mean=3.0)
    cross = cost_crossovers(p, (1e5, 6e6))
    assert cross["requests_per_month"].tolist() == pytest.approx(
        [1.25e6, 1.728e6, 2.5e6, 3.456e6, 3.75e6]
    )
    assert cross["cheaper_below"].tolist() == ["api", "mixed"] * 2 + ["api"]


def test_aiq_paper_names_its_series_and_index():
    aiq = aiq_paper(POINTS, router="system")
    assert aiq.name == "aiq" and aiq.index.name == "system" and aiq.dtype == np.float64
