"""Threshold calibration to a strong share or a budget, and the realised share."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from simkit.classify.calibrate import BudgetCalibrator, ShareCalibrator, realised_share
from simkit.errors import ClassifierError


def test_share_threshold_sends_exactly_the_target_count_to_the_strong_tier():
    scores = np.arange(100, dtype=float)[::-1] / 100
    cal = ShareCalibrator(0.2).fit(scores)
    assert cal.threshold_ == 0.80
    assert cal.share_ == 0.2
    assert cal.predict(scores).sum() == 20
    assert clone(cal).get_params() == {"target_share": 0.2}


def test_a_tie_across_the_cut_stays_on_the_cheap_side():
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    cal = ShareCalibrator(0.4).fit(scores)  # 2 wanted, but 0.5 is shared by 3
    assert cal.share_ == 0.2
    assert cal.predict(scores).tolist() == [1, 0, 0, 0, 0]


def test_shares_zero_and_one_route_nothing_and_everything():
    s = np.array([0.3, 0.1, 0.7])
    assert ShareCalibrator(0.0).fit(s).share_ == 0.0
    assert ShareCalibrator(1.0).fit(s).share_ == 1.0


def test_realised_share_on_held_out_scores_reports_the_drift():
    cal = ShareCalibrator(0.5).fit(np.linspace(0, 1, 101))
    assert realised_share(np.full(10, 0.9), cal.threshold_) == 1.0
    assert realised_share(np.linspace(0, 1, 11), cal.threshold_) == pytest.approx(
        5 / 11
    )  # 0.6 .. 1.0 reach 0.51


def test_budget_upgrades_the_highest_scores_while_the_mean_cost_fits():
    scores = np.array([0.9, 0.8, 0.2, 0.1])
    cal = BudgetCalibrator(budget_usd=0.5).fit(scores, 0.0, 1.0)  # 2 of 4 at $1
    assert (cal.share_, cal.cost_usd_) == (0.5, 0.5)
    per_request = BudgetCalibrator(budget_usd=0.3).fit(scores, 0.0, np.array([1.0, 0.2, 0.2, 1]))
    assert per_request.share_ == 0.5 and per_request.cost_usd_ == pytest.approx(0.3)


def test_budget_below_all_cheap_is_refused_with_the_floor():
    with pytest.raises(
        ClassifierError,
        match=r"below the cost of sending everything to the cheap tier \(0.1 per request\)",
    ):
        BudgetCalibrator(0.05).fit([0.5, 0.2], 0.1, 1.0)


@pytest.mark.parametrize(
    ("share", "message"),
    [(20, r"share must be in \[0, 1\] \(a fraction, not a percentage\), got 20"),
     ("x", "share must be a number")],
)  # fmt: skip
def test_bad_share_is_refused(share, message):
    with pytest.raises(ClassifierError, match=message):
        ShareCalibrator(share).fit([0.1, 0.2])


def test_non_finite_calibration_scores_name_the_row():
    with pytest.raises(
        ClassifierError, match=r"calibration scores, row 2: score is not finite \(1 such rows\)"
    ):
        ShareCalibrator(0.5).fit([0.1, np.nan, 0.3])


def test_threshold_entries_hold_what_the_calibrators_fit_under_the_training_names():
    """share 0.25 of 8 scores: 2 strong; a $0.003 budget at $0.001/$0.009 per call: 2 of 8."""
    from simkit.classify.calibrate import (
        budget_threshold,
        budget_threshold_name,
        share_threshold,
        share_threshold_name,
    )

    scores = np.array([0.1, 0.9, 0.3, 0.7, 0.5, 0.2, 0.8, 0.4])
    assert share_threshold(scores, 0.25, calibrated_on="x") == {
        "p_hard": 0.8,
        "target_share": 0.25,
        "calibration_share": 0.25,
        "calibrated_on": "x",
    }
    assert budget_threshold(scores, 0.003, 0.001, 0.009) == {
        "p_hard": 0.8,
        "budget_usd": 0.003,
        "calibration_share": 0.25,
        "calibration_cost_usd": pytest.approx(0.003),
    }
    assert share_threshold_name(0.2) == "share_0.20"
    assert budget_threshold_name(0.0025) == "budget_0.0025_usd"
