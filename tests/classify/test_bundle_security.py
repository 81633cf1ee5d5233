"""Loading a bundle someone else edited: links, special and unlisted files, manifests and arrays
that are the wrong type or size, NaN, and pinning the whole bundle by its digest.

Every case edits a copy of the shipped bundle and *recomputes* SHA256SUMS, as an attacker or a
careless hand would, so the checksum check alone cannot catch it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from simkit.classify.bundle import bundle_digest, load_bundle
from simkit.errors import BundleError
from simkit.router import Router

SHIPPED = Path(__file__).resolve().parents[2] / "classifiers" / "routellm-static-minilm"


def restamp(root: Path, extra: tuple[str, ...] = ()) -> None:
    """Recompute SHA256SUMS over the bundle's regular files (plus ``extra`` names)."""
    names = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name != "SHA256SUMS"
    )
    lines = []
    for name in sorted({*names, *extra}):
        data = (root / name).read_bytes()
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (root / "SHA256SUMS").write_text("".join(lines), "utf-8")


def edit_manifest(root: Path, change) -> None:
    m = json.loads((root / "bundle.json").read_text("utf-8"))
    change(m)
    (root / "bundle.json").write_text(json.dumps(m, indent=2), "utf-8")
    restamp(root)


@pytest.fixture()
def bundle(tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(SHIPPED, dst)
    return dst


def test_an_array_symlinked_outside_the_bundle_is_refused_even_with_matching_sums(bundle, tmp_path):
    outside = tmp_path / "evil_coef.npy"
    coef = np.load(bundle / "arrays" / "head1_coef.npy")
    np.save(outside, coef * -5.0)
    (bundle / "arrays" / "head1_coef.npy").unlink()
    os.symlink(outside, bundle / "arrays" / "head1_coef.npy")
    restamp(bundle)
    with pytest.raises(
        BundleError, match=r"arrays/head1_coef.npy is a symbolic link; a bundle holds regular"
    ):
        load_bundle(bundle)


def test_a_symlinked_arrays_directory_is_refused(bundle, tmp_path):
    shutil.move(bundle / "arrays", tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", bundle / "arrays")
    with pytest.raises(BundleError, match=r"bundle: arrays is a symbolic link"):
        load_bundle(bundle)


def test_a_fifo_inside_a_bundle_is_refused_without_reading_it(bundle):
    os.mkfifo(bundle / "arrays" / "pipe.npy")
    with pytest.raises(BundleError, match=r"arrays/pipe.npy is a FIFO; a bundle holds regular"):
        load_bundle(bundle)


def test_an_unlisted_dot_file_in_arrays_is_refused(bundle):
    np.save(bundle / "arrays" / ".hidden.npy", np.zeros(3))
    with pytest.raises(
        BundleError, match=r"file arrays/.hidden.npy is not listed in SHA256SUMS \(1 unlisted\)"
    ):
        load_bundle(bundle)


def test_a_listed_dot_file_is_refused_as_a_name_a_bundle_does_not_hold(bundle):
    np.save(bundle / "arrays" / ".hidden.npy", np.zeros(3))
    restamp(bundle)
    with pytest.raises(
        BundleError, match=r"'arrays/.hidden.npy' is not a file a bundle holds \(bundle.json"
    ):
        load_bundle(bundle)


def test_a_listed_array_the_manifest_does_not_use_is_refused(bundle):
    np.save(bundle / "arrays" / "spare.npy", np.zeros(3))
    restamp(bundle)
    with pytest.raises(BundleError, match=r"arrays/spare.npy is not used by bundle.json"):
        load_bundle(bundle)


def test_an_array_name_that_is_a_path_is_refused(bundle):
    def change(m):
        m["heads"][1]["arrays"]["coef"] = "../../outside"

    edit_manifest(bundle, change)
    with pytest.raises(
        BundleError,
        match=r"bundle.json, key 'heads\[1\].arrays.coef': expected an array name of letters, "
        r"digits and _, got '../../outside'",
    ):
        load_bundle(bundle)


def test_an_array_of_the_wrong_shape_is_refused(bundle):
    np.save(bundle / "arrays" / "head1_coef.npy", np.zeros(7))
    restamp(bundle)
    with pytest.raises(BundleError, match=r"head1_coef.npy: expected shape \(421,\), got \(7,\)"):
        load_bundle(bundle)


def test_an_object_array_is_refused_before_anything_is_unpickled(bundle):
    arr = np.array([{"a": 1}, None], dtype=object)
    np.save(bundle / "arrays" / "head1_intercept.npy", arr, allow_pickle=True)
    restamp(bundle)
    with pytest.raises(BundleError, match=r"head1_intercept.npy: dtype object is not allowed"):
        load_bundle(bundle)


def test_an_npy_header_claiming_745_gib_is_refused_before_allocating(bundle):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100_000, 1_000_000)}
    )
    (bundle / "arrays" / "head1_coef.npy").write_bytes(header.getvalue() + b"\0" * 64)
    restamp(bundle)
    with pytest.raises(
        BundleError,
        match=r"head1_coef.npy: header claims shape \(100000, 1000000\) of float64 \(745 GiB\) "
        r"but the file holds 64 bytes of data",
    ):
        load_bundle(bundle)


def test_a_nan_in_an_array_is_refused(bundle):
    coef = np.load(bundle / "arrays" / "head0_coef.npy")
    coef[5] = np.nan
    np.save(bundle / "arrays" / "head0_coef.npy", coef)
    restamp(bundle)
    with pytest.raises(
        BundleError, match=r"head0_coef.npy: 1 values are NaN or infinite \(first at flat index 5\)"
    ):
        load_bundle(bundle)


