"""``simulate_stream()``: a replay in bounded memory, read from and written to Parquet in chunks.

The run is :func:`~simkit.sim.simulate`'s :class:`~simkit.sim.run.Run`, unchanged in its hot
path: it indexes requests by their position in the trace, and here the per-request tables
(:class:`~simkit.sim.requests.RequestTable`'s columns) and results
(:data:`~simkit.sim.run.RESULT_LISTS`) are dicts keyed by that position instead of lists.
A chunk of requests is added to them just before its first arrival is due
(:class:`~simkit.trace.stream.TraceChunks`) and removed once every request in it has
finished: its records rows are written to Parquet (the same rows
:func:`~simkit.sim.records.requests_frame` builds for :func:`~simkit.sim.simulate`) and what
the summary needs is kept as compact numpy columns. Requests finish out of order, but only a
few chunks are open at a time (those with requests still in flight), so memory is bounded by
the chunk size and the backlog, not the trace.

When the run can be replayed tier by tier (:mod:`~simkit.sim.by_tier`: no ``next_tier``,
nothing live read), it is, one chunk at a time: each chunk's requests are routed, then each
tier runs as far as the chunk's last arrival event, and finished chunks are written out
before the next is read.

Same trace, fleet, policy and seed: the same records rows, ``config_hash``, event counts and
summary as :func:`~simkit.sim.simulate`, bit for bit.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simkit.errors import SimulationError, SpecError
from simkit.fleet.costs import check_cost_source
from simkit.fleet.spec import Fleet
from simkit.policies.base import Policy
from simkit.sim.by_tier import TieFound, TierReplays, replays_by_tier
from simkit.sim.engine import check_fleet_and_policy, finish_config_hash, hash_trace, run_meta
from simkit.sim.records import requests_frame
from simkit.sim.requests import RequestTable
from simkit.sim.run import RESULT_LISTS, Run
from simkit.trace.stream import DEFAULT_CHUNK_ROWS, TraceChunk, TraceChunks, shift_rows

__all__ = ["SUMMARY_COLUMNS", "StreamedRun", "simulate_stream"]

#: The records columns a summary (:func:`simkit.metrics.summarize_runs`) reads, as
#: :attr:`StreamedRun.requests` keeps them; ``request_id`` holds the request's position.
SUMMARY_COLUMNS = (
    "run_id",
    "request_id",
    "tier",
    "arrival_s",
    "first_token_s",
    "end_s",
    "output_tokens",
    "cost_usd",
    "retries",
    "n_429",
    "quality",
    "status",
    "fail_reason",
    "privacy_violation",
)

# the per-request columns of a RequestTable, as lists (one per tier for the nested ones)
_TABLE_COLUMNS = ("ids", "arrival", "prompt", "max_tok", "category", "source", "tags", "sensitive")
_PER_TIER = ("quality", "out", "observed_cost")
_INITIAL = {
    "final": -1,
    "tried": "",
    "dispatch": float("nan"),
    "first": float("nan"),
    "end": float("nan"),
    "out_tok": 0,
    "cost": 0.0,
    "retries": 0,
    "n429": 0,
    "reason": "",
    "violation": False,
}


@dataclass(frozen=True, eq=False)
class StreamedRun:
    """What :func:`simulate_stream` returns: everything a summary needs, nothing per request
    that it does not.

    Attributes
    ----------
    requests : DataFrame
        One row per request, only :data:`SUMMARY_COLUMNS`, in compact dtypes (``tier``,
        ``status`` and ``fail_reason`` categorical, counts int32; times, cost and quality
        float64, so every summary number equals :func:`~simkit.sim.simulate`'s);
        ``request_id`` is the request's 0-based position. Pass it to
        :func:`simkit.metrics.summarize_runs` with ``endpoints``.
    endpoints : DataFrame
        As :attr:`simkit.sim.Records.endpoints`.
    horizon_s : float
    meta : Mapping
        As :attr:`simkit.sim.Records.meta`, plus ``chunk_rows``, ``max_open_chunks`` (the most
        chunks held at once) and ``outcomes_in_request_order``.
    records_path : Path or None
        Where the full records rows were written.
    models : frozenset of str
        Models with outcomes in the replayed requests (``Trace.models``).
    """

    requests: pd.DataFrame
    endpoints: pd.DataFrame
    horizon_s: float
    meta: Mapping[str, Any] = field(default_factory=dict)
    records_path: Path | None = None
    models: frozenset[str] = frozenset()


class _StreamTable(RequestTable):
    """A :class:`RequestTable` whose columns are dicts holding only the open chunks."""

    def __init__(self, n: int, n_tiers: int, score_names: tuple[str, ...], where: str) -> None:
        # no RequestTable.__init__: the columns fill chunk by chunk
        self.where = where
        self._n = n
        for name in _TABLE_COLUMNS:
            setattr(self, name, {})
        for name in _PER_TIER:
            setattr(self, name, [{} for _ in range(n_tiers)])
        self.score_names = score_names
        self.scores = [{} for _ in score_names]
        self.blocks = None  # prefix caching is refused before a streaming run starts
        self.block_size = None

    def __len__(self) -> int:
        return self._n

    def add(self, start: int, chunk: RequestTable) -> None:
        rows = range(start, start + len(chunk))
        for name in _TABLE_COLUMNS:
            getattr(self, name).update(zip(rows, getattr(chunk, name), strict=True))
        for name in _PER_TIER:
            for mine, theirs in zip(getattr(self, name), getattr(chunk, name), strict=True):
                mine.update(zip(rows, theirs, strict=True))
        for mine, theirs in zip(self.scores, chunk.scores, strict=True):
            mine.update(zip(rows, theirs, strict=True))

    @staticmethod
    def rows(column: dict[int, Any], first: int, stop: int) -> list:  # type: ignore[override]
        return [column[i] for i in range(first, stop)]

    def pop(self, start: int, stop: int) -> dict[str, Any]:
        """The rows ``start`` .. ``stop - 1`` of every column, removed."""
        rows = range(start, stop)
        out: dict[str, Any] = {n: [getattr(self, n).pop(i) for i in rows] for n in _TABLE_COLUMNS}
        for name in _PER_TIER:
            out[name] = [[d.pop(i) for i in rows] for d in getattr(self, name)]
        for d in self.scores:
            for i in rows:
                del d[i]
        return out


class _Summary:
    """The compact per-request columns a summary needs, filled chunk by chunk."""

    def __init__(self, n: int, tier_names: tuple[str, ...]) -> None:
        self.n = n
        self.tier_names = tier_names
        self.final = np.empty(n, dtype=np.int8 if len(tier_names) < 127 else np.int32)
        self.arrival = np.empty(n)
        self.first = np.empty(n)
        self.end = np.empty(n)
        self.out_tok = np.empty(n, dtype=np.int64)
        self.cost = np.empty(n)
        self.retries = np.empty(n, dtype=np.int32)
        self.n429 = np.empty(n, dtype=np.int32)
        self.quality = np.empty(n)
        self.reason = np.empty(n, dtype=np.int16)
        self.violation = np.empty(n, dtype=bool)
        self.reasons: dict[str, int] = {"": 0}

    def add(self, start: int, frame: pd.DataFrame, final: list[int], reason: list[str]) -> None:
        s = slice(start, start + len(frame))
        self.final[s] = final
        self.arrival[s] = frame["arrival_s"].to_numpy()
        self.first[s] = frame["first_token_s"].to_numpy()
        self.end[s] = frame["end_s"].to_numpy()
        self.out_tok[s] = frame["output_tokens"].to_numpy()
        self.cost[s] = frame["cost_usd"].to_numpy()
        self.retries[s] = frame["retries"].to_numpy()
        self.n429[s] = frame["n_429"].to_numpy()
        self.quality[s] = frame["quality"].to_numpy()
        codes = self.reasons
        self.reason[s] = [codes.setdefault(r, len(codes)) for r in reason]
        self.violation[s] = frame["privacy_violation"].to_numpy()

    def frame(self, run_id: int) -> pd.DataFrame:
        n = self.n
        k = len(self.tier_names)
        final = self.final.astype(np.int32)
        done = final >= 0
        return pd.DataFrame(
            {
                "run_id": np.full(n, run_id, dtype=np.int64),
                "request_id": np.arange(n, dtype=np.int32),
                "tier": pd.Categorical.from_codes(
                    np.where(done, final, k), categories=[*self.tier_names, ""]
                ),
                "arrival_s": self.arrival,
                "first_token_s": self.first,
                "end_s": self.end,
                "output_tokens": self.out_tok,
                "cost_usd": self.cost,
                "retries": self.retries,
                "n_429": self.n429,
                "quality": self.quality,
                "status": pd.Categorical.from_codes(
                    (~done).astype(np.int8), categories=["completed", "failed"]
                ),
                "fail_reason": pd.Categorical.from_codes(
                    self.reason, categories=list(self.reasons)
                ),
                "privacy_violation": self.violation,
            },
            copy=False,
        )


class _RecordsWriter:
    """Records rows appended to a Parquet file in chunks; the file appears only when complete."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        try:
            if self._writer is None:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                self._schema = table.schema
                self._writer = pq.ParquetWriter(self.partial, table.schema, compression="zstd")
            else:
                table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            self._writer.write_table(table)
        except OSError as exc:
            raise SpecError(
                str(self.path), problem=f"cannot write the records ({exc.strerror or exc})"
            ) from None

    def close(self, ok: bool) -> None:
        if self._writer is not None:
            self._writer.close()
        if ok and self._writer is not None:
            os.replace(self.partial, self.path)
        elif self.partial.exists():
            self.partial.unlink()


class _StreamRun(Run):
    """A :class:`Run` over a :class:`_StreamTable`: chunks come in as arrivals need them and
    go out, as records rows, once all their requests have finished."""

    def __init__(
        self,
        fleet: Fleet,
        policy: Policy,
        seed: int,
        chunks: TraceChunks,
        progress: bool,
        fast_forward: bool,
        cost_source: str,
        sensitive_tag: str,
        run_id: int,
        writer: _RecordsWriter | None,
    ) -> None:
        table = _StreamTable(chunks.n_requests, len(fleet.tiers), chunks.score_names, chunks.where)
        self.chunks = chunks
        self._it = iter(chunks)
        self.sensitive_tag = sensitive_tag
        self.run_id = run_id
        self.writer = writer
        self.open: deque[tuple[int, int]] = deque()
        self.max_open = 0
        self.loaded = 0
        self.summary = _Summary(chunks.n_requests, fleet.tier_names)
        self.models = [t.quality_model for t in fleet.tiers]
        super().__init__(fleet, policy, seed, table, progress, fast_forward, cost_source)
        self._load()

    def _allocate_results(self, n: int) -> None:
        for name in RESULT_LISTS:
            setattr(self, name, {})
        self.n_done = 0

    # -- chunks in -----------------------------------------------------------------------------
    def _load(self) -> None:
        """Add the next chunk's requests (and flush the finished chunks before it)."""
        chunk: TraceChunk = next(self._it)
        try:
            rt = RequestTable(chunk.trace, self.fleet, True, self.sensitive_tag)
        except SimulationError as exc:
            raise SimulationError(shift_rows(exc, chunk.start, self.chunks.where)) from None
        start, stop = chunk.start, chunk.start + len(rt)
        self.table.add(start, rt)
        rows = range(start, stop)
        for name, value in _INITIAL.items():
            getattr(self, name).update(dict.fromkeys(rows, value))
        self.loaded = stop
        self.open.append((start, stop))
        self.max_open = max(self.max_open, len(self.open))
        self.flush()

    def _arrive(self, event: Any) -> None:
        """Load chunks until one holds an arrival after now; then the run's own arrival step
        (it reads arrivals up to the first one after now)."""
        arrival = self.table.arrival
        now = self.env.now
        while self.loaded < self.n and arrival[self.loaded - 1] <= now:
            self._load()
        super()._arrive(event)

    def replay_by_tier(self) -> None:
        """Tier by tier (:mod:`~simkit.sim.by_tier`), one chunk at a time: each chunk's
        requests are routed and fed to the tiers, which run as far as its last arrival event
        (what comes later waits for the next chunk); finished chunks are written out between.

        Raises
        ------
        TieFound
            As :func:`~simkit.sim.by_tier.replay_by_tier`.
        """
        replays = TierReplays(self)
        arrival = self.table.arrival
        first = 0
        while True:
            replays.add(first, [arrival[i] for i in range(first, self.loaded)])
            self.flush()
            if self.loaded >= self.n:
                break
            first = self.loaded
            self._load()
        replays.finish()

    # -- chunks out ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Write out every finished chunk at the head of the open ones, oldest first."""
        end = self.end
        while self.open:
            start, stop = self.open[0]
            if any(end[i] != end[i] for i in range(start, stop)):  # NaN: still running
                return
            self.open.popleft()
            self._write(start, stop)

    def _write(self, start: int, stop: int) -> None:
        rows = range(start, stop)
        results = {name: [getattr(self, name).pop(i) for i in rows] for name in RESULT_LISTS}
        cols = self.table.pop(start, stop)
        frame = requests_frame(
            self.run_id,
            self.tier_names,
            self.models,
            cols["ids"],
            cols["arrival"],
            cols["prompt"],
            results,
            cols["quality"],
        )
        if self.writer is not None:
            self.writer.write(frame)
        self.summary.add(start, frame, results["final"], results["reason"])


def simulate_stream(
    trace: str | PathLike[str],
    fleet: Fleet,
    policy: Policy,
    *,
    seed: int,
    records: str | PathLike[str] | None = None,
    run_id: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    n_requests: int | None = None,
    rate_multiplier: float = 1.0,
    allow_missing_quality: bool = False,
    sensitive_tag: str = "sensitive",
    progress: bool = False,
    decode_fast_forward: bool = True,
    cost_source: str = "catalog",
) -> StreamedRun:
    """Replay the trace directory ``trace`` in bounded memory: the same run as
    :func:`~simkit.sim.simulate`, read and written in chunks.

    Parameters
    ----------
    trace : path-like
        A trace directory (:func:`~simkit.trace.save_trace`). Memory is bounded when its
        outcomes are stored in request order (``simkit trace repeat`` writes them so);
        otherwise the outcomes table (not the requests) is held in memory.
    fleet, policy, seed, run_id, allow_missing_quality, sensitive_tag, progress, \
decode_fast_forward, cost_source
        As :func:`~simkit.sim.simulate`.
    records : path-like, optional
        Write the records rows (:data:`simkit.schema.RECORD_COLUMNS`, exactly the rows of
        ``simulate(...).requests``) to this Parquet file, chunk by chunk. It is written as
        ``<records>.partial`` and renamed when the run has finished.
    chunk_rows : int
        Requests read (and records written) per chunk.
    n_requests, rate_multiplier : optional
        Replay only the first ``n_requests``, arriving ``rate_multiplier`` times as fast
        (as :func:`~simkit.trace.window`).

    Returns
    -------
    StreamedRun
        The compact per-request columns a summary reads, the endpoints, the horizon and meta.

    Raises
    ------
    TraceError
        A bad table or chunk (the file, the row in it, the column).
    SpecError, PolicyError, SimulationError
        As :func:`~simkit.sim.simulate`; ``records`` not writable.
    """
    check_cost_source(cost_source, where="simulate_stream")
    out = None
    if records is not None:
        out = Path(records)
        if not out.parent.is_dir():
            raise SpecError(str(out), problem=f"{out.parent} is not a directory")
    chunks = TraceChunks(
        trace,
        chunk_rows=chunk_rows,
        n_requests=n_requests,
        rate_multiplier=rate_multiplier,
        hash_rows=hash_trace,
    )
    check_fleet_and_policy(fleet, policy, chunks.score_names)
    cached = [t.name for t in fleet.tiers if getattr(t.endpoint, "prefix_cache", False)]
    if cached:
        raise SpecError(
            f"fleet {fleet.name!r}",
            key=f"tiers.{cached[0]}.prefix_cache",
            problem="prefix caching is not supported by the streaming replay yet",
            hint="replay in memory (simulate(), or `simkit replay --in-memory`)",
        )
    _check_models(chunks, fleet, allow_missing_quality)
    writer = None
    ok = False
    try:
        by_tier = replays_by_tier(fleet, policy)
        while True:
            writer = _RecordsWriter(out) if out is not None else None
            run = _StreamRun(
                fleet,
                policy,
                seed,
                chunks,
                progress,
                decode_fast_forward,
                cost_source,
                sensitive_tag,
                run_id,
                writer,
            )
            try:
                run.replay_by_tier() if by_tier else run.replay()
                break
            except TieFound:  # an exact tie between tiers' events: the event run orders it
                if writer is not None:
                    writer.close(False)
                by_tier = False
            finally:
                run.close_bar()
        if run.n_done != run.n:
            lost = sorted(i for i, e in run.end.items() if e != e)
            raise SimulationError(
                f"{run.n - run.n_done} requests did not finish (first: "
                f"{[run.table.ids[i] for i in lost[:3]]}); this is a bug in the simulator, "
                "please report it with the fleet spec"
            )
        run.flush()
        ok = True
    finally:
        if writer is not None:
            writer.close(ok)
    summary = run.summary
    n = run.n
    horizon = float(max(summary.end.max(), summary.arrival[-1], run.last_event_s())) if n else 0.0
    h: Any = chunks.trace_hash.copy()
    meta = run_meta(
        str(chunks.meta.get("name", chunks.where)),
        finish_config_hash(h, fleet, policy, cost_source),
        fleet,
        policy,
        run,
        seed,
        run_id,
        cost_source,
    )
    meta["chunk_rows"] = chunks.chunk_rows
    meta["max_open_chunks"] = run.max_open
    meta["outcomes_in_request_order"] = chunks.request_major
    return StreamedRun(
        requests=summary.frame(run_id),
        endpoints=run._endpoints_frame(run_id, horizon),
        horizon_s=horizon,
        meta=MappingProxyType(meta),
        records_path=out,
        models=chunks.models,
    )


def _check_models(chunks: TraceChunks, fleet: Fleet, allow_missing_quality: bool) -> None:
    """Each tier's quality model has outcomes somewhere in the trace (a chunk may lack them)."""
    if chunks.n_requests == 0:
        raise SimulationError(
            f"{chunks.where}: the trace is empty (0 requests); there is nothing to simulate. "
            "Check the file it came from, or the --n-requests / filter that selected it"
        )
    if allow_missing_quality:
        return
    for tier in fleet.tiers:
        if tier.quality_model not in chunks.models:
            raise SpecError(
                fleet.source,
                key=f"tiers.{tier.name}.quality_model",
                problem=f"the trace has no outcomes for model {tier.quality_model!r}; models "
                f"with outcomes: {', '.join(sorted(chunks.models)) or 'none'}",
                hint="set quality_model to one of them, or pass allow_missing_quality=True "
                "to simulate (`simkit replay --allow-missing-quality`; quality is then "
                "unknown for this tier)",
            )
