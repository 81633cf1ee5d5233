"""The output of a run: per-request records and per-replica endpoint rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from simkit.schema import ENDPOINT_COLUMNS, RECORD_COLUMNS, require_columns

__all__ = ["Records"]


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
