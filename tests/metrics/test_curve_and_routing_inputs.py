"""Bad input to the vectorised curves and RouteLLM's metrics: every error names the argument
(and row) and says what was expected, and the lenient inputs the docstrings promise work
(scalar thresholds and costs, NaN quality under ``missing="exclude"``, ties at a target).

Each case was a surviving mutant of ``scripts/mutation.py metrics`` (issue 10): the message
or the branch could change without any test noticing.
"""

from __future__ import annotations

import os
import warnings
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import ndch_paper, tiered_curve, two_tier_curve
from simkit.metrics.routing import (
    NonMonotoneCurveWarning,
    RoutingCurve,
    apgr,
    cpt,
    pgr,
    routellm_curve,
    routellm_oracle_curve,
    routellm_random_curve,
    threshold_curve,
)


def message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# --- two_tier_curve -------------------------------------------------------------------------------
def test_two_tier_curve_names_the_quality_or_cost_argument_that_does_not_fit():
    scores = [0.1, 0.2]
    with pytest.raises(TraceError) as e:
        two_tier_curve([0.1, 0.2, 0.3], [1, 0, 1], [1, 1], 0, 0, [0.5])
    assert message(e) == "strong_quality: has 2 rows but weak_quality has 3"
    with pytest.raises(TraceError) as e:
        two_tier_curve(scores, [1, 0], [1, np.nan], 0, 0, [0.5])
    assert message(e) == (
        "strong_quality, row 2: missing or non-finite in 1 rows (first: nan); "
        "expected a finite number"
    )
    with pytest.raises(TraceError) as e:
        two_tier_curve(scores, [1, 0], [1, 1], 0, [1, 2, 3], [0.5])
    assert message(e) == "strong_cost: has 3 rows but weak_quality has 2"
    with pytest.raises(TraceError) as e:
        two_tier_curve(scores, [1, 0], [1, 1], [1, 2, 3], 0, [0.5])
    assert message(e) == "weak_cost: has 3 rows but weak_quality has 2"
    with pytest.raises(TraceError) as e:
        two_tier_curve(scores, [1, 0], [1, 1], [1, np.inf], 0, [0.5])
    assert message(e).startswith("weak_cost, row 2: missing or non-finite in 1 rows (first: inf)")


def test_two_tier_curve_takes_one_threshold_as_a_scalar_and_integer_costs():
    """A single threshold 0.15 sends the request scored 0.2 to the strong model: share 1/2,
    quality (weak 0 + strong 1) / 2, cost (weak 1 + strong 3) / 2."""
    frame = two_tier_curve([0.1, 0.2], [1, 0], [0, 1], 1, 3, 0.15)
    assert frame.to_dict("records") == [
        {
            "threshold": 0.15,
            "n_strong": 1,
            "strong_share": 0.5,
            "mean_quality": 1.0,
            "mean_cost": 2.0,
            "quality_coverage": 1.0,
        }
    ]


# --- tiered_curve ---------------------------------------------------------------------------------
def test_tiered_curve_errors_name_the_option_the_quality_or_the_tiers():
    scores = [0.1, 0.2]
    two = [[1, 0], [1, 1]]
    with pytest.raises(SpecError) as e:
        tiered_curve(scores, two, [1, 0], [0.5], missing="drop")
    assert (
        message(e) == "tiered_curve, key 'missing': got 'drop'; valid choices: 'raise', 'exclude'"
    )
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, [[1], [1]], [1], [0.5])
    assert message(e) == "quality: has 1 tier column(s); expected at least 2"
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, two, [1, 0], [0.5], tiers=["a"])
    assert message(e) == "tiers: names 1 tiers but quality has 2"
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, two, [1, 0], [0.5], tiers=["a", "a"])
    assert message(e) == "tiers: tier names must be unique, got ['a', 'a']"
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, [[1, np.nan], [1, 1]], [1, 0], [0.5])
    assert message(e) == (
        "quality, row 1: missing or non-finite in 1 cells (first in column 1: nan); "
        "expected a finite number"
    )
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, [[1, np.inf], [1, 1]], [1, 0], [0.5], missing="exclude")
    assert message(e).startswith("quality, row 1: infinite in 1 cells")


