"""Re-calibrating a bundle's threshold on other traffic: what ``classifier export`` calls."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.classify.bundle import load_bundle, rebundle
from simkit.classify.calibrate import BudgetCalibrator, ShareCalibrator
from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.recalibrate import recalibrate
from simkit.classify.scoring import score_trace
from simkit.classify.train import train_bundle
from simkit.errors import ClassifierError
from simkit.router import Router
from simkit.trace import window


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_model, static_cache, small_trace):
    """Trained on the first 200 requests, thresholds for shares 0.2 and 0.5."""
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    out = tmp_path_factory.mktemp("recal") / "b"
    train_bundle(window(small_trace, n_requests=200), out, estimator=est, shares=(0.2, 0.5))
    return load_bundle(out)


@pytest.fixture(scope="module")
def traffic_scores(bundle, small_trace, tmp_path_factory):
    return (
        score_trace(small_trace, bundle, cache_dir=tmp_path_factory.mktemp("sc"))
        .scores["p_hard"]
        .to_numpy()
    )


def test_a_share_replaces_the_training_threshold_of_that_name_and_keeps_the_others(
    bundle, small_trace, traffic_scores, tmp_path
):
    """share 0.2 on the whole trace: named share_0.20 as training names it, the threshold the
    calibrator picks on the bundle's scores of that traffic; share_0.50 untouched."""
    recal = recalibrate(bundle, small_trace, share=0.2, calibrated_on="prod-week-12")
    cal = ShareCalibrator(0.2).fit(traffic_scores)
    assert recal.name == "share_0.20"
    assert recal.entry == {
        "p_hard": cal.threshold_,
        "target_share": 0.2,
        "calibration_share": cal.share_,
        "calibrated_on": "prod-week-12",
    }
    assert recal.entry["p_hard"] != bundle.manifest["thresholds"]["share_0.20"]["p_hard"]
    assert recal.thresholds["share_0.50"] == bundle.manifest["thresholds"]["share_0.50"]
    assert sorted(recal.thresholds) == ["share_0.20", "share_0.50"]


def test_a_budget_is_named_by_its_amount_and_stays_within_it(bundle, small_trace, traffic_scores):
    """$0.004 per request with calls at $0.001 and $0.011: at most 30 % strong, on this trace."""
    recal = recalibrate(
        bundle, small_trace, budget_usd=0.004, cheap_cost_usd=0.001, strong_cost_usd=0.011
    )
    cal = BudgetCalibrator(0.004).fit(traffic_scores, 0.001, 0.011)
    assert recal.name == "budget_0.004_usd"
    assert recal.entry["p_hard"] == cal.threshold_
    assert recal.entry["calibration_cost_usd"] == pytest.approx(cal.cost_usd_)
    assert recal.entry["calibration_cost_usd"] <= 0.004
    assert recal.entry["calibrated_on"] == str(small_trace.where)
    assert np.mean(traffic_scores >= recal.entry["p_hard"]) == recal.entry["calibration_share"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give a target share or a budget_usd (one of them), got share=None, budget_usd=None"),
        ({"share": 0.2, "budget_usd": 0.01}, "one of them), got share=0.2, budget_usd=0.01"),
        ({"budget_usd": 0.01, "cheap_cost_usd": 0.001}, "budget_usd needs cheap_cost_usd and"),
        ({"share": 20}, "share must be in [0, 1] (a fraction, not a percentage), got 20"),
    ],
)
def test_bad_requests_are_refused_with_what_to_give(bundle, small_trace, kwargs, message):
    with pytest.raises(ClassifierError) as err:
        recalibrate(bundle, small_trace, **kwargs)
    assert message in str(err.value)


def test_a_bundle_with_the_old_export_name_still_loads_and_routes(bundle, tmp_path):
    """Bundles exported before the rename hold 'calibrated_share_0.30': names are manifest keys,
    so such a bundle loads, routes by its default, and names the old key on request."""
    old = dict(bundle.manifest["thresholds"])
    old["calibrated_share_0.30"] = {**old["share_0.20"], "p_hard": 0.61, "target_share": 0.3}
    path = rebundle(
        bundle, tmp_path / "old", thresholds=old, default_threshold="calibrated_share_0.30"
    )
    router = Router.load(path)
    assert router.bundle.threshold() == 0.61
    assert (
        Router.load(path, "calibrated_share_0.30").bundle.threshold("calibrated_share_0.30") == 0.61
    )
    assert router.decide("What is 2 + 2?").threshold == 0.61
