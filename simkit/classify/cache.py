"""A persistent embedding cache: one folder per embedder identity, entries keyed by text hash.

::

    <cache_dir>/embeddings/<identity key>/
        identity.json              the embedder identity the key was derived from
        shard-<content hash>.keys.npy     (n, 32) uint8: sha256 of each text
        shard-<content hash>.vectors.npy  (n, dim) float32 (the cache's dtype): the vectors

A shard is written once (to a temporary name, then renamed), never modified; a second run
reads the shards and embeds only texts it has not seen. No pickle anywhere: ``np.load`` is
called with ``allow_pickle=False``. The key holds everything that changes the value (STYLE.md
habit 10): the embedder's identity (model name, hash of its weights, options such as
precision and maximum length) and the text itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import ClassifierError

__all__ = ["EmbeddingCache", "default_cache_dir", "file_sha256", "identity_key", "text_hashes"]


def file_sha256(path: str | PathLike[str]) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    """The user cache directory for simkit: ``$SIMKIT_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/simkit``, else ``~/.cache/simkit``. Never inside the installed package."""
    env = os.environ.get("SIMKIT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "simkit"


def identity_key(identity: Mapping[str, Any]) -> str:
    """Stable hex key of an embedder identity (canonical JSON, sorted keys)."""
    blob = json.dumps(dict(identity), sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """sha256 of each text's UTF-8 bytes, as an ``(n, 32)`` uint8 array."""
    out = np.empty((len(texts), 32), dtype=np.uint8)
    for i, t in enumerate(texts):
        out[i] = np.frombuffer(hashlib.sha256(t.encode("utf-8")).digest(), dtype=np.uint8)
    return out


def _atomic_save(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EmbeddingCache:
    """Embeddings of one embedder, stored under ``root`` and keyed by text hash.

    Parameters
    ----------
    root : path-like
        The cache directory (created on first write).
    identity : mapping
        The embedder's identity; a different identity gets a different folder.
    dtype : str, default "float32"
        How vectors are stored and returned (embeddings: float32; routing scores: float64,
        so a cached score is the score the router computes).
    """

    def __init__(
        self, root: str | PathLike[str], identity: Mapping[str, Any], dtype: str = "float32"
    ) -> None:
        self.root = Path(root)
        self.identity = dict(identity)
        self.dtype = np.dtype(dtype)
        self.folder = self.root / "embeddings" / identity_key(self.identity)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Find cached vectors for ``keys`` (``(n, 32)`` uint8).

        Returns
        -------
        found : ndarray of bool, shape (n,)
        vectors : ndarray of ``dtype``, shape (n, dim), or None when nothing is cached
            Rows where ``found`` is False are zero.
        """
        found = np.zeros(len(keys), dtype=bool)
        if not self.folder.is_dir() or len(keys) == 0:
            return found, None
        wanted: dict[bytes, list[int]] = {}
        for i, k in enumerate(keys):
            wanted.setdefault(k.tobytes(), []).append(i)
        vectors = None
        for keys_path in sorted(self.folder.glob("shard-*.keys.npy")):
            vec_path = keys_path.with_name(keys_path.name.replace(".keys.npy", ".vectors.npy"))
            try:
                shard_keys = np.load(keys_path, allow_pickle=False)
                shard_vecs = np.load(vec_path, allow_pickle=False, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise ClassifierError(
                    f"{keys_path}: unreadable embedding-cache shard ({exc}); delete the folder "
                    f"{self.folder} to rebuild it"
                ) from None
            if (
                shard_keys.ndim != 2
                or shard_keys.shape[1] != 32
                or len(shard_vecs) != len(shard_keys)
            ):
                raise ClassifierError(
                    f"{keys_path}: embedding-cache shard has inconsistent shapes "
                    f"{shard_keys.shape} / {shard_vecs.shape}; delete the folder {self.folder}"
                )
            rows, src = [], []
            for j, k in enumerate(shard_keys):
                for i in wanted.get(k.tobytes(), ()):
                    if not found[i]:
                        rows.append(i)
                        src.append(j)
            if not rows:
                continue
            if vectors is None:
                vectors = np.zeros((len(keys), shard_vecs.shape[1]), dtype=self.dtype)
            vectors[rows] = shard_vecs[src]
            found[rows] = True
            if found.all():
                break
        return found, vectors

    def store(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write one new shard with ``keys`` and their ``vectors`` (duplicate keys collapsed)."""
        if len(keys) == 0:
            return
        keys = np.ascontiguousarray(keys, dtype=np.uint8)
        _, first = np.unique(keys, axis=0, return_index=True)
        first.sort()
        keys, vectors = keys[first], np.ascontiguousarray(vectors[first], dtype=self.dtype)
        self.folder.mkdir(parents=True, exist_ok=True)
        ident = self.folder / "identity.json"
        if not ident.exists():
            ident.write_text(json.dumps(self.identity, indent=2, sort_keys=True) + "\n", "utf-8")
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:24]
        # vectors first: a shard counts only once its keys file exists
        _atomic_save(self.folder / f"shard-{name}.vectors.npy", vectors)
        _atomic_save(self.folder / f"shard-{name}.keys.npy", keys)