def test_tiered_curve_excludes_unknown_quality_when_asked():
    """Three tiers; cut-offs (0.5, 0.3): scores 0.6 -> a, 0.4 -> b, 0.1 -> c. The request on b
    has no known quality: the mean is over the other two ((0.9 + 0.2) / 2), coverage 2/3."""
    quality = [[0.9, 0.5, 0.1], [0.8, np.nan, 0.3], [0.7, 0.6, 0.2]]
    cost = [3.0, 2.0, 1.0]
    frame = tiered_curve(
        [0.6, 0.4, 0.1], quality, cost, [[0.5, 0.3]], tiers=["a", "b", "c"], missing="exclude"
    )
    row = frame.iloc[0]
    assert row[["share_a", "share_b", "share_c"]].tolist() == pytest.approx([1 / 3] * 3)
    assert row["mean_quality"] == pytest.approx(1.1 / 2)
    assert row["quality_coverage"] == pytest.approx(2 / 3)
    assert row["mean_cost"] == pytest.approx(2.0)


# --- RoutingCurve and the RouteLLM curves ---------------------------------------------------------
def test_a_routing_curve_names_the_bad_share_or_reference_quality():
    with pytest.raises(TraceError) as e:
        RoutingCurve([], [], 0.0, 1.0)
    assert message(e) == "strong_share: is empty; expected at least one row"
    with pytest.raises(TraceError) as e:
        RoutingCurve([0.0, np.inf], [0.1, 0.2], 0.0, 1.0)
    assert message(e).startswith("strong_share, row 2: missing or non-finite")
    for name, bad in (("r_weak", (np.nan, 1.0)), ("r_strong", (0.0, np.inf))):
        with pytest.raises(TraceError) as e:
            RoutingCurve([0.0, 1.0], [0.1, 0.2], *bad)
        value = bad[0] if name == "r_weak" else bad[1]
        assert message(e) == f"{name}: got {value!r}; expected a finite number"


def test_a_routing_curve_keeps_read_only_float_copies():
    shares = np.array([0, 1], dtype=np.int64)
    curve = RoutingCurve(shares, [1, 2], 0, 1)
    assert curve.strong_share.dtype == np.float64 and curve.quality.dtype == np.float64
    assert curve.strong_share is not shares
    assert isinstance(curve.r_weak, float) and isinstance(curve.r_strong, float)
    with pytest.raises(ValueError):
        curve.strong_share[0] = 0.5
    with pytest.raises(ValueError):
        curve.quality[0] = 0.5


def test_the_routellm_curves_name_the_argument_that_does_not_fit():
    with pytest.raises(TraceError) as e:
        routellm_curve([0.1, 0.2, 0.3], [1, 0], [1, 1])
    assert message(e) == "scores: has 3 rows but weak_quality has 2; expected one per request"
    with pytest.raises(TraceError) as e:
        routellm_curve([0.1, np.nan], [1, 0], [1, 1])
    assert message(e).startswith("scores, row 2: missing or non-finite")
    with pytest.raises(TraceError) as e:
        routellm_curve([0.1, 0.2], [1, 0], [1, 1, 1])
    assert message(e) == (
        "strong_quality: has 3 rows but weak_quality has 2; expected one per request"
    )
    with pytest.raises(TraceError) as e:
        routellm_curve([0.1, 0.2], [1, 0], [np.inf, 1])
    assert message(e).startswith("strong_quality, row 1: missing or non-finite")
    with pytest.raises(TraceError) as e:
        routellm_oracle_curve([], [])
    assert message(e) == "weak_quality: is empty; expected at least one row"
    with pytest.raises(TraceError) as e:
        routellm_oracle_curve([1, 0], [1, 1], shares=[0.0, np.nan])
    assert message(e).startswith("shares, row 2: missing or non-finite")
    with pytest.raises(TraceError) as e:
        routellm_oracle_curve([1, 0], [1, 1], shares=[0.5, 0.5])
    assert message(e) == "shares, row 2: 0.5 follows 0.5; expected strictly increasing"
    for iters in (0, 2.5):
        with pytest.raises(SpecError) as e:
            routellm_random_curve([1, 0], [1, 1], iters=iters)
        assert message(e) == (
            f"routellm_random_curve, key 'iters': got {iters!r}; expected an int >= 1"
        )


