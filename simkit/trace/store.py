"""The trace format on disk: a directory of Parquet tables plus a small JSON manifest.

::

    my_trace/
      trace.json          {"format": "simkit-trace", "version": 2, "meta": {...},
                           "tables": {"requests.parquet": "<sha256>", ...}}
      requests.parquet    one row per request (simkit.schema.REQUEST_COLUMNS)
      outcomes.parquet    one row per (request, model) (simkit.schema.OUTCOME_COLUMNS)
      scores.parquet      optional: classifier scores, one row per request

Writing is deterministic: the same trace gives byte-identical files. ``trace.json`` records the
SHA-256 of every table and :func:`load_trace` verifies them, so a flipped byte (or a table
edited behind the manifest's back) is an error, not silently different prompts. A table you
edited on purpose is re-stamped with :func:`restamp_trace` (``simkit trace restamp PATH``),
which validates the tables and records in ``meta['restamped']`` which ones changed. Version 1
traces (written before checksums) are refused with the same advice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simkit.errors import TraceError
from simkit.trace.core import Trace

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "is_trace_dir",
    "load_trace",
    "restamp_trace",
    "save_trace",
]

FORMAT_NAME = "simkit-trace"
#: 2: ``tables`` holds the SHA-256 of each Parquet table (version 1 had none).
FORMAT_VERSION = 2
_MANIFEST = "trace.json"
_TABLES = ("requests.parquet", "outcomes.parquet", "scores.parquet")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RESTAMP_HINT = (
    "If you changed the tables on purpose, record their new checksums with "
    "`simkit trace restamp {path}`; otherwise restore the trace from its source"
)


def is_trace_dir(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a directory holding a simkit trace manifest."""
    return (Path(path) / _MANIFEST).is_file()


