"""Latency of simulated runs: TTFT, TPOT, E2E percentiles, SLO attainment and throughput.

Definitions (``reference/SERVING.md`` §1), per request with arrival ``a``, first token ``f``,
completion ``e`` and ``n_out`` output tokens:

* **TTFT** = ``f - a`` (queueing, prefill and, for APIs, network included);
* **TPOT** = ``(e - f) / (n_out - 1)``, defined only for ``n_out > 1``;
* **E2E** = ``e - a``.

Latencies exist for **completed** requests only; failed requests are left out of the
percentiles (they are counted by :func:`simkit.metrics.quality_summary`) and count as
misses in :func:`slo_attainment`. Percentiles are numpy's default ``"linear"`` method
(``np.percentile(values, q)``: interpolation between the two nearest order statistics at
virtual index ``(n - 1) * q / 100``); NaN when a group has no defined value. Per-token gaps
(ITL/TBT) need per-token timestamps, which records do not keep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.errors import SpecError, TraceError
from simkit.metrics._checks import show
from simkit.metrics._records import completed_mask, numbers, table, tiers

__all__ = [
    "DEFAULT_PERCENTILES",
    "DEFAULT_SLO_TTFT_S",
    "latency_percentiles",
    "request_latencies",
    "slo_attainment",
    "throughput",
]

DEFAULT_PERCENTILES = (50, 95, 99)

#: The time-to-first-token budget, s, that ``simkit report``, ``replay``, ``sweep`` and ``demo``
#: use unless told otherwise (``--slo-ttft-s``).
DEFAULT_SLO_TTFT_S = 2.0
_TIME_COLUMNS = ("arrival_s", "first_token_s", "end_s")


def _ordered(records: pd.DataFrame, completed: np.ndarray, earlier: str, later: str) -> None:
    a = numbers(records, earlier, where="records", rows=completed)
    b = numbers(records, later, where="records", rows=completed)
    bad = completed & (b < a)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TraceError(
            "records",
            row=i + 1,
            column=later,
            problem=f"{show(b[i])} is before {earlier} {show(a[i])} ({int(bad.sum())} rows); "
            f"expected {later} >= {earlier} on completed requests",
        )


def request_latencies(records: pd.DataFrame) -> pd.DataFrame:
    """TTFT, TPOT and E2E of every request (NaN where undefined).

    Parameters
    ----------
    records : DataFrame
        Simulator records with ``run_id``, ``request_id``, ``tier``, ``status``,
        ``arrival_s``, ``first_token_s``, ``end_s``, ``output_tokens``. On completed rows
        the times must be finite and ordered ``arrival_s <= first_token_s <= end_s``.

    Returns
    -------
    DataFrame
        Same rows and index: ``run_id``, ``request_id``, ``tier``, ``status``, ``ttft_s``,
        ``tpot_s`` (NaN for ``output_tokens <= 1``), ``e2e_s``; all NaN on failed rows.
    """
    table(
        records,
        ["request_id", "tier", "status", *_TIME_COLUMNS, "output_tokens"],
        where="records",
    )
    completed = completed_mask(records)
    _ordered(records, completed, "arrival_s", "first_token_s")
    _ordered(records, completed, "first_token_s", "end_s")
    a, f, e = (numbers(records, c, where="records", rows=completed) for c in _TIME_COLUMNS)
    n_out = numbers(records, "output_tokens", where="records", rows=completed)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(completed & (n_out > 1), (e - f) / (n_out - 1), np.nan)
    return pd.DataFrame(
        {
            "run_id": records["run_id"],
            "request_id": records["request_id"],
            "tier": tiers(records),
            "status": records["status"],
            "ttft_s": np.where(completed, f - a, np.nan),
            "tpot_s": tpot,
            "e2e_s": np.where(completed, e - a, np.nan),
        },
        index=records.index,
    )


def _check_percentiles(percentiles: Sequence[float]) -> tuple[float, ...]:
    ps = tuple(float(p) for p in percentiles)
    if not ps or any(not (0 <= p <= 100) for p in ps):
        raise SpecError(
            "latency_percentiles",
            key="percentiles",
            problem=f"got {percentiles!r}; expected one or more numbers in [0, 100]",
        )
    return ps


def _label(p: float) -> str:
    return f"p{int(p)}" if float(p).is_integer() else f"p{p:g}".replace(".", "_")


def latency_percentiles(
    records: pd.DataFrame,
    *,
    by_tier: bool = False,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> pd.DataFrame:
    """TTFT, TPOT and E2E percentiles per run (and per final tier) over completed requests.

    Parameters
    ----------
    records : DataFrame
        Simulator records (see :func:`request_latencies`).
    by_tier : bool, default False
        Index by ``(run_id, tier)`` instead of ``run_id``.
    percentiles : sequence of float, default (50, 95, 99)
        Percentiles in [0, 100], numpy's ``"linear"`` method.

    Returns
    -------
    DataFrame
        ``n_completed`` then ``p<q>_ttft_s``, ``p<q>_tpot_s``, ``p<q>_e2e_s`` for each
        percentile (e.g. ``p95_ttft_s``; ``p99_9_e2e_s`` for 99.9).
    """
    ps = _check_percentiles(percentiles)
    lat = request_latencies(records)
    keys = ["run_id", "tier"] if by_tier else ["run_id"]
    rows = []
    index = []
    for key, group in lat.groupby(keys, sort=True):
        done = group["status"].to_numpy() == "completed"
        row: dict[str, float] = {"n_completed": int(done.sum())}
        for metric in ("ttft_s", "tpot_s", "e2e_s"):
            values = group[metric].to_numpy(dtype="float64")
            values = values[~np.isnan(values)]
            pct = np.percentile(values, ps) if values.size else np.full(len(ps), np.nan)
            for p, v in zip(ps, pct, strict=True):
                row[f"{_label(p)}_{metric}"] = float(v)
        rows.append(row)
        index.append(key if by_tier else key[0])
    idx = (
        pd.MultiIndex.from_tuples(index, names=keys) if by_tier else pd.Index(index, name="run_id")
    )
    out = pd.DataFrame(rows, index=idx)
    out["n_completed"] = out["n_completed"].astype("int64")
    return out


def slo_attainment(
    records: pd.DataFrame,
    *,
    ttft_s: float | None = None,
    e2e_s: float | None = None,
    by_tier: bool = False,
) -> pd.Series:
    """Share of requests that completed within every given latency budget.

    A request meets the SLO when it completed and ``ttft <= ttft_s`` (if given) and
    ``e2e <= e2e_s`` (if given). Failed requests are misses; the denominator is every
    request of the run (of the tier, with ``by_tier``).

    Parameters
    ----------
    records : DataFrame
        Simulator records (see :func:`request_latencies`).
    ttft_s, e2e_s : float, optional
        Budgets in seconds; at least one is required.
    by_tier : bool, default False
        Index by ``(run_id, tier)``.

    Returns
    -------
    Series
        ``slo_attainment`` in [0, 1].
    """
    budgets = {"ttft_s": ttft_s, "e2e_s": e2e_s}
    given = {k: float(v) for k, v in budgets.items() if v is not None}
    if not given:
        raise SpecError(
            "slo_attainment", key="ttft_s", problem="no budget given; pass ttft_s and/or e2e_s"
        )
    for key, value in given.items():
        if not (value >= 0):  # also rejects NaN
            raise SpecError("slo_attainment", key=key, problem=f"got {value!r}; expected >= 0")
    lat = request_latencies(records)
    met = (lat["status"] == "completed").to_numpy(dtype=bool, copy=True)
    for key, value in given.items():
        met &= lat[key].to_numpy() <= value
    keys = [lat["run_id"], lat["tier"]] if by_tier else [lat["run_id"]]
    return pd.Series(met, index=lat.index).groupby(keys, sort=True).mean().rename("slo_attainment")


def throughput(records: pd.DataFrame) -> pd.DataFrame:
    """Completed requests and output tokens per second of each run's makespan.

    The makespan is from the run's first arrival to its last completion
    (``max(end_s of completed) - min(arrival_s)``); output tokens are those of completed
    requests.

    Parameters
    ----------
    records : DataFrame
        Simulator records (see :func:`request_latencies`).

    Returns
    -------
    DataFrame
        Indexed by ``run_id``: ``makespan_s``, ``completed_per_s``, ``output_tokens_per_s``
        (NaN when nothing completed or the makespan is 0).
    """
    lat = request_latencies(records)
    done = (lat["status"] == "completed").to_numpy(dtype=bool)
    arrival = numbers(records, "arrival_s", where="records")
    end = np.where(done, numbers(records, "end_s", where="records", rows=done), np.nan)
    tokens = np.where(done, numbers(records, "output_tokens", where="records", rows=done), 0.0)
    parts = pd.DataFrame(
        {"first": arrival, "last": end, "done": done.astype(np.int64), "tokens": tokens},
        index=records.index,
    )
    g = parts.groupby(records["run_id"].to_numpy(), sort=True).agg(
        first=("first", "min"), last=("last", "max"), done=("done", "sum"), tokens=("tokens", "sum")
    )
    g.index.name = "run_id"
    makespan = g["last"] - g["first"]
    positive = makespan.where(makespan > 0)
    return pd.DataFrame(
        {
            "makespan_s": makespan,
            "completed_per_s": g["done"] / positive,
            "output_tokens_per_s": g["tokens"] / positive,
        }
    )