def test_the_oracle_gives_no_gain_for_queries_both_models_answer_equally():
    """Gains are strictly positive differences: a query where strong == weak is never worth
    a share of the budget. Weak (0, 1, 0.5), strong (1, 1, 0.5): one gain of 1; a budget of
    2/3 of the queries takes it and then has nothing left to add (quality 2.5 / 3)."""
    curve = routellm_oracle_curve([0, 1, 0.5], [1, 1, 0.5], shares=[0.0, 1 / 3, 2 / 3, 1.0])
    assert curve.quality.tolist() == pytest.approx([1.5 / 3, 2.5 / 3, 2.5 / 3, 2.5 / 3])


def test_the_random_baseline_follows_its_seed_and_iterations():
    """The defaults are RouteLLM's (seed 0, 10 repetitions): passing them changes nothing;
    another seed or one repetition draws other scores."""
    weak = np.tile([1.0, 0.0, 0.0, 1.0, 0.0], 8)
    strong = np.tile([1.0, 1.0, 0.0, 1.0, 1.0], 8)
    default = routellm_random_curve(weak, strong)
    same = routellm_random_curve(weak, strong, seed=0, iters=10)
    assert default.quality.tolist() == same.quality.tolist()
    assert routellm_random_curve(weak, strong, seed=1).quality.tolist() != same.quality.tolist()
    assert routellm_random_curve(weak, strong, iters=11).quality.tolist() != same.quality.tolist()
    # the pooled points are sorted by share whatever order the repetitions produced them in
    assert np.all(np.diff(default.strong_share) > 0)


def test_routellm_curve_keeps_one_point_per_strong_count_in_share_order():
    """Scores with heavy ties: several decile edges select the same queries; each distinct
    strong count appears once, at its share, sorted."""
    scores = [0.0] * 6 + [1.0] * 4
    weak = [0.0] * 10
    strong = [1.0] * 10
    curve = routellm_curve(scores, weak, strong)
    assert curve.strong_share.tolist() == [0.0, 0.4, 1.0]
    assert curve.quality.tolist() == [0.0, 0.4, 1.0]
    thresholds = threshold_curve(scores, weak, strong, [2.0, 1.0, 0.5, 0.0, -1.0])
    assert thresholds.strong_share.tolist() == [0.0, 0.4, 1.0]


# --- pgr, apgr, cpt -------------------------------------------------------------------------------
def test_pgr_apgr_and_cpt_say_what_they_need():
    with pytest.raises(TraceError) as e:
        pgr(0.5, 1.0, 1.0)
    assert message(e) == (
        "r_strong: r_strong - r_weak = 0.0; PGR needs two models of different quality"
    )
    with pytest.raises(TraceError) as e:
        apgr(RoutingCurve([0.5], [0.7], 0.0, 1.0))
    assert message(e) == "curve: has one point; APGR needs at least two"
    with pytest.raises(TraceError) as e:
        apgr(RoutingCurve([0.0, 1.0], [0.5, 0.5], 0.5, 0.5))
    assert message(e) == "curve: r_strong equals r_weak; APGR is undefined"
    curve = RoutingCurve([0.0, 1.0], [0.0, 1.0], 0.0, 1.0)
    with pytest.raises(SpecError) as e:
        cpt(curve, [0.5, np.nan])
    assert message(e) == "cpt, key 'target_pgr': got [0.5, nan]; expected finite"


def test_apgr_of_a_two_point_curve_is_the_trapezoid_of_its_pgr():
    """From (0, 0.2) to (1, 1.0) with r_weak 0, r_strong 1: the mean of the ends, 0.6."""
    assert apgr(RoutingCurve([0.0, 1.0], [0.2, 1.0], 0.0, 1.0)) == pytest.approx(0.6)


def test_pgr_and_cpt_return_floats_for_scalars_and_arrays_for_arrays():
    assert pgr(0.5, 0.0, 2.0) == 0.25 and type(pgr(0.5, 0.0, 2.0)) is float
    assert pgr([1, 2], 0, 2).tolist() == [0.5, 1.0]
    curve = RoutingCurve([0.0, 0.5, 1.0], [0.0, 0.5, 1.0], 0.0, 1.0)
    for method in ("interp", "min"):
        assert isinstance(cpt(curve, 0.25, method=method), float)
        out = cpt(curve, [0.25], method=method)
        assert isinstance(out, np.ndarray) and out.tolist() == [0.25]
    assert cpt(curve, [[0.25, 0.75]], method="min").tolist() == [[0.25, 0.75]]
    assert cpt(curve, 1, method="min") == 1.0  # an integer target works like a float


