"""Non-dominated points over objectives to minimise and maximise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import pareto_front


def _brute_force(values: np.ndarray) -> np.ndarray:
    """Row i is kept unless some row is <= in every column and < in one (minimisation)."""
    le = np.all(values[:, None, :] <= values[None, :, :], axis=2)
    lt = np.any(values[:, None, :] < values[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)  # [j, i]: j dominates i
    return ~dominated


def test_cost_quality_front_keeps_the_trade_off_and_all_copies_of_a_tied_point():
    df = pd.DataFrame(
        {
            "cost_usd": [1.0, 2.0, 2.0, 3.0, 1.5, 2.0],
            "quality": [0.5, 0.7, 0.6, 0.7, 0.5, 0.7],
        }
    )
    mask = pareto_front(df, minimize=["cost_usd"], maximize=["quality"])
    # (2, .7) appears twice and both stay; (3, .7) and (1.5, .5) are dominated
    assert mask.tolist() == [True, True, False, False, False, True]


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_front_equals_brute_force_and_ignores_row_order(n_objectives):
    rng = np.random.default_rng(n_objectives)
    values = np.round(rng.random((1_500, n_objectives)), 2)  # rounding creates ties
    df = pd.DataFrame(values, columns=["cost", "latency"][: n_objectives - 1] + ["quality"])
    minimize = ["cost", "latency"][: n_objectives - 1]
    mask = pareto_front(df, minimize=minimize, maximize=["quality"])
    signed = values.copy()
    signed[:, -1] *= -1
    assert np.array_equal(mask, _brute_force(signed))
    perm = rng.permutation(len(df))
    assert np.array_equal(pareto_front(df.iloc[perm], minimize, ["quality"]), mask[perm])


@pytest.mark.parametrize(("n_objectives", "n"), [(2, 10_000), (3, 4_000)])
def test_points_on_a_trade_off_surface_are_all_kept(n_objectives, n):
    """Quality grows with the summed costs: no row dominates another (the worst case)."""
    costs = np.random.default_rng(0).random((n, n_objectives - 1))
    df = pd.DataFrame(costs, columns=["cost", "latency"][: n_objectives - 1])
    df["quality"] = np.sqrt(costs.sum(axis=1))
    assert pareto_front(df, minimize=list(df.columns[:-1]), maximize=["quality"]).all()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, SpecError, "pareto_front, key 'minimize': no objective; name columns"),
        (
            {"minimize": ["cost"], "maximize": ["cost"]},
            SpecError,
            "pareto_front, key 'maximize': column 'cost' is also in minimize",
        ),
        (
            {"minimize": ["latency"]},
            TraceError,
            "df, column 'latency': objective column missing; columns: 'cost', 'quality'",
        ),
        (
            {"maximize": ["quality"]},
            TraceError,
            "df, row 2, column 'quality': missing or non-finite in 1 rows; expected a number",
        ),
    ],
)
def test_bad_objectives_are_named(kwargs, error, message):
    df = pd.DataFrame({"cost": [1.0, 2.0], "quality": [0.5, np.nan]})
    with pytest.raises(error) as err:
        pareto_front(df, **kwargs)
    assert str(err.value) == message
