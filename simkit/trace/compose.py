"""Composition: put labelled prompts on a timeline, merge traces, add synthetic tags, build a
prefix-heavy synthetic trace (:func:`prefix_heavy_trace`).

Benchmarks give prompts with per-model outcomes but no arrival times; timing traces give
arrival times and token counts but no prompts. :func:`attach_arrivals` joins the two: it
orders the requests (a seeded shuffle by default, so that a benchmark's files do not arrive
one subject after another), gives request ``k`` the ``k``-th arrival of the process, and —
for a replayed timing trace — fills a request's missing ``output_tokens`` with the trace's
generated tokens of the same slot. Everything it did is recorded in ``meta['composition']``.

All randomness comes from :func:`simkit.seeding.named_stream` with the caller's seed: the same
inputs and seed give a bit-identical trace.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import SpecError, TraceError
from simkit.schema import TAG_SEPARATOR
from simkit.seeding import named_stream
from simkit.trace.arrivals import ArrivalProcess, Replay
from simkit.trace.core import Trace
from simkit.trace.prefix import (
    PREFIX_BLOCK_SIZE_KEY,
    PREFIX_BLOCKS_COLUMN,
    repeated_block_share,
)

__all__ = [
    "ORDERS",
    "RATE_MULTIPLIER_RANGE",
    "attach_arrivals",
    "check_rate_multiplier",
    "combine",
    "prefix_heavy_trace",
    "tag_fraction",
    "window",
]

#: how attach_arrivals orders the requests before giving them arrival times
ORDERS = ("shuffle", "keep")

#: The volumes a rate multiplier may ask for: a thousandth to a thousand times the trace's
#: rate. Beyond them arrival gaps underflow to 0 or times overflow to infinity, and the
#: numbers printed (TTFT 0, cost Infinity) mean nothing.
RATE_MULTIPLIER_RANGE = (1e-3, 1e3)


def check_rate_multiplier(rate_multiplier: float, where: str = "<window>") -> float:
    """``rate_multiplier`` as a float, or a :class:`SpecError` if it is outside
    :data:`RATE_MULTIPLIER_RANGE` (or not a number)."""
    lo, hi = RATE_MULTIPLIER_RANGE
    ok = (
        isinstance(rate_multiplier, (int, float, np.integer, np.floating))
        and not isinstance(rate_multiplier, bool)
        and lo <= float(rate_multiplier) <= hi  # NaN fails too
    )
    if not ok:
        raise SpecError(
            where,
            key="rate_multiplier",
            problem=f"expected a number from {lo:g} to {hi:g} (times the trace's arrival rate), "
            f"got {rate_multiplier!r}",
        )
    return float(rate_multiplier)


def attach_arrivals(
    trace: Trace,
    process: ArrivalProcess,
    *,
    seed: int = 0,
    rate_multiplier: float = 1.0,
    order: str = "shuffle",
    fill_output_tokens: bool = True,
    replay_start: str = "first",
) -> Trace:
    """A copy of ``trace`` whose requests arrive as ``process`` says.

    Parameters
    ----------
    trace : Trace
        Labelled requests (their current arrival times are replaced).
    process : ArrivalProcess
        :class:`~simkit.trace.arrivals.Poisson`, ``Bursty``, ``Diurnal`` or ``Replay``.
    seed : int
        Seeds the order (stream ``"compose.order"``) and the process (``"compose.arrivals"``).
    rate_multiplier : float
        Scale the process's rate (a replayed trace plays this many times faster).
    order : {'shuffle', 'keep'}
        ``shuffle``: a seeded random order; ``keep``: the trace's current order.
    fill_output_tokens : bool
        With a :class:`~simkit.trace.arrivals.Replay`, fill missing request-level
        ``output_tokens`` from the replayed trace's generated tokens (same slot).
    replay_start : {'first', 'random'}
        With a ``Replay``: start at its first row, or at a row drawn with the seed (stream
        ``"compose.replay_start"``), wrapping around — a seeded sample of the timing trace.

    Returns
    -------
    Trace
        Same requests, outcomes and scores; new ``arrival_s``; ``meta['composition']`` says how.
    """
    if replay_start not in ("first", "random"):
        raise SpecError(
            "<compose>",
            key="replay_start",
            problem=f"unknown start {replay_start!r}; valid: first, random",
        )
    if order not in ORDERS:
        raise SpecError(
            "<compose>", key="order", problem=f"unknown order {order!r}; valid: {', '.join(ORDERS)}"
        )
    n = trace.n_requests
    if order == "shuffle":
        perm = named_stream(seed, "compose.order").permutation(n)
    else:
        perm = np.arange(n)
    rate_multiplier = check_rate_multiplier(rate_multiplier, "<attach_arrivals>")
    proc = process.scaled(rate_multiplier) if rate_multiplier != 1.0 else process
    if isinstance(proc, Replay) and replay_start == "random":
        start = named_stream(seed, "compose.replay_start").integers(proc.arrival_s.size)
        proc = proc.starting_at(int(start))
    times = proc.times(n, named_stream(seed, "compose.arrivals"))
    req = trace.requests.iloc[perm].reset_index(drop=True)
    req["arrival_s"] = np.asarray(times, dtype=np.float64)
    info: dict[str, Any] = {
        "arrivals": proc.describe(),
        "seed": seed,
        "rate_multiplier": rate_multiplier,
        "order": order,
        "n_requests": n,
    }
    if isinstance(proc, Replay):
        info["replay_cycles"] = proc.cycles(n)
        info["replay_rows_used"] = int(min(n, proc.arrival_s.size))
        _, out_tokens = proc.tokens(n)
        if fill_output_tokens and out_tokens is not None:
            missing = req["output_tokens"].isna().to_numpy() & np.isfinite(out_tokens)
            filled = req["output_tokens"].astype("Int64").copy()
            filled[missing] = out_tokens[missing].astype(np.int64)
            req["output_tokens"] = filled
            info["output_tokens_filled"] = int(missing.sum())
            info["output_tokens_note"] = (
                "request-level output_tokens taken from the replayed trace's generated tokens "
                "of the same slot where the source had none; per-model outcome counts win"
            )
    scores = None if trace.scores is None else trace.scores.iloc[perm].reset_index(drop=True)
    meta = dict(trace.meta)
    meta["composition"] = [*meta.get("composition", []), info]
    meta.pop("arrivals", None)  # "none (all 0)" no longer holds
    return trace.replace(requests=req, scores=scores, meta=meta)


def tag_fraction(trace: Trace, tag: str, fraction: float, *, seed: int) -> Trace:
    """Give a seeded random ``fraction`` of the requests the constraint tag ``tag``.

    Exactly ``round(fraction * n)`` requests are chosen uniformly (stream ``"tag:<tag>"``), so
    the tag says nothing about the content: it is a *synthetic* label for exercising
    constraint-aware policies (e.g. ``sensitive`` for privacy routing), and is recorded as such
    in ``meta['synthetic_tags']``.
    """
    if not tag or TAG_SEPARATOR in tag:
        raise SpecError("<compose>", key="tag", problem=f"a tag is a non-empty word, got {tag!r}")
    if isinstance(fraction, bool) or not (0.0 <= float(fraction) <= 1.0):
        raise SpecError("<compose>", key="fraction", problem=f"must be in [0, 1], got {fraction!r}")
    n = trace.n_requests
    k = int(round(fraction * n))
    chosen = np.zeros(n, dtype=bool)
    chosen[named_stream(seed, f"tag:{tag}").permutation(n)[:k]] = True
    has = trace.has_tag(tag)
    tags = trace.requests["tags"].fillna("").astype(str).to_numpy(dtype=object)
    add = chosen & ~has
    tags[add] = [f"{t}{TAG_SEPARATOR}{tag}" if t else tag for t in tags[add]]
    req = trace.requests.copy()
    req["tags"] = pd.array(tags, dtype="string")
    meta = dict(trace.meta)
    meta["synthetic_tags"] = {
        **meta.get("synthetic_tags", {}),
        tag: {
            "fraction": fraction,
            "seed": seed,
            "n_tagged": int(k),
            "note": "chosen uniformly at random with the seed, not from the request content",
        },
    }
    return trace.replace(requests=req, meta=meta)


def combine(traces: Sequence[Trace], *, name: str, meta: dict[str, Any] | None = None) -> Trace:
    """One trace from several: requests merged by arrival time (stable), outcomes appended.

    Request ids must be distinct across the traces; scores are dropped unless every trace has
    the same score columns. Prefix-block ids (:mod:`simkit.trace.prefix`) are kept as they are,
    so equal ids in two traces are one block; the traces that have them must agree on the
    block size (a request without them shares nothing).
    """
    if not traces:
        raise TraceError(None, problem="nothing to combine")
    req = pd.concat([t.requests for t in traces], ignore_index=True)
    dup = req["request_id"].duplicated().to_numpy()
    if dup.any():
        raise TraceError(
            None,
            column="request_id",
            problem=f"request id {req['request_id'].iloc[int(np.flatnonzero(dup)[0])]!r} occurs "
            "in more than one trace; ids must be distinct to combine",
        )
    order = np.argsort(req["arrival_s"].to_numpy(dtype=np.float64), kind="stable")
    out = pd.concat([t.outcomes for t in traces], ignore_index=True)
    scores = None
    names = {t.score_names for t in traces}
    if len(names) == 1 and traces[0].scores is not None:
        scores = pd.concat([t.scores for t in traces], ignore_index=True).iloc[order]
        scores = scores.reset_index(drop=True)
    sizes = {
        t.meta[PREFIX_BLOCK_SIZE_KEY] for t in traces if PREFIX_BLOCKS_COLUMN in t.requests.columns
    }
    if len(sizes) > 1:
        raise TraceError(
            None,
            column=PREFIX_BLOCKS_COLUMN,
            problem=f"the traces' prefix blocks have different sizes ({sorted(sizes)} tokens); "
            "blocks of different sizes cannot share a cache",
        )
    combined_meta = {
        "name": name,
        **({PREFIX_BLOCK_SIZE_KEY: sizes.pop()} if sizes else {}),
        "sources": [s for t in traces for s in t.meta.get("sources", [])],
        "parts": [
            {k: v for k, v in t.meta.items() if k not in ("arrivals", "sources")} for t in traces
        ],
        **(meta or {}),
    }
    return Trace(
        req.iloc[order].reset_index(drop=True), out, scores=scores, meta=combined_meta, where=name
    )


def window(trace: Trace, *, n_requests: int | None = None, rate_multiplier: float = 1.0) -> Trace:
    """The first ``n_requests`` requests of ``trace`` (all when None), arriving
    ``rate_multiplier`` times as fast: arrival times divided by it, same order and gaps in
    proportion (3 = the same requests at three times the volume). Outcomes and scores follow
    their requests; what was done is recorded in ``meta['window']``.

    Raises
    ------
    SpecError
        ``n_requests`` below 1 or ``rate_multiplier`` outside :data:`RATE_MULTIPLIER_RANGE`.
    """
    if n_requests is not None and int(n_requests) < 1:
        raise SpecError(
            "<window>", key="n_requests", problem=f"expected a whole number >= 1, got {n_requests}"
        )
    rate_multiplier = check_rate_multiplier(rate_multiplier, "<window>")
    out = trace
    if n_requests is not None and int(n_requests) < trace.n_requests:
        out = out.subset(np.arange(trace.n_requests) < int(n_requests))
    if out is trace and rate_multiplier == 1.0:
        return trace
    req = out.requests
    if rate_multiplier != 1.0:
        req = req.assign(arrival_s=req["arrival_s"] / rate_multiplier)
    meta = dict(trace.meta)
    meta["window"] = {"n_requests": out.n_requests, "rate_multiplier": float(rate_multiplier)}
    return out.replace(requests=req, meta=meta)


def prefix_heavy_trace(
    n: int,
    *,
    repeat_share: float,
    block_size: int = 512,
    blocks_per_prompt: int = 8,
    output_tokens: int = 64,
    rate_per_s: float = 1.0,
    n_prefixes: int = 16,
    model: str = "model",
    seed: int = 0,
) -> Trace:
    """A synthetic trace whose prompts repeat a known share of their blocks.

    Every prompt is ``blocks_per_prompt`` full blocks (``block_size * blocks_per_prompt``
    tokens). Its first ``round(repeat_share * blocks_per_prompt)`` blocks are one of
    ``n_prefixes`` shared prefixes (system prompts, earlier turns), drawn uniformly; the rest
    are ids no other request has. Once every shared prefix has been seen, exactly
    ``repeat_share`` of all blocks repeat an earlier block (the first request of each prefix
    computes it; ``meta['repeat_share']`` holds the realised share). Arrivals are Poisson at
    ``rate_per_s``; every request has ``output_tokens`` output tokens and an outcome of
    quality 1 for ``model``.

    Parameters
    ----------
    n : int
        Requests (>= 1).
    repeat_share : float
        Share of each prompt's blocks that are a shared prefix, in [0, 1];
        ``repeat_share * blocks_per_prompt`` must be a whole number.
    block_size, blocks_per_prompt, output_tokens, n_prefixes : int
        >= 1.
    rate_per_s : float
        Poisson arrival rate (> 0).
    model : str
        The outcomes' model.
    seed : int
        Seed of the arrivals and prefix draws.

    Returns
    -------
    Trace

    Raises
    ------
    SpecError
        A parameter out of range.
    """
    for key, v in (
        ("n", n),
        ("block_size", block_size),
        ("blocks_per_prompt", blocks_per_prompt),
        ("output_tokens", output_tokens),
        ("n_prefixes", n_prefixes),
    ):
        if not (isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1):
            raise SpecError(
                "prefix_heavy_trace", key=key, problem=f"expected an int >= 1, got {v!r}"
            )
    shared = repeat_share * blocks_per_prompt
    if not (0.0 <= repeat_share <= 1.0 and abs(shared - round(shared)) < 1e-9):
        raise SpecError(
            "prefix_heavy_trace",
            key="repeat_share",
            problem=f"expected a share in [0, 1] with repeat_share * blocks_per_prompt "
            f"({blocks_per_prompt}) a whole number, got {repeat_share!r}",
        )
    if not (isinstance(rate_per_s, (int, float)) and math.isfinite(rate_per_s) and rate_per_s > 0):
        raise SpecError(
            "prefix_heavy_trace", key="rate_per_s", problem=f"expected > 0, got {rate_per_s!r}"
        )
    k = int(round(shared))
    rng = named_stream(seed, "prefix_heavy_trace")
    arrival = np.cumsum(rng.exponential(1.0 / rate_per_s, n))
    arrival -= arrival[0]
    which = rng.integers(0, n_prefixes, n)
    # prefix p's blocks are p*k .. p*k+k-1; unique blocks are numbered after all prefixes
    unique = n_prefixes * k + np.arange(n * (blocks_per_prompt - k)).reshape(n, -1)
    blocks = [
        tuple(range(int(p) * k, int(p) * k + k)) + tuple(u.tolist())
        for p, u in zip(which, unique, strict=True)
    ]
    ids = [f"p{i:07d}" for i in range(n)]
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": arrival,
            "prompt_tokens": np.full(n, block_size * blocks_per_prompt, dtype="int64"),
            "output_tokens": np.full(n, output_tokens, dtype="int64"),
            PREFIX_BLOCKS_COLUMN: blocks,
        }
    )
    outcomes = pd.DataFrame({"request_id": ids, "model": model, "quality": 1.0})
    meta = {
        "name": f"prefix-heavy-{repeat_share:g}",
        "sources": [{"generator": "simkit.trace.prefix.prefix_heavy_trace"}],
        PREFIX_BLOCK_SIZE_KEY: int(block_size),
        "repeat_share_target": float(repeat_share),
        "repeat_share": repeated_block_share(blocks),
        "generator": {
            "n": int(n),
            "repeat_share": float(repeat_share),
            "block_size": int(block_size),
            "blocks_per_prompt": int(blocks_per_prompt),
            "output_tokens": int(output_tokens),
            "rate_per_s": float(rate_per_s),
            "n_prefixes": int(n_prefixes),
            "seed": int(seed),
        },
    }
    return Trace(requests, outcomes, meta=meta, where=f"prefix-heavy trace (seed {seed})")
