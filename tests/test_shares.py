"""One share rule: the classifier's calibrator, the Study and the demo cut scores alike."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simkit.shares import count_for_share, threshold_for_count, threshold_for_share

REPO = Path(__file__).resolve().parents[1]

#: the issue's case: ShareCalibrator realised 0.10 and Study.cutoffs_for_shares 0.20
TEN = np.array([0.42, 0.05, 0.91, 0.3, 0.77, 0.12, 0.64, 0.5, 0.2, 0.86])


@pytest.fixture(scope="module")
def ten_request_study():
    """The first ten requests of the shipped routellm_azure trace (real outcomes), scored
    with TEN, over the default three-tier fleet."""
    from simkit import load_fleet, load_trace
    from simkit.study import Study

    trace = load_trace(REPO / "traces" / "routellm_azure")
    trace = trace.subset(np.arange(trace.n_requests) < 10)
    return Study.prepare(trace.with_scores({"p_hard": TEN}), load_fleet())


def test_ten_scores_at_share_015_send_one_request_in_calibrator_and_study(ten_request_study):
    from simkit.classify.calibrate import ShareCalibrator

    cal = ShareCalibrator(0.15).fit(TEN)
    assert cal.threshold_ == 0.91 and cal.share_ == 0.1
    cut = ten_request_study.cutoffs_for_shares({"frontier": 0.15})
    assert cut == {"frontier": 0.91, "hosted": 0.91}  # hosted gets no share of its own
    point = ten_request_study.evaluate(cut).iloc[0]
    assert (point["share_frontier"], point["share_hosted"]) == (0.1, 0.0)
    policy = ten_request_study.threshold_policy(cut)
    assert dict(policy.cutoffs) == {"frontier": 0.91}


def test_cumulative_shares_over_three_tiers_pick_the_highest_scores(ten_request_study):
    """frontier 0.15 -> 1 request; frontier + hosted 0.45 -> 4, so hosted takes the next 3."""
    cut = ten_request_study.cutoffs_for_shares({"frontier": 0.15, "hosted": 0.3})
    assert cut == {"frontier": 0.91, "hosted": 0.64}
    policy = ten_request_study.threshold_policy(cut)
    from simkit.policies import FleetView, RequestView

    fleet = FleetView.snapshot(ten_request_study.tiers)
    routed = [
        policy.route(RequestView("r", 0.0, 1, 1, "", "", frozenset(), {"p_hard": s}), fleet, None)
        for s in TEN
    ]
    assert [i for i, t in enumerate(routed) if t == "frontier"] == [2]
    assert [i for i, t in enumerate(routed) if t == "hosted"] == [4, 6, 9]
    assert ten_request_study.cutoffs_for_shares({"frontier": 0.0}) == {
        "frontier": math.inf,
        "hosted": math.inf,
    }
    assert ten_request_study.cutoffs_for_shares({"frontier": 1.0})["frontier"] == -math.inf


def test_a_tie_across_the_cut_stays_on_the_cheaper_side_in_both():
    from simkit.classify.calibrate import ShareCalibrator

    tied = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    t = threshold_for_share(tied, 0.4)  # 2 wanted, but 0.5 is shared by 3: only 0.9 goes
    assert t == np.nextafter(0.5, 1.0)
    assert ShareCalibrator(0.4).fit(tied).threshold_ == t
    assert (tied >= t).sum() == 1


@pytest.mark.parametrize(
    ("share", "n", "k"),
    [(0.3, 10, 3), (0.15, 10, 1), (0.2, 4000, 800), (0.0, 7, 0), (1.0, 7, 7), (0.99, 10, 9)],
)
def test_the_count_is_the_floor_with_float_tolerance(share, n, k):
    assert count_for_share(share, n) == k


def test_count_bounds_give_finite_thresholds_outside_the_scores():
    s = [0.2, 0.7, 0.4]
    assert threshold_for_count(s, 0) == np.nextafter(0.7, np.inf)  # finite: fits a bundle
    assert threshold_for_count(s, 3) == threshold_for_count(s, 5) == 0.2
    assert threshold_for_count(s, 2) == 0.4


def test_the_demo_threshold_is_the_shared_rule():
    """The demo's classifier threshold sends exactly 20 % of its 4,000 requests (no tie)."""
    from simkit import load_trace
    from simkit.demo import THRESHOLD_LABEL, _policies_for, window

    trace = window(load_trace(REPO / "traces" / "routellm_azure"), n_requests=4000)
    spec = _policies_for(trace)[THRESHOLD_LABEL]
    p = trace.scores["p_hard"].to_numpy()
    cut = threshold_for_share(p, 0.2)
    assert spec == f"threshold:p_hard={cut!r}"
    assert (p >= cut).sum() == 800
