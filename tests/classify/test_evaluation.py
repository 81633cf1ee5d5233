"""simkit.evaluation: out-of-fold and transfer scores through the RouteLLM metrics."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.errors import ClassifierError, TraceError
from simkit.evaluation import PUBLISHED, evaluate_classifier, routing_metrics
from simkit.metrics.routing import apgr, routellm_curve

from .conftest import STRONG, WEAK


@pytest.fixture(scope="module")
def result(tiny_model, static_cache, small_trace):
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    return evaluate_classifier(small_trace, weak=WEAK, strong=STRONG, estimator=est, n_splits=3)


def test_every_benchmark_and_protocol_gets_the_classifier_and_the_random_router(result):
    m = result.metrics
    assert sorted(zip(m.benchmark, m.protocol, m.router, m.n, strict=True)) == [
        ("gsm8k", "cv", "classifier", 100), ("gsm8k", "cv", "random", 100),
        ("gsm8k", "transfer", "classifier", 100), ("gsm8k", "transfer", "random", 100),
        ("mmlu", "cv", "classifier", 162), ("mmlu", "cv", "random", 162),
        ("mmlu", "transfer", "classifier", 162), ("mmlu", "transfer", "random", 162),
    ]  # fmt: skip
    assert m[["apgr", "cpt50", "cpt80", "auc"]].notna().all().all()


def test_reported_apgr_is_the_metrics_module_applied_to_the_stored_scores(result, small_trace):
    s = result.scores[("gsm8k", "cv")]
    q = small_trace.quality_matrix([WEAK, STRONG]).set_axis(small_trace.requests["request_id"])
    q = q.loc[s["request_id"]].to_numpy()
    row = result.metrics.query(
        "benchmark == 'gsm8k' and protocol == 'cv' and router == 'classifier'"
    )
    expected = apgr(routellm_curve(s["p_hard"], 100 * q[:, 0], 100 * q[:, 1]))
    assert row["apgr"].item() == expected
    assert routing_metrics(s["p_hard"].to_numpy(), q[:, 0], q[:, 1])["apgr"] == expected


def test_json_has_apgr_cpt_auc_per_benchmark_and_protocol(result):
    j = result.to_json()
    assert set(j["metrics"]) == {"mmlu", "gsm8k"}
    for bench in ("mmlu", "gsm8k"):
        for protocol in ("cv", "transfer"):
            entry = j["metrics"][bench][protocol]
            assert {"apgr", "cpt50", "cpt80", "auc", "n", "random"} <= set(entry)
    assert {r["benchmark"] for r in j["published"]} == {"mmlu", "gsm8k"}
    assert len(j["calibration"]) == 8  # 2 benchmarks x 2 protocols x 2 target shares


def test_calibration_rows_report_the_share_realised_on_held_out_requests(result):
    c = result.calibration
    assert set(c.columns) >= {"target_share", "calibration_share", "holdout_share"}
    assert np.all(np.abs(c.calibration_share - c.target_share) < 0.05)
    assert c.holdout_share.between(0, 1).all()


def test_published_rows_carry_their_source_and_protocol():
    best = {(p["benchmark"], p["router"]): p["apgr"] for p in PUBLISHED}
    assert best[("mmlu", "RouteLLM SW Ranking (D_arena + D_gold)")] == 0.603
    assert best[("gsm8k", "RouteLLM Causal LLM (D_arena + D_judge)")] == 0.622
    assert all("protocol" in p and "source" in p for p in PUBLISHED)


def test_unknown_protocol_and_benchmark_are_refused_listing_choices(small_trace):
    with pytest.raises(
        ClassifierError, match="unknown protocol 'loo'; choose from 'cv', 'transfer'"
    ):
        evaluate_classifier(small_trace, weak=WEAK, strong=STRONG, protocols=["loo"])
    with pytest.raises(
        ClassifierError,
        match="benchmark 'hellaswag' is not in the trace's 'source' column; it has: gsm8k, mmlu",
    ):
        evaluate_classifier(small_trace, weak=WEAK, strong=STRONG, benchmarks=["hellaswag"])


def test_a_trace_without_outcomes_for_the_model_is_refused(small_trace):
    with pytest.raises(TraceError, match="no outcomes for model 'gpt-4o'"):
        evaluate_classifier(small_trace, weak=WEAK, strong="gpt-4o")


# --- uncertainty: bootstrap intervals over requests, spread over fold seeds ------------------
def _population(n, rng):
    """Scores that carry real signal about the strong model's gain (a router better than
    random): weak right with p 0.65, strong with p 0.85, and the score is noisy evidence of
    'strong right and weak wrong'."""
    w = (rng.random(n) < 0.65).astype(float)
    s = np.where(w == 1, rng.random(n) < 0.93, rng.random(n) < 0.7).astype(float)
    score = (s - w) + rng.normal(0.0, 1.0, n)
    return score, w, s


def test_bootstrap_intervals_cover_the_population_value_at_about_the_nominal_rate():
    from simkit.evaluation import bootstrap_intervals

    rng = np.random.default_rng(7)
    # the population value, from a sample 400x the size of each trial
    truth = routing_metrics(*_population(200_000, rng))
    covered = {"apgr": 0, "cpt50": 0}
    trials = 60
    for t in range(trials):
        ci = bootstrap_intervals(*_population(500, rng), n_resamples=200, seed=t)
        for k in covered:
            covered[k] += ci[k][0] <= truth[k] <= ci[k][1]
    # 95 % intervals: a binomial(60, 0.95) count falls below 51 with probability < 0.2 %
    assert covered["apgr"] >= 51, covered
    assert covered["cpt50"] >= 51, covered


def test_bootstrap_intervals_are_seeded_and_bracket_the_point_estimate():
    from simkit.evaluation import bootstrap_intervals

    score, w, s = _population(800, np.random.default_rng(3))
    a = bootstrap_intervals(score, w, s, n_resamples=300, seed=1)
    assert a == bootstrap_intervals(score, w, s, n_resamples=300, seed=1)
    assert a != bootstrap_intervals(score, w, s, n_resamples=300, seed=2)
    point = routing_metrics(score, w, s)
    for k, (lo, hi) in a.items():
        assert lo < point[k] < hi, (k, lo, point[k], hi)
    wide = bootstrap_intervals(score, w, s, n_resamples=300, seed=1, level=0.99)
    assert wide["apgr"][0] <= a["apgr"][0] and wide["apgr"][1] >= a["apgr"][1]


@pytest.mark.parametrize(
    ("kwargs", "n", "message"),
    [
        ({"n_resamples": 1}, 50, "n_resamples must be an integer >= 2, got 1"),
        ({"level": 1.5}, 50, "level must lie in (0, 1), got 1.5"),
        ({}, 1, "a bootstrap needs at least 2 requests, got 1"),
    ],
)
def test_bootstrap_intervals_reject_bad_arguments(kwargs, n, message):
    from simkit.evaluation import bootstrap_intervals

    score, w, s = _population(n, np.random.default_rng(0))
    with pytest.raises(ClassifierError) as e:
        bootstrap_intervals(score, w, s, **kwargs)
    assert str(e.value) == message


def test_evaluation_rows_carry_the_bootstrap_interval_of_their_own_scores(result, small_trace):
    from simkit.evaluation import bootstrap_intervals

    row = result.metrics.query(
        "benchmark == 'mmlu' and protocol == 'cv' and router == 'classifier'"
    ).iloc[0]
    s = result.scores[("mmlu", "cv")]
    q = small_trace.quality_matrix([WEAK, STRONG]).set_axis(small_trace.requests["request_id"])
    q = q.loc[s["request_id"]].to_numpy()
    ci = bootstrap_intervals(s["p_hard"].to_numpy(), q[:, 0], q[:, 1], seed=0)
    assert (row.apgr_lo, row.apgr_hi) == ci["apgr"]
    assert (row.cpt50_lo, row.cpt50_hi) == ci["cpt50"]
    assert row.apgr_lo <= row.apgr <= row.apgr_hi
    j = result.to_json()["metrics"]["mmlu"]["cv"]
    assert j["apgr_ci"] == list(ci["apgr"]) and "apgr_ci" not in j["random"]


def test_seed_summary_is_mean_and_sample_sd_over_seeds():
    import pandas as pd

    from simkit.evaluation import seed_summary

    rows = [
        {"benchmark": "gsm8k", "protocol": "cv", "router": r, "seed": k,
         "apgr": a, "cpt50": c, "cpt80": 0.5, "auc": 70.0}
        for k, (a, c) in enumerate([(0.66, 0.29), (0.68, 0.31), (0.67, 0.33)])
        for r in ("classifier", "random")
    ]  # fmt: skip
    out = seed_summary(pd.DataFrame(rows)).iloc[0]
    assert out.n_seeds == 3
    assert out.apgr_mean == pytest.approx(0.67) and out.apgr_sd == pytest.approx(0.01)
    assert out.cpt50_sd == pytest.approx(np.std([0.29, 0.31, 0.33], ddof=1))
    with pytest.raises(ClassifierError, match="seed_summary needs a 'seed' column"):
        seed_summary(pd.DataFrame(rows).drop(columns="seed"))


# --- learning curve -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def curve(tiny_model, static_cache, small_trace):
    from simkit.evaluation import learning_curve

    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    return learning_curve(
        small_trace, weak=WEAK, strong=STRONG, estimator=est, fractions=(0.5, 1.0),
        benchmarks=["mmlu"], n_splits=3, seeds=(0, 1),
    )  # fmt: skip


def test_learning_curve_has_a_row_per_fraction_and_seed_with_smaller_training_sets(curve):
    assert list(zip(curve.fraction, curve.seed, strict=True)) == [
        (0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)
    ]  # fmt: skip
    full = curve[curve.fraction == 1.0].n_train.to_numpy()
    half = curve[curve.fraction == 0.5].n_train.to_numpy()
    assert np.all(full == 108.0)  # 2/3 of 162 prompts: every training fold whole
    assert np.all(np.abs(half / full - 0.5) < 0.05)
    assert curve[["apgr", "cpt50", "cpt80", "auc"]].notna().all().all()


def test_learning_curve_at_the_full_fraction_is_protocol_cv_itself(
    curve, tiny_model, static_cache, small_trace
):
    est = ComplexityClassifier(
        StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3, random_state=1
    )
    res = evaluate_classifier(
        small_trace, weak=WEAK, strong=STRONG, estimator=est, protocols=["cv"],
        benchmarks=["mmlu"], n_splits=3, seed=1, n_bootstrap=0,
    )  # fmt: skip
    cv = res.metrics.query("router == 'classifier'").iloc[0]
    point = curve[(curve.fraction == 1.0) & (curve.seed == 1)].iloc[0]
    assert (point.apgr, point.cpt50) == (cv.apgr, cv.cpt50)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fractions": (0.0, 1.0)}, "fractions must lie in (0, 1], got [0.0, 1.0]"),
        ({"fractions": (1.5,)}, "fractions must lie in (0, 1], got [1.5]"),
        ({"seeds": ()}, "learning_curve needs at least one fold seed"),
        ({"benchmarks": ["hellaswag"]}, "benchmark 'hellaswag' is not in the trace's 'source'"),
    ],
)
def test_learning_curve_rejects_bad_arguments(kwargs, message, small_trace):
    from simkit.evaluation import learning_curve

    with pytest.raises(ClassifierError) as e:
        learning_curve(small_trace, weak=WEAK, strong=STRONG, **kwargs)
    assert message in str(e.value)


def test_out_of_fold_training_fraction_is_checked(small_trace):
    from simkit.classify.evaluate import out_of_fold_scores

    with pytest.raises(ClassifierError, match=r"train_fraction must lie in \(0, 1\], got 0"):
        out_of_fold_scores(["a b", "c d", "e f"], np.zeros((3, 2)), train_fraction=0)


def test_evaluating_over_seeds_is_one_evaluation_per_seed_and_their_mean(
    tiny_model, static_cache, small_trace
):
    """Seeds 3 and 4, gsm8k, protocol cv: each result is evaluate_classifier with that fold
    seed and an estimator seeded alike; the summary is the mean and sd over the two."""
    import pandas as pd

    from simkit.evaluation import evaluate_over_seeds

    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    options = dict(protocols=["cv"], benchmarks=["gsm8k"], n_splits=3, n_bootstrap=0)
    both = evaluate_over_seeds(
        small_trace, weak=WEAK, strong=STRONG, estimator=est, seeds=[3, 4], **options
    )
    assert both.seeds == (3, 4)
    for seed, got in zip((3, 4), both.results, strict=True):
        alone = evaluate_classifier(
            small_trace, weak=WEAK, strong=STRONG, seed=seed,
            estimator=ComplexityClassifier(
                StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3, random_state=seed
            ),
            **options,
        )  # fmt: skip
        pd.testing.assert_frame_equal(got.metrics, alone.metrics)
    apgr = [r.metrics.query("router == 'classifier'")["apgr"].item() for r in both.results]
    assert both.summary["apgr_mean"].item() == pytest.approx(np.mean(apgr))
    assert both.summary["apgr_sd"].item() == pytest.approx(np.std(apgr, ddof=1))
    payload = both.to_json()
    assert payload["seeds"] == [3, 4] and set(payload["per_seed"]) == {"3", "4"}
    assert est.random_state != 4  # the caller's estimator is cloned, not changed
    one = evaluate_over_seeds(
        small_trace, weak=WEAK, strong=STRONG, estimator=est, seeds=[3], **options
    )
    assert one.summary is None and "seeds" not in one.to_json()
    with pytest.raises(ClassifierError, match="at least one seed"):
        evaluate_over_seeds(small_trace, weak=WEAK, strong=STRONG, seeds=[])
