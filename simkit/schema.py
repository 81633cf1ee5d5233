"""Column names and dtypes of the three tidy tables simkit passes around.

* **requests** — one row per request of a :class:`~simkit.trace.Trace`;
* **outcomes** — one row per (request, model) that was recorded, long form;
* **records** — one row per request per simulated run (the output of ``simulate``).

Units are in the names (``_s`` seconds, ``_usd`` US dollars). Nullable integer columns use
pandas' ``Int64`` so that "unknown" is ``<NA>``, never a silent 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from typing import Literal

import numpy as np
import pandas as pd

from simkit.errors import TraceError

__all__ = [
    "ENDPOINT_COLUMNS",
    "OUTCOME_COLUMNS",
    "OUTCOME_REQUIRED",
    "RECORD_COLUMNS",
    "REQUEST_COLUMNS",
    "REQUEST_REQUIRED",
    "TAG_SEPARATOR",
    "check_rows",
    "require_columns",
]

#: Tags such as ``sensitive`` are stored in one string column, separated by commas.
TAG_SEPARATOR = ","

#: requests table: column -> pandas dtype. ``request_id`` is unique; rows are sorted by arrival.
REQUEST_COLUMNS: Mapping[str, str] = {
    "request_id": "string",  # unique, non-empty
    "arrival_s": "float64",  # seconds from the trace start, finite, >= 0, non-decreasing
    "prompt": "string",  # the prompt text, <NA> when not released (Azure)
    "prompt_tokens": "Int64",  # >= 0; <NA> only when the source has neither count nor text
    "output_tokens": "Int64",  # recorded/assumed output length when no per-model count exists
    "max_tokens": "Int64",  # the client's max_tokens, charged by rate limits at admission
    "category": "string",  # task or domain (e.g. an MMLU subject, 'code', 'summarisation')
    "source": "string",  # benchmark or log the request came from (e.g. 'mmlu', 'gsm8k')
    "tags": "string",  # constraint tags, comma separated (e.g. 'sensitive'); '' for none
}
REQUEST_REQUIRED = ("request_id", "arrival_s")

#: outcomes table: column -> dtype. (request_id, model) is unique.
OUTCOME_COLUMNS: Mapping[str, str] = {
    "request_id": "string",
    "model": "string",
    "quality": "float64",  # in [0, 1]; NaN = recorded but unscorable (e.g. judge failure)
    "raw_score": "float64",  # the score as the source gives it
    "scale_min": "float64",  # the raw score's declared scale, e.g. 0..1 or 1..10
    "scale_max": "float64",
    "output_tokens": "Int64",  # the model's output length, <NA> when unknown
    "latency_s": "float64",  # observed end-to-end latency (recorded live traffic only)
    "ttft_s": "float64",  # observed time to first token (recorded live traffic only)
    "cost_usd": "float64",  # observed cost (recorded live traffic only)
}
OUTCOME_REQUIRED = ("request_id", "model", "quality")

#: records table written by ``simulate`` (one row per request per run).
RECORD_COLUMNS: Mapping[str, str] = {
    "run_id": "int64",
    "request_id": "string",
    "tier": "string",  # the tier that produced the final answer ('' if none)
    "model": "string",  # the model whose outcome stands for that tier
    "tiers_tried": "string",  # comma separated, in order (cascades, fallbacks)
    "arrival_s": "float64",
    "dispatch_s": "float64",  # first time the request left the router for an endpoint
    "first_token_s": "float64",
    "end_s": "float64",
    "prompt_tokens": "int64",
    "output_tokens": "int64",
    "cost_usd": "float64",  # per-token spend of every attempt of this request
    "retries": "int64",
    "n_429": "int64",
    "quality": "float64",  # NaN when the outcome is missing or the request failed
    "status": "string",  # 'completed' or 'failed'
    "fail_reason": "string",  # '' when completed
    "privacy_violation": "bool",
}

#: per-replica table written by ``simulate`` next to the records (one row per replica per run).
ENDPOINT_COLUMNS: Mapping[str, str] = {
    "run_id": "int64",
    "tier": "string",
    "replica": "string",  # e.g. 'gpu-0'
    "kind": "string",  # 'api' or 'gpu'
    "horizon_s": "float64",  # simulated time the replica was provisioned (paid for)
    "busy_s": "float64",  # time with at least one request in service
    "usd_per_hour": "float64",  # fixed cost rate (all GPUs of the replica); 0 for APIs
    "n_requests": "int64",  # attempts served (including failed ones)
    "prompt_tokens": "int64",
    "output_tokens": "int64",
    # prefix cache (GpuServer.prefix_cache; 0 without one): blocks looked up at admissions,
    # blocks found cached, and the prefill tokens those hits skipped
    "prefix_lookup_blocks": "int64",
    "prefix_hit_blocks": "int64",
    "prefix_saved_tokens": "int64",
}


def require_columns(
    df: pd.DataFrame,
    columns: Iterable[str],
    *,
    where: str | PathLike[str],
    hint: str | None = None,
) -> None:
    """Raise :class:`TraceError` naming the first missing column and what *is* there."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(repr, df.columns)) or "none"
        raise TraceError(
            where,
            column=missing[0],
            problem=f"required column missing ({len(missing)} missing: "
            f"{', '.join(map(repr, missing))}); columns present: {have}",
            hint=hint,
        )


def check_rows(
    bad: np.ndarray | pd.Series,
    *,
    where: str | PathLike[str] | None,
    column: str | None,
    problem: str | Callable[[int, int], str],
    rows: np.ndarray | None = None,
    hint: str | None = None,
    unit: Literal["row", "line"] = "row",
) -> None:
    """The one "first bad row" check: raise a :class:`TraceError` on the first flagged row.

    Every validator of a table column in simkit reports the same way: the file (or table),
    the 1-based row of the *first* offender, the column, what is wrong with it and how many
    rows share the problem; it never repairs or drops a row.

    Parameters
    ----------
    bad : boolean array
        One flag per row, True where the row is wrong.
    where, column, hint
        As :class:`~simkit.errors.TraceError`.
    problem : str or callable
        A text, to which `` ({n} such rows)`` is appended, or ``problem(i, n)`` building the
        text from the 0-based position ``i`` of the first offender and the count ``n``.
    rows : array of int, optional
        The 1-based row (or line) number of each position (default: position + 1), for tables
        whose rows are not the file's (a filtered CSV, JSON lines).
    unit : {"row", "line"}
        Whether ``rows`` are data rows or physical lines (JSON lines).
    """
    flags = np.asarray(bad, dtype=bool)
    if not flags.any():
        return
    i = int(np.flatnonzero(flags)[0])
    n = int(flags.sum())
    text = problem(i, n) if callable(problem) else f"{problem} ({n} such {unit}s)"
    at = {unit: int(rows[i]) if rows is not None else i + 1}
    raise TraceError(where, column=column, problem=text, hint=hint, **at)
