"""Embeddings: parity with sentence-transformers, the persistent cache, truncation, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from simkit.classify.embed import (
    DEFAULT_MODEL,
    SentenceEmbedder,
    TruncationWarning,
    resolve_model_path,
)
from simkit.errors import ClassifierError

PROMPTS = [
    "What is 7 * 8?",
    "Explain why the sky is blue to a ten-year-old.",
    "Which of the following is a prime number?\nA. 21\nB. 27\nC. 29\nD. 33\nAnswer:",
]


def test_default_minilm_matches_sentence_transformers_encode(tmp_path):
    """The bundled MiniLM, embedded by our pipeline, equals SentenceTransformer.encode."""
    from sentence_transformers import SentenceTransformer

    emb = SentenceEmbedder(cache_dir=tmp_path, progress=False).fit()
    ours = emb.transform(PROMPTS)
    ref = SentenceTransformer(str(resolve_model_path(None)), device="cpu").encode(PROMPTS)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert emb.identity_["name"] == DEFAULT_MODEL
    assert emb.identity_["precision"] == "fp32"
    assert emb.identity_["max_seq_length"] == 256


def test_any_local_model_folder_is_pluggable_and_matches_sentence_transformers(
    tiny_model, small_trace
):
    """A local sentence-transformers folder (the tiny BERT) embeds like the library does."""
    from sentence_transformers import SentenceTransformer

    texts = [str(p) for p in small_trace.requests["prompt"][:12]]
    ours = SentenceEmbedder(str(tiny_model), cache_dir=False, progress=False).fit()
    ref = SentenceTransformer(str(tiny_model), device="cpu").encode(texts)
    with pytest.warns(TruncationWarning):
        np.testing.assert_allclose(ours.transform(texts), ref, atol=1e-5)


def test_second_run_embeds_nothing_and_returns_identical_vectors(tiny_model, tmp_path):
    """The cache answers every prompt of a repeated call, bit for bit."""
    emb = SentenceEmbedder(str(tiny_model), cache_dir=tmp_path, progress=False).fit()
    first = emb.embed(["alpha beta", "gamma", "alpha beta"])
    second = SentenceEmbedder(str(tiny_model), cache_dir=tmp_path, progress=False).fit()
    again = second.embed(["gamma", "alpha beta", "delta"])
    assert (first.n_cached, first.n_computed) == (0, 2)  # the duplicate is embedded once
    assert (again.n_cached, again.n_computed) == (2, 1)
    assert np.array_equal(again.vectors[0], first.vectors[1])
    assert np.array_equal(again.vectors[1], first.vectors[0])
    third = second.embed(["delta", "gamma"])
    assert (third.n_cached, third.n_computed) == (2, 0)


def test_cache_key_changes_with_the_model_weights(tiny_model, tmp_path):
    """Same name, other weights: the cache misses instead of returning stale vectors."""
    other = tmp_path / "tiny"
    shutil.copytree(tiny_model, other)
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(str(other / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    weights[key] = weights[key] + torch.ones_like(weights[key])
    save_file(weights, str(other / "model.safetensors"))
    cache = tmp_path / "cache"
    a = SentenceEmbedder(str(tiny_model), cache_dir=cache, progress=False).fit()
    b = SentenceEmbedder(str(other), cache_dir=cache, progress=False).fit()
    assert a.identity_["weights_sha256"] != b.identity_["weights_sha256"]
    a.embed(["same text"])
    assert b.embed(["same text"]).n_cached == 0


def test_long_prompts_are_truncated_counted_and_warned(tiny_model):
    """Prompts beyond the window are embedded from their first tokens and reported."""
    emb = SentenceEmbedder(str(tiny_model), cache_dir=False, progress=False).fit()
    long = "the answer is " * 40
    report = emb.embed(["short one", long, "another short"])
    assert report.n_truncated == 1
    assert report.truncated.tolist() == [1]
    with pytest.warns(TruncationWarning, match=r"1 of 3 prompts exceed .* window of 48 tokens"):
        emb.transform(["short one", long, "another short"])
    assert emb.n_truncated_ == 1


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        (["ok", ""], r"prompts, row 2: empty prompt \(1 empty or blank prompts\)"),
        (["ok", "   ", "\n"], r"row 2: empty prompt \(2 empty or blank prompts\)"),
        (["ok", None], r"row 2: expected a prompt string, got NoneType None"),
        (["ok", 3, 4.5], r"row 2: expected a prompt string, got int 3 \(2 non-string entries\)"),
        ("just a string", r"expected a sequence of prompts, got a single str; wrap it in a list"),
    ],
)
def test_bad_prompts_raise_naming_the_row(tiny_model, prompts, message):
    emb = SentenceEmbedder(str(tiny_model), cache_dir=False, progress=False).fit()
    with pytest.raises(ClassifierError, match=message):
        emb.transform(prompts)


def test_unknown_embedder_is_refused_listing_what_is_accepted(tmp_path):
    with pytest.raises(ClassifierError, match=r"unknown embedder 'BAAI/bge-small-en-v1.5'.*"
                       r"'all-MiniLM-L6-v2' \(the bundled default\).*never downloaded"):  # fmt: skip
        SentenceEmbedder("BAAI/bge-small-en-v1.5").fit()
    with pytest.raises(ClassifierError, match="unknown embedder"):
        SentenceEmbedder(str(tmp_path)).fit()  # a folder without config.json


def test_transform_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SentenceEmbedder().transform(["x"])


def test_bad_device_is_refused_listing_choices():
    with pytest.raises(ClassifierError, match=r"device 'tpu' is not one of 'auto', 'cpu'"):
        SentenceEmbedder(device="tpu").fit()
