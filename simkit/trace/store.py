"""The trace format on disk: a directory of Parquet tables plus a small JSON manifest.

::

    my_trace/
      trace.json          {"format": "simkit-trace", "version": 1, "meta": {...}}
      requests.parquet    one row per request (simkit.schema.REQUEST_COLUMNS)
      outcomes.parquet    one row per (request, model) (simkit.schema.OUTCOME_COLUMNS)
      scores.parquet      optional: classifier scores, one row per request

Writing is deterministic: the same trace gives byte-identical files.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simkit.errors import TraceError
from simkit.trace.core import Trace

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "is_trace_dir", "load_trace", "save_trace"]

FORMAT_NAME = "simkit-trace"
FORMAT_VERSION = 1
_MANIFEST = "trace.json"


def is_trace_dir(path: str | PathLike[str]) -> bool:
    """True if ``path`` is a directory holding a simkit trace manifest."""
    return (Path(path) / _MANIFEST).is_file()


def _write_table(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas/json blobs that vary by version
    pq.write_table(table, path, compression="zstd", write_statistics=False)


def save_trace(trace: Trace, path: str | PathLike[str]) -> Path:
    """Write ``trace`` to the directory ``path`` (created if needed) and return it."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    _write_table(trace.requests, out / "requests.parquet")
    _write_table(trace.outcomes, out / "outcomes.parquet")
    scores_path = out / "scores.parquet"
    if trace.scores is not None:
        _write_table(trace.scores, scores_path)
    elif scores_path.exists():
        scores_path.unlink()
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "meta": dict(trace.meta)}
    (out / _MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
    return out


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise TraceError(path, problem=f"not a readable Parquet file ({exc})") from None


def load_trace(path: str | PathLike[str]) -> Trace:
    """Read a trace written by :func:`save_trace`.

    Raises
    ------
    TraceError
        If the directory is not a simkit trace, is from a newer format version, or any table
        fails validation (the message names the file, row and column).
    """
    src = Path(path)
    manifest_path = src / _MANIFEST
    if not manifest_path.is_file():
        hint = (
            "Convert it first: simkit trace convert INPUT OUTPUT_DIR"
            if src.is_file()
            else "Check the path; a trace is a directory with trace.json and Parquet tables"
        )
        raise TraceError(src, problem="not a simkit trace directory (no trace.json)", hint=hint)
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(manifest_path, problem=f"not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise TraceError(manifest_path, column="format", problem=f"expected {FORMAT_NAME!r}")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TraceError(
            manifest_path,
            column="version",
            problem=f"format version {version!r} is not supported (this simkit reads <= {FORMAT_VERSION})",
            hint="Upgrade simkit",
        )
    requests = _read_table(src / "requests.parquet")
    outcomes_path = src / "outcomes.parquet"
    outcomes = (
        _read_table(outcomes_path)
        if outcomes_path.exists()
        else pd.DataFrame(columns=["request_id", "model", "quality"])
    )
    scores_path = src / "scores.parquet"
    scores = _read_table(scores_path) if scores_path.exists() else None
    return Trace(requests, outcomes, scores=scores, meta=manifest.get("meta", {}), where=str(src))
