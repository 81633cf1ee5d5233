"""Bundles: export, verified load, tamper/corruption/version refusal, numpy-only runtime."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from simkit.classify.bundle import load_bundle, rebundle
from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.train import train_bundle
from simkit.errors import BundleError

from .conftest import STRONG, WEAK


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model, static_cache, small_trace):
    out = tmp_path_factory.mktemp("bundles") / "b"
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    return train_bundle(small_trace, out, estimator=est, metrics={"note": "test"}, card="# card\n")


@pytest.fixture()
def bundle_copy(trained, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(trained.path, dst)
    return dst


def test_loaded_bundle_scores_exactly_like_the_fitted_classifier(trained, small_trace):
    prompts = [str(p) for p in small_trace.requests["prompt"][:50]]
    b = load_bundle(trained.path)
    np.testing.assert_allclose(b.p_hard(prompts), trained.classifier.p_hard(prompts), rtol=1e-12)
    np.testing.assert_allclose(
        b.predict_quality(prompts), trained.classifier.predict_quality(prompts), rtol=1e-12
    )
    assert b.tiers == ("cheap", "strong") and b.models == (WEAK, STRONG)


def test_manifest_holds_identity_tiers_thresholds_data_hash_metrics_versions(trained):
    m = json.loads((trained.path / "bundle.json").read_text())
    assert m["format"] == "simkit-classifier-bundle" and m["version"] == 1
    assert m["embedder"]["kind"] == "static" and len(m["embedder"]["teacher_weights_sha256"]) == 64
    assert m["tiers"] == [{"tier": "cheap", "model": WEAK}, {"tier": "strong", "model": STRONG}]
    assert sorted(m["thresholds"]) == ["share_0.10", "share_0.20", "share_0.30", "share_0.50"]
    assert m["default_threshold"] == "share_0.20"
    assert len(m["training"]["data_sha256"]) == 64 and m["training"]["n_requests"] == 262
    assert m["metrics"] == {"note": "test"}
    assert {"numpy", "scikit-learn", "python"} <= set(m["versions"])
    listed = [
        line.split("  ")[1] for line in (trained.path / "SHA256SUMS").read_text().splitlines()
    ]
    assert "bundle.json" in listed and "CARD.md" in listed and "arrays/static_vectors.npy" in listed


def test_calibrated_thresholds_give_their_share_on_the_training_scores(trained):
    th = trained.thresholds["share_0.20"]
    assert th["calibration_share"] == pytest.approx(0.2, abs=0.01)


def test_a_modified_array_is_rejected_as_tampered(bundle_copy):
    path = bundle_copy / "arrays" / "head1_coef.npy"
    arr = np.load(path)
    arr[0] += 1.0
    np.save(path, arr)
    with pytest.raises(
        BundleError,
        match=r"arrays/head1_coef.npy does not match its checksum in SHA256SUMS: the bundle is corrupt or was modified. Re-export it",
    ):
        load_bundle(bundle_copy)


def test_a_flipped_byte_in_the_manifest_is_rejected(bundle_copy):
    p = bundle_copy / "bundle.json"
    data = bytearray(p.read_bytes())
    data[-3] ^= 1
    p.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="bundle.json does not match its checksum"):
        load_bundle(bundle_copy)


def test_missing_and_unlisted_files_are_rejected(bundle_copy):
    (bundle_copy / "evil.npy").write_bytes(b"x")
    with pytest.raises(
        BundleError, match=r"file evil.npy is not listed in SHA256SUMS \(1 unlisted\)"
    ):
        load_bundle(bundle_copy)
    (bundle_copy / "evil.npy").unlink()
    (bundle_copy / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"file tokenizer.json listed in SHA256SUMS is missing"):
        load_bundle(bundle_copy)
    (bundle_copy / "SHA256SUMS").unlink()
    with pytest.raises(
        BundleError, match=r"no SHA256SUMS; not a simkit bundle or an incomplete copy"
    ):
        load_bundle(bundle_copy)


def test_a_bundle_from_an_incompatible_version_is_refused_with_what_to_do(bundle_copy, tmp_path):
    b = load_bundle(bundle_copy)
    b.manifest["version"] = 2
    out = rebundle(b, tmp_path / "v2")  # a consistent bundle, checksums and all, of version 2
    with pytest.raises(
        BundleError,
        match=r"bundle format version 2 is incompatible with this simkit \(reads version 1\); upgrade simkit",
    ):
        load_bundle(out)


def test_rebundle_changes_thresholds_and_keeps_scores(trained, tmp_path, small_trace):
    b = load_bundle(trained.path)
    th = dict(b.manifest["thresholds"]) | {"mine": {"p_hard": 0.42}}
    out = rebundle(b, tmp_path / "re", thresholds=th, default_threshold="mine")
    c = load_bundle(out)
    assert c.threshold() == 0.42 and c.threshold("share_0.10") == b.threshold("share_0.10")
    prompts = [str(p) for p in small_trace.requests["prompt"][:5]]
    assert np.array_equal(c.p_hard(prompts), b.p_hard(prompts))
    assert (out / "CARD.md").read_text() == "# card\n"
    with pytest.raises(
        Exception, match=r"unknown threshold 'nope'; this bundle has: mine, share_0.10"
    ):
        c.threshold("nope")


def test_a_static_bundle_loads_and_scores_without_torch_or_scikit_learn(trained):
    code = (
        "import sys; from simkit.router import Router; "
        f"r = Router.load({str(trained.path)!r}); "
        "print(r.route('What is 2 + 2?') in ('cheap', 'strong')); "
        "print(sorted({'torch', 'sklearn', 'transformers', 'sentence_transformers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["True", "[]"]


def test_training_twice_writes_byte_identical_bundles(
    trained, tmp_path, tiny_model, static_cache, small_trace
):
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    again = train_bundle(
        small_trace, tmp_path / "b", estimator=est, metrics={"note": "test"}, card="# card\n"
    )
    assert (again.path / "SHA256SUMS").read_text() == (trained.path / "SHA256SUMS").read_text()


def test_a_tier_without_a_model_is_refused_before_anything_is_written(trained, tmp_path):
    from simkit.classify.bundle import export_bundle

    out = tmp_path / "bad"
    with pytest.raises(BundleError) as e:
        export_bundle(
            trained.classifier, out,
            tiers=[{"tier": "cheap", "model": WEAK}, {"tier": "strong", "name": STRONG}],
            thresholds={"t": {"p_hard": 0.5}}, default_threshold="t", training={},
        )  # fmt: skip
    assert str(e.value) == (
        f"each tier needs 'tier' and 'model' keys, got {{'tier': 'strong', 'name': '{STRONG}'}}"
    )
    assert not out.exists()
