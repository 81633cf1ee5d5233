"""A trace directory read in chunks of requests, never whole: what a streaming replay reads.

:class:`TraceChunks` opens a trace written by :func:`~simkit.trace.save_trace` and yields it
as consecutive :class:`~simkit.trace.Trace` chunks of ``chunk_rows`` requests, each with its
outcomes and scores, validated like a whole trace (errors name the table file and the row in
that file). Memory stays bounded by a chunk, not the trace, when the outcomes are stored in
request order (every request's outcome rows before the next request's, as
:func:`~simkit.trace.compose.repeat_trace` and ``simkit trace repeat`` write them). Traces
whose outcomes are in another order (the shipped ones are in their benchmark's order) are
read the same way, but their outcomes table is held in memory, sorted by request.

Before the first chunk, one pass over the id columns (not the text) checks what chunks
cannot see alone: table checksums, request ids unique across the whole trace, every outcome
matching a request, and which models have outcomes; it also feeds the trace's rows into the
run's ``config_hash`` (:func:`simkit.sim.engine.hash_trace`, row by row, so the digest equals
the in-memory one).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simkit.errors import SimkitError, SpecError, TraceError
from simkit.trace.compose import check_rate_multiplier
from simkit.trace.core import Trace
from simkit.trace.store import (
    _MANIFEST,
    _TABLES,
    _listed_tables,
    _read_manifest,
)

__all__ = ["DEFAULT_CHUNK_ROWS", "TraceChunk", "TraceChunks"]

#: Requests per chunk unless asked otherwise: large enough that per-chunk overhead (a Trace,
#: a RequestTable, a Parquet row group) is small, small enough that the few chunks held at
#: once (each request about 2 kB of Python objects while open) stay well under 100 MB.
DEFAULT_CHUNK_ROWS = 16_384

_BLOCK = 1 << 20  # bytes hashed at a time when checking a table's SHA-256


@dataclass(frozen=True)
class TraceChunk:
    """Requests ``start`` .. ``start + trace.n_requests - 1`` (0-based) of the whole trace."""

    start: int
    trace: Trace


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                h.update(block)
    except OSError as exc:
        raise TraceError(path, problem=f"cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        problem = f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})"
        raise TraceError(path, problem=problem) from None


def _batches(
    pf: pq.ParquetFile, path: Path, size: int, columns: list[str] | None = None
) -> Iterator[pa.Table]:
    """The file's rows as tables of exactly ``size`` rows (the last may be shorter), each
    validated (text that is not UTF-8 is an error here, before pandas sees it)."""
    schema = (
        pf.schema_arrow
        if columns is None
        else pa.schema([pf.schema_arrow.field(c) for c in columns])
    )
    buf: list[pa.RecordBatch] = []
    have = 0
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=size, columns=columns):
            buf.append(batch)
            have += batch.num_rows
            while have >= size:
                table = pa.Table.from_batches(buf, schema=schema)
                out = table.slice(0, size)
                rest = table.slice(size)
                buf = rest.to_batches()
                have -= size
                out.validate(full=True)
                row += size
                yield out
        if have:
            out = pa.Table.from_batches(buf, schema=schema)
            out.validate(full=True)
            yield out
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        problem = (
            f"not a readable Parquet file near row {row + 1} "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        )
        raise TraceError(path, problem=problem) from None


_TEXT = {pa.large_string(): pd.StringDtype(), pa.string(): pd.StringDtype()}


def _frame(table: pa.Table) -> pd.DataFrame:
    """A table as pandas, text as the Trace holds it (``string``, no per-value conversion)."""
    return table.to_pandas(types_mapper=_TEXT.get)


def _string_column(table: pa.Table, name: str) -> pd.Series:
    """A text column as the Trace holds it (pandas ``string``)."""
    return table.column(name).to_pandas(types_mapper=_TEXT.get).astype("string")


class _Rows:
    """Consecutive rows of a table read in batches: ``take(k)`` returns the next ``k``."""

    def __init__(self, batches: Iterator[pa.Table], schema: pa.Schema) -> None:
        self._it = batches
        self._schema = schema
        self._pending = schema.empty_table()
        self.done = 0  # rows handed out so far

    def take(self, k: int) -> pa.Table:
        parts = []
        while k > 0:
            if self._pending.num_rows == 0:
                nxt = next(self._it, None)
                if nxt is None:
                    break
                self._pending = nxt
            part = self._pending.slice(0, k)
            self._pending = self._pending.slice(part.num_rows)
            parts.append(part)
            k -= part.num_rows
        self.done += sum(p.num_rows for p in parts)
        return pa.concat_tables(parts) if parts else self._schema.empty_table()


class _Bytes:
    """Collects what a hash would be fed, to feed it later in order."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        if data:
            self.parts.append(data)


