"""A team's own logs (CSV, JSON lines or Parquet) through a column mapping.

The mapping says which column of the file holds which field of the trace; anything not mapped
is not read. As a Python dict or a YAML file (``simkit trace convert --mapping``)::

    request_id: id              # optional: ids are generated from the row ("<file stem>/<row>")
    arrival: ts                 # required: seconds, milliseconds, ... or datetimes (time_unit)
    prompt: prompt_text         # optional text (prompt_tokens counted from it with tokenizer=)
    prompt_tokens: n_in
    output_tokens: n_out        # request-level output length (when no model's is known)
    max_tokens: max_tokens
    category: route
    source: app
    tags: tags                  # comma-separated constraint tags
    flags: {sensitive: has_pii} # a tag per true/false column (true, 1, yes -> tagged)
    prefix_blocks: hash_ids     # prefix-block ids per request (a list; "[1, 2]" or "1 2" in CSV)
    prefix_block_size: 512      # tokens per block: a number, required with prefix_blocks
    # outcomes, one of two forms (both optional):
    model: model                # long form: one row = one call to the model in this column,
    outcome: {quality: q, latency_s: latency, cost_usd: cost, output_tokens: n_out}
    models:                     # wide form: columns per model
      gpt-4o: {quality: q_gpt4o, output_tokens: out_gpt4o}
      llama-3-70b: {raw_score: judge_llama, scale: [1, 10]}
    scale: [0, 10]              # declared scale of raw scores (quality = (raw - min) / (max - min))

Outcome fields: ``quality`` (in [0, 1]), ``raw_score`` (with ``scale``), ``output_tokens``,
``latency_s`` or ``latency_ms``, ``ttft_s`` or ``ttft_ms``, ``cost_usd``. A request gets an outcome for a model only when at
least one of that model's mapped cells has a value on its row; with all of them empty the
outcome is *missing* (never a zero). An outcome with latency or cost but an empty quality is
kept with quality NaN (recorded, not graded). In long form the same request may appear on
several rows (one per model); its request fields must agree.

Arrival times become seconds relative to the earliest request. Rows must be in arrival order
(pass ``sort=True`` to sort them, recorded in ``meta``). ``arrival`` may be left out of the
mapping only with ``arrival_optional=True``, for a caller that generates arrivals next
(``simkit trace convert --arrivals poisson:rate=...``); every request then arrives at 0 until
those are attached.

``path`` may be a directory: its files are read in sorted name order as one table (one format,
the same columns; a file that differs is named with the column), each row keeping its file in
errors (``dir/b.csv, row 7, column 'ts'``), in default request ids (``<file stem>/<row>``) and in
``meta['sources']`` (file, format, rows and, with mapped ids, the first and last id of each). Hidden files (``.name``) are skipped and listed in
``meta['skipped_files']``.

An unnamed column, the row index pandas writes with ``to_csv(index=True)`` (an empty header
cell, read as ``Unnamed: <position>`` as pandas names it; ``Unnamed: 0`` also when a file was
read and written again), is dropped when the mapping does not name it, noted in
``meta['dropped_index_columns']``; map it explicitly (``request_id: "Unnamed: 0"``) to use it. Bad values raise a
:class:`~simkit.errors.TraceError` naming the file, row (CSV/Parquet) or line (JSONL) and column;
with ``drop_invalid=True`` the bad rows are dropped instead and the count and reasons are
recorded in ``meta['dropped_rows']`` and reported with a :class:`DroppedRowsWarning`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simkit.errors import SpecError, TraceError
from simkit.schema import check_rows
from simkit.trace.core import Trace
from simkit.trace.prefix import PREFIX_BLOCK_SIZE_KEY, PREFIX_BLOCKS_COLUMN, block_lists
from simkit.trace.readers import check_arrivals, read_csv_strings, read_jsonl, to_numbers
from simkit.trace.tokens import count_tokens, tokenizer_info

__all__ = [
    "FORMATS",
    "MAPPING_KEYS",
    "OUTCOME_FIELDS",
    "TIME_UNITS",
    "DroppedRowsWarning",
    "load_log",
    "read_mapping",
]

#: file format -> file suffixes it is inferred from
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "jsonl": (".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
}
#: time_unit -> seconds per unit (``datetime``: parsed date/times)
TIME_UNITS: dict[str, float | None] = {
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "ns": 1e-9,
    "datetime": None,
}
_REQUEST_FIELDS = (
    "request_id",
    "arrival",
    "prompt",
    "prompt_tokens",
    "output_tokens",
    "max_tokens",
    "category",
    "source",
    "tags",
    "prefix_blocks",
)
OUTCOME_FIELDS = (
    "quality",
    "raw_score",
    "output_tokens",
    "latency_s",
    "latency_ms",
    "ttft_s",
    "ttft_ms",
    "cost_usd",
)
MAPPING_KEYS = (
    *_REQUEST_FIELDS,
    "prefix_block_size",
    "flags",
    "model",
    "outcome",
    "models",
    "scale",
)
_TEXT = ("request_id", "prompt", "category", "source", "tags")
_COUNTS = ("prompt_tokens", "output_tokens", "max_tokens")
#: Column names of a row index written as data: pandas' name for an unnamed header cell
#: (``Unnamed: 0``) and pyarrow's for an index it stored as a column (``__index_level_0__``).
_INDEX_COLUMN = re.compile(r"Unnamed: \d+|__index_level_\d+__")
_ARRIVALS_HINT = (
    "To generate arrival times instead, leave 'arrival' out of the mapping and pass --arrivals "
    "(e.g. --arrivals poisson:rate=5 or replay:traces/azure_conv_2023; convert(arrivals=...))"
)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


class DroppedRowsWarning(UserWarning):
    """Rows were dropped on request (``drop_invalid=True``); the message gives count and reasons."""


# --- the mapping ------------------------------------------------------------------------------
def read_mapping(path: str | PathLike[str]) -> dict[str, Any]:
    """Read a YAML (or JSON) column mapping file into a dict, checked by :func:`load_log`."""
    import yaml

    from simkit.trace.readers import read_text

    p = Path(path)
    try:
        data = yaml.safe_load(read_text(p))
    except yaml.YAMLError as exc:
        raise SpecError(p, problem=f"not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise SpecError(
            p, problem=f"expected a mapping of keys to columns, got {type(data).__name__}"
        )
    return data


def _scale(value: Any, source: str, key: str) -> tuple[float, float]:
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and float(value[0]) < float(value[1])
    )
    if not ok:
        raise SpecError(
            source, key=key, problem=f"expected [min, max] with min < max, got {value!r}"
        )
    return float(value[0]), float(value[1])


def _column_name(value: Any, source: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(source, key=key, problem=f"expected a column name, got {value!r}")
    return value


def _outcome_spec(spec: Any, source: str, key: str, scale) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise SpecError(source, key=key, problem="expected a mapping of outcome fields to columns")
    out: dict[str, Any] = {}
    for field, value in spec.items():
        if field == "scale":
            scale = _scale(value, source, f"{key}.scale")
            continue
        if field not in OUTCOME_FIELDS:
            raise SpecError(
                source,
                key=f"{key}.{field}",
                problem=f"unknown outcome field; valid fields: {', '.join(OUTCOME_FIELDS)}, scale",
            )
        out[field] = _column_name(value, source, f"{key}.{field}")
    if not out:
        raise SpecError(source, key=key, problem="maps no outcome field")
    for unit_s in ("latency", "ttft"):
        if f"{unit_s}_s" in out and f"{unit_s}_ms" in out:
            raise SpecError(
                source, key=f"{key}.{unit_s}_ms", problem=f"map {unit_s}_s or {unit_s}_ms, not both"
            )
    if "raw_score" in out and "quality" not in out and scale is None:
        raise SpecError(
            source,
            key=f"{key}.raw_score",
            problem="a raw score needs its scale to become a quality: add scale: [min, max]",
        )
    out["_scale"] = scale
    return out


def _check_mapping(
    mapping: Mapping[str, Any], source: str, arrival_optional: bool = False
) -> dict[str, Any]:
    if not isinstance(mapping, Mapping):
        raise SpecError(source, problem=f"expected a mapping, got {type(mapping).__name__}")
    for key in mapping:
        if key not in MAPPING_KEYS:
            raise SpecError(
                source, key=str(key), problem=f"unknown key; valid keys: {', '.join(MAPPING_KEYS)}"
            )
    if "arrival" not in mapping and not arrival_optional:
        raise SpecError(
            source,
            key="arrival",
            problem="required: the column with arrival times",
            hint="If the log has none, pass --arrivals to generate them (e.g. --arrivals "
            "poisson:rate=5 or replay:traces/azure_conv_2023; convert(arrivals=...))",
        )
    spec: dict[str, Any] = {
        k: _column_name(mapping[k], source, k) for k in _REQUEST_FIELDS if k in mapping
    }
    if ("prefix_blocks" in mapping) != ("prefix_block_size" in mapping):
        given, missing = (
            ("prefix_blocks", "prefix_block_size")
            if "prefix_blocks" in mapping
            else ("prefix_block_size", "prefix_blocks")
        )
        raise SpecError(
            source,
            key=missing,
            problem=f"required with '{given}': 'prefix_blocks' names the column of block ids, "
            "'prefix_block_size' the tokens per block (Mooncake: 512)",
        )
    if "prefix_block_size" in mapping:
        size = mapping["prefix_block_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise SpecError(
                source,
                key="prefix_block_size",
                problem=f"expected the tokens per block, an integer >= 1, got {size!r}",
            )
        spec["prefix_block_size"] = size
    flags = mapping.get("flags", {})
    if not isinstance(flags, Mapping):
        raise SpecError(source, key="flags", problem="expected {tag: column}")
    spec["flags"] = {str(t): _column_name(c, source, f"flags.{t}") for t, c in flags.items()}
    scale = _scale(mapping["scale"], source, "scale") if "scale" in mapping else None
    if "outcome" in mapping and "model" not in mapping:
        raise SpecError(
            source, key="outcome", problem="long-form outcomes need 'model': the model column"
        )
    if "model" in mapping:
        spec["model"] = _column_name(mapping["model"], source, "model")
        spec["outcome"] = _outcome_spec(mapping.get("outcome", {}), source, "outcome", scale)
    models = mapping.get("models", {})
    if not isinstance(models, Mapping):
        raise SpecError(source, key="models", problem="expected {model name: {field: column}}")
    spec["models"] = {
        str(m): _outcome_spec(s, source, f"models.{m}", scale) for m, s in models.items()
    }
    return spec


# --- reading ----------------------------------------------------------------------------------
def _infer_format(path: Path, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise TraceError(
                path, problem=f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}"
            )
        return format
    for name, suffixes in FORMATS.items():
        if path.suffix.lower() in suffixes:
            return name
    raise TraceError(
        path,
        problem=f"cannot tell the format from the suffix {path.suffix!r}; pass format= one of "
        f"{', '.join(FORMATS)}",
    )


def _read(path: Path, fmt: str) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The table, each row's number in the file, and what that number is ('row' or 'line')."""
    if fmt == "csv":
        df = read_csv_strings(path)
        # an empty header cell is a written row index: pandas' name for it, so that a mapping
        # written against pandas' view of the file (request_id: "Unnamed: 0") finds it
        df.columns = [c if c != "" else f"Unnamed: {i}" for i, c in enumerate(df.columns)]
        return df, np.arange(1, len(df) + 1), "row"
    if fmt == "jsonl":
        records = read_jsonl(path)
        lines = np.array([line for line, _ in records], dtype=np.int64)
        keys: dict[str, None] = {}
        for _, rec in records:
            keys.update(dict.fromkeys(rec))
        df = pd.DataFrame(
            {k: pd.Series([rec.get(k) for _, rec in records], dtype=object) for k in keys}
        )
        return df, lines, "line"
    if not path.is_file():
        raise TraceError(path, problem="file not found")
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise TraceError(path, problem=f"not a readable Parquet file ({exc})") from None
    if df.empty:
        raise TraceError(path, problem="has no rows")
    return df.reset_index(drop=True), np.arange(1, len(df) + 1), "row"


