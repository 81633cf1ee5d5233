"""RouterBench metrics on bad input: every error names where and what was expected; and the
details of good input that the reference tests leave loose (router order, zero costs,
negative quality, the cascade's index and dtypes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SimkitError
from simkit.metrics import aiq_code, aiq_paper, cascade_outcomes, oracle_router

RNG = np.random.default_rng(0)


def message(func, *args, **kwargs) -> str:
    with pytest.raises(SimkitError) as err:
        func(*args, **kwargs)
    return str(err.value)


POINTS = pd.DataFrame(
    {
        "router": ["b", "b", "b", "a", "a", "a"],
        "cost": [0.0, 2.0, 4.0, 1.0, 2.0, 3.0],
        "quality": [-0.5, 0.5, 0.75, 0.25, 0.5, 0.75],
    }
)


def test_aiq_lists_routers_in_order_of_first_appearance_and_accepts_zero_cost():
    """b's hull starts at cost 0 (allowed) with quality -0.5 (quality may be any number)."""
    assert aiq_code(POINTS).index.tolist() == ["b", "a"]
    assert aiq_paper(POINTS).index.tolist() == ["b", "a"]


@pytest.mark.parametrize("aiq", [aiq_code, aiq_paper])
def test_aiq_rejects_bad_points_naming_row_and_column(aiq):
    assert message(aiq, POINTS.to_dict("list")) == (
        f"{aiq.__name__}: expected a DataFrame of points, got <class 'dict'>"
    )
    assert message(aiq, pd.DataFrame({"router": ["a"]})) == (
        "points, column 'cost': required column missing; columns present: 'router'"
    )
    assert message(aiq, pd.DataFrame()) == (
        "points, column 'router': required column missing; columns present: none"
    )
    assert message(aiq, POINTS.iloc[:0]) == "points: is empty; expected at least one row"
    negative = POINTS.assign(cost=[0.0, 2.0, -1.0, 1.0, 2.0, -3.0])
    assert message(aiq, negative) == "points, row 3, column 'cost': negative; expected >= 0"
    assert message(aiq, POINTS, cost="price") == (
        "points, column 'price': required column missing; columns present: 'router', 'cost', "
        "'quality'"
    )


Q = pd.DataFrame({"cheap": [0.2, 0.9], "big": [0.9, 0.95]}, index=["s1", "s2"])
C = pd.DataFrame({"cheap": [0.1, 0.1], "big": [1.0, 1.0]}, index=["s1", "s2"])


def test_cascade_keeps_the_sample_index_and_string_model_names():
    out = cascade_outcomes(Q, C, ["cheap", "big"], 0.5, 0.0, 10.0, RNG)
    assert out.index.tolist() == ["s1", "s2"]
    assert str(out["model"].dtype) == "string"
    assert out["model"].tolist() == ["big", "cheap"]
    assert out["n_tried"].dtype == np.int64 and out["n_tried"].tolist() == [2, 1]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"threshold": float("nan")}, "cascade_outcomes, key 'threshold': got nan"),
        ({"order": []}, "cascade_outcomes, key 'order': is empty; name at least one model"),
        (
            {"order": ["cheap", "cheap"]},
            "cascade_outcomes, key 'order': repeats a model: ['cheap', 'cheap']",
        ),
        (
            {"rng": 0},
            "cascade_outcomes, key 'rng': expected a numpy Generator, got <class 'int'>",
        ),
    ],
)
def test_cascade_rejects_bad_arguments_naming_them(kwargs, expected):
    args = {"order": ["cheap", "big"], "threshold": 0.5, "rng": RNG, **kwargs}
    got = message(cascade_outcomes, Q, C, args["order"], args["threshold"], 0.0, 1.0, args["rng"])
    assert got == expected


def test_costs_must_line_up_with_quality_and_not_be_negative():
    swapped = C[["big", "cheap"]]
    assert message(oracle_router, Q, swapped) == (
        "cost: rows and columns must match quality's (same samples, same models in the same "
        "order); quality has ['cheap', 'big'], cost has ['big', 'cheap']"
    )
    reindexed = C.set_axis(["s2", "s1"])
    assert message(oracle_router, Q, reindexed).startswith("cost: rows and columns must match")
    negative = C.copy()
    negative.loc["s2", "big"] = -0.5
    assert message(oracle_router, Q, negative) == "cost, row 2, column 'big': negative cost"
    free = C.copy()
    free.loc["s1", "cheap"] = 0.0
    assert oracle_router(Q, free)["cost"].tolist() == [1.0, 1.0]
