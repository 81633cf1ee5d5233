"""Shared fixtures: the small real trace, and a tiny real BERT sentence-transformers model
built locally (random weights, seeded) so that embedding code runs in milliseconds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from simkit.trace import load_trace

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "classify"
WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"


@pytest.fixture(scope="session")
def small_trace():
    """262 real MMLU + GSM8K requests with both models' outcomes."""
    return load_trace(FIXTURES / "routellm_small")


def build_tiny_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary trained on ``texts``, saved as a
    sentence-transformers folder (Transformer + mean Pooling + Normalize)."""
    import torch
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    # a deterministic WordPiece vocabulary: specials, every character seen, then the most
    # frequent words (ties by spelling); the trainer's own order varies between processes
    words: dict[str, int] = {}
    chars: set[str] = set()
    for t in texts:
        for w in re.findall(r"\w+|[^\w\s]", t.lower()):
            words[w] = words.get(w, 0) + 1
            chars.update(w)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = sorted(chars) + [f"##{c}" for c in sorted(chars)]
    common = [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    vocab_list = (specials + pieces + common)[:800]
    tok = BertWordPieceTokenizer({w: i for i, w in enumerate(vocab_list)}, lowercase=True)
    tok.save(str(folder / "tokenizer.json"))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).eval().save_pretrained(str(folder), safe_serialization=True)
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizerFast", "do_lower_case": True})
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "unk_token": "[UNK]",
                "sep_token": "[SEP]",
                "pad_token": "[PAD]",
                "cls_token": "[CLS]",
                "mask_token": "[MASK]",
            }
        )
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 48, "do_lower_case": False})
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {
                    "idx": 0,
                    "name": "0",
                    "path": "",
                    "type": "sentence_transformers.models.Transformer",
                },
                {
                    "idx": 1,
                    "name": "1",
                    "path": "1_Pooling",
                    "type": "sentence_transformers.models.Pooling",
                },
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ]
        )
    )
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, small_trace) -> Path:
    """Folder of the tiny model (vocabulary from the fixture's prompts)."""
    texts = [str(p) for p in small_trace.requests["prompt"]]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), texts)


@pytest.fixture()
def quality(small_trace) -> np.ndarray:
    """Weak, strong quality matrix of the small trace."""
    return small_trace.quality_matrix([WEAK, STRONG]).to_numpy()


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """Small fits run faster on one BLAS/OpenMP thread than fighting over two cores (and
    torch's OpenMP pool); results are the same."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def static_cache(tmp_path_factory) -> Path:
    """A cache directory shared by the tests, so the tiny model is distilled once."""
    return tmp_path_factory.mktemp("static-cache")
