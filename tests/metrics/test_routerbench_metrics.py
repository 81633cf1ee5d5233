"""RouterBench's hull, AIQ (code and paper), Oracle, Zero router and cascade (METRICS.md §5).

Expected values are worked out by hand from the definitions in the test docstrings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import (
    NO_MODEL_CORRECT,
    aiq_code,
    aiq_paper,
    cascade_outcomes,
    ndch_code,
    ndch_paper,
    oracle_router,
    zero_router,
)
from simkit.metrics.routerbench import _drop_single_pass


def _hull(result):
    x, y = result
    return [(float(a), round(float(b), 12)) for a, b in zip(x, y, strict=True)]


# --- the hull ------------------------------------------------------------------------------------
def test_hull_collapses_duplicate_costs_to_the_best_quality():
    """Cost 1 appears with 0.3 and 0.5: one entry, 0.5; the rest is concave and kept."""
    cost = [0, 1, 1, 2, 3]
    quality = [0.1, 0.3, 0.5, 0.6, 0.62]
    expected = [(0.0, 0.1), (1.0, 0.5), (2.0, 0.6), (3.0, 0.62)]
    assert _hull(ndch_code(cost, quality)) == expected
    assert _hull(ndch_paper(cost, quality)) == expected


def test_hull_lifts_an_interior_point_to_the_chord_above_it():
    """(2, 0.4) lies below the chord (1, 0.6)-(3, 0.7): the code hull samples the chord, 0.65;
    the paper hull drops the point (it is not a vertex)."""
    cost, quality = [0, 1, 2, 3], [0.1, 0.6, 0.4, 0.7]
    assert _hull(ndch_code(cost, quality)) == [(0.0, 0.1), (1.0, 0.6), (2.0, 0.65), (3.0, 0.7)]
    assert _hull(ndch_paper(cost, quality)) == [(0.0, 0.1), (1.0, 0.6), (3.0, 0.7)]


def test_max_cost_point_below_the_envelope_is_not_appended():
    """(3, 0.6) is below the envelope at cost 2 (0.7): the hull ends at cost 2."""
    cost, quality = [0, 1, 2, 3], [0.2, 0.5, 0.7, 0.6]
    assert _hull(ndch_code(cost, quality)) == [(0.0, 0.2), (1.0, 0.5), (2.0, 0.7)]
    assert _hull(ndch_paper(cost, quality)) == [(0.0, 0.2), (1.0, 0.5), (2.0, 0.7)]


def test_max_cost_point_equal_to_the_envelope_is_appended():
    """Step 3 compares with >=: a flat end at the maximum cost stays in the code's hull."""
    assert _hull(ndch_code([0, 1, 2, 3], [0.2, 0.5, 0.7, 0.7])) == [
        (0.0, 0.2),
        (1.0, 0.5),
        (2.0, 0.7),
        (3.0, 0.7),
    ]


def test_two_consecutive_drops_are_both_deleted_leaving_the_hull_up_to_its_maximum():
    """Envelope 0.5, 0.8, 0.71667, 0.63333 (max point 0.55 not appended): both drops go."""
    cost, quality = [0, 1, 2, 3, 4], [0.5, 0.8, 0.7, 0.6, 0.55]
    assert _hull(ndch_code(cost, quality)) == [(0.0, 0.5), (1.0, 0.8)]
    assert _hull(ndch_paper(cost, quality)) == [(0.0, 0.5), (1.0, 0.8)]


def test_deletion_compares_each_point_with_its_pre_deletion_neighbour():
    """The code's single pass: after the drop 1 -> 0.5, 0.7 is compared with the deleted 0.5
    and survives, so the output dips (1, 0.7). Concave envelopes never reach this case, so it
    is shown on the deletion step itself."""
    keep = _drop_single_pass(np.array([1.0, 0.5, 0.7, 0.6, 0.65]))
    assert keep.tolist() == [True, False, True, False, True]


@pytest.mark.parametrize(
    ("cost", "quality"), [([1.0, 2.0], [0.1, 0.2]), ([1.0, 1.0, 2.0], [0.1, 0.3, 0.2])]
)
def test_code_hull_needs_three_distinct_costs(cost, quality):
    with pytest.raises(TraceError) as err:
        ndch_code(cost, quality)
    assert str(err.value) == (
        "cost: 2 distinct cost(s); RouterBench's hull needs at least 3 (its reference code "
        "fails on fewer). Use ndch_paper for small point sets"
    )
    assert len(ndch_paper(cost, quality)[0]) >= 1


def test_paper_hull_of_a_single_point_is_that_point():
    assert _hull(ndch_paper([2.0], [0.4])) == [(2.0, 0.4)]