@dataclass(frozen=True, eq=False)
class _Origin:
    """Where each row of the table was read: its file and its 1-based row (or line) there."""

    files: tuple[Path, ...]
    file_of: np.ndarray  # index into files, one per row
    numbers: np.ndarray  # row or line number in its file, one per row
    unit: str  # "row" or "line"

    def path(self, i: int) -> Path:
        return self.files[int(self.file_of[i])]

    def where(self, i: int) -> dict[str, int]:
        return {self.unit: int(self.numbers[i])}

    def check(
        self,
        mask: np.ndarray,
        column: str,
        problem: str | Any,
        hint: str | None = None,
        rows: np.ndarray | None = None,
    ) -> None:
        """Raise on the first flagged row naming its file, row and column
        (:func:`simkit.schema.check_rows`); ``rows``: the table positions of ``mask``'s rows."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        at = np.arange(len(mask)) if rows is None else np.asarray(rows)
        i = int(at[int(np.flatnonzero(mask)[0])])
        check_rows(
            mask,
            where=self.path(i),
            column=column,
            problem=problem,
            rows=self.numbers[at],
            unit=self.unit,
            hint=hint,
        )


def _read_files(
    p: Path, format: str | None, spec: dict[str, Any]
) -> tuple[pd.DataFrame, _Origin, str, dict[str, Any]]:
    """Read a file, or every file of a directory in sorted name order, as one table.

    Returns the table, where each row came from, the format and the notes for ``meta``
    (``sources``, and ``skipped_files`` / ``dropped_index_columns`` where there are any).
    """
    notes: dict[str, Any] = {}
    if p.is_dir():
        entries = sorted(p.iterdir(), key=lambda f: f.name)
        hidden = [f.name for f in entries if f.name.startswith(".")]
        files = [f for f in entries if not f.name.startswith(".")]
        if hidden:
            notes["skipped_files"] = hidden
        if not files:
            raise TraceError(
                p,
                problem="the directory has no files"
                + (f" (only hidden ones: {', '.join(hidden)})" if hidden else "")
                + "; expected CSV, JSON-lines or Parquet logs of one format",
            )
        for f in files:
            if f.is_dir():
                raise TraceError(
                    f,
                    problem="is a directory; a log directory holds the log files themselves "
                    "(sub-directories are not read)",
                )
        fmt = _infer_format(files[0], format)
        for f in files:
            if f.suffix.lower() not in FORMATS[fmt]:
                raise TraceError(
                    f,
                    problem=f"is not a {fmt} file (suffix {f.suffix!r}) but "
                    f"{'format is ' + repr(format) if format else files[0].name + ' is'}; every "
                    f"file of a log directory has one format ({', '.join(FORMATS[fmt])})",
                    hint="Move other files out of the directory",
                )
    else:
        files = [p]
        fmt = _infer_format(p, format)
    frames, file_of, numbers, unit = [], [], [], "row"
    dropped: list[dict[str, str]] = []
    first_columns: list[str] | None = None
    first_types: dict[str, str] = {}
    for k, f in enumerate(files):
        df, nums, unit = _read(f, fmt)
        df, gone = _drop_index_columns(df, spec)
        dropped += [{"file": f.name, "column": c} for c in gone]
        _require_mapped_columns(df, spec, f)
        types = _parquet_types(f) if fmt == "parquet" else {}
        if first_columns is None:
            first_columns, first_types = list(df.columns), types
        elif fmt != "jsonl":  # a JSON object may leave a key out; a table has its columns
            _check_same_schema(f, df, types, files[0], first_columns, first_types)
        frames.append(df)
        file_of.append(np.full(len(df), k, dtype=np.int64))
        numbers.append(nums)
    notes["sources"] = [
        {"file": f.name, "format": fmt, "rows": len(df)}
        for f, df in zip(files, frames, strict=True)
    ]
    if dropped:
        notes["dropped_index_columns"] = [
            {**d, "why": "an unnamed row index (pandas to_csv(index=True)), not in the mapping"}
            for d in dropped
        ]
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    origin = _Origin(tuple(files), np.concatenate(file_of), np.concatenate(numbers), unit)
    return df, origin, fmt, notes


def _drop_index_columns(df: pd.DataFrame, spec: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """``df`` without the unnamed index columns the mapping does not name, and their names."""
    mapped = {c for _, c in _mapped_columns(spec)}
    gone = [c for c in df.columns if _INDEX_COLUMN.fullmatch(str(c)) and c not in mapped]
    return (df.drop(columns=gone) if gone else df), gone


def _parquet_types(path: Path) -> dict[str, str]:
    """Column -> Arrow type of a Parquet file (from its footer)."""
    schema = pq.read_schema(path)
    return {name: str(schema.field(name).type) for name in schema.names}


def _check_same_schema(
    f: Path,
    df: pd.DataFrame,
    types: dict[str, str],
    first: Path,
    first_columns: list[str],
    first_types: dict[str, str],
) -> None:
    """A directory's table files must have the first file's columns (and Parquet types)."""
    extra = [c for c in df.columns if c not in first_columns]
    missing = [c for c in first_columns if c not in df.columns]
    hint = "Every file of a log directory must have the same columns: convert them separately"
    if missing:
        raise TraceError(
            f,
            column=missing[0],
            problem=f"{first.name} has this column and this file does not ({len(missing)} "
            f"column(s) missing: {', '.join(map(repr, missing))})",
            hint=hint,
        )
    if extra:
        raise TraceError(
            f,
            column=extra[0],
            problem=f"this file has a column {first.name} does not ({len(extra)} extra: "
            f"{', '.join(map(repr, extra))})",
            hint=hint,
        )
    for c in first_columns:
        if c in types and c in first_types and types[c] != first_types[c]:
            raise TraceError(
                f,
                column=c,
                problem=f"has type {types[c]} here but {first_types[c]} in {first.name}",
                hint=hint,
            )


class _Checker:
    """Collects bad rows per reason; raises on the first unless dropping was asked for."""

    def __init__(self, origin: _Origin, drop: bool) -> None:
        self.origin, self.drop = origin, drop
        self.unit = origin.unit
        self.bad = np.zeros(len(origin.numbers), dtype=bool)
        self.reasons: dict[str, dict[str, Any]] = {}

    def check(self, mask: np.ndarray, column: str, problem: str, hint: str | None = None) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not self.drop:
            self.origin.check(mask, column, problem, hint)
        if not mask.any():
            return
        i = int(np.flatnonzero(mask)[0])
        key = f"column '{column}': {problem}"
        entry = self.reasons.setdefault(
            key, {"rows": 0, f"first_{self.unit}": int(self.origin.numbers[i])}
        )
        if len(self.origin.files) > 1:
            entry.setdefault("first_file", self.origin.path(i).name)
        entry["rows"] += int(mask.sum())
        self.bad |= mask


def _text(values: pd.Series) -> pd.Series:
    def clean(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            return pd.NA
        return str(v) if not isinstance(v, str) else (v if v != "" else pd.NA)

    return values.astype(object).map(clean).astype("string")


def _bools(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(true mask, not-a-boolean mask)."""

    def norm(v: Any) -> str | None:
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        return str(v).strip().lower()

    s = values.astype(object).map(norm)
    return s.isin(_TRUE).to_numpy(), ~(s.isin(_TRUE) | s.isin(_FALSE)).to_numpy()


