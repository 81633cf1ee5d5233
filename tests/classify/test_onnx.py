"""The ONNX fast-path candidate: a transformer exported to ONNX (fp32 / int8), run by ONNX
Runtime on one thread, shipped inside a bundle as a checksummed file.

The tiny local BERT of conftest stands in for MiniLM (same export code, seconds instead of
a minute); the embeddings are compared with the torch encoder's."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from simkit.classify.bundle import load_bundle, rebundle
from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.onnx import OnnxEmbedder
from simkit.classify.train import train_bundle
from simkit.errors import BundleError, ClassifierError

from .test_bundle_security import restamp

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> Path:
    """Graphs exported once per precision for the module."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def prompts(small_trace) -> list[str]:
    return [str(p) for p in small_trace.requests["prompt"][:30]]


def fitted(tiny_model, cache, precision: str, **kw) -> OnnxEmbedder:
    return OnnxEmbedder(str(tiny_model), precision=precision, cache_dir=cache, **kw).fit()


def test_fp32_graph_gives_the_torch_encoders_embeddings(tiny_model, onnx_cache, prompts):
    emb = fitted(tiny_model, onnx_cache, "fp32", progress=False)
    torch_emb = SentenceEmbedder(str(tiny_model), device="cpu", cache_dir=False, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both truncate the long prompts at the window (48)
        ref = torch_emb.fit().transform(prompts)
    z = emb.transform(prompts)
    assert z.shape == ref.shape == (30, 32) and z.dtype == np.float32
    np.testing.assert_allclose(z, ref, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    assert emb.identity_["max_seq_length"] == 48  # min(256, the tiny model's window)
    assert emb.n_truncated_ == torch_emb.n_truncated_ > 0


def test_int8_graph_is_close_to_fp32_and_a_prompt_never_depends_on_its_batch(
    tiny_model, onnx_cache, prompts
):
    int8 = OnnxEmbedder(str(tiny_model), cache_dir=False, progress=False).fit()
    fp32 = fitted(tiny_model, onnx_cache, "fp32", progress=False)
    assert int8.precision == "int8" and int8.identity_["precision"] == "int8"
    assert len(int8.graph_) < len(fp32.graph_)  # a quarter for MiniLM (22.9 vs 90.4 MB)
    z8, z32 = int8.transform(prompts), fp32.transform(prompts)
    cos = np.sum(z8 * z32, axis=1)
    assert cos.min() > 0.9 and not np.array_equal(z8, z32)
    # the same vector alone, among others, in another order (int8 quantises activations per
    # run, so a padded batch would change it: prompts run one at a time)
    alone = np.stack([int8.transform([p])[0] for p in prompts[:5]])
    np.testing.assert_array_equal(alone, z8[:5])
    np.testing.assert_array_equal(int8.transform(prompts[::-1])[::-1], z8)


def test_prompts_are_truncated_at_max_seq_length(tiny_model, onnx_cache):
    emb = fitted(tiny_model, onnx_cache, "fp32", max_seq_length=8, progress=False)
    long = "natalia sold clips to forty eight of her friends in april and then half as many"
    more = long + " clips in may how many clips did she sell altogether"
    z = emb.transform([long, more, "clips"])
    np.testing.assert_array_equal(z[0], z[1])  # both cut to their first 8 tokens
    assert not np.allclose(z[0], z[2])
    assert emb.n_truncated_ == 2 and emb.identity_["max_seq_length"] == 8


def test_export_is_deterministic_and_cached(tiny_model, tmp_path):
    a = OnnxEmbedder(str(tiny_model), cache_dir=tmp_path / "a", progress=False).fit()
    b = OnnxEmbedder(str(tiny_model), cache_dir=tmp_path / "b", progress=False).fit()
    assert a.identity_ == b.identity_
    assert a.identity_["graph_sha256"] == hashlib.sha256(a.graph_).hexdigest()
    (graph,) = (tmp_path / "a" / "onnx").glob("*-int8-v1/encoder.onnx")
    assert graph.read_bytes() == a.graph_


def test_bad_options_name_what_was_expected(tiny_model, onnx_cache):
    with pytest.raises(
        ClassifierError, match=r"precision must be one of 'fp32', 'int8', got 'fp16'"
    ):
        OnnxEmbedder(str(tiny_model), precision="fp16", cache_dir=onnx_cache).fit()
    with pytest.raises(
        ClassifierError, match=r"max_seq_length 256 exceeds the model's window of 48"
    ):
        OnnxEmbedder(str(tiny_model), max_seq_length=256, cache_dir=onnx_cache).fit()
    with pytest.raises(ClassifierError, match=r"max_seq_length must be a whole number >= 3, got 2"):
        OnnxEmbedder(str(tiny_model), max_seq_length=2, cache_dir=onnx_cache).fit()


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory, tiny_model, onnx_cache, small_trace):
    emb = OnnxEmbedder(str(tiny_model), cache_dir=onnx_cache, progress=False)
    est = ComplexityClassifier(emb, cv=3)
    return train_bundle(small_trace, tmp_path_factory.mktemp("onnx-bundle") / "b", estimator=est)


@pytest.fixture()
def onnx_copy(onnx_bundle, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(onnx_bundle.path, dst)
    return dst


def test_bundle_carries_the_graph_and_scores_exactly_like_the_classifier(onnx_bundle, small_trace):
    root = onnx_bundle.path
    listed = [line.split("  ")[1] for line in (root / "SHA256SUMS").read_text().splitlines()]
    assert {"encoder.onnx", "tokenizer.json", "bundle.json"} <= set(listed)
    assert not any(n.endswith(".pkl") for n in listed)
    m = json.loads((root / "bundle.json").read_text())
    assert m["embedder"]["kind"] == "onnx" and m["embedder"]["precision"] == "int8"
    graph = (root / "encoder.onnx").read_bytes()
    assert m["embedder"]["graph_sha256"] == hashlib.sha256(graph).hexdigest()
    prompts = [str(p) for p in small_trace.requests["prompt"][-40:]]
    b = load_bundle(root)
    # same embeddings; the heads' arithmetic differs in the last bit (as for static bundles)
    np.testing.assert_allclose(
        b.p_hard(prompts), onnx_bundle.classifier.p_hard(prompts), rtol=1e-12
    )
    one = [b.p_hard([p])[0] for p in prompts[:5]]
    np.testing.assert_array_equal(one, b.p_hard(prompts)[:5])


def test_rebundle_keeps_the_graph(onnx_bundle, tmp_path, small_trace):
    b = load_bundle(onnx_bundle.path)
    new = load_bundle(rebundle(b, tmp_path / "re", metrics={"note": "recalibrated"}))
    assert (tmp_path / "re" / "encoder.onnx").read_bytes() == b.graph
    prompts = [str(p) for p in small_trace.requests["prompt"][:10]]
    np.testing.assert_array_equal(new.p_hard(prompts), b.p_hard(prompts))


def test_router_imports_onnxruntime_only_when_the_bundle_first_scores(onnx_bundle):
    code = (
        "import sys\n"
        "from simkit.router import Router\n"
        f"r = Router.load({str(onnx_bundle.path)!r})\n"
        "before = 'onnxruntime' in sys.modules\n"
        "d = r.decide('What is 17 times 23?')\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'pandas', 'onnx') if m in sys.modules)\n"
        "print(before, 'onnxruntime' in sys.modules, heavy, d.tier in ('cheap', 'strong'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split("\n")[-2]
    assert out == "False True [] True"


def test_a_changed_graph_is_refused(onnx_copy):
    data = bytearray((onnx_copy / "encoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (onnx_copy / "encoder.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"encoder.onnx does not match its checksum"):
        load_bundle(onnx_copy)
    restamp(onnx_copy)  # as an attacker would: the manifest's graph_sha256 still disagrees
    with pytest.raises(BundleError, match=r"encoder.onnx: its sha256 is not the embedder's"):
        load_bundle(onnx_copy)


def test_a_graph_onnxruntime_cannot_read_is_a_bundle_error_naming_the_file(onnx_copy):
    garbage = b"not a protobuf" * 10
    (onnx_copy / "encoder.onnx").write_bytes(garbage)
    m = json.loads((onnx_copy / "bundle.json").read_text())
    m["embedder"]["graph_sha256"] = hashlib.sha256(garbage).hexdigest()
    (onnx_copy / "bundle.json").write_text(json.dumps(m))
    restamp(onnx_copy)
    b = load_bundle(onnx_copy)
    with pytest.raises(BundleError, match=r"encoder.onnx: not an ONNX graph that ONNX Runtime"):
        b.p_hard(["hello"])


def test_missing_graph_and_bad_identity_are_refused(onnx_copy):
    (onnx_copy / "encoder.onnx").unlink()
    restamp(onnx_copy)
    with pytest.raises(BundleError, match=r"an ONNX-embedder bundle needs encoder.onnx"):
        load_bundle(onnx_copy)
    m = json.loads((onnx_copy / "bundle.json").read_text())
    m["embedder"]["precision"] = "fp16"
    (onnx_copy / "bundle.json").write_text(json.dumps(m))
    restamp(onnx_copy)
    with pytest.raises(BundleError, match=r"key 'embedder.precision': expected 'fp32' or 'int8'"):
        load_bundle(onnx_copy)


def test_a_static_bundle_carrying_a_graph_is_refused(tmp_path, tiny_model, small_trace):
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=tmp_path / "c"), cv=3)
    out = train_bundle(small_trace, tmp_path / "static", estimator=est).path
    (out / "encoder.onnx").write_bytes(b"x")
    restamp(out)
    with pytest.raises(BundleError, match=r"encoder.onnx is not used by a 'static' embedder"):
        load_bundle(out)


def test_cli_names_select_the_onnx_candidates():
    from argparse import Namespace

    from simkit.cli.classifier import _estimator

    for name, precision in (("onnx-int8", "int8"), ("onnx-fp32", "fp32")):
        args = Namespace(embedder=name, cache_dir=None, no_text_features=False, head="logistic",
                         seed=0)  # fmt: skip
        emb = _estimator(args).embedder
        assert isinstance(emb, OnnxEmbedder) and emb.precision == precision
        assert emb.max_seq_length is None  # 256 for MiniLM


def test_without_a_cache_the_export_leaves_no_file_behind(tiny_model, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    emb = OnnxEmbedder(str(tiny_model), precision="fp32", cache_dir=False, progress=False).fit()
    assert emb.graph_ and list(tmp_path.iterdir()) == []
