"""The output of a run: per-request records and per-replica endpoint rows, and the one
function that builds records rows from a run's per-request results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from simkit.schema import ENDPOINT_COLUMNS, RECORD_COLUMNS, require_columns

__all__ = ["Records", "requests_frame"]


@dataclass(frozen=True, eq=False)
class Records:
    """What :func:`~simkit.sim.simulate` returns.

    Attributes
    ----------
    requests : DataFrame
        Exactly :data:`simkit.schema.RECORD_COLUMNS`, one row per request in the trace's
        order. Every request is there: ``status`` is ``'completed'`` or ``'failed'`` with a
        ``fail_reason``; quality is NaN when the request failed or the trace has no outcome.
    endpoints : DataFrame
        :data:`simkit.schema.ENDPOINT_COLUMNS`, one row per replica (an API tier is one
        replica): busy time, fixed cost rate, attempts and tokens served.
    horizon_s : float
        Simulated time from 0 to the last event (the span GPUs are paid for).
    meta : Mapping
        ``seed``, ``run_id``, ``config_hash`` (trace, fleet, policy), package versions,
        the policy's name and parameters, event counts.
    """

    requests: pd.DataFrame
    endpoints: pd.DataFrame
    horizon_s: float
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_columns(self.requests, RECORD_COLUMNS, where="records.requests")
        require_columns(self.endpoints, ENDPOINT_COLUMNS, where="records.endpoints")

    @property
    def n_requests(self) -> int:
        """Number of request rows."""
        return len(self.requests)

    def __repr__(self) -> str:
        r = self.requests
        done = int((r["status"] == "completed").sum())
        return (
            f"Records({len(r)} requests, {done} completed, {len(r) - done} failed, "
            f"horizon {self.horizon_s:.1f} s, run_id={self.meta.get('run_id')})"
        )


def requests_frame(
    run_id: int,
    tier_names: Sequence[str],
    models: Sequence[str],
    ids: Sequence[str],
    arrival: Sequence[float],
    prompt: Sequence[int],
    results: Mapping[str, Sequence[Any]],
    quality: Sequence[Sequence[float]],
) -> pd.DataFrame:
    """The records rows (:data:`simkit.schema.RECORD_COLUMNS`) of ``len(ids)`` finished requests.

    The one place records rows are built: :func:`~simkit.sim.simulate` calls it once for the
    whole run, :func:`~simkit.sim.simulate_stream` once per flushed chunk, so both give the
    same rows.

    Parameters
    ----------
    run_id : int
    tier_names, models : sequence of str
        The fleet's tiers and the model standing for each.
    ids, arrival, prompt : sequence
        Per request: id, arrival time, prompt tokens.
    results : mapping
        Per request, as the run books them: ``final`` (tier index, -1 for none), ``tried``,
        ``dispatch``, ``first``, ``end``, ``out_tok``, ``cost``, ``retries``, ``n429``,
        ``reason``, ``violation``.
    quality : sequence of sequence of float
        Per tier, the quality of each request on it.
    """
    n = len(ids)
    final = np.asarray(results["final"], dtype="int64")
    done = final >= 0
    q_all = np.asarray(quality, dtype="float64").reshape(len(tier_names), n)
    q = np.full(n, np.nan)
    if n:
        q[done] = q_all[final[done], np.flatnonzero(done)]
    requests = pd.DataFrame(
        {
            "run_id": np.full(n, run_id, dtype="int64"),
            "request_id": _strings(ids),
            "tier": _decoded(final, tier_names),
            "model": _decoded(final, models),
            "tiers_tried": _strings(results["tried"]),
            "arrival_s": np.asarray(arrival, dtype="float64"),
            "dispatch_s": np.asarray(results["dispatch"], dtype="float64"),
            "first_token_s": np.asarray(results["first"], dtype="float64"),
            "end_s": np.asarray(results["end"], dtype="float64"),
            "prompt_tokens": np.asarray(prompt, dtype="int64"),
            "output_tokens": np.asarray(results["out_tok"], dtype="int64"),
            "cost_usd": np.asarray(results["cost"], dtype="float64"),
            "retries": np.asarray(results["retries"], dtype="int64"),
            "n_429": np.asarray(results["n429"], dtype="int64"),
            "quality": q,
            "status": _decoded(np.where(done, 0, 1), ("completed", "failed")),
            "fail_reason": _strings(results["reason"]),
            "privacy_violation": np.asarray(results["violation"], dtype="bool"),
        },
        copy=False,  # every column is a new array built here: no copy into blocks
    )
    return requests[list(RECORD_COLUMNS)]


def _strings(values: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """Python strings as the records' ``string`` dtype, built by pyarrow (``pd.array(...,
    dtype="string")`` checks each value in Python first: about 4x slower)."""
    return _as_string_dtype(pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string())))


def _decoded(codes: np.ndarray, names: Sequence[str]) -> pd.api.extensions.ExtensionArray:
    """``names[code]`` for each code, ``""`` for -1, as the records' ``string`` dtype."""
    dictionary = pa.array([*names, ""], type=pa.large_string())
    indices = pa.array(np.where(codes < 0, len(names), codes).astype(np.int32))
    return _as_string_dtype(
        pd.arrays.ArrowStringArray(
            pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())
        )
    )


def _as_string_dtype(arr: pd.arrays.ArrowStringArray) -> pd.api.extensions.ExtensionArray:
    """``arr`` in pandas' ``"string"`` dtype as configured (Arrow storage unless the user set
    ``mode.string_storage`` to ``"python"``)."""
    dtype = pd.StringDtype()
    return arr if arr.dtype == dtype else arr.astype(dtype)