def test_cpt_min_takes_the_left_end_of_a_stretch_that_reaches_the_target_exactly():
    """Quality 0, 0.5, 0.5, 1 at shares 0, 0.2, 0.6, 1: the target 0.5 is first reached at 0.2
    (a point exactly on the target), a target of 0.75 between 0.6 and 1 at 0.8; a curve that
    never reaches 0.9 gives NaN, and a curve that rises after touching the target from below
    is crossed where it reaches it."""
    curve = RoutingCurve([0.0, 0.2, 0.6, 1.0], [0.0, 0.5, 0.5, 1.0], 0.0, 1.0)
    assert cpt(curve, [0.5, 0.75], method="min").tolist() == pytest.approx([0.2, 0.8])
    low = RoutingCurve([0.0, 0.5, 1.0], [0.0, 0.8, 0.4], 0.0, 1.0)
    assert np.isnan(cpt(low, 0.9, method="min"))
    # 0.4 -> 0.4 -> 0.8: the target 0.4 is met at the first point (not a crossing later)
    flat = RoutingCurve([0.0, 0.5, 1.0], [0.4, 0.4, 0.8], 0.0, 1.0)
    assert cpt(flat, 0.4, method="min") == 0.0
    # 0.0 -> 0.4 -> 0.4 -> 1.0: target 0.4 reached at 0.3; 0.7 between the last two points
    steps = RoutingCurve([0.0, 0.3, 0.6, 1.0], [0.0, 0.4, 0.4, 1.0], 0.0, 1.0)
    assert cpt(steps, [0.4, 0.7], method="min").tolist() == pytest.approx([0.3, 0.8])


