"""Reading a classifier bundle safely: exactly the listed files, then a checked manifest and arrays.

A bundle arrives from elsewhere (a colleague, an artefact store, a gateway's volume), so
nothing in it is trusted before it is checked:

- the directory holds regular files only: a symbolic link or a special file (FIFO, socket,
  device) anywhere in it is refused, so nothing outside the bundle can be read through it;
- the files present are exactly the files ``SHA256SUMS`` lists (dot-files included), each
  named as a bundle names its files, and each file is read *once*: the bytes that are hashed
  are the bytes that are parsed;
- ``bundle.json`` is checked key by key (types, ranges, tiers, thresholds, heads) and every
  array's ``.npy`` header (dtype, shape, size against the file's length) is checked before
  the array is read, so a header claiming hundreds of GiB is refused without allocating;
- arrays and thresholds hold no NaN.

``SHA256SUMS`` proves *integrity* (the files are those that were listed), not *authorship*:
anyone who edits a bundle can recompute it. To pin the exact bundle you were given, compare
its digest (:func:`bundle_digest`, the sha256 of its ``SHA256SUMS``; ``sha256sum
BUNDLE/SHA256SUMS``) with one you received through a channel you trust:
``load_bundle(path, sha256=...)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from simkit.classify.arrays import HEAD_KINDS
from simkit.classify.features import FEATURE_NAMES
from simkit.errors import BundleError

__all__ = [
    "GRAPH",
    "bundle_digest",
    "check_manifest",
    "load_arrays",
    "parse_json",
    "read_bundle_files",
]

SUMS = "SHA256SUMS"
MANIFEST = "bundle.json"
#: The only file names a bundle holds (relative, POSIX).
_FILE_NAME = re.compile(
    r"(bundle\.json|tokenizer\.json|encoder\.onnx|CARD\.md|arrays/[A-Za-z0-9_]+\.npy)"
)
#: The ONNX graph of an ``onnx`` embedder (:mod:`simkit.classify.onnx`).
GRAPH = "encoder.onnx"
_ARRAY_NAME = re.compile(r"[A-Za-z0-9_]+")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_FLOATS = ("float16", "float32", "float64")
_INTS = ("int64",)
_FLAGS = ("uint8",)
_CALIBRATIONS = ("platt", "(gain + 1) / 2")
_KIND_NAMES = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def bundle_digest(path: str | PathLike[str]) -> str:
    """The digest that pins a whole bundle: the sha256 of its ``SHA256SUMS`` file.

    ``SHA256SUMS`` lists the sha256 of every other file and loading refuses any file it does
    not list, so this one digest fixes every byte of the bundle. It equals the first field
    of ``sha256sum BUNDLE/SHA256SUMS``.
    """
    sums = Path(path) / SUMS
    try:
        st = os.lstat(sums)
    except OSError:
        raise BundleError(f"{Path(path)}: no {SUMS}; not a simkit bundle") from None
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"{sums}: not a regular file; a bundle holds regular files only")
    return hashlib.sha256(sums.read_bytes()).hexdigest()


def _walk(root: Path) -> dict[str, Path]:
    """Every regular file under ``root`` (relative POSIX name -> path); refuse anything else."""
    files: dict[str, Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                p = Path(entry.path)
                rel = p.relative_to(root).as_posix()
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    raise BundleError(
                        f"{root}: {rel} is a symbolic link; a bundle holds regular files only "
                        "(a link could make it read a file outside the bundle). Copy the bundle "
                        "with its files, not links"
                    )
                if stat.S_ISDIR(mode):
                    if rel != "arrays":
                        raise BundleError(
                            f"{root}: unexpected directory {rel}; a bundle holds bundle.json, "
                            "tokenizer.json, encoder.onnx, CARD.md, arrays/*.npy and SHA256SUMS "
                            "only"
                        )
                    stack.append(p)
                elif stat.S_ISREG(mode):
                    files[rel] = p
                else:
                    kind = _KIND_NAMES.get(stat.S_IFMT(mode), "not a regular file")
                    raise BundleError(f"{root}: {rel} is {kind}; a bundle holds regular files only")
    return files


def _normalise_digest(sha256: str) -> str:
    digest = str(sha256).strip().lower()
    if not _HEX64.fullmatch(digest):
        raise BundleError(f"expected bundle sha256 must be 64 hex digits, got {sha256!r}")
    return digest


def read_bundle_files(root: Path, sha256: str | None = None) -> dict[str, bytes]:
    """The bytes of every file of the bundle at ``root`` (``SHA256SUMS`` included), verified.

    Parameters
    ----------
    root : Path
        The bundle directory.
    sha256 : str, optional
        Expected :func:`bundle_digest`; a bundle with another digest is refused.

    Raises
    ------
    BundleError
        A link or special file, a missing ``SHA256SUMS``, a malformed or unexpected line, a
        listed file that is missing, a file that is not listed, a checksum that does not
        match, or a digest other than ``sha256``.
    """
    present = _walk(root)
    if SUMS not in present:
        raise BundleError(
            f"{root}: no {SUMS}; not a simkit bundle or an incomplete copy. Re-export it "
            "with `simkit classifier export`"
        )
    sums_bytes = present.pop(SUMS).read_bytes()
    if sha256 is not None:
        expected = _normalise_digest(sha256)
        actual = hashlib.sha256(sums_bytes).hexdigest()
        if actual != expected:
            raise BundleError(
                f"{root}: bundle digest {actual} is not the expected {expected}; this is not "
                f"the bundle you pinned (the digest is the sha256 of {SUMS})"
            )
    try:
        sums_text = sums_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{root / SUMS}: not UTF-8 text") from None
    listed: dict[str, str] = {}
    for n, line in enumerate(sums_text.splitlines(), start=1):
        digest, sep, name = line.partition("  ")
        if not sep or not _HEX64.fullmatch(digest) or not name:
            raise BundleError(f"{root / SUMS}, line {n}: malformed checksum line {line!r}")
        if not _FILE_NAME.fullmatch(name):
            raise BundleError(
                f"{root / SUMS}, line {n}: {name!r} is not a file a bundle holds (bundle.json, "
                "tokenizer.json, encoder.onnx, CARD.md, arrays/NAME.npy with NAME of letters, "
                "digits, _)"
            )
        if name in listed:
            raise BundleError(f"{root / SUMS}, line {n}: {name} is listed twice")
        listed[name] = digest
    missing = sorted(set(listed) - set(present))
    if missing:
        raise BundleError(
            f"{root}: file {missing[0]} listed in {SUMS} is missing ({len(missing)} missing); "
            "the bundle is incomplete: copy it again or re-export it"
        )
    extra = sorted(set(present) - set(listed))
    if extra:
        raise BundleError(
            f"{root}: file {extra[0]} is not listed in {SUMS} ({len(extra)} unlisted); a "
            "bundle is never edited by hand: remove the file or re-export the bundle"
        )
    if MANIFEST not in listed:
        raise BundleError(f"{root / SUMS}: does not list {MANIFEST}; not a simkit bundle")
    out: dict[str, bytes] = {}
    for name in sorted(listed):
        data = present[name].read_bytes()
        if hashlib.sha256(data).hexdigest() != listed[name]:
            raise BundleError(
                f"{root}: {name} does not match its checksum in {SUMS}: the bundle is "
                "corrupt or was modified. Re-export it, or fetch an intact copy"
            )
        out[name] = data
    out[SUMS] = sums_bytes
    return out


# -- manifest ------------------------------------------------------------------------------
class _Where:
    """Builds ``bundle.json, key 'heads[0].arrays.coef': ...`` messages."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> BundleError:
        return BundleError(f"{self.path}, key '{key}': {problem}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(w: _Where, key: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    if not _is_number(v) or not math.isfinite(v):
        raise w.error(key, f"expected a finite number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        want = f"in [{lo}, {hi}]" if lo is not None and hi is not None else f">= {lo}"
        if lo is None:
            want = f"<= {hi}"
        raise w.error(key, f"expected a number {want}, got {v!r}")
    return float(v)


def _integer(w: _Where, key: str, v: Any, lo: int) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise w.error(key, f"expected a whole number >= {lo}, got {v!r}")
    return v


def _mapping(w: _Where, key: str, v: Any) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise w.error(key, f"expected a JSON object, got {type(v).__name__}")
    return v


def _text(w: _Where, key: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise w.error(key, f"expected a non-empty string, got {v!r}")
    return v


def _head_array_keys(w: _Where, i: int, head: Mapping[str, Any]) -> tuple[str, ...]:
    kind = head.get("kind")
    if kind == "constant":
        return ()
    if kind == "logistic":
        return ("coef", "intercept")
    if kind == "mlp":
        layers = _integer(w, f"heads[{i}].layers", head.get("layers"), 1)
        return tuple(f"{p}{j}" for j in range(layers) for p in ("w", "b"))
    if kind == "knn":
        _integer(w, f"heads[{i}].k", head.get("k"), 1)
        return ("x", "y")
    if kind == "hgb":
        _integer(w, f"heads[{i}].n_trees", head.get("n_trees"), 0)
        return (
            "baseline",
            "tree_sizes",
            "value",
            "feature",
            "threshold",
            "missing_left",
            "left",
            "right",
            "is_leaf",
        )
    raise w.error(
        f"heads[{i}].kind",
        f"unknown head kind {kind!r}; known kinds: {', '.join((*HEAD_KINDS, 'constant'))}",
    )


def check_manifest(manifest: Any, path: Path) -> dict[str, str]:
    """Check the parsed ``bundle.json`` (format and version are checked by the caller).

    Returns
    -------
    dict
        Every array the manifest refers to: array name -> the key that names it.

    Raises
    ------
    BundleError
        Naming the key at fault and what was expected.
    """
    w = _Where(path)
    for key in ("embedder", "features", "heads", "score", "tiers", "thresholds"):
        if key not in manifest:
            raise w.error(key, "missing")
    embedder = _mapping(w, "embedder", manifest["embedder"])
    kind = embedder.get("kind")
    if kind not in ("static", "sentence-transformers", "onnx"):
        raise w.error(
            "embedder.kind",
            f"expected 'static', 'sentence-transformers' or 'onnx', got {kind!r}",
        )
    _integer(w, "embedder.dim", embedder.get("dim"), 1)
    if kind in ("sentence-transformers", "onnx"):
        _text(w, "embedder.name", embedder.get("name"))
    if kind == "onnx":
        if embedder.get("precision") not in ("fp32", "int8"):
            raise w.error(
                "embedder.precision",
                f"expected 'fp32' or 'int8', got {embedder.get('precision')!r}",
            )
        _integer(w, "embedder.max_seq_length", embedder.get("max_seq_length"), 3)
        digest = embedder.get("graph_sha256")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise w.error("embedder.graph_sha256", f"expected 64 hex digits, got {digest!r}")
    features = _mapping(w, "features", manifest["features"])
    if not isinstance(features.get("text_features"), bool):
        raise w.error(
            "features.text_features",
            f"expected true or false, got {features.get('text_features')!r}",
        )
    if features["text_features"]:
        _number(w, "features.weight", features.get("weight"), 0.0)
        clip = _number(w, "features.clip", features.get("clip"), 0.0)
        if clip <= 0:
            raise w.error("features.clip", f"expected a number > 0, got {clip!r}")
    tiers = manifest["tiers"]
    if not isinstance(tiers, list) or len(tiers) < 2:
        raise w.error(
            "tiers", f"expected a list of at least 2 tiers (cheapest first), got {tiers!r}"
        )
    names: list[str] = []
    for i, t in enumerate(tiers):
        t = _mapping(w, f"tiers[{i}]", t)
        names.append(_text(w, f"tiers[{i}].tier", t.get("tier")))
        _text(w, f"tiers[{i}].model", t.get("model"))
    if len(set(names)) != len(names):
        raise w.error("tiers", f"tier names must be unique, got {names}")
    heads = manifest["heads"]
    if not isinstance(heads, list) or len(heads) != len(tiers):
        n = len(heads) if isinstance(heads, list) else type(heads).__name__
        raise w.error("heads", f"expected a list of one head per tier ({len(tiers)}), got {n}")
    refs: dict[str, str] = {}
    for i, head in enumerate(heads):
        head = _mapping(w, f"heads[{i}]", head)
        keys = _head_array_keys(w, i, head)
        if head.get("kind") == "constant":
            _number(w, f"heads[{i}].value", head.get("value"), 0.0, 1.0)
            continue
        arrays = _mapping(w, f"heads[{i}].arrays", head.get("arrays"))
        if sorted(arrays) != sorted(keys):
            raise w.error(
                f"heads[{i}].arrays",
                f"a {head['kind']} head needs arrays {sorted(keys)}, got {sorted(arrays)}",
            )
        for k in keys:
            name = arrays[k]
            if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name):
                raise w.error(
                    f"heads[{i}].arrays.{k}",
                    f"expected an array name of letters, digits and _, got {name!r}",
                )
            refs[name] = f"heads[{i}].arrays.{k}"
    score = _mapping(w, "score", manifest["score"])
    if score.get("calibration") not in _CALIBRATIONS:
        raise w.error(
            "score.calibration",
            f"expected one of {list(_CALIBRATIONS)}, got {score.get('calibration')!r}",
        )
    if score["calibration"] == "platt":
        platt = score.get("platt")
        if not isinstance(platt, list) or len(platt) != 2:
            raise w.error("score.platt", f"expected two numbers [a, b], got {platt!r}")
        for j, v in enumerate(platt):
            _number(w, f"score.platt[{j}]", v)
    thresholds = _mapping(w, "thresholds", manifest["thresholds"])
    if not thresholds:
        raise w.error("thresholds", "expected at least one named threshold")
    for name, entry in thresholds.items():
        entry = _mapping(w, f"thresholds.{name}", entry)
        _number(w, f"thresholds.{name}.p_hard", entry.get("p_hard"), 0.0, 1.0)
        cutoffs = entry.get("cutoffs")
        if cutoffs is not None:
            cutoffs = _mapping(w, f"thresholds.{name}.cutoffs", cutoffs)
            for tier, cut in cutoffs.items():
                if tier not in names:
                    raise w.error(
                        f"thresholds.{name}.cutoffs.{tier}", f"unknown tier; tiers: {names}"
                    )
                _number(w, f"thresholds.{name}.cutoffs.{tier}", cut, 0.0, 1.0)
    default = manifest.get("default_threshold")
    if not isinstance(default, str) or default not in thresholds:
        raise w.error("default_threshold", f"expected one of {sorted(thresholds)}, got {default!r}")
    if kind == "static":
        refs["static_vectors"] = "embedder"
    if features["text_features"]:
        refs["feature_mean"] = "features"
        refs["feature_scale"] = "features"
    return refs


# -- arrays --------------------------------------------------------------------------------
def _read_npy(name: str, data: bytes, where: str) -> np.ndarray:
    """Parse the header, check dtype and size against the bytes present, then load."""
    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, TypeError) as exc:
        raise BundleError(f"{where}: not a valid .npy array ({exc})") from None
    if dtype.hasobject or dtype.name not in (*_FLOATS, *_INTS, *_FLAGS):
        raise BundleError(
            f"{where}: dtype {dtype} is not allowed; bundle arrays are "
            f"{', '.join((*_FLOATS, *_INTS, *_FLAGS))}"
        )
    count = math.prod(shape)
    body = len(data) - fh.tell()
    if count * dtype.itemsize != body:
        raise BundleError(
            f"{where}: header claims shape {shape} of {dtype} "
            f"({count * dtype.itemsize / 2**30:.3g} GiB) but the file holds {body} bytes of data"
        )
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise BundleError(f"{where}: not a plain array ({exc}); the bundle is unsafe") from None
    return arr


def _check_finite(arr: np.ndarray, where: str, allow_pos_inf: bool = False) -> None:
    if arr.dtype.kind != "f":
        return
    bad = np.isnan(arr) | (np.isneginf(arr) if allow_pos_inf else np.isinf(arr))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise BundleError(
            f"{where}: {int(bad.sum())} values are NaN or infinite (first at flat index {i}); "
            "a bundle holds finite numbers only"
        )


def _shape(arr: np.ndarray, expected: tuple[int | None, ...], kinds: tuple[str, ...], where: str):
    ok = arr.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, arr.shape, strict=True)
    )
    if not ok:
        dims = ["n" if e is None else str(e) for e in expected]
        want = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        raise BundleError(f"{where}: expected shape {want}, got {arr.shape}")
    if arr.dtype.name not in kinds:
        raise BundleError(f"{where}: expected dtype {' or '.join(kinds)}, got {arr.dtype}")


