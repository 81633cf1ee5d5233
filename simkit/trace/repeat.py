"""A production-sized trace from a small one: its requests repeated to any count, on a
timeline from an arrival process, written to disk in chunks (``simkit trace repeat``).

The shipped traces hold thousands of labelled prompts; a production replay needs millions of
requests. :func:`repeat_trace` writes copy ``c`` of the source's requests (ids suffixed
``#c``, each copy in its own seeded order) until ``n_requests`` are written, gives request
``k`` the ``k``-th arrival of the process (a replayed timing trace cycles, as
:func:`~simkit.trace.attach_arrivals` does), and copies each request's outcomes and scores.
Outcomes are written in request order, so a streaming replay
(:func:`simkit.sim.simulate_stream`) reads the result in bounded memory. Only one chunk of
the output is in memory at a time; the whole trace never is.
"""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from simkit.errors import SpecError, TraceError
from simkit.seeding import named_stream
from simkit.trace.arrivals import ArrivalProcess, Replay
from simkit.trace.compose import check_rate_multiplier
from simkit.trace.core import Trace
from simkit.trace.store import FORMAT_NAME, FORMAT_VERSION, check_output_dir

__all__ = ["repeat_trace"]

_CHUNK = 65_536


class _TableWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: pq.ParquetWriter | None = None
        self.schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            self.schema = table.schema
            self.writer = pq.ParquetWriter(
                self.path, self.schema, compression="zstd", write_statistics=False
            )
        else:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=False)
            table = table.replace_schema_metadata(None)
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def repeat_trace(
    trace: Trace,
    out_dir: str | PathLike[str],
    *,
    n_requests: int,
    arrivals: ArrivalProcess | None = None,
    seed: int = 0,
    rate_multiplier: float = 1.0,
    keep_text: bool = True,
    chunk_rows: int = _CHUNK,
    progress: bool = False,
) -> Path:
    """Write a trace of ``n_requests`` requests, copies of ``trace``'s, to ``out_dir``.

    Parameters
    ----------
    trace : Trace
        The labelled requests to repeat (with their outcomes and scores).
    out_dir : path-like
        The trace directory to write (created; refused if it is a file).
    n_requests : int
        Requests to write (>= 1); the last copy is cut short.
    arrivals : ArrivalProcess, optional
        Where request ``k`` arrives: the process's ``k``-th time (stream ``"compose.arrivals"``).
        Default: ``trace``'s own arrival times, replayed and cycled.
    seed : int
        Seeds each copy's order (stream ``"compose.order"``) and the process.
    rate_multiplier : float
        Scale the process's rate.
    keep_text : bool
        Keep the prompt text (``False`` writes ``<NA>``: much smaller files, and a replay
        needs only the token counts).
    chunk_rows : int
        Requests per written chunk (and per Parquet row group).
    progress : bool
        A tqdm bar over the requests written.

    Returns
    -------
    Path
        ``out_dir``; load it with :func:`~simkit.trace.load_trace` or replay it with
        :func:`simkit.sim.simulate_stream`.

    Raises
    ------
    SpecError
        ``n_requests`` below 1 or a bad rate multiplier.
    TraceError
        ``trace`` has no requests, or ``out_dir`` cannot be written.
    """
    if (
        isinstance(n_requests, bool)
        or not isinstance(n_requests, (int, np.integer))
        or n_requests < 1
    ):
        raise SpecError(
            "<repeat>",
            key="n_requests",
            problem=f"expected a whole number >= 1, got {n_requests!r}",
        )
    n = int(n_requests)
    m = trace.n_requests
    if m == 0:
        raise TraceError(trace.where, problem="has no requests to repeat")
    rate_multiplier = check_rate_multiplier(rate_multiplier, "<repeat>")
    out = check_output_dir(out_dir)
    proc = arrivals if arrivals is not None else Replay.from_trace(trace)
    if rate_multiplier != 1.0:
        proc = proc.scaled(rate_multiplier)
    times = np.asarray(proc.times(n, named_stream(seed, "compose.arrivals")), dtype=np.float64)
    fill = None
    if isinstance(proc, Replay):
        _, fill = proc.tokens(n)
    req = trace.requests
    if not keep_text:
        req = req.assign(prompt=pd.array([pd.NA] * m, dtype="string"))
    ids = req["request_id"].to_numpy(dtype=object)
    # each source request's outcome rows, in the source's order
    outcomes = trace.outcomes
    pos = pd.Index(req["request_id"]).get_indexer(outcomes["request_id"])
    by_request = np.argsort(pos, kind="stable")
    offsets = np.searchsorted(pos[by_request], np.arange(m + 1))
    order_rng = named_stream(seed, "compose.order")
    copies = -(-n // m)
    perms = [order_rng.permutation(m) for _ in range(copies)]
    out.mkdir(parents=True, exist_ok=True)
    names = ["requests.parquet", "outcomes.parquet"] + (
        ["scores.parquet"] if trace.scores is not None else []
    )
    if trace.scores is None and (out / "scores.parquet").exists():
        (out / "scores.parquet").unlink()  # left from an earlier trace in this directory
    writers = {name: _TableWriter(out / name) for name in names}
    bar = tqdm(total=n, unit="req", desc="repeat", disable=not progress, mininterval=0.5)
    try:
        for a in range(0, n, chunk_rows):
            b = min(a + chunk_rows, n)
            k = np.arange(a, b)
            copy = k // m
            src = np.concatenate([perms[c][k[copy == c] - c * m] for c in np.unique(copy)])
            new_ids = pd.array(
                [f"{i}#{c}" for i, c in zip(ids[src], copy, strict=True)], dtype="string"
            )
            chunk_req = req.iloc[src].reset_index(drop=True)
            chunk_req["request_id"] = new_ids
            chunk_req["arrival_s"] = times[a:b]
            if fill is not None:
                missing = chunk_req["output_tokens"].isna().to_numpy() & np.isfinite(fill[a:b])
                if missing.any():
                    filled = chunk_req["output_tokens"].astype("Int64").copy()
                    filled[missing] = fill[a:b][missing].astype(np.int64)
                    chunk_req["output_tokens"] = filled
            counts = offsets[src + 1] - offsets[src]
            rows = np.repeat(offsets[src], counts) + (
                np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
            )
            chunk_out = outcomes.iloc[by_request[rows]].reset_index(drop=True)
            chunk_out["request_id"] = np.repeat(np.asarray(new_ids, dtype=object), counts)
            chunk_out["request_id"] = chunk_out["request_id"].astype("string")
            chunk_scores = None
            if trace.scores is not None:
                chunk_scores = trace.scores.iloc[src].reset_index(drop=True)
                chunk_scores["request_id"] = new_ids
            checked = Trace(chunk_req, chunk_out, scores=chunk_scores, where=str(out))
            writers["requests.parquet"].write(checked.requests)
            writers["outcomes.parquet"].write(checked.outcomes)
            if checked.scores is not None:
                writers["scores.parquet"].write(checked.scores)
            bar.update(b - a)
    except OSError as exc:
        raise TraceError(out, problem=f"cannot write the trace ({exc.strerror or exc})") from None
    finally:
        for w in writers.values():
            w.close()
        bar.close()
    meta: dict[str, Any] = dict(trace.meta)
    meta["name"] = f"{meta.get('name', 'trace')} x{n / m:.4g} ({n} requests)"
    meta.pop("arrivals", None)
    meta["composition"] = [
        *meta.get("composition", []),
        {
            "repeat": {
                "source": str(trace.meta.get("name", trace.where)),
                "source_requests": m,
                "n_requests": n,
                "copies": copies,
                "ids": "source id + '#' + copy number (0-based)",
                "order": "each copy in its own seeded random order (stream compose.order)",
                "prompt_text": "kept" if keep_text else "dropped (token counts kept)",
            },
            "arrivals": proc.describe(),
            "seed": seed,
            "rate_multiplier": rate_multiplier,
        },
    ]
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "meta": meta,
        "tables": {name: _sha256(out / name) for name in sorted(names)},
    }
    text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"
    (out / "trace.json").write_text(text, "utf-8")
    return out
