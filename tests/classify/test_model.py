"""The complexity classifier: scikit-learn contract, determinism, honest folds, heads."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from simkit.classify.arrays import export_head, predict_head
from simkit.classify.embed import StaticEmbedder
from simkit.classify.evaluate import out_of_fold_scores
from simkit.classify.model import (
    ComplexityClassifier,
    gain_curve_area,
    grouped_folds,
    prompt_groups,
)
from simkit.errors import ClassifierError


@pytest.fixture(scope="module")
def prompts(small_trace):
    return [str(p) for p in small_trace.requests["prompt"]]


@pytest.fixture()
def make(tiny_model, static_cache):
    """Build a classifier over the tiny model's static embedding."""

    def build(**kw) -> ComplexityClassifier:
        return ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), **kw)

    return build


def test_params_are_stored_untouched_and_clone_rebuilds_them(make):
    clf = make(head="knn", grid=(5, 9), cv=3, random_state=7)
    params = clone(clf).get_params(deep=False)
    assert params["head"] == "knn" and params["grid"] == (5, 9) and params["random_state"] == 7
    with pytest.raises(NotFittedError):
        clf.p_hard(["x"])


def test_same_data_and_seed_give_bit_identical_scores(make, prompts, quality):
    a = make(cv=3).fit(prompts, quality)
    b = make(cv=3).fit(prompts, quality)
    assert np.array_equal(a.p_hard(prompts[:30]), b.p_hard(prompts[:30]))
    assert a.chosen_ == b.chosen_


def test_p_hard_is_a_monotone_map_of_the_gain(make, prompts, quality):
    clf = make(cv=3).fit(prompts, quality)
    gain = clf.decision_function(prompts)
    p = clf.p_hard(prompts)
    order = np.argsort(gain * np.sign(clf.platt_[0]))  # monotone in the slope's direction
    assert np.all(np.diff(p[order]) >= -1e-15)  # up to rounding of the logistic
    assert ((p > 0) & (p < 1)).all()
    assert clf.predict_proba(prompts[:3]).sum(axis=1) == pytest.approx([1, 1, 1])


def test_rows_with_a_missing_outcome_are_left_out_and_counted(make, prompts, quality):
    q = quality.copy()
    q[[0, 5, 9], 1] = np.nan
    clf = make(cv=3).fit(prompts, q)
    assert clf.n_excluded_ == 3
    assert clf.oof_gain_.shape == (len(prompts) - 3,)


def test_binary_target_learns_p_hard_directly(make, prompts, quality):
    y = 1.0 - (quality[:, 0] >= quality[:, 1])  # 1 - 'weak good enough'
    clf = make(cv=3).fit(prompts, y)
    assert clf.binary_target_ and clf.n_models_ == 1
    np.testing.assert_allclose(clf.p_hard(prompts[:5]), clf.predict_quality(prompts[:5])[:, 0])


def test_single_class_gain_labels_are_refused(make, prompts):
    q = np.ones((len(prompts), 2))
    with pytest.raises(
        ClassifierError,
        match=r"gain labels \(strong minus cheap\) have a single class \(every usable row is 0, 262 rows\)",
    ):
        make().fit(prompts, q)
    with pytest.raises(ClassifierError, match="binary labels have a single class"):
        make().fit(prompts, np.zeros(len(prompts)))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"head": "svm"}, "unknown head 'svm'; choose one of logistic, mlp, knn, hgb"),
        ({"selection": "auc"}, "selection must be 'gain_area' or 'brier'"),
        ({"cv": 1}, "cv must be an integer >= 2"),
    ],
)
def test_bad_parameters_are_refused_listing_choices(make, prompts, quality, kw, message):
    with pytest.raises(ClassifierError, match=message):
        make(**kw).fit(prompts, quality)


def test_quality_outside_unit_interval_names_row_and_column(make, prompts, quality):
    q = quality.copy()
    q[4, 1] = 7.0
    with pytest.raises(
        ClassifierError, match=r"row 5, model column 2: quality 7.0 is outside \[0, 1\]"
    ):
        make().fit(prompts, q)


def test_identical_prompts_always_share_a_fold(small_trace, prompts):
    groups = prompt_groups(prompts)
    assert len(set(groups)) == len(prompts) - 2  # the fixture repeats two prompts
    strata = np.arange(len(prompts)) % 3
    for seed in range(3):
        for _, test in grouped_folds(strata, groups, 5, seed):
            in_test = set(groups[test])
            outside = set(groups[np.setdiff1d(np.arange(len(prompts)), test)])
            assert in_test.isdisjoint(outside)


def test_grouped_folds_partition_the_rows_with_balanced_strata():
    strata = np.r_[np.zeros(50, int), np.ones(50, int)]
    groups = np.arange(100)
    folds = grouped_folds(strata, groups, 5, 0)
    test_rows = np.sort(np.concatenate([te for _, te in folds]))
    assert np.array_equal(test_rows, np.arange(100))
    assert [int(strata[te].sum()) for _, te in folds] == [10, 10, 10, 10, 10]


def test_out_of_fold_scores_never_score_a_row_with_a_model_that_saw_it(make, prompts, quality):
    res = out_of_fold_scores(prompts, quality, estimator=make(cv=3), n_splits=4)
    assert np.isfinite(res.p_hard).all() and sorted(set(res.fold)) == [0, 1, 2, 3]
    groups = prompt_groups(prompts)
    for g in np.unique(groups):
        assert np.unique(res.fold[groups == g]).size == 1


def test_gain_curve_area_is_one_half_for_no_information_and_higher_for_a_good_order():
    gain = np.array([1, 0, 0, 1, 0, 0, 1, 0])
    # a random order captures half the gain on average: check over all rotations
    rotations = [gain_curve_area(-np.arange(8.0), np.roll(gain, k)) for k in range(8)]
    assert np.mean(rotations) == pytest.approx(0.5 + 1 / 16)  # discrete: mean of (c + 1) / n
    perfect = gain_curve_area(gain.astype(float), gain)
    worst = gain_curve_area(-gain.astype(float), gain)
    assert perfect > 0.5 > worst


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("head", ["logistic", "mlp", "knn"])
def test_exported_heads_predict_what_the_fitted_estimators_predict(make, prompts, quality, head):
    grid = {"logistic": (1.0,), "mlp": (1.0,), "knn": (15,)}[head]
    clf = make(head=head, grid=grid, cv=2).fit(prompts, quality)
    z = clf.transform_features(prompts[:40])
    for est, (spec, arrays) in zip(clf.heads_, clf.export_heads(), strict=True):
        expected = est.predict(z) if head == "knn" else est.predict_proba(z)[:, 1]
        np.testing.assert_allclose(predict_head(spec, arrays, z), expected, rtol=1e-6, atol=1e-9)


def test_exported_gradient_boosting_predicts_what_scikit_learn_predicts(quality):
    """Trees exported as node arrays (missing values included) give the same probabilities."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=25, random_state=0).fit(x, y)
    spec, arrays = export_head("hgb", est)
    np.testing.assert_allclose(predict_head(spec, arrays, x), est.predict_proba(x)[:, 1], rtol=1e-9)


def test_unknown_head_kind_cannot_be_exported():
    with pytest.raises(Exception, match="cannot be exported; known kinds: logistic, mlp, knn, hgb"):
        export_head("svm", None)