class TraceChunks:
    """A trace directory as consecutive chunks of requests (see the module docstring).

    Parameters
    ----------
    path : path-like
        A trace directory (``trace.json`` + Parquet tables).
    chunk_rows : int
        Requests per chunk.
    n_requests : int, optional
        Read only the first ``n_requests`` requests (like :func:`~simkit.trace.window`).
    rate_multiplier : float
        Arrival times divided by it (like :func:`~simkit.trace.window`).
    hash_rows : callable, optional
        ``hash_rows(h, requests, outcomes)`` feeds rows into a hash
        (:func:`simkit.sim.engine.hash_trace`; the simulator owns that rule): called with the
        requests in order, then the outcomes, so ``trace_hash`` equals the in-memory digest.

    Attributes
    ----------
    where : str
        The directory, as :func:`~simkit.trace.load_trace` names it.
    meta : dict
        The manifest's metadata (with ``window`` when a window was asked for).
    n_requests : int
        Requests the chunks hold in all.
    models : frozenset of str
        Models with at least one outcome for those requests.
    score_names : tuple of str
        Classifier score columns.
    request_major : bool
        Whether the outcomes were stored in request order (streamed) or had to be held in
        memory and sorted.
    trace_hash : hashlib hash
        The trace's rows fed as :func:`simkit.sim.engine.hash_trace` feeds them; copy it
        before adding to it.

    Raises
    ------
    TraceError
        The directory is not a trace, a table is unreadable or fails its checksum, request ids
        repeat, or an outcome names no request (each naming the file, row and column).
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        n_requests: int | None = None,
        rate_multiplier: float = 1.0,
        hash_rows: Callable[[Any, pd.DataFrame, pd.DataFrame], None] | None = None,
    ) -> None:
        for key, value in (("chunk_rows", chunk_rows), ("n_requests", n_requests)):
            if value is None and key == "n_requests":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SpecError(
                    "<stream>", key=key, problem=f"expected a whole number >= 1, got {value!r}"
                )
        self.rate_multiplier = check_rate_multiplier(rate_multiplier, "<window>")
        src = Path(path)
        self.src = src
        self.where = str(src)
        manifest = _read_manifest(src)
        manifest_path = src / _MANIFEST
        if manifest["version"] < 2:
            raise TraceError(
                manifest_path,
                column="version",
                problem="format version 1 has no table checksums",
                hint=f"Record them once with `simkit trace restamp {src}`",
            )
        self._check_tables(src, _listed_tables(manifest, manifest_path))
        self.chunk_rows = chunk_rows
        self._req_path = src / "requests.parquet"
        self._out_path = src / "outcomes.parquet"
        self._scores_path = src / "scores.parquet"
        self._req = _open(self._req_path)
        self._out = _open(self._out_path) if self._out_path.is_file() else None
        self._scores = _open(self._scores_path) if self._scores_path.is_file() else None
        total = self._req.metadata.num_rows
        self.total_rows = total
        self.n_requests = total if n_requests is None else min(int(n_requests), total)
        meta = dict(manifest.get("meta", {}))
        if self.n_requests < total or self.rate_multiplier != 1.0:
            meta["window"] = {
                "n_requests": self.n_requests,
                "rate_multiplier": float(self.rate_multiplier),
            }
        self.meta = meta
        self.score_names: tuple[str, ...] = (
            ()
            if self._scores is None
            else tuple(n for n in self._scores.schema_arrow.names if n != "request_id")
        )
        self.trace_hash = hashlib.sha256()
        self._hash_rows = hash_rows
        self._sorted_out: pa.Table | None = None
        self._file_row: np.ndarray | None = None  # file row of each sorted outcome row
        self._prepass()

    # -- before the first chunk ----------------------------------------------------------------
    @staticmethod
    def _check_tables(src: Path, listed: dict[str, str]) -> None:
        hint = f"If you changed the tables on purpose, record their new checksums with `simkit trace restamp {src}`; otherwise restore the trace from its source"
        if not (src / "requests.parquet").is_file():
            raise TraceError(src / "requests.parquet", problem="missing; every trace has requests")
        for name in _TABLES:
            p = src / name
            if name in listed and not p.is_file():
                raise TraceError(p, problem="listed in trace.json but missing", hint=hint)
            if p.is_file() and name not in listed:
                raise TraceError(
                    p, problem="has no checksum in trace.json (added by hand?)", hint=hint
                )
            if p.is_file() and _sha256(p) != listed[name]:
                raise TraceError(
                    p,
                    problem="does not match its SHA-256 in trace.json: the table is corrupt or "
                    "was modified",
                    hint=hint,
                )

    def _outcome_columns(self) -> list[str]:
        return ["request_id", "model", "quality"]

    def _prepass(self) -> None:
        """One pass over the ids: duplicates, outcome order and models, the trace's hash."""
        size = self.chunk_rows
        n = self.n_requests
        hashes = np.empty(self.total_rows, dtype=np.uint64)
        out_rows = (
            _Rows(
                _batches(self._out, self._out_path, size, self._outcome_columns()),
                pa.schema([self._out.schema_arrow.field(c) for c in self._outcome_columns()]),
            )
            if self._out is not None
            else None
        )
        pending = None
        self._bounds = [0]  # outcome row where each chunk's outcomes start (request order)
        request_major = True
        # the outcome rows' hash bytes (8 per row), fed after every request's: not the rows
        out_bytes = _Bytes()
        empty = pd.DataFrame({"request_id": pd.Series([], dtype="string"), "arrival_s": []})
        models: set[str] = set()
        start = 0
        for table in _batches(self._req, self._req_path, size, ["request_id", "arrival_s"]):
            ids = _string_column(table, "request_id")
            stop = start + table.num_rows
            hashes[start:stop] = pd.util.hash_array(ids.fillna("").to_numpy(dtype=object))
            if start < n:
                keep = min(stop, n) - start
                arrival = table.column("arrival_s").to_numpy(zero_copy_only=False)[:keep]
                if self.rate_multiplier != 1.0:
                    arrival = arrival / self.rate_multiplier
                req = pd.DataFrame(
                    {"request_id": ids[:keep].reset_index(drop=True), "arrival_s": arrival}
                )
                if self._hash_rows is not None:
                    self._hash_rows(
                        self.trace_hash, req, req.iloc[:0].assign(model="", quality=0.0)
                    )
            if out_rows is not None and request_major:
                taken = []
                value_set = table.column("request_id")
                while True:
                    if pending is None or pending.num_rows == 0:
                        pending = out_rows.take(size)
                        if pending.num_rows == 0:
                            break
                    inside = pc.is_in(pending.column("request_id"), value_set=value_set)
                    inside = inside.to_numpy(zero_copy_only=False)
                    k = int(inside.size if inside.all() else np.argmin(inside))
                    taken.append(pending.slice(0, k))
                    pending = pending.slice(k)
                    if pending.num_rows:
                        break
                mine = pa.concat_tables(taken) if taken else None
                count = 0 if mine is None else mine.num_rows
                self._bounds.append(self._bounds[-1] + count)
                if mine is not None and count and start < n:
                    if stop > n:  # the window ends inside this chunk
                        mine = mine.filter(
                            pc.is_in(
                                mine.column("request_id"), value_set=value_set.slice(0, n - start)
                            )
                        )
                    part = self._hash_frame(mine, models)
                    if self._hash_rows is not None:
                        self._hash_rows(out_bytes, empty, part)
            start = stop
        if out_rows is not None and request_major:
            left = (pending.num_rows if pending is not None else 0) + out_rows.take(1).num_rows
            request_major = left == 0
        self._check_unique(hashes)
        self.request_major = request_major
        if not request_major:
            models.clear()
            out_bytes = _Bytes()
            part = self._sort_outcomes(models)
            if self._hash_rows is not None:
                self._hash_rows(out_bytes, empty, part)
        self.models = frozenset(models)
        if self._hash_rows is not None:
            for b in out_bytes.parts:
                self.trace_hash.update(b)
            if self._scores is not None:
                self._hash_scores()

    def _hash_frame(self, table: pa.Table, models: set[str]) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "request_id": _string_column(table, "request_id"),
                "model": _string_column(table, "model"),
                "quality": table.column("quality").to_pandas().astype("float64"),
            }
        )
        models.update(frame["model"].dropna().unique().tolist())
        return frame

    def _check_unique(self, hashes: np.ndarray) -> None:
        """Request ids unique across the whole file (a chunk sees only its own)."""
        order = np.argsort(hashes, kind="stable")
        same = np.flatnonzero(hashes[order][1:] == hashes[order][:-1])
        if not same.size:
            return
        ids = pq.read_table(self._req_path, columns=["request_id"]).column("request_id")
        first: dict[str, int] = {}
        later = []
        for j in same:  # a 64-bit hash collision is checked against the ids themselves
            a, b = sorted((int(order[j]), int(order[j + 1])))
            if ids[a].as_py() == ids[b].as_py():
                key = ids[a].as_py()
                first[key] = min(first.get(key, a), a)
                later.append(b)
        if later:
            b = min(later)
            key = ids[b].as_py()
            raise TraceError(
                self._req_path,
                row=b + 1,
                column="request_id",
                problem=f"duplicate id {key!r} (first seen in row {first[key] + 1}); "
                f"{len(later)} duplicate rows in all; every request needs its own id",
            )

    def _sort_outcomes(self, models: set[str]) -> pd.DataFrame:
        """Outcomes not in request order: held in memory, sorted by request (stable)."""
        try:
            out = pq.read_table(self._out_path)
            ids = pq.read_table(self._req_path, columns=["request_id"]).column("request_id")
        except (OSError, ValueError, pa.ArrowException) as exc:
            problem = f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})"
            raise TraceError(self._out_path, problem=problem) from None
        pos = pc.index_in(out.column("request_id"), value_set=ids)
        unknown = pos.is_null().to_numpy(zero_copy_only=False)
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            raise TraceError(
                self._out_path,
                row=i + 1,
                column="request_id",
                problem=f"outcome for unknown request {out.column('request_id')[i].as_py()!r} "
                f"({int(unknown.sum())} such rows); every outcome must match a request",
            )
        pos_np = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        order = np.argsort(pos_np, kind="stable")
        self._sorted_out = out.take(pa.array(order))
        self._file_row = order
        starts = np.arange(0, self.total_rows + self.chunk_rows, self.chunk_rows)
        self._bounds = np.searchsorted(pos_np[order], starts).tolist()
        keep = pos_np < self.n_requests
        kept = out.filter(pa.array(keep)).select(self._outcome_columns())
        return self._hash_frame(kept, models)

    def _hash_scores(self) -> None:
        n = self.n_requests
        start = 0
        for table in _batches(self._scores, self._scores_path, self.chunk_rows):
            if start >= n:
                break
            frame = table.slice(0, n - start).to_pandas()
            frame["request_id"] = frame["request_id"].astype("string")
            for c in self.score_names:
                frame[c] = frame[c].astype("float64")
            self.trace_hash.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
            start += table.num_rows

    # -- the chunks ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[TraceChunk]:
        size = self.chunk_rows
        n = self.n_requests
        scores = (
            _batches(self._scores, self._scores_path, size) if self._scores is not None else None
        )
        outs: _Rows | None = None
        if self._out is not None and self.request_major:
            outs = _Rows(_batches(self._out, self._out_path, size), self._out.schema_arrow)
        last_arrival = None
        start = 0
        for c, table in enumerate(_batches(self._req, self._req_path, size)):
            if start >= n:
                break
            lo, hi = self._bounds[c], self._bounds[c + 1]
            if outs is not None:
                out = outs.take(hi - lo)
            elif self._sorted_out is not None:
                out = self._sorted_out.slice(lo, hi - lo)
            else:
                out = None
            score = next(scores) if scores is not None else None
            keep = min(table.num_rows, n - start)
            if keep < table.num_rows:
                table = table.slice(0, keep)
                score = score.slice(0, keep) if score is not None else None
                if out is not None:
                    out = out.filter(
                        pc.is_in(out.column("request_id"), value_set=table.column("request_id"))
                    )
            requests = _frame(table)
            if self.rate_multiplier != 1.0:
                requests["arrival_s"] = requests["arrival_s"] / self.rate_multiplier
            arrival = requests["arrival_s"].to_numpy(dtype="float64", na_value=np.nan)
            if last_arrival is not None and arrival.size and arrival[0] < last_arrival:
                raise TraceError(
                    self._req_path,
                    row=start + 1,
                    column="arrival_s",
                    problem=f"{float(arrival[0])!r} is earlier than the row before ({last_arrival!r}); "
                    "arrival times must be non-decreasing",
                    hint="Sort the requests by arrival time before building the trace",
                )
            outcomes = (
                _frame(out)
                if out is not None
                else pd.DataFrame(columns=["request_id", "model", "quality"])
            )
            try:
                trace = Trace(
                    requests,
                    outcomes,
                    scores=None if score is None else _frame(score),
                    meta=self.meta,
                    where=self.where,
                )
            except TraceError as exc:
                raise self._located(exc, start, lo) from None
            if arrival.size:
                last_arrival = float(arrival[-1])
            yield TraceChunk(start, trace)
            start += table.num_rows

    def _located(self, exc: TraceError, start: int, out_start: int) -> TraceError:
        """A chunk's error with the table file and the row in that file."""
        path = exc.path or self.where
        row = exc.row
        if path.endswith("(outcomes)"):
            path = str(self._out_path)
            if row is not None:
                k = out_start + row - 1
                row = int(self._file_row[k]) + 1 if self._file_row is not None else k + 1
        elif path.endswith("(scores)"):
            path = str(self._scores_path)
            row = None if row is None else row + start
        else:
            path = str(self._req_path)
            row = None if row is None else row + start
        return TraceError(path, problem=exc.problem, row=row, column=exc.column, hint=exc.hint)


_ROW = re.compile(r"\(row (\d+)\)")


def shift_rows(exc: SimkitError, start: int, where: str) -> str:
    """The text of an error raised on a chunk whose rows count from ``start + 1``, with its
    ``(row N)`` counted in the whole table instead."""
    text = _ROW.sub(lambda m: f"(row {int(m.group(1)) + start})", str(exc))
    return text.replace(f"{where}:", f"{where}/requests.parquet:", 1)