def load_arrays(
    files: Mapping[str, bytes], manifest: Mapping[str, Any], refs: Mapping[str, str], root: Path
) -> dict[str, np.ndarray]:
    """Read and check every array the manifest refers to (and only those).

    Raises
    ------
    BundleError
        An array the manifest names is absent, a listed array is not used, a header is bad
        or claims more data than the file holds, a dtype, a shape or a value is wrong.
    """
    present = {n[len("arrays/") : -len(".npy")] for n in files if n.startswith("arrays/")}
    for name, key in sorted(refs.items()):
        if name not in present:
            raise BundleError(
                f"{root / MANIFEST}, key '{key}': names array {name!r}, which the bundle does "
                f"not hold (arrays/{name}.npy)"
            )
    unused = sorted(present - set(refs))
    if unused:
        raise BundleError(
            f"{root}: arrays/{unused[0]}.npy is not used by {MANIFEST} ({len(unused)} unused); "
            "a bundle holds only the arrays it reads: re-export it"
        )
    arrays = {
        name: _read_npy(name, files[f"arrays/{name}.npy"], str(root / "arrays" / f"{name}.npy"))
        for name in sorted(refs)
    }

    def at(name: str) -> str:
        return str(root / "arrays" / f"{name}.npy")

    for name, arr in arrays.items():
        _check_finite(arr, at(name), allow_pos_inf=name.endswith("_threshold"))
    embedder = manifest["embedder"]
    dim = int(embedder["dim"])
    if embedder["kind"] == "static":
        vec = arrays["static_vectors"]
        _shape(vec, (None, dim), _FLOATS, at("static_vectors"))
    d = dim
    if manifest["features"]["text_features"]:
        nf = len(FEATURE_NAMES)
        _shape(arrays["feature_mean"], (nf,), _FLOATS, at("feature_mean"))
        _shape(arrays["feature_scale"], (nf,), _FLOATS, at("feature_scale"))
        if (arrays["feature_scale"] <= 0).any():
            raise BundleError(f"{at('feature_scale')}: expected values > 0")
        d += nf
    for spec in manifest["heads"]:
        if spec["kind"] == "constant":
            continue
        a = {k: arrays[v] for k, v in spec["arrays"].items()}
        n = {k: at(v) for k, v in spec["arrays"].items()}
        _check_head(spec, a, n, d)
    return arrays


