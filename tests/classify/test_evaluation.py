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
