"""Prefix-block hashes: which KV blocks of a request's prompt it shares with other requests.

A trace may carry, per request, the ids of its prompt's blocks in order (column
:data:`PREFIX_BLOCKS_COLUMN`, a list of integers >= 0), with the block size in tokens in its
meta (:data:`PREFIX_BLOCK_SIZE_KEY`). Two requests whose lists start with the same ids share
that prefix: a replica that keeps those blocks in its prefix cache skips their prefill
(:mod:`simkit.sim.prefix`). The convention is Mooncake's (FAST'25 traces: ``hash_ids``, 512-token
blocks, ``len(hash_ids) = ceil(input_length / 512)``); a list may also be shorter than the
prompt (only a shared system prompt hashed), never longer. An empty list or a missing value
means no hashes: the request shares nothing.

This module owns the rules (parsing a cell, validating the column) that the :class:`Trace`,
the generic loader and :func:`simkit.trace.compose.prefix_heavy_trace` all use.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.schema import check_rows

__all__ = [
    "PREFIX_BLOCKS_COLUMN",
    "PREFIX_BLOCK_SIZE_KEY",
    "block_lists",
    "parse_blocks",
    "repeated_block_share",
    "validate_prefix_blocks",
]

#: requests column holding each request's prefix-block ids (list of int >= 0, in prompt order)
PREFIX_BLOCKS_COLUMN = "prefix_blocks"
#: trace meta key: tokens per prefix block
PREFIX_BLOCK_SIZE_KEY = "prefix_block_size"


def parse_blocks(value: Any) -> tuple[int, ...] | str:
    """One cell as a tuple of block ids, or a description of what is wrong with it.

    Accepts a list, tuple or 1-D array of integers >= 0 (JSON lines, Parquet lists), a
    JSON list as text (``"[3, 7, 9]"``) or ids separated by spaces or commas (``"3 7 9"``,
    CSV); ``None``, NaN and ``""`` mean no hashes (an empty tuple).
    """
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return ()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                return f"expected a list of block ids, got {value!r} (not a JSON list)"
        else:
            value = text.replace(",", " ").split()
            try:
                value = [int(v) for v in value]
            except ValueError:
                return f"expected block ids separated by spaces or commas, got {text!r}"
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            return f"expected a flat list of block ids, got an array of shape {value.shape}"
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return f"expected a list of block ids, got {type(value).__name__} {value!r}"
    out = []
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 0:
            return f"expected block ids as integers >= 0, got {v!r} in {list(value)!r}"
        out.append(int(v))
    return tuple(out)


def block_lists(values: Sequence[Any] | pd.Series) -> list[tuple[int, ...] | str]:
    """:func:`parse_blocks` of every cell (equal cells parsed once)."""
    seen: dict[Any, tuple[int, ...] | str] = {}
    out: list[tuple[int, ...] | str] = []
    for v in values:
        key = v if isinstance(v, (str, int, float, type(None))) else None
        if key is not None and key in seen:
            out.append(seen[key])
            continue
        parsed = parse_blocks(v)
        if key is not None:
            seen[key] = parsed
        out.append(parsed)
    return out


def validate_prefix_blocks(
    requests: pd.DataFrame, meta: Mapping[str, Any], where: str
) -> pd.Series | None:
    """Check the requests' prefix-block column against the meta's block size; return it as
    tuples of ints (None when the column is absent).

    Raises
    ------
    TraceError
        A cell that is not a list of integers >= 0 (naming the row and column), a list with
        more blocks than ``ceil(prompt_tokens / block_size)``, or a missing or non-positive
        ``meta['prefix_block_size']``.
    """
    if PREFIX_BLOCKS_COLUMN not in requests.columns:
        return None
    parsed = block_lists(requests[PREFIX_BLOCKS_COLUMN])
    check_rows(
        np.fromiter((isinstance(p, str) for p in parsed), dtype=bool, count=len(parsed)),
        where=where,
        column=PREFIX_BLOCKS_COLUMN,
        problem=lambda i, n: f"{parsed[i]} ({n} such rows)",
    )
    size = meta.get(PREFIX_BLOCK_SIZE_KEY)
    if not (isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size >= 1):
        raise TraceError(
            where,
            column=PREFIX_BLOCKS_COLUMN,
            problem=f"the trace has prefix-block ids but meta[{PREFIX_BLOCK_SIZE_KEY!r}] is "
            f"{size!r}; expected the block size in tokens, an integer >= 1",
            hint="loaders set it from the mapping's 'prefix_block_size' (Mooncake: 512)",
        )
    prompt = requests["prompt_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    n_blocks = np.fromiter((len(p) for p in parsed), dtype="float64", count=len(parsed))
    too_many = n_blocks > np.ceil(prompt / size)  # NaN prompt: unknown, not checked
    check_rows(
        too_many,
        where=where,
        column=PREFIX_BLOCKS_COLUMN,
        problem=lambda i, n: (
            f"{int(n_blocks[i])} blocks of {size} tokens for a prompt of {int(prompt[i])} "
            f"tokens; expected at most ceil(prompt_tokens / {size}) = "
            f"{math.ceil(prompt[i] / size)} ({n} such rows)"
        ),
    )
    return pd.Series(parsed, index=requests.index, dtype=object, name=PREFIX_BLOCKS_COLUMN)


def repeated_block_share(blocks: Sequence[Sequence[int]]) -> float:
    """Share of all blocks, in request order, whose id an earlier block already had (what an
    unbounded cache shared by every replica could skip); 0.0 with no blocks."""
    seen: set[int] = set()
    total = repeats = 0
    for b in blocks:
        total += len(b)
        for x in b:
            if x in seen:
                repeats += 1
            else:
                seen.add(x)
    return repeats / total if total else 0.0