def test_cpt_interp_warns_once_at_the_callers_line_on_a_non_monotone_curve():
    curve = RoutingCurve([0.0, 0.5, 1.0], [0.0, 0.8, 0.4], 0.0, 1.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cpt(curve, 0.5)
    assert len(caught) == 1 and caught[0].category is NonMonotoneCurveWarning
    # at the caller, not inside routing.py (under mutmut a trampoline frame is the caller)
    assert not caught[0].filename.endswith(os.path.join("metrics", "routing.py"))
    assert str(caught[0].message) == (
        "cpt(method='interp') on a curve whose quality is not non-decreasing: the result is "
        "np.interp's, not the minimum share; use method='min' for that"
    )


# --- tiered_curve's cost, cut-off and score inputs ------------------------------------------------
TWO_TIERS = [[1.0, 0.0], [1.0, 1.0]]


@pytest.mark.parametrize(
    ("scores", "quality", "cost", "cutoffs", "expected"),
    [
        (
            [0.1, 0.2],
            TWO_TIERS,
            [["a", "b"], ["c", "d"]],
            [0.5],
            "cost: expected numbers (could not convert string to float: 'a')",
        ),
        (
            [0.1, 0.2],
            TWO_TIERS,
            [1, 2, 3],
            [0.5],
            "cost: expected shape (2, 2) (one per request and tier) or (2,), got (3,)",
        ),
        (
            [0.1, 0.2],
            TWO_TIERS,
            [[1, 2, 3]],
            [0.5],
            "cost: expected shape (2, 2) (one per request and tier) or (2,), got (1, 3)",
        ),
        (
            [0.1, 0.2],
            TWO_TIERS,
            [[1, 2], [np.inf, 1]],
            [0.5],
            "cost, row 2: missing or non-finite in 1 cells (first in column 0: inf); "
            "expected a finite number",
        ),
        (
            [0.1, 0.2],
            TWO_TIERS,
            [1, 0],
            [["x"]],
            "cutoffs: expected numbers (could not convert string to float: 'x')",
        ),
        ([], np.zeros((0, 2)), [1, 0], [0.5], "quality: is empty; expected at least one row"),
        ([0.1, 0.2, 0.3], TWO_TIERS, [1, 0], [0.5], "scores: has 3 rows but quality has 2"),
        (
            [0.1, np.nan],
            TWO_TIERS,
            [1, 0],
            [0.5],
            "scores, row 2: missing or non-finite in 1 rows (first: nan); expected a finite number",
        ),
        ([0.1, 0.2], [1, 0], [1, 0], [0.5], "quality: expected a 2-D array, got shape (2,)"),
    ],
)
def test_tiered_curve_names_the_bad_cost_cutoff_score_or_quality(
    scores, quality, cost, cutoffs, expected
):
    with pytest.raises(TraceError) as e:
        tiered_curve(scores, quality, cost, cutoffs)
    assert message(e) == expected


def test_tiered_curve_reads_a_cost_frame_and_names_its_missing_cell():
    """Costs as a DataFrame (one column per tier); pandas' <NA> is a missing cost."""
    cost = pd.DataFrame({"a": pd.array([3, 5], dtype="Int64"), "b": [1, 1]})
    frame = tiered_curve([0.1, 0.9], TWO_TIERS, cost, [0.5])
    assert frame["mean_cost"].tolist() == [3.0]  # 0.9 -> a (cost 5), 0.1 -> b (cost 1)
    cost.loc[1, "a"] = pd.NA
    with pytest.raises(TraceError) as e:
        tiered_curve([0.1, 0.9], TWO_TIERS, cost, [0.5])
    assert message(e) == (
        "cost, row 2: missing or non-finite in 1 cells (first in column 0: nan); "
        "expected a finite number"
    )


def test_integer_cutoffs_are_reported_as_float_cutoffs():
    frame = tiered_curve([0.1, 2.0], TWO_TIERS, [1, 0], [1, 3])
    assert frame["cutoff_tier0"].dtype == np.float64
    assert frame["cutoff_tier0"].tolist() == [1.0, 3.0]
    assert frame["share_tier0"].tolist() == [0.5, 0.0]


def test_a_curve_with_no_known_quality_is_nan_without_a_numpy_warning():
    """Both requests go to the tier whose quality is unknown: mean NaN, coverage 0, and no
    RuntimeWarning from the 0/0 (an application running with -W error keeps working)."""
    quality = [[np.nan, 1.0], [np.nan, 0.0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = tiered_curve([0.5, 0.6], quality, [1, 0], [0.0], missing="exclude")
    assert np.isnan(frame["mean_quality"].iloc[0])
    assert frame["quality_coverage"].iloc[0] == 0.0


# --- the shared array checks, seen through the public functions -----------------------------------
@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda: two_tier_curve(
                [0.1, 0.2], pd.Series([1, None], dtype="Int64"), [1, 1], 0, 0, [0.5]
            ),
            "weak_quality, row 2: missing or non-finite in 1 rows (first: nan); "
            "expected a finite number",
        ),
        (
            lambda: routellm_curve(["a", "b"], [1, 0], [1, 1]),
            "scores: expected numbers (could not convert string to float: 'a')",
        ),
        (
            lambda: routellm_curve([[0.1, 0.2]], [1, 0], [1, 1]),
            "scores: expected a 1-D array, got shape (1, 2)",
        ),
        (
            lambda: two_tier_curve([0.1, 0.2], [np.inf, 1], [1, 1], 0, 0, [0.5], missing="exclude"),
            "weak_quality, row 1: infinite in 1 rows (first: inf); expected a finite number",
        ),
        (
            lambda: tiered_curve([0.1, 0.2], TWO_TIERS, [1, 0], [[0.5], [np.nan]]),
            "cutoffs, row 2: NaN cut-off; expected a number or ±inf",
        ),
        (
            lambda: ndch_paper([0.1, np.nan], [1, 1]),
            "cost, row 2: missing or non-finite in 1 rows (first: nan); expected a finite number",
        ),
        (
            lambda: ndch_paper([0.1, 0.2], [1, np.inf]),
            "quality, row 2: missing or non-finite in 1 rows (first: inf); "
            "expected a finite number",
        ),
        (
            lambda: ndch_paper([0.1, 0.2], [1, 1, 1]),
            "quality: has 3 rows but cost has 2; expected one per request",
        ),
        (lambda: ndch_paper([], []), "cost: is empty; expected at least one row"),
    ],
)
def test_array_arguments_are_named_with_the_first_bad_row(call, expected):
    with pytest.raises(TraceError) as e:
        call()
    assert message(e) == expected


def test_qualities_given_as_decimals_are_read_as_numbers():
    """``json.loads(..., parse_float=Decimal)`` gives Decimals: they are numbers like floats."""
    frame = two_tier_curve([0.1, 0.2], [Decimal("0.5"), Decimal("1")], [1, 1], 0, 0, [0.15])
    assert frame["mean_quality"].tolist() == [0.75]
    oracle = routellm_oracle_curve([Decimal("0.5"), Decimal("1")], [1, 1], shares=[0.0, 1.0])
    assert oracle.quality.tolist() == [0.75, 1.0]
