"""Cost of simulated runs: per-token spend, fixed GPU time, per 1k requests, per month.

All functions take the simulator's tidy tables (:data:`simkit.schema.RECORD_COLUMNS`, one row
per request per run; :data:`simkit.schema.ENDPOINT_COLUMNS`, one row per replica per run) and
return one value per ``run_id`` (sorted), so a sweep's concatenated tables are summarised in
one call.

Conventions
-----------
* **Per-token spend** is the sum of ``records.cost_usd`` (every attempt of a request, failed
  ones included: they are paid for). Per tier it is attributed to the tier in the record's
  ``tier`` column, i.e. the tier that produced the final answer; a cascade's earlier
  attempts on other tiers are therefore booked to its final tier (records keep one cost per
  request). Requests with no tier are booked to ``""``.
* **GPU cost** is ``usd_per_hour * horizon_s / 3600`` summed over the endpoint rows: a
  replica is paid for its whole provisioned horizon, busy or idle. API endpoints have
  ``usd_per_hour = 0``.
* **Per 1k requests**: total cost / number of requests in the run (completed or failed)
  * 1000: what the simulated run paid. Planned at a steady monthly volume (the study's and
  :func:`simkit.sweep.threshold_curves`' vectorised curves), the GPU rental per 1k requests is
  :func:`gpu_cost_per_1k_usd`: a 30-day month's rent over that month's requests
  (:func:`per_1k_requests_usd`, which also turns a monthly total into a per-1k figure).
* **Per month**: a month is **30 days** (2,592,000 s). The run is extrapolated: requests
  arrive at the trace's rate, ``(n - 1) / (last arrival - first arrival)`` per second (the
  inverse mean gap between arrivals), unless the caller gives ``requests_per_month``;
  per-token spend scales with the request count (the simulated mean spend per request),
  and the GPU fleet as simulated is kept for the whole month (``usd_per_hour * 720``). A
  run whose arrivals all share one instant has no rate: its monthly figures are NaN unless
  ``requests_per_month`` is given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simkit.errors import SpecError
from simkit.metrics._records import checked_endpoints, numbers, same_runs, table, tiers

__all__ = [
    "HOURS_PER_MONTH",
    "SECONDS_PER_MONTH",
    "cost_summary",
    "gpu_cost_per_1k_usd",
    "gpu_cost_usd",
    "per_1k_requests_usd",
    "token_cost_usd",
]

#: A month is 30 days for every monthly figure in simkit.
SECONDS_PER_MONTH = 30 * 24 * 3600
HOURS_PER_MONTH = 30 * 24


def token_cost_usd(records: pd.DataFrame, *, by_tier: bool = False) -> pd.Series:
    """Per-token spend per run (and per final tier), in USD.

    Parameters
    ----------
    records : DataFrame
        Simulator records with ``run_id``, ``cost_usd`` (and ``tier`` when ``by_tier``).
    by_tier : bool, default False
        Index by ``(run_id, tier)``; see the module notes on how a request's spend is
        attributed to a tier.

    Returns
    -------
    Series
        ``token_cost_usd`` indexed by ``run_id`` (or ``run_id, tier``).
    """
    table(records, ["cost_usd", *(["tier"] if by_tier else [])], where="records")
    cost = numbers(records, "cost_usd", where="records")
    keys = [records["run_id"]] + ([tiers(records).rename("tier")] if by_tier else [])
    return (
        pd.Series(cost, index=records.index).groupby(keys, sort=True).sum().rename("token_cost_usd")
    )


def gpu_cost_usd(endpoints: pd.DataFrame, *, by_tier: bool = False) -> pd.Series:
    """Fixed cost of the provisioned replicas per run: ``sum(usd_per_hour * horizon_s / 3600)``.

    Idle GPUs still cost: the whole horizon is charged whatever ``busy_s`` is.

    Parameters
    ----------
    endpoints : DataFrame
        Simulator endpoint rows with ``run_id``, ``usd_per_hour``, ``horizon_s`` (and
        ``tier`` when ``by_tier``).
    by_tier : bool, default False
        Index by ``(run_id, tier)``.

    Returns
    -------
    Series
        ``gpu_cost_usd`` indexed by ``run_id`` (or ``run_id, tier``).
    """
    checked_endpoints(endpoints, ["usd_per_hour", "horizon_s", *(["tier"] if by_tier else [])])
    usd = numbers(endpoints, "usd_per_hour", where="endpoints") * numbers(
        endpoints, "horizon_s", where="endpoints"
    )
    keys = [endpoints["run_id"]] + (
        [endpoints["tier"].astype("string").rename("tier")] if by_tier else []
    )
    return (
        (pd.Series(usd, index=endpoints.index) / 3600.0)
        .groupby(keys, sort=True)
        .sum()
        .rename("gpu_cost_usd")
    )


def per_1k_requests_usd(monthly_usd: float, requests_per_month: float) -> float:
    """A monthly cost per 1,000 requests at a steady monthly volume, USD: the one convention
    for a planned cost per 1k requests (``monthly_usd / requests_per_month * 1000``).

    A simulated run's own ``cost_per_1k_usd`` (:func:`cost_summary`) differs: it also pays
    the GPUs while a backlog drains, which a month at a steady volume does not repeat.
    """
    return monthly_usd / requests_per_month * 1000.0


def gpu_cost_per_1k_usd(usd_per_hour: float, requests_per_month: float) -> float:
    """GPU rental per 1,000 requests at a steady monthly volume, USD.

    The one convention for a planned cost per 1k requests: the rental of a 30-day month
    spread over that month's requests (idle GPUs still cost).

    Parameters
    ----------
    usd_per_hour : float
        Rental of every provisioned GPU together (e.g. ``Fleet.fixed_usd_per_hour``).
    requests_per_month : float
        Requests in a 30-day month; NaN (unknown) gives NaN unless nothing is rented.

    Returns
    -------
    float
        ``usd_per_hour * 720 / requests_per_month * 1000``; 0.0 when nothing is rented.
    """
    if usd_per_hour == 0:
        return 0.0
    volume = float(requests_per_month)
    if np.isnan(volume):
        return float("nan")
    return per_1k_requests_usd(float(usd_per_hour) * HOURS_PER_MONTH, volume)


def _arrival_rate_per_s(records: pd.DataFrame) -> pd.Series:
    arrival = pd.Series(numbers(records, "arrival_s", where="records"), index=records.index)
    g = arrival.groupby(records["run_id"], sort=True)
    span = g.max() - g.min()
    n = g.size()
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where((n > 1) & (span > 0), (n - 1) / span.where(span > 0, np.nan), np.nan)
    return pd.Series(rate, index=span.index, name="arrival_rate_per_s")


def cost_summary(
    records: pd.DataFrame,
    endpoints: pd.DataFrame,
    *,
    requests_per_month: float | None = None,
) -> pd.DataFrame:
    """Token, GPU and total cost per run, per 1k requests and per 30-day month.

    Parameters
    ----------
    records : DataFrame
        Simulator records (``run_id``, ``arrival_s``, ``cost_usd``).
    endpoints : DataFrame
        Simulator endpoint rows (``run_id``, ``usd_per_hour``, ``horizon_s``) for the same runs.
    requests_per_month : float, optional
        Monthly volume to extrapolate to; default: each run's own arrival rate (module notes).

    Returns
    -------
    DataFrame
        Indexed by ``run_id``: ``n_requests``, ``token_cost_usd``, ``gpu_cost_usd``,
        ``total_cost_usd``, ``cost_per_1k_usd``, ``arrival_rate_per_s``,
        ``requests_per_month``, ``monthly_token_cost_usd``, ``monthly_gpu_cost_usd``,
        ``monthly_cost_usd``.
    """
    table(records, ["arrival_s", "cost_usd"], where="records")
    checked_endpoints(endpoints, ["usd_per_hour", "horizon_s"])
    runs = same_runs(records, endpoints)
    if requests_per_month is not None:
        volume = float(requests_per_month)
        if not (np.isfinite(volume) and volume >= 0):
            raise SpecError(
                "cost_summary",
                key="requests_per_month",
                problem=f"got {requests_per_month!r}; expected a finite number >= 0",
            )
    n = records.groupby("run_id", sort=True).size().reindex(runs)
    token = token_cost_usd(records).reindex(runs)
    gpu = gpu_cost_usd(endpoints).reindex(runs)
    rate = _arrival_rate_per_s(records).reindex(runs)
    monthly_requests = (
        rate * SECONDS_PER_MONTH
        if requests_per_month is None
        else pd.Series(volume, index=runs, dtype="float64")
    )
    usd_per_hour = pd.Series(numbers(endpoints, "usd_per_hour", where="endpoints"))
    hourly = usd_per_hour.groupby(endpoints["run_id"].to_numpy(), sort=True).sum().reindex(runs)
    out = pd.DataFrame(
        {
            "n_requests": n.astype("int64"),
            "token_cost_usd": token,
            "gpu_cost_usd": gpu,
            "total_cost_usd": token + gpu,
            "cost_per_1k_usd": (token + gpu) / n * 1000.0,
            "arrival_rate_per_s": rate,
            "requests_per_month": monthly_requests,
            "monthly_token_cost_usd": token / n * monthly_requests,
            "monthly_gpu_cost_usd": hourly * HOURS_PER_MONTH,
        },
        index=runs,
    )
    out["monthly_cost_usd"] = out["monthly_token_cost_usd"] + out["monthly_gpu_cost_usd"]
    return out
