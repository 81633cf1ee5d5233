"""The distilled static embedding: what a row is, how a prompt is embedded, the cache."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.classify.embed import StaticEmbedder, load_tokenizer
from simkit.classify.static import distill_static_embedding


def test_each_row_is_the_centred_mean_pooled_output_of_the_token_alone(tiny_model):
    """Row t = mean over [CLS] t [SEP] of the encoder's output, minus the mean row."""
    import torch
    from transformers import AutoModel

    static = distill_static_embedding(str(tiny_model), dtype="float32")
    model = AutoModel.from_pretrained(str(tiny_model)).eval()
    tok = load_tokenizer(tiny_model, None)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    with torch.inference_mode():
        ids = torch.arange(tok.get_vocab_size())
        inp = torch.stack([torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], 1)
        raw = model(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
    rows = raw.mean(1).numpy()
    np.testing.assert_allclose(static.vectors, rows - rows.mean(0), atol=1e-5)
    assert static.identity["teacher"] == tiny_model.name
    assert static.identity["vocab_size"] == tok.get_vocab_size()


def test_prompt_embedding_is_the_normalised_mean_of_its_token_rows(tiny_model):
    static = distill_static_embedding(str(tiny_model), dtype="float32")
    text = "How many apples are left?"
    ids = static.token_ids([text])[0]
    expected = static.vectors[ids].mean(0)
    expected /= np.linalg.norm(expected)
    np.testing.assert_allclose(static.encode([text])[0], expected, rtol=1e-6)
    np.testing.assert_allclose(static.encode_one(text), expected, rtol=1e-6)
    # no truncation: a prompt longer than the teacher's window still uses every token
    long = " ".join(["apples"] * 300)
    assert len(static.token_ids([long])[0]) > 48


def test_distillation_is_deterministic_and_cached_by_teacher_weights(tiny_model, tmp_path):
    a = StaticEmbedder(str(tiny_model), cache_dir=tmp_path).fit()
    folders = list((tmp_path / "static").iterdir())
    b = StaticEmbedder(str(tiny_model), cache_dir=tmp_path).fit()  # read from the cache
    c = distill_static_embedding(str(tiny_model))
    assert len(folders) == 1 and folders[0].name.startswith(
        a.identity_["teacher_weights_sha256"][:32]
    )
    assert np.array_equal(a.static_.vectors, b.static_.vectors)
    assert np.array_equal(a.static_.vectors, c.vectors)
    assert a.static_.vectors.dtype == np.float16


def test_static_embedder_rejects_empty_prompts(tiny_model):
    from simkit.errors import ClassifierError

    emb = StaticEmbedder(str(tiny_model), cache_dir=False).fit()
    with pytest.raises(ClassifierError, match="row 1: empty prompt"):
        emb.transform([" "])
