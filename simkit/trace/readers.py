"""Low-level readers shared by the loaders: every failure becomes a :class:`TraceError`
naming the file and, where it can, the line, row and column."""

from __future__ import annotations

import csv
import io
from os import PathLike
from pathlib import Path

import pandas as pd

from simkit.errors import TraceError

__all__ = ["read_text", "read_csv_strings"]


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
    try:
        header = next(reader)
        rows = []
        for row in reader:
            if len(row) != len(header):
                if not row:  # a blank line, e.g. at the end of the file
                    continue
                raise TraceError(
                    p,
                    row=len(rows) + 1,
                    problem=f"has {len(row)} fields, the header has {len(header)}",
                )
            rows.append(row)
    except csv.Error as exc:
        raise TraceError(p, row=len(rows) + 1, problem=f"malformed CSV ({exc})") from None
    if not rows:
        raise TraceError(p, problem="has a header but no data rows")
    return pd.DataFrame(rows, columns=header, dtype="string")
