"""Low-level readers shared by the loaders: every failure becomes a :class:`TraceError`
naming the file and, where it can, the line, row and column.

The converters (:func:`parse_numbers`, :func:`parse_counts`) turn a text or object column into
numbers and name the first row that does not convert; they never repair a value.
"""

from __future__ import annotations

import csv
import io
import json
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.schema import check_rows

__all__ = [
    "check_arrivals",
    "parse_counts",
    "parse_numbers",
    "read_csv_strings",
    "read_jsonl",
    "read_text",
    "to_numbers",
]


def read_text(path: str | PathLike[str]) -> str:
    """The file's text, decoded as UTF-8; a bad byte is reported with its line and offset."""
    p = Path(path)
    if not p.exists():
        raise TraceError(p, problem="file not found")
    if p.is_dir():
        raise TraceError(p, problem="is a directory, expected a file")
    data = p.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TraceError(
            p,
            line=line,
            problem=f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="Re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise TraceError(p, problem="file is empty; expected a header and at least one row")
    return text


def read_csv_strings(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a CSV with every cell as text (no type guessing, no NA guessing).

    Raises :class:`TraceError` for an empty file, bad UTF-8, a row with the wrong number of
    fields, or a header without data rows.
    """
    p = Path(path)
    text = read_text(p)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    try:
        header = next(reader)
        for row in reader:
            if len(row) != len(header):
                if not row:  # a blank line, e.g. at the end of the file
                    continue
                raise TraceError(
                    p,
                    row=len(rows) + 1,
                    line=reader.line_num,
                    problem=f"has {len(row)} fields, the header has {len(header)}",
                )
            rows.append(row)
    except csv.Error as exc:
        raise TraceError(p, row=len(rows) + 1, problem=f"malformed CSV ({exc})") from None
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise TraceError(p, column=dup[0], problem="the header names this column twice")
    if not rows:
        raise TraceError(p, problem="has a header but no data rows")
    return pd.DataFrame(rows, columns=header, dtype="string")


def read_jsonl(path: str | PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """Parse a JSON-lines file into ``(line number, object)`` pairs; blank lines are skipped.

    Raises
    ------
    TraceError
        For an empty file, bad UTF-8, a line that is not valid JSON (the last line gets a
        hint that the file looks truncated), or a line that is not a JSON object.
    """
    p = Path(path)
    text = read_text(p)
    lines = text.split("\n")
    last = max(i for i, line in enumerate(lines) if line.strip())
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            truncated = i == last and not text.endswith("\n")
            raise TraceError(
                p,
                line=i + 1,
                problem=f"{'truncated' if truncated else 'invalid'} JSON ({exc.msg} at "
                f"character {exc.pos + 1}); expected one JSON object per line",
                hint="The last line is cut off: was the log still being written? Remove the "
                "partial line or copy the file again"
                if truncated
                else None,
            ) from None
        if not isinstance(record, dict):
            raise TraceError(
                p,
                line=i + 1,
                problem=f"expected a JSON object, got {type(record).__name__}",
            )
        records.append((i + 1, record))
    return records


def _clean(v: Any) -> Any:
    if isinstance(v, bool):
        return "not-a-number"  # JSON true/false is not a number
    if isinstance(v, str):
        return v.strip() or None
    return v


def to_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(float64 values, not-a-number mask, missing mask)`` of a column; never raises.

    Text is stripped; an empty string or a null is *missing*; ``true``/``false`` and text
    that is not a number are *not a number*. Both give NaN in the values.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numeric = values.to_numpy(dtype="float64", na_value=np.nan)
        return numeric, np.zeros(len(values), dtype=bool), np.isnan(numeric)
    s = values.astype(object).map(_clean)
    missing = s.isna().to_numpy()
    numeric = pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return numeric, np.isnan(numeric) & ~missing, missing


def parse_numbers(
    values: pd.Series,
    *,
    column: str,
    where: str | PathLike[str],
    rows: np.ndarray | None = None,
    allow_missing: bool = False,
) -> np.ndarray:
    """Convert a column to float64; the first value that is not a number raises.

    Empty strings and nulls are missing: an error unless ``allow_missing`` (then NaN).
    ``rows`` gives the 1-based row number of each value (default: its position + 1).
    """
    orig = values.reset_index(drop=True)
    numeric, bad, missing = to_numbers(orig)
    at = {"where": where, "column": column, "rows": rows}
    check_rows(
        bad, problem=lambda i, n: f"expected a number, got {orig.iloc[i]!r} ({n} such rows)", **at
    )
    if not allow_missing:
        check_rows(
            missing, problem=lambda i, n: f"missing value ({n} such rows); expected a number", **at
        )
    return numeric


def parse_counts(
    values: pd.Series,
    *,
    column: str,
    where: str | PathLike[str],
    rows: np.ndarray | None = None,
    allow_missing: bool = False,
) -> pd.Series:
    """Convert a column of token counts to ``Int64``: whole numbers >= 0 (``<NA>`` if missing)."""
    arr = parse_numbers(values, column=column, where=where, rows=rows, allow_missing=allow_missing)
    check_rows(
        np.isfinite(arr) & ((arr < 0) | (arr != np.round(arr))) | np.isinf(arr),
        where=where,
        column=column,
        rows=rows,
        problem=lambda i, n: f"expected a whole number >= 0, got {arr[i]:g} ({n} such rows)",
    )
    return pd.Series(arr, dtype="float64").astype("Int64")


def check_arrivals(
    arrival_s: np.ndarray,
    *,
    column: str,
    where: str | PathLike[str],
    rows: np.ndarray | None = None,
    hint: str | None = None,
    unit: Literal["row", "line"] = "row",
) -> None:
    """Raise on the first missing, non-finite, negative or out-of-order arrival time.

    The one arrival-time check of traces and loaders. ``column`` is the column's name *in the
    file*, so the message points where the user looks; ``rows`` and ``unit`` as
    :func:`simkit.schema.check_rows`.
    """
    at = {"where": where, "column": column, "rows": rows, "unit": unit}
    check_rows(
        ~np.isfinite(arrival_s) | (arrival_s < 0),
        problem=lambda i, n: (
            f"missing, non-finite or negative arrival time "
            f"{float(arrival_s[i])!r} ({n} such rows); expected a finite time >= 0"
        ),
        **at,
    )
    # flag the later row of each backwards pair
    check_rows(
        np.concatenate([[False], np.diff(arrival_s) < 0]),
        problem=lambda i, n: (
            f"arrival times must be non-decreasing: {float(arrival_s[i])!r} "
            f"comes after {float(arrival_s[i - 1])!r} ({n} such rows)"
        ),
        hint=hint,
        **at,
    )