def _check_head(spec: Mapping[str, Any], a: dict[str, np.ndarray], n: dict[str, str], d: int):
    kind = spec["kind"]
    if kind == "logistic":
        _shape(a["coef"], (d,), _FLOATS, n["coef"])
        _shape(a["intercept"], (1,), _FLOATS, n["intercept"])
    elif kind == "mlp":
        width = d
        layers = int(spec["layers"])
        for j in range(layers):
            out = 1 if j == layers - 1 else None
            _shape(a[f"w{j}"], (width, out), _FLOATS, n[f"w{j}"])
            width = a[f"w{j}"].shape[1]
            _shape(a[f"b{j}"], (width,), _FLOATS, n[f"b{j}"])
    elif kind == "knn":
        _shape(a["x"], (None, d), _FLOATS, n["x"])
        rows = a["x"].shape[0]
        if rows < 1:
            raise BundleError(f"{n['x']}: a k-NN head needs at least one reference row")
        _shape(a["y"], (rows,), _FLOATS, n["y"])
    elif kind == "hgb":
        trees = int(spec["n_trees"])
        _shape(a["baseline"], (1,), _FLOATS, n["baseline"])
        _shape(a["tree_sizes"], (trees,), _INTS, n["tree_sizes"])
        sizes = a["tree_sizes"]
        if (sizes < 1).any():
            raise BundleError(f"{n['tree_sizes']}: every tree needs at least one node")
        total = int(sizes.sum())
        for k, kinds in (
            ("value", _FLOATS),
            ("threshold", _FLOATS),
            ("feature", _INTS),
            ("left", _INTS),
            ("right", _INTS),
            ("missing_left", _FLAGS),
            ("is_leaf", _FLAGS),
        ):
            _shape(a[k], (total,), kinds, n[k])
        local = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        size_of = np.repeat(sizes, sizes)
        inner = a["is_leaf"] == 0
        for k in ("left", "right"):
            child = a[k][inner]
            # children come after their parent (pre-order), so every walk ends at a leaf
            bad = (child <= local[inner]) | (child >= size_of[inner])
            if bad.any():
                raise BundleError(f"{n[k]}: child index outside its tree or not after its node")
        feat = a["feature"][inner]
        if ((feat < 0) | (feat >= d)).any():
            raise BundleError(f"{n['feature']}: feature index outside [0, {d})")


def parse_json(data: bytes, where: Path) -> Any:
    """``json.loads`` of a bundle file, refusing NaN/Infinity constants and bad UTF-8."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not allowed")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{where}: not valid JSON ({exc})") from None