def test_a_nan_threshold_is_refused(bundle):
    text = (bundle / "bundle.json").read_text("utf-8")
    m = json.loads(text)
    old = json.dumps(m["thresholds"]["share_0.20"]["p_hard"])
    (bundle / "bundle.json").write_text(text.replace(old, "NaN", 1), "utf-8")
    restamp(bundle)
    with pytest.raises(BundleError, match=r"bundle.json: not valid JSON \(NaN is not allowed"):
        load_bundle(bundle)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m["thresholds"]["share_0.20"].update(p_hard="high"),
            r"key 'thresholds.share_0.20.p_hard': expected a finite number, got 'high'",
        ),
        (
            lambda m: m["thresholds"]["share_0.20"].update(p_hard=1.7),
            r"key 'thresholds.share_0.20.p_hard': expected a number in \[0.0, 1.0\], got 1.7",
        ),
        (
            lambda m: m.update(tiers=[]),
            r"key 'tiers': expected a list of at least 2 tiers \(cheapest first\), got \[\]",
        ),
        (
            lambda m: m["score"].update(platt=["5.4", "-2.2"]),
            r"key 'score.platt\[0\]': expected a finite number, got '5.4'",
        ),
        (
            lambda m: m["heads"].pop(),
            r"key 'heads': expected a list of one head per tier \(2\), got 1",
        ),
        (
            lambda m: m["heads"][0].update(kind="pickle"),
            r"key 'heads\[0\].kind': unknown head kind 'pickle'; known kinds: logistic",
        ),
        (
            lambda m: m.update(default_threshold="share_0.99"),
            r"key 'default_threshold': expected one of \['share_0.10'",
        ),
        (
            lambda m: m["features"].update(text_features="yes"),
            r"key 'features.text_features': expected true or false, got 'yes'",
        ),
    ],
)
def test_a_manifest_with_wrong_types_or_ranges_names_the_key(bundle, change, message):
    edit_manifest(bundle, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle)


def test_version_true_does_not_pass_as_version_1(bundle):
    edit_manifest(bundle, lambda m: m.update(version=True))
    with pytest.raises(BundleError, match=r"bundle format version True is incompatible"):
        load_bundle(bundle)


def test_a_tokenizer_that_is_not_json_is_refused(bundle):
    (bundle / "tokenizer.json").write_text("this is not json", "utf-8")
    restamp(bundle)
    with pytest.raises(BundleError, match=r"tokenizer.json: not valid JSON"):
        load_bundle(bundle)


def test_a_json_tokenizer_that_tokenizers_cannot_read_is_refused(bundle):
    (bundle / "tokenizer.json").write_text('{"model": 3}', "utf-8")
    restamp(bundle)
    with pytest.raises(
        BundleError, match=r"tokenizer.json: not a tokenizer the `tokenizers` library reads"
    ):
        load_bundle(bundle)


def test_the_digest_is_the_sha256_of_sha256sums_and_pins_the_bundle(bundle):
    digest = bundle_digest(bundle)
    out = subprocess.run(
        ["sha256sum", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True, check=True
    )
    assert out.stdout.split()[0] == digest
    router = Router.load(bundle, sha256=digest.upper())
    assert router.bundle.sha256 == digest
    # a consistent edit (sums recomputed) changes the digest, and the pin catches it
    edit_manifest(bundle, lambda m: m.update(default_threshold="share_0.10"))
    with pytest.raises(
        BundleError, match=rf"bundle digest [0-9a-f]{{64}} is not the expected {digest}"
    ):
        Router.load(bundle, sha256=digest)
    with pytest.raises(BundleError, match=r"expected bundle sha256 must be 64 hex digits"):
        load_bundle(bundle, sha256="abc")


@pytest.mark.parametrize("threshold", [float("nan"), 1.7, -0.1, float("inf")])
def test_a_numeric_threshold_outside_0_1_is_refused_instead_of_routing_everything_cheap(
    threshold,
):
    from simkit.errors import ClassifierError

    with pytest.raises(
        ClassifierError,
        match=r"threshold must be a p_hard value in \[0, 1\] or one of the bundle's named "
        r"thresholds \(share_0.10, share_0.20",
    ):
        Router.load(SHIPPED, threshold=threshold)


@pytest.mark.slow
@pytest.mark.parametrize("head", ["mlp", "knn", "hgb"])
def test_bundles_of_every_head_kind_pass_the_checks_and_score_as_fitted(
    head, tmp_path, tiny_model, static_cache, small_trace
):
    """The shape checks match what export writes for each head kind (not only logistic)."""
    from simkit.classify.embed import StaticEmbedder
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.train import train_bundle

    grid = {"mlp": (1.0,), "knn": (15,), "hgb": None}[head]
    est = ComplexityClassifier(
        StaticEmbedder(str(tiny_model), cache_dir=static_cache), head=head, grid=grid, cv=2
    )
    trained = train_bundle(small_trace, tmp_path / head, estimator=est)
    prompts = [str(p) for p in small_trace.requests["prompt"][:40]]
    b = load_bundle(trained.path)
    np.testing.assert_allclose(b.p_hard(prompts), trained.classifier.p_hard(prompts), rtol=1e-9)


def test_a_negative_feature_weight_names_its_one_sided_range(bundle):
    edit_manifest(bundle, lambda m: m["features"].update(weight=-0.5))
    with pytest.raises(
        BundleError, match=r"key 'features.weight': expected a number >= 0.0, got -0.5"
    ):
        load_bundle(bundle)
