"""More than two tiers and graded quality: the shipped Arena-Bench trace (judge scores / 10)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simkit.classify.bundle import export_bundle, load_bundle
from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.scoring import score_trace
from simkit.router import Router
from simkit.trace import load_trace

ARENA = Path(__file__).resolve().parents[2] / "traces" / "arena_bench_v1"
TIERS = [
    "mistralai/Mistral-7B-Instruct-v0.1",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gpt-4-1106-preview",
]


@pytest.fixture(scope="module")
def arena():
    return load_trace(ARENA)


def test_three_tiers_with_graded_quality_route_through_cutoffs(
    arena, tiny_model, static_cache, tmp_path
):
    prompts = [str(p) for p in arena.requests["prompt"]]
    q = arena.quality_matrix(TIERS).to_numpy()
    clf = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    clf.fit(prompts, q)
    assert clf.n_models_ == 3
    assert clf.n_excluded_ == int((~np.isfinite(q).all(axis=1)).sum()) > 0  # judge failures
    pred = clf.predict_quality(prompts[:20])
    assert pred.shape == (20, 3) and ((pred > 0) & (pred < 1)).all()  # soft labels: graded
    thresholds = {"three": {"p_hard": 0.9, "cutoffs": {"frontier": 0.9, "mid": 0.5}}}
    out = export_bundle(
        clf, tmp_path / "b3",
        tiers=[{"tier": "small", "model": TIERS[0]}, {"tier": "mid", "model": TIERS[1]},
               {"tier": "frontier", "model": TIERS[2]}],
        thresholds=thresholds, default_threshold="three", training={"data_sha256": "x"},
    )  # fmt: skip
    b = load_bundle(out)
    np.testing.assert_allclose(b.predict_quality(prompts[:20]), pred, rtol=1e-12)
    router = Router(b)
    for prompt in prompts[:20]:
        p = router.score(prompt)
        expected = "frontier" if p >= 0.9 else "mid" if p >= 0.5 else "small"
        assert router.route(prompt) == expected
    scored = score_trace(arena, b, cache_dir=False)
    assert scored.score_names == ("p_hard", "gain", "q_small", "q_mid", "q_frontier")