# --- AIQ -----------------------------------------------------------------------------------------
POINTS = pd.DataFrame(
    {
        "router": ["a"] * 4 + ["b"] * 3,
        "cost": [1, 2, 3, 4, 2, 3, 5],
        "quality": [0.2, 0.4, 0.5, 0.5, 0.3, 0.6, 0.65],
    }
)


def test_aiq_code_integrates_from_each_routers_own_cost_and_divides_by_c_max():
    """Hulls a: (1,.2)(2,.4)(3,.5)(4,.5), b: (2,.3)(3,.6)(5,.65); c_max = 5; a is extended
    flat to 5. a = (.3 + .45 + .5 + .5) / 5 = 0.35; b = (.45 + 1.25) / 5 = 0.34."""
    aiq = aiq_code(POINTS)
    assert aiq.index.tolist() == ["a", "b"]
    np.testing.assert_allclose(aiq.to_numpy(), [0.35, 0.34], rtol=0, atol=1e-15)


def test_aiq_paper_averages_each_hull_over_the_common_cost_range():
    """Common range [2, 5] (b's cheapest to the largest cost). Paper hull a: (1,.2)(2,.4)(3,.5),
    flat after: (.45 + 1.0) / 3; b: (.45 + 1.25) / 3. The ranking flips against aiq_code."""
    aiq = aiq_paper(POINTS)
    np.testing.assert_allclose(aiq.to_numpy(), [1.45 / 3, 1.7 / 3], rtol=0, atol=1e-15)
    explicit = aiq_paper(POINTS, c_min=3.0, c_max=4.0)
    np.testing.assert_allclose(explicit.to_numpy(), [0.5, (0.6 + 0.625) / 2], rtol=0, atol=1e-15)


def test_aiq_paper_refuses_a_range_below_a_routers_cheapest_configuration():
    with pytest.raises(SpecError) as err:
        aiq_paper(POINTS, c_min=1.0)
    assert str(err.value) == (
        "aiq_paper, key 'c_min': 1.0 is below router 'b''s cheapest configuration (2.0), "
        "where its hull is undefined; expected c_min >= 2.0"
    )


def test_aiq_names_a_missing_column():
    with pytest.raises(TraceError) as err:
        aiq_code(POINTS.rename(columns={"cost": "total_cost"}))
    assert str(err.value) == (
        "points, column 'cost': required column missing; columns present: "
        "'router', 'total_cost', 'quality'"
    )


def test_zero_router_is_the_hull_of_the_single_model_points():
    models = pd.DataFrame(
        {
            "model": ["small", "mid", "large", "bad"],
            "cost": [1, 4, 10, 6],
            "quality": [0.4, 0.7, 0.8, 0.5],
        }
    )
    code = zero_router(models)
    assert code["cost"].tolist() == [1.0, 4.0, 6.0, 10.0]  # 'bad' lifted to the chord at 6
    np.testing.assert_allclose(code["quality"], [0.4, 0.7, 0.7 + 0.1 * 2 / 6, 0.8], atol=1e-15)
    paper = zero_router(models, hull="paper")
    assert paper.to_dict("list") == {"cost": [1.0, 4.0, 10.0], "quality": [0.4, 0.7, 0.8]}
    with pytest.raises(SpecError, match="key 'hull': got 'convex'; valid choices: 'code', 'paper'"):
        zero_router(models, hull="convex")


# --- Oracle --------------------------------------------------------------------------------------
def test_oracle_picks_the_best_model_then_the_cheapest_and_scores_unsolved_samples_zero():
    quality = pd.DataFrame(
        {"m1": [1.0, 0.0, 0.5, 0.75], "m2": [1.0, 0.0, 0.5, 0.25], "m3": [0.2, 0.0, 0.7, 0.75]},
        index=["s1", "s2", "s3", "s4"],
    )
    cost = pd.DataFrame(
        {"m1": [2.0, 1.0, 1.0, 0.5], "m2": [1.0, 1.0, 1.0, 0.1], "m3": [0.5, 0.1, 3.0, 0.5]},
        index=quality.index,
    )
    oracle = oracle_router(quality, cost)
    assert oracle.index.tolist() == ["s1", "s2", "s3", "s4"]
    assert oracle.to_dict("list") == {
        "model": ["m2", NO_MODEL_CORRECT, "m3", "m1"],  # s4: equal cost -> first column
        "quality": [1.0, 0.0, 0.7, 0.75],
        "cost": [1.0, 0.0, 3.0, 0.5],
    }


