"""A static (per-token) embedding distilled from a sentence-transformers model: the fast path.

Distillation (model2vec-style, done once, offline, from the local model's weights): every
vocabulary token ``t`` is run through the encoder alone, as ``[CLS] t [SEP]``, and its
mean-pooled output becomes the token's vector. A prompt's embedding is then the mean of its
tokens' vectors, L2-normalised: one tokenisation (Rust) and one gather, no transformer, no
torch. Prompts are *not* truncated to the encoder's window: every token counts.

The table and the tokenizer travel inside a bundle as plain files (``.npy`` and
``tokenizer.json``), so the router runtime needs only numpy and ``tokenizers``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.classify.model_folder import (
    load_tokenizer,
    model_name,
    model_options,
    resolve_model_path,
    weights_sha256,
)
from simkit.errors import ClassifierError

__all__ = ["DISTILL_VERSION", "StaticEmbedding", "distill_static_embedding"]

#: Bumped whenever the distillation recipe changes (part of the cache key and identity).
DISTILL_VERSION = 1


class StaticEmbedding:
    """Token table plus tokenizer: prompts -> normalised mean of token vectors.

    Parameters
    ----------
    vectors : ndarray, shape (vocab_size, dim)
        One vector per token id (float16 or float32; computed in float32).
    tokenizer_json : str
        The serialised ``tokenizers`` tokenizer (its padding and truncation are switched off).
    identity : dict
        Where the table came from (teacher name and weights hash, distillation options).
    """

    def __init__(self, vectors: np.ndarray, tokenizer_json: str, identity: dict[str, Any]):
        import tokenizers

        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ClassifierError(f"static embedding table must be 2-D, got {vectors.shape}")
        self.vectors = vectors
        # the sums run in float32: widen a float16 table once (47 MB for MiniLM's vocabulary)
        # rather than the gathered rows of every prompt, a quarter of encode()
        self._rows32 = vectors.astype(np.float32, copy=False)
        self.tokenizer_json = tokenizer_json
        self.identity = dict(identity)
        tok = tokenizers.Tokenizer.from_str(tokenizer_json)
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        specials = [tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]")]
        self._special = np.array([s for s in specials if s is not None], dtype=np.int64)
        if tok.get_vocab_size() != vectors.shape[0]:
            raise ClassifierError(
                f"static embedding table has {vectors.shape[0]} rows but the tokenizer has "
                f"{tok.get_vocab_size()} tokens"
            )

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.vectors.shape[1])

    def token_ids(self, prompts: Sequence[str]) -> list[np.ndarray]:
        """Token ids of each prompt without the special tokens."""
        prompts = list(prompts)
        if len(prompts) == 1:  # a router's one prompt: not through the batch's thread pool
            encs = [self._tok.encode(prompts[0], add_special_tokens=False)]
        else:
            encs = self._tok.encode_batch(prompts, add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encs]

    def encode(self, prompts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``prompts``, shape ``(n, dim)``, float32, L2-normalised."""
        ids = self.token_ids(prompts)
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        for i, t in enumerate(ids):
            if t.size:
                out[i] = self._rows32[t].mean(axis=0)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def encode_one(self, prompt: str) -> np.ndarray:
        """Embedding of one prompt, shape ``(dim,)``."""
        return self.encode([prompt])[0]

    def save(self, folder: str | PathLike[str]) -> list[str]:
        """Write ``static_vectors.npy`` and ``tokenizer.json`` into ``folder``; return names."""
        folder = Path(folder)
        np.save(folder / "static_vectors.npy", self.vectors, allow_pickle=False)
        (folder / "tokenizer.json").write_text(self.tokenizer_json, "utf-8")
        return ["static_vectors.npy", "tokenizer.json"]

    @classmethod
    def load(cls, folder: str | PathLike[str], identity: dict[str, Any]) -> StaticEmbedding:
        """Read what :meth:`save` wrote."""
        folder = Path(folder)
        vectors = np.load(folder / "static_vectors.npy", allow_pickle=False)
        return cls(vectors, (folder / "tokenizer.json").read_text("utf-8"), identity)


def distill_static_embedding(
    model: str | PathLike[str] | None = None,
    *,
    batch_size: int = 1024,
    dtype: str = "float16",
    progress: bool = False,
) -> StaticEmbedding:
    """Distil a :class:`StaticEmbedding` from a local sentence-transformers model.

    Parameters
    ----------
    model : str or path-like, default None
        As for :class:`~simkit.classify.embed.SentenceEmbedder` (``None`` = bundled MiniLM).
    batch_size : int
        Tokens per forward pass.
    dtype : {'float16', 'float32'}
        Storage type of the table (float16 halves the bundle; the sums run in float32).
    progress : bool
        Show a progress bar.

    Returns
    -------
    StaticEmbedding
        Deterministic for given weights (CPU, float32 forward passes).
    """
    if dtype not in ("float16", "float32"):
        raise ClassifierError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModel

    path = resolve_model_path(model)
    options = model_options(path)
    tok = load_tokenizer(path, None)
    # canonical JSON: to_str() orders keys differently from one process to the next
    tok_json = json.dumps(json.loads(tok.to_str()), sort_keys=True, ensure_ascii=False)
    vocab = tok.get_vocab_size()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    if cls_id is None or sep_id is None:
        raise ClassifierError(f"{path}: tokenizer has no [CLS]/[SEP]; expected a BERT tokenizer")
    enc = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    table = np.empty((vocab, options["dim"]), dtype=np.float32)
    with torch.inference_mode():
        for start in tqdm(range(0, vocab, batch_size), disable=not progress, desc="distilling"):
            ids = torch.arange(start, min(vocab, start + batch_size), dtype=torch.long)
            inp = torch.stack(
                [torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1
            )
            hidden = enc(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
            table[start : start + len(ids)] = hidden.mean(dim=1).numpy()
    # the [CLS]/[SEP] context is in every row; remove the shared component so that the
    # mean over a prompt's tokens is not dominated by it
    table -= table.mean(axis=0, keepdims=True)
    identity = {
        "kind": "static",
        "teacher": model_name(model, path),
        "teacher_weights_sha256": weights_sha256(path),
        "method": "token-through-encoder mean pooling, centred",
        "distill_version": DISTILL_VERSION,
        "dim": options["dim"],
        "dtype": dtype,
        "normalize": True,
        "vocab_size": vocab,
    }
    tok_obj = json.loads(tok_json)
    tok_obj["truncation"] = None
    tok_obj["padding"] = None
    return StaticEmbedding(table.astype(dtype), json.dumps(tok_obj, ensure_ascii=False), identity)
