"""score_trace: scores added to a trace once, cached, aligned by request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.classify.bundle import load_bundle
from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.scoring import score_trace
from simkit.classify.train import train_bundle
from simkit.errors import ClassifierError
from simkit.trace import Trace, load_trace, save_trace


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory, tiny_model, static_cache, small_trace):
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    return train_bundle(small_trace, tmp_path_factory.mktemp("sb") / "b", estimator=est).path


def test_scores_are_added_per_request_and_survive_a_round_trip(bundle_path, small_trace, tmp_path):
    scored = score_trace(small_trace, bundle_path, cache_dir=tmp_path)
    assert scored.score_names == ("p_hard", "gain", "q_cheap", "q_strong")
    expected = load_bundle(bundle_path).p_hard([str(p) for p in small_trace.requests["prompt"]])
    # float64 as the bundle computes them, not rounded to float32 on the way through the cache
    np.testing.assert_array_equal(scored.scores["p_hard"].to_numpy(), expected)
    back = load_trace(save_trace(scored, tmp_path / "t"))
    assert back.scores["p_hard"].tolist() == scored.scores["p_hard"].tolist()


def test_a_second_scoring_reads_the_cache_and_computes_nothing(bundle_path, small_trace, tmp_path):
    first = score_trace(small_trace, bundle_path, cache_dir=tmp_path)
    shards = sorted((tmp_path / "embeddings").rglob("*.npy"))
    second = score_trace(small_trace, bundle_path, cache_dir=tmp_path)
    assert sorted((tmp_path / "embeddings").rglob("*.npy")) == shards  # nothing new written
    assert second.scores.equals(first.scores)
    assert second.scores["p_hard"].dtype == np.float64


def test_requests_without_prompt_text_are_refused_naming_the_row(bundle_path):
    req = pd.DataFrame({"request_id": ["a", "b"], "arrival_s": [0.0, 1.0], "prompt": ["hi", None]})
    with pytest.raises(
        ClassifierError, match=r"row 2, column 'prompt': no prompt text \(1 requests without one\)"
    ):
        score_trace(Trace(req, where="t"), bundle_path, cache_dir=False)