def test_oracle_refuses_missing_quality_naming_sample_and_model():
    quality = pd.DataFrame({"m1": [1.0, np.nan], "m2": [0.0, 1.0]})
    with pytest.raises(TraceError) as err:
        oracle_router(quality, quality.fillna(0.0))
    assert str(err.value) == (
        "quality, row 2, column 'm1': missing or non-finite in 1 cells; expected a number. "
        "drop such samples first, as RouterBench does (e.g. .dropna())"
    )


# --- cascade -------------------------------------------------------------------------------------
CASCADE_Q = pd.DataFrame(
    {"cheap": [0.9, 0.2, 0.2, 0.2], "mid": [0.5, 0.95, 0.3, 0.3], "big": [1.0, 1.0, 0.4, 0.99]}
)
CASCADE_C = pd.DataFrame(
    {"cheap": [0.1, 0.1, 0.1, 2.0], "mid": [0.5, 0.5, 0.5, 0.5], "big": [2.0, 2.0, 0.3, 0.5]}
)
ORDER = ["cheap", "mid", "big"]


def test_cascade_with_a_perfect_judge_stops_at_the_first_acceptable_answer_within_budget():
    """tau 0.9, budget 1.0. s1: cheap accepted. s2: mid accepted (cost .6). s3: big costs .3
    < remaining .4, tried, rejected; quality of the last tried. s4: cheap (2.0) is over budget
    but the first model is always tried; then mid (.5 >= remaining -1.0) stops the walk."""
    out = cascade_outcomes(CASCADE_Q, CASCADE_C, ORDER, 0.9, 0.0, 1.0, np.random.default_rng(0))
    assert out.drop(columns="cost").to_dict("list") == {
        "model": ["cheap", "mid", "big", "cheap"],
        "quality": [0.9, 0.95, 0.4, 0.2],
        "n_tried": [1, 2, 3, 1],
    }
    np.testing.assert_allclose(out["cost"], [0.1, 0.6, 0.9, 2.0], rtol=0, atol=1e-15)


def test_cascade_with_an_always_wrong_judge_accepts_bad_answers_and_rejects_good_ones():
    """judge_error 1: s1's cheap 0.9 >= tau is rejected, mid 0.5 accepted; the others accept
    the first (bad) answer."""
    out = cascade_outcomes(CASCADE_Q, CASCADE_C, ORDER, 0.9, 1.0, 1.0, np.random.default_rng(0))
    assert out.to_dict("list") == {
        "model": ["mid", "cheap", "cheap", "cheap"],
        "quality": [0.5, 0.2, 0.2, 0.2],
        "cost": [0.6, 0.1, 0.1, 2.0],
        "n_tried": [2, 1, 1, 1],
    }


def test_cascade_budget_stop_uses_greater_or_equal():
    """Remaining budget exactly equals the next model's cost: the walk stops before it."""
    q = pd.DataFrame({"a": [0.0], "b": [1.0]})
    c = pd.DataFrame({"a": [0.5], "b": [0.5]})
    out = cascade_outcomes(q, c, ["a", "b"], 0.9, 0.0, 1.0, np.random.default_rng(0))
    assert out.to_dict("list") == {"model": ["a"], "quality": [0.0], "cost": [0.5], "n_tried": [1]}


def test_cascade_judge_errs_at_the_given_rate_and_is_reproducible_per_seed():
    n = 20_000
    q = pd.DataFrame({"a": np.ones(n), "b": np.ones(n)})
    c = pd.DataFrame({"a": np.full(n, 0.1), "b": np.full(n, 0.1)})
    first = cascade_outcomes(q, c, ["a", "b"], 0.9, 0.2, 10.0, np.random.default_rng(1))
    again = cascade_outcomes(q, c, ["a", "b"], 0.9, 0.2, 10.0, np.random.default_rng(1))
    pd.testing.assert_frame_equal(first, again)
    rejected_first = float((first["n_tried"] == 2).mean())
    assert abs(rejected_first - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"order": ["cheap", "huge"]},
            "key 'order': got 'huge'; valid choices: 'cheap', 'mid', 'big'",
        ),
        ({"judge_error": 1.5}, "key 'judge_error': got 1.5; expected a number in [0, 1]"),
        ({"max_cost": 0.0}, "key 'max_cost': got 0.0; expected > 0"),
    ],
)
def test_cascade_rejects_bad_parameters_naming_them(kwargs, message):
    args = {"order": ORDER, "threshold": 0.9, "judge_error": 0.0, "max_cost": 1.0}
    args.update(kwargs)
    with pytest.raises(SpecError) as err:
        cascade_outcomes(CASCADE_Q, CASCADE_C, rng=np.random.default_rng(0), **args)
    assert str(err.value) == f"cascade_outcomes, {message}"
