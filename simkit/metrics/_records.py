"""Checks on the simulator's records and endpoints tables (schema in :mod:`simkit.schema`).

Errors name the table (``records`` or ``endpoints``), the 1-based row of the frame as passed,
the column and what was expected. Nothing is repaired or dropped.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.metrics._checks import show
from simkit.schema import require_columns

STATUSES = ("completed", "failed")


def table(frame: pd.DataFrame, columns: Iterable[str], *, where: str) -> pd.DataFrame:
    """``frame`` itself after checking it is a DataFrame with ``run_id`` and ``columns``."""
    if not isinstance(frame, pd.DataFrame):
        raise TraceError(where, problem=f"expected a pandas DataFrame, got {type(frame).__name__}")
    require_columns(frame, ["run_id", *columns], where=where)
    missing = frame["run_id"].isna().to_numpy()
    if missing.any():
        raise TraceError(
            where,
            row=int(np.flatnonzero(missing)[0]) + 1,
            column="run_id",
            problem=f"missing in {int(missing.sum())} rows; every row belongs to a run",
        )
    return frame


def numbers(
    frame: pd.DataFrame,
    column: str,
    *,
    where: str,
    rows: np.ndarray | None = None,
    non_negative: bool = True,
    allow_nan: bool = False,
) -> np.ndarray:
    """The column as float64; raise on the first bad value among ``rows`` (default: all)."""
    try:
        values = pd.to_numeric(frame[column], errors="raise")
    except (TypeError, ValueError) as exc:
        raise TraceError(where, column=column, problem=f"expected numbers ({exc})") from None
    arr = np.asarray(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    checked = np.ones(arr.size, dtype=bool) if rows is None else rows
    bad = (np.isinf(arr) if allow_nan else ~np.isfinite(arr)) & checked
    if non_negative:
        bad |= (arr < 0) & checked
    if bad.any():
        idx = np.flatnonzero(bad)
        expected = "a finite number" + (" >= 0" if non_negative else "")
        scope = "" if rows is None else " (checked on completed requests)"
        raise TraceError(
            where,
            row=int(idx[0]) + 1,
            column=column,
            problem=f"bad value in {idx.size} rows{scope} (first: {show(arr[idx[0]])}); "
            f"expected {expected}",
        )
    return arr


def completed_mask(records: pd.DataFrame) -> np.ndarray:
    """True where ``status`` is 'completed'; raise on any value but 'completed'/'failed'."""
    status = records["status"].astype("string")
    ok = status.isin(STATUSES).fillna(False).to_numpy(dtype=bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise TraceError(
            "records",
            row=i + 1,
            column="status",
            problem=f"got {show(records['status'].iloc[i])} ({int((~ok).sum())} such rows); "
            f"valid choices: {', '.join(map(repr, STATUSES))}",
        )
    return (status == "completed").to_numpy(dtype=bool)


def tiers(records: pd.DataFrame) -> pd.Series:
    """The ``tier`` column as strings, missing = '' (a request that reached no tier)."""
    return records["tier"].astype("string").fillna("")


def run_index(frame: pd.DataFrame) -> pd.Index:
    """The sorted distinct run ids of a table."""
    return pd.Index(np.sort(frame["run_id"].unique()), name="run_id")


def same_runs(records: pd.DataFrame, endpoints: pd.DataFrame) -> pd.Index:
    """The runs of both tables; raise naming a run that is in only one of them."""
    r, e = run_index(records), run_index(endpoints)
    only_r, only_e = r.difference(e), e.difference(r)
    if len(only_r):
        raise TraceError(
            "endpoints",
            column="run_id",
            problem=f"run {show(only_r[0])} has records but no endpoint rows "
            f"({len(only_r)} such runs); expected one row per replica per run",
        )
    if len(only_e):
        raise TraceError(
            "records",
            column="run_id",
            problem=f"run {show(only_e[0])} has endpoint rows but no records ({len(only_e)} such "
            "runs); expected one row per request per run",
        )
    return r


def checked_endpoints(endpoints: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """The endpoints table with horizon, busy time and price checked where asked for."""
    columns = list(columns)
    table(endpoints, columns, where="endpoints")
    for name in ("tier", "replica"):
        if name in columns:
            missing = endpoints[name].isna().to_numpy()
            if missing.any():
                raise TraceError(
                    "endpoints",
                    row=int(np.flatnonzero(missing)[0]) + 1,
                    column=name,
                    problem=f"missing in {int(missing.sum())} rows; every replica names its {name}",
                )
    if "horizon_s" in columns:
        horizon = numbers(endpoints, "horizon_s", where="endpoints")
        if (horizon == 0).any():
            i = int(np.flatnonzero(horizon == 0)[0])
            raise TraceError(
                "endpoints", row=i + 1, column="horizon_s", problem="is 0; expected > 0"
            )
        if "busy_s" in columns:
            busy = numbers(endpoints, "busy_s", where="endpoints")
            over = busy > horizon
            if over.any():
                i = int(np.flatnonzero(over)[0])
                raise TraceError(
                    "endpoints",
                    row=i + 1,
                    column="busy_s",
                    problem=f"{show(busy[i])} exceeds horizon_s {show(horizon[i])} ({int(over.sum())} "
                    "rows); expected busy_s <= horizon_s",
                )
    if "usd_per_hour" in columns:
        numbers(endpoints, "usd_per_hour", where="endpoints")
    return endpoints
