"""Labels from per-model outcomes: gain, 'weak good enough' with a margin, N tiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.classify.labels import (
    check_two_classes,
    gain_labels,
    ordinal_labels,
    quality_targets,
    weak_good_enough,
)
from simkit.errors import ClassifierError, TraceError
from simkit.trace import Trace


def graded_trace() -> Trace:
    """Judge-style graded quality (score / 10) for three models, one outcome missing."""
    req = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "arrival_s": [0.0, 1, 2, 3]})
    q = {
        "small": [0.8, 0.5, 0.9, 0.2],
        "mid": [0.8, 0.7, 0.9, np.nan],
        "big": [0.85, 0.9, 0.7, 0.9],
    }
    rows = [
        {"request_id": r, "model": m, "quality": v}
        for m, vals in q.items()
        for r, v in zip("abcd", vals, strict=True)
        if not (m == "mid" and r == "d")
    ]
    return Trace(req, pd.DataFrame(rows), where="graded")


def test_gain_labels_with_a_margin_tie_small_differences():
    t = graded_trace()
    plain = gain_labels(t, weak="small", strong="big")
    assert plain.y.tolist() == [1.0, 1.0, -1.0, 1.0]
    wide = gain_labels(t, weak="small", strong="big", margin=0.1)
    assert wide.y.tolist() == [0.0, 1.0, -1.0, 1.0]
    assert wide.n_missing == 0


def test_weak_good_enough_counts_a_near_miss_as_good_enough():
    t = graded_trace()
    assert weak_good_enough(t, weak="small", strong="big").y.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert weak_good_enough(t, weak="small", strong="big", margin=0.05).y.tolist() == [
        1.0, 0.0, 1.0, 0.0
    ]  # fmt: skip


def test_missing_outcomes_are_left_out_and_counted_never_labelled_zero():
    lab = gain_labels(graded_trace(), weak="mid", strong="big")
    assert lab.usable.tolist() == [True, True, True, False]
    assert lab.n_missing == 1
    assert np.isnan(lab.y[3])


def test_ordinal_labels_pick_the_cheapest_tier_within_the_margin_of_the_best():
    t = graded_trace()
    lab = ordinal_labels(t, ["small", "mid", "big"], margin=0.05)
    assert lab.y[:3].tolist() == [0.0, 2.0, 0.0]
    assert np.isnan(lab.y[3])
    q, usable = quality_targets(t, ["small", "big"])
    assert q.shape == (4, 2) and usable.all()


def test_a_trace_without_outcomes_for_a_model_names_the_models_it_has():
    with pytest.raises(
        TraceError, match=r"no outcomes for model 'gpt-5'; models with outcomes: big, mid, small"
    ):
        gain_labels(graded_trace(), weak="small", strong="gpt-5")


def test_single_class_labels_are_refused():
    with pytest.raises(ClassifierError, match=r"single class \(every row is 1, 3 rows\)"):
        check_two_classes(np.array([1.0, 1.0, 1.0, np.nan]))


@pytest.mark.parametrize("margin", [-0.1, 1.0, float("nan")])
def test_margin_outside_unit_interval_is_refused(margin):
    with pytest.raises(ClassifierError, match=r"margin must be in \[0, 1\)"):
        gain_labels(graded_trace(), weak="small", strong="big", margin=margin)


def test_same_model_twice_is_refused():
    with pytest.raises(ClassifierError, match="weak and strong model are the same"):
        gain_labels(graded_trace(), weak="big", strong="big")