def _arrivals(values: pd.Series, unit: str, time_format: str | None, ck: _Checker, col: str):
    if unit == "datetime":
        raw = values.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        missing = raw.map(lambda v: v is None or v is pd.NA or v == "" or v != v).to_numpy(bool)
        try:
            parsed = pd.to_datetime(
                raw.where(~missing, None),
                format=time_format or "ISO8601",
                errors="coerce",
                utc=True,
            )
        except (ValueError, TypeError) as exc:
            raise TraceError(
                ck.origin.files[0], column=col, problem=f"cannot parse date/times ({exc})"
            ) from None
        bad = parsed.isna().to_numpy() & ~missing
        ck.check(missing, col, "missing arrival time")
        ck.check(
            bad,
            col,
            f"expected a date/time{' in format ' + repr(time_format) if time_format else ''}",
            hint="Check time_unit: numbers need time_unit='s' or 'ms'",
        )
        ns = parsed.astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]").astype("int64")
        ok = ~(missing | bad)
        origin = ns[ok].min() if ok.any() else 0
        seconds = np.where(ok, (ns - origin) / 1e9, np.nan)
        return seconds, str(pd.Timestamp(origin, tz="UTC").isoformat())
    numeric, not_num, missing = to_numbers(values)
    ck.check(missing, col, "missing arrival time")
    ck.check(not_num, col, f"expected a number of {unit}", hint="Dates need time_unit='datetime'")
    ck.check(np.isinf(numeric), col, "arrival time is infinite")
    ok = np.isfinite(numeric)
    origin = float(numeric[ok].min()) if ok.any() else 0.0
    seconds = (numeric - origin) * TIME_UNITS[unit]
    return seconds, f"{origin!r} {unit}"