def _write_table(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas/json blobs that vary by version
    pq.write_table(table, path, compression="zstd", write_statistics=False)


def check_output_dir(path: str | PathLike[str]) -> Path:
    """Raise unless ``path`` can become a trace directory: absent (its parent a directory or
    creatable) or an existing directory. Called before any work, so nothing is lost at the end.

    Raises
    ------
    TraceError
        ``path`` is an existing file (or other non-directory), or lies under one.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise TraceError(
            out,
            problem="exists and is not a directory; a trace is written as a directory",
            hint="Choose a new directory name",
        )
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise TraceError(out, problem=f"{parent} is a file, not a directory")
            break
    return out


def _json_text(manifest: Mapping[str, object], where: Path) -> str:
    try:
        return json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except ValueError as exc:
        raise TraceError(
            where, column="meta", problem=f"not storable as strict JSON ({exc})"
        ) from None


def save_trace(trace: Trace, path: str | PathLike[str]) -> Path:
    """Write ``trace`` to the directory ``path`` (created if needed) and return it.

    ``trace.json`` records the SHA-256 of each table written.

    Raises
    ------
    TraceError
        ``path`` is an existing file, cannot be created, or ``meta`` is not strict JSON.
    """
    out = check_output_dir(path)
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "meta": dict(trace.meta)}
    _json_text(manifest, out / _MANIFEST)  # fail before writing any table
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_table(trace.requests, out / "requests.parquet")
        _write_table(trace.outcomes, out / "outcomes.parquet")
        scores_path = out / "scores.parquet"
        if trace.scores is not None:
            _write_table(trace.scores, scores_path)
        elif scores_path.exists():
            scores_path.unlink()
        manifest["tables"] = {
            name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in _TABLES
            if (out / name).is_file()
        }
        (out / _MANIFEST).write_text(_json_text(manifest, out / _MANIFEST), "utf-8")
    except OSError as exc:
        raise TraceError(out, problem=f"cannot write the trace ({exc.strerror or exc})") from None
    return out


def _parse_table(data: bytes, path: Path) -> pd.DataFrame:
    try:
        table = pq.read_table(pa.BufferReader(data))
        table.validate(full=True)  # e.g. text that is not UTF-8, before pandas touches it
        return table.to_pandas()
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        # ArrowInvalid, ArrowException, UnicodeDecodeError (a ValueError) and the like
        problem = f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})"
        raise TraceError(path, problem=problem) from None


def _read_manifest(src: Path) -> dict:
    manifest_path = src / _MANIFEST
    if not manifest_path.is_file():
        hint = (
            "Convert it first: simkit trace convert INPUT OUTPUT_DIR"
            if src.is_file()
            else "Check the path; a trace is a directory with trace.json and Parquet tables"
        )
        raise TraceError(src, problem="not a simkit trace directory (no trace.json)", hint=hint)

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not allowed")

    try:
        manifest = json.loads(manifest_path.read_text("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TraceError(manifest_path, problem=f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise TraceError(manifest_path, column="format", problem=f"expected {FORMAT_NAME!r}")
    version = manifest.get("version")
    if type(version) is not int or version < 1:
        raise TraceError(
            manifest_path,
            column="version",
            problem=f"expected a format version (a whole number >= 1), got {version!r}",
        )
    if version > FORMAT_VERSION:
        raise TraceError(
            manifest_path,
            column="version",
            problem=f"format version {version!r} is not supported (this simkit reads <= {FORMAT_VERSION})",
            hint="Upgrade simkit",
        )
    meta = manifest.get("meta", {})
    if not isinstance(meta, dict):
        raise TraceError(
            manifest_path,
            column="meta",
            problem=f"expected a JSON object (provenance: name, sources, ...), got "
            f"{type(meta).__name__} {json.dumps(meta)[:60]}",
        )
    return manifest


def _read_tables(src: Path, listed: Mapping[str, str] | None) -> dict[str, bytes]:
    """The bytes of each table present, checked against ``listed`` digests when given."""
    present = {name: src / name for name in _TABLES if (src / name).is_file()}
    if "requests.parquet" not in present:
        raise TraceError(src / "requests.parquet", problem="missing; every trace has requests")
    data = {}
    for name, p in present.items():
        try:
            data[name] = p.read_bytes()
        except OSError as exc:
            raise TraceError(p, problem=f"cannot read ({exc.strerror or exc})") from None
    if listed is None:
        return data
    hint = _RESTAMP_HINT.format(path=src)
    for name in _TABLES:
        if name in listed and name not in data:
            raise TraceError(src / name, problem="listed in trace.json but missing", hint=hint)
        if name in data and name not in listed:
            raise TraceError(
                src / name, problem="has no checksum in trace.json (added by hand?)", hint=hint
            )
        if name in data and hashlib.sha256(data[name]).hexdigest() != listed[name]:
            raise TraceError(
                src / name,
                problem="does not match its SHA-256 in trace.json: the table is corrupt or "
                "was modified",
                hint=hint,
            )
    return data


def _listed_tables(manifest: Mapping[str, object], manifest_path: Path) -> dict[str, str]:
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        raise TraceError(
            manifest_path,
            column="tables",
            problem="expected an object of table name -> SHA-256",
        )
    for name, digest in tables.items():
        if name not in _TABLES or not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise TraceError(
                manifest_path,
                column=f"tables.{name}",
                problem=f"expected one of {', '.join(_TABLES)} with a 64-digit hex SHA-256, "
                f"got {digest!r}",
            )
    return dict(tables)


def _build(src: Path, manifest: Mapping[str, object], data: Mapping[str, bytes]) -> Trace:
    requests = _parse_table(data["requests.parquet"], src / "requests.parquet")
    outcomes = (
        _parse_table(data["outcomes.parquet"], src / "outcomes.parquet")
        if "outcomes.parquet" in data
        else pd.DataFrame(columns=["request_id", "model", "quality"])
    )
    scores = (
        _parse_table(data["scores.parquet"], src / "scores.parquet")
        if "scores.parquet" in data
        else None
    )
    meta = manifest.get("meta", {})
    return Trace(requests, outcomes, scores=scores, meta=meta, where=str(src))


def load_trace(path: str | PathLike[str]) -> Trace:
    """Read a trace written by :func:`save_trace`, verifying each table's SHA-256.

    Raises
    ------
    TraceError
        If the directory is not a simkit trace, is from a newer format version, has a
        malformed ``trace.json``, a table whose checksum does not match (re-stamp it with
        :func:`restamp_trace` if you edited it on purpose), or any table fails validation
        (the message names the file, row and column).
    """
    src = Path(path)
    manifest = _read_manifest(src)
    manifest_path = src / _MANIFEST
    if manifest["version"] < 2:
        raise TraceError(
            manifest_path,
            column="version",
            problem="format version 1 has no table checksums",
            hint=f"Record them once with `simkit trace restamp {src}`",
        )
    data = _read_tables(src, _listed_tables(manifest, manifest_path))
    return _build(src, manifest, data)


def restamp_trace(path: str | PathLike[str], *, note: str | None = None) -> Path:
    """Record the SHA-256 of a trace's tables in its ``trace.json`` after a deliberate edit.

    The tables are validated first (a trace that does not load is not stamped). The metadata
    (provenance) is kept; when earlier checksums existed and a table changed, an entry is
    appended to ``meta['restamped']`` naming the changed tables, their previous digests and
    ``note``. A version 1 trace is upgraded to the current version.

    Parameters
    ----------
    path : path-like
        The trace directory.
    note : str, optional
        Why the tables were edited, recorded with the entry.

    Returns
    -------
    Path
        The trace directory.

    Raises
    ------
    TraceError
        The directory is not a trace or its tables do not validate.
    """
    src = Path(path)
    manifest = _read_manifest(src)
    manifest_path = src / _MANIFEST
    data = _read_tables(src, None)
    _build(src, manifest, data)  # validates every table
    new = {name: hashlib.sha256(b).hexdigest() for name, b in sorted(data.items())}
    old = _listed_tables(manifest, manifest_path) if "tables" in manifest else None
    meta = dict(manifest.get("meta", {}))
    if old is not None and old != new:
        changed = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
        entry: dict[str, object] = {
            "changed": changed,
            "previous": {n: old[n] for n in changed if n in old},
        }
        if note:
            entry["note"] = note
        meta["restamped"] = [*meta.get("restamped", []), entry]
    out = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "meta": meta, "tables": new}
    text = _json_text(out, manifest_path)
    try:
        manifest_path.write_text(text, "utf-8")
    except OSError as exc:
        raise TraceError(manifest_path, problem=f"cannot write ({exc.strerror or exc})") from None
    return src