def load_log(
    path: str | PathLike[str],
    mapping: Mapping[str, Any] | str | PathLike[str],
    *,
    format: str | None = None,
    time_unit: str = "s",
    time_format: str | None = None,
    sort: bool = False,
    drop_invalid: bool = False,
    tokenizer: str | None = None,
    name: str | None = None,
    arrival_optional: bool = False,
) -> Trace:
    """Load a team's log (CSV, JSONL or Parquet) into a :class:`Trace` through a column mapping.

    Parameters
    ----------
    path : path-like
        The log file, or a directory of log files of one format and one set of columns, read
        in sorted name order (module notes).
    mapping : mapping or path-like
        Trace field -> file column (see the module docstring), or a YAML file holding one.
    format : {'csv', 'jsonl', 'parquet'}, optional
        Inferred from the suffix when not given.
    time_unit : {'s', 'ms', 'us', 'ns', 'datetime'}
        What the arrival column holds. Numbers are made relative to the earliest request;
        datetimes (ISO 8601 by default, naive ones taken as UTC) likewise.
    time_format : str, optional
        A ``strftime`` format for datetimes that are not ISO 8601.
    sort : bool
        Sort rows by arrival (stable) instead of rejecting out-of-order rows.
    drop_invalid : bool
        Drop rows with bad values instead of raising; the count and reasons go to
        ``meta['dropped_rows']`` and a :class:`DroppedRowsWarning`.
    tokenizer : str, optional
        Count ``prompt_tokens`` from the prompt text where the log has no count
        (see :mod:`simkit.trace.tokens`).
    name : str, optional
        The trace's name in ``meta`` (default: the file stem, or the directory's name).
    arrival_optional : bool
        Accept a mapping without ``arrival``: every request arrives at 0 (in file order) and
        ``meta['arrivals']`` says none were read, for a caller that attaches generated
        arrivals next (:func:`simkit.trace.convert.convert` with ``arrivals=``).

    Raises
    ------
    SpecError
        A mapping with an unknown key, a missing ``arrival`` (unless ``arrival_optional``)
        or a malformed scale; ``sort=True`` without an arrival column.
    TraceError
        A mapped column a file lacks (listing the columns it has), a bad value, naming the
        file, the row or line, and the column; for a directory: no files, a file of another
        format, or a file whose columns differ from the first's (naming file and column).
    """
    p = Path(path)
    source = "<mapping>"
    if isinstance(mapping, (str, PathLike)):
        source = str(mapping)
        mapping = read_mapping(mapping)
    spec = _check_mapping(mapping, source, arrival_optional)
    if time_unit not in TIME_UNITS:
        raise TraceError(
            p, problem=f"unknown time_unit {time_unit!r}; valid units: {', '.join(TIME_UNITS)}"
        )
    if sort and "arrival" not in spec:
        raise SpecError(
            source,
            key="arrival",
            problem="sort=True (--sort) sorts rows by the arrival column, and the mapping "
            "maps none; without times there is nothing to sort by (--order sets the order of "
            "generated arrivals)",
        )
    if not p.exists():
        raise TraceError(p, problem="file not found")
    df, origin, fmt, notes = _read_files(p, format, spec)
    numbers, unit = origin.numbers, origin.unit
    ck = _Checker(origin, drop_invalid)
    n = len(df)

    # request fields
    cols: dict[str, Any] = {}
    if "request_id" in spec:
        ids = _text(df[spec["request_id"]])
        ck.check(ids.isna().to_numpy(), spec["request_id"], "missing request id")
    else:
        stems = [f.stem for f in origin.files]
        ids = pd.Series(
            [f"{stems[i]}/{k}" for i, k in zip(origin.file_of, numbers, strict=True)],
            dtype="string",
        )
    if "request_id" in spec:  # the ids the log gives: each file's span of them, in file order
        for k, src in enumerate(notes["sources"]):
            at = np.flatnonzero(origin.file_of == k)
            first, last = ids.iloc[int(at[0])], ids.iloc[int(at[-1])]
            src["first_request_id"] = None if pd.isna(first) else str(first)
            src["last_request_id"] = None if pd.isna(last) else str(last)
    if "arrival" in spec:
        arrival_s, time_origin = _arrivals(
            df[spec["arrival"]], time_unit, time_format, ck, spec["arrival"]
        )
    else:
        arrival_s, time_origin = np.zeros(n), None
    for field in ("prompt", "category", "source", "tags"):
        if field in spec:
            cols[field] = _text(df[spec[field]])
    for field in _COUNTS:
        if field in spec:
            cols[field] = _counts(df[spec[field]], spec[field], ck, allow_missing=True)
    if "prefix_blocks" in spec:
        cols[PREFIX_BLOCKS_COLUMN] = _prefix_blocks(df, spec, cols.get("prompt_tokens"), ck)
    tags = cols.get("tags", pd.Series("", index=range(n), dtype="string")).fillna("")
    for tag, column in spec["flags"].items():
        true, not_bool = _bools(df[column])
        ck.check(not_bool, column, "expected true/false (or 1/0, yes/no) for a tag flag")
        tags = tags.where(~true, tags.map(lambda t, tag=tag: f"{t},{tag}" if t else tag))
    if "tags" in cols or spec["flags"]:
        cols["tags"] = tags

    outcomes = _outcomes(df, spec, ids, ck)
    if "model" not in spec:
        dup = ids.duplicated().to_numpy() & ids.notna().to_numpy()
        ck.check(dup, spec.get("request_id", "request_id"), "duplicate request id")

    requests = pd.DataFrame({"request_id": ids, "arrival_s": arrival_s, **cols})
    keep = ~ck.bad
    meta: dict[str, Any] = {
        "name": name or (p.name if p.is_dir() else p.stem),
        "sources": notes.pop("sources"),
        **notes,
        "mapping": _plain(mapping),
    }
    if "prefix_block_size" in spec:
        meta[PREFIX_BLOCK_SIZE_KEY] = spec["prefix_block_size"]
    if "arrival" in spec:
        meta.update(time_unit=time_unit, time_origin=time_origin)
    else:
        meta["arrivals"] = "none (all 0); attach arrivals with simkit.trace.compose"
    if drop_invalid:
        meta["dropped_rows"] = {"rows_read": n, "dropped": int(ck.bad.sum()), "reasons": ck.reasons}
        if ck.bad.any():
            reasons = "; ".join(f"{k} ({v['rows']})" for k, v in ck.reasons.items())
            warnings.warn(
                f"{p}: dropped {int(ck.bad.sum())} of {n} rows: {reasons}",
                DroppedRowsWarning,
                stacklevel=2,
            )
        requests = requests[keep].reset_index(drop=True)
        outcomes = outcomes[outcomes["_row"].isin(np.flatnonzero(keep))]
        origin = _Origin(origin.files, origin.file_of[keep], numbers[keep], unit)
        if requests.empty:
            raise TraceError(p, problem="every row was invalid and dropped; nothing left to load")
    requests["_row"] = np.arange(len(requests))
    if "model" in spec:
        requests = _merge_long_form(requests, spec, origin)
    if "arrival" in spec:
        requests, meta = _order(requests, origin, spec["arrival"], sort, meta)
    requests = requests.drop(columns="_row")
    if tokenizer is not None and "prompt" in requests:
        todo = (
            requests["prompt"].notna()
            & requests.get(
                "prompt_tokens", pd.Series(pd.NA, index=requests.index, dtype="Int64")
            ).isna()
        )
        counted = count_tokens(requests.loc[todo, "prompt"], tokenizer=tokenizer)
        pt = requests.get("prompt_tokens", pd.Series(pd.NA, index=requests.index, dtype="Int64"))
        pt = pt.astype("Int64").copy()
        pt[todo.to_numpy()] = counted.to_numpy()
        requests["prompt_tokens"] = pt
        meta["tokenizer"] = {**tokenizer_info(tokenizer), "prompts_counted": int(todo.sum())}
    outcomes = outcomes.drop(columns="_row").reset_index(drop=True)
    return Trace(requests, outcomes, meta=meta, where=str(p))


def _plain(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {
        str(k): _plain(v) if isinstance(v, Mapping) else (list(v) if isinstance(v, tuple) else v)
        for k, v in mapping.items()
    }


def _mapped_columns(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(mapping key, file column) of every column the mapping names."""
    named: list[tuple[str, str]] = [(k, v) for k, v in spec.items() if isinstance(v, str)]
    named += [(f"flags.{t}", c) for t, c in spec["flags"].items()]
    if "outcome" in spec:
        named += [(f"outcome.{f}", c) for f, c in spec["outcome"].items() if f != "_scale"]
    for model, fields in spec["models"].items():
        named += [(f"models.{model}.{f}", c) for f, c in fields.items() if f != "_scale"]
    return named


def _require_mapped_columns(df: pd.DataFrame, spec: dict[str, Any], path: Path) -> None:
    for key, column in _mapped_columns(spec):
        if column not in df.columns:
            have = ", ".join(map(repr, df.columns))
            raise TraceError(
                path,
                column=column,
                problem=f"the mapping's key '{key}' names this column, which the file does not "
                f"have; columns present: {have}",
                hint=_ARRIVALS_HINT if key == "arrival" else None,
            )


def _counts(values: pd.Series, column: str, ck: _Checker, *, allow_missing: bool) -> pd.Series:
    numeric, not_num, missing = to_numbers(values)
    ck.check(not_num, column, "expected a whole number >= 0")
    if not allow_missing:
        ck.check(missing, column, "missing value; expected a whole number >= 0")
    finite = np.isfinite(numeric)
    ck.check(np.isinf(numeric) | (finite & (numeric < 0)), column, "negative or infinite count")
    ck.check(finite & (numeric != np.round(numeric)), column, "expected a whole number")
    clean = np.where(finite & (numeric >= 0) & (numeric == np.round(numeric)), numeric, np.nan)
    return pd.Series(clean, dtype="float64").astype("Int64")


def _prefix_blocks(
    df: pd.DataFrame, spec: dict[str, Any], prompt_tokens: pd.Series | None, ck: _Checker
) -> pd.Series:
    """The prefix-block column as tuples of ids; bad cells (not a list of ints >= 0, or more
    blocks than the prompt has) are reported at their file row."""
    column, size = spec["prefix_blocks"], spec["prefix_block_size"]
    parsed = block_lists(df[column])
    bad = np.fromiter((isinstance(p, str) for p in parsed), dtype=bool, count=len(parsed))
    if bad.any():
        ck.check(bad, column, parsed[int(np.flatnonzero(bad)[0])])
    blocks = [() if isinstance(p, str) else p for p in parsed]
    if prompt_tokens is not None:
        n_blocks = np.fromiter((len(b) for b in blocks), dtype="float64", count=len(blocks))
        most = np.ceil(prompt_tokens.to_numpy(dtype="float64", na_value=np.nan) / size)
        over = n_blocks > most  # NaN (no prompt count): not checked
        if over.any():
            i = int(np.flatnonzero(over)[0])
            ck.check(
                over,
                column,
                f"{int(n_blocks[i])} blocks of {size} tokens for a prompt of "
                f"{int(prompt_tokens.iloc[i])} tokens; expected at most "
                f"ceil(prompt_tokens / {size})",
            )
    return pd.Series(blocks, dtype=object)


def _floats(values: pd.Series, column: str, ck: _Checker) -> np.ndarray:
    numeric, not_num, _ = to_numbers(values)
    ck.check(not_num, column, "expected a number")
    ck.check(np.isinf(numeric) | (numeric < 0), column, "negative or infinite; expected >= 0")
    return np.where(np.isfinite(numeric) & (numeric >= 0), numeric, np.nan)


def _outcome_frame(df, fields, model_names, ids, ck: _Checker) -> pd.DataFrame:
    n = len(df)
    out = pd.DataFrame({"request_id": ids, "model": model_names, "_row": np.arange(n)})
    present = np.zeros(n, dtype=bool)
    scale = fields.get("_scale")
    if "raw_score" in fields:
        col = fields["raw_score"]
        raw, not_num, _ = to_numbers(df[col])
        ck.check(not_num, col, "expected a score")
        if scale is not None:
            outside = np.isfinite(raw) & ((raw < scale[0]) | (raw > scale[1]))
            ck.check(outside, col, f"score outside its declared scale [{scale[0]:g}, {scale[1]:g}]")
            out["scale_min"], out["scale_max"] = scale
        out["raw_score"] = raw
        present |= np.isfinite(raw)
    if "quality" in fields:
        col = fields["quality"]
        q, not_num, _ = to_numbers(df[col])
        ck.check(not_num, col, "expected a quality in [0, 1]")
        ck.check(
            np.isinf(q) | (q < 0) | (q > 1),
            col,
            "quality outside [0, 1]",
            hint="Map a score on another scale as raw_score with its scale",
        )
        out["quality"] = np.where((q >= 0) & (q <= 1), q, np.nan)
        present |= np.isfinite(q)
    else:
        raw = out.get("raw_score", pd.Series(np.nan, index=out.index)).to_numpy(dtype="float64")
        lo, hi = scale if scale is not None else (0.0, 1.0)
        q = (raw - lo) / (hi - lo)
        out["quality"] = np.where((q >= 0) & (q <= 1), q, np.nan)
    if "output_tokens" in fields:
        out["output_tokens"] = _counts(
            df[fields["output_tokens"]], fields["output_tokens"], ck, allow_missing=True
        )
        present |= out["output_tokens"].notna().to_numpy()
    for field, target, factor in (
        ("latency_s", "latency_s", 1.0),
        ("latency_ms", "latency_s", 1e-3),
        ("ttft_s", "ttft_s", 1.0),
        ("ttft_ms", "ttft_s", 1e-3),
        ("cost_usd", "cost_usd", 1.0),
    ):
        if field in fields:
            out[target] = _floats(df[fields[field]], fields[field], ck) * factor
            present |= np.isfinite(out[target].to_numpy(dtype="float64"))
    return out[present]


def _outcomes(df: pd.DataFrame, spec: dict[str, Any], ids: pd.Series, ck: _Checker):
    parts = []
    if "model" in spec:
        models = _text(df[spec["model"]])
        ck.check(models.isna().to_numpy(), spec["model"], "missing model name")
        frame = _outcome_frame(df, spec["outcome"], models, ids, ck)
        frame = frame[frame["model"].notna()]
        dup = frame.duplicated(["request_id", "model"]).to_numpy()
        if dup.any():
            rows = np.zeros(len(df), dtype=bool)
            rows[frame["_row"].to_numpy()[dup]] = True
            ck.check(rows, spec["model"], "second row for the same request and model")
        parts.append(frame)
    for model, fields in spec["models"].items():
        parts.append(_outcome_frame(df, fields, model, ids, ck))
    if not parts:
        return pd.DataFrame({"request_id": [], "model": [], "quality": [], "_row": []})
    return pd.concat(parts, ignore_index=True)


def _plain_value(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _merge_long_form(requests, spec, origin: _Origin) -> pd.DataFrame:
    """Long form: one request per id; rows of the same request must agree on request fields."""
    fields = [c for c in requests.columns if c not in ("request_id", "_row")]
    first = requests.drop_duplicates("request_id", keep="first")
    if len(first) == len(requests):
        return requests
    merged = requests.merge(first, on="request_id", suffixes=("", "_first"))
    for field in fields:
        a, b = merged[field], merged[f"{field}_first"]
        differ = ~((a == b).fillna(False) | (a.isna() & b.isna()))
        if differ.any():
            i = int(np.flatnonzero(differ.to_numpy())[0])
            row = int(merged["_row"].iloc[i])
            column = spec.get(field if field != "arrival_s" else "arrival", field)
            raise TraceError(
                origin.path(row),
                column=column,
                problem=f"request {merged['request_id'].iloc[i]!r} appears on several rows "
                f"that disagree on this column ({_plain_value(a.iloc[i])!r} vs "
                f"{_plain_value(b.iloc[i])!r})",
                **origin.where(row),
            )
    return first.reset_index(drop=True)


def _order(requests, origin: _Origin, column, sort, meta):
    arr = requests["arrival_s"].to_numpy(dtype="float64")
    back = np.diff(arr) < 0
    if not back.any():
        return requests, meta
    if not sort:
        rows = requests["_row"].to_numpy(dtype=np.int64)
        if len(origin.files) == 1:
            check_arrivals(
                arr,
                column=column,
                where=origin.files[0],
                rows=origin.numbers[rows],
                unit=origin.unit,
                hint="Pass sort=True (simkit trace convert --sort) to sort the rows by arrival",
            )
        # several files: the same check, naming the file of the first row that goes back
        origin.check(
            np.concatenate([[False], back]),
            column,
            lambda i, n: (
                f"arrival times must be non-decreasing: {float(arr[i])!r} comes "
                f"after {float(arr[i - 1])!r} ({n} such rows; the files are read in name order)"
            ),
            hint="Pass sort=True (simkit trace convert --sort) to sort the rows by arrival",
            rows=rows,
        )
    order = np.argsort(arr, kind="stable")
    meta["sorted"] = f"rows sorted by arrival; {int(back.sum())} were out of order"
    return requests.iloc[order].reset_index(drop=True), meta
