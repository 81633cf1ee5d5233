"""How a run used its fleet: utilisation, share per tier, retries, 429s, privacy violations.

* **Utilisation** of a replica is ``busy_s / horizon_s`` (time with at least one request in
  service over the time it was provisioned); of a tier, ``sum(busy_s) / sum(horizon_s)`` over
  its replicas (capacity-weighted, so a tier of two replicas with one idle is at 50 %).
* **Share per tier** is the fraction of the run's requests whose final ``tier`` is that tier,
  whatever their status; requests that reached no tier (``tier == ""``) are in no share.
* **Prefix-cache hit rate** of a replica or tier is ``prefix_hit_blocks /
  prefix_lookup_blocks`` (blocks found cached over blocks looked up at admissions), beside
  the prefill tokens the hits skipped (``prefix_saved_tokens``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.metrics._checks import option, show
from simkit.metrics._records import checked_endpoints, completed_mask, numbers, table, tiers

__all__ = ["event_counts", "prefix_cache_stats", "tier_shares", "utilisation"]

UTILISATION_LEVELS = ("replica", "tier")


def utilisation(endpoints: pd.DataFrame, *, by: str = "tier") -> pd.Series:
    """Busy time over provisioned time, per replica or per tier, per run.

    Parameters
    ----------
    endpoints : DataFrame
        Simulator endpoint rows with ``run_id``, ``tier``, ``replica``, ``busy_s``,
        ``horizon_s`` (``0 <= busy_s <= horizon_s``, ``horizon_s > 0``).
    by : {"tier", "replica"}
        Level of the result.

    Returns
    -------
    Series
        ``utilisation`` in [0, 1] indexed by ``(run_id, tier)`` or ``(run_id, tier, replica)``.
    """
    option(by, UTILISATION_LEVELS, func="utilisation", key="by")
    checked_endpoints(endpoints, ["tier", "replica", "busy_s", "horizon_s"])
    parts = pd.DataFrame(
        {
            "run_id": endpoints["run_id"].to_numpy(),
            "tier": endpoints["tier"].astype("string").to_numpy(),
            "replica": endpoints["replica"].astype("string").to_numpy(),
            "busy_s": numbers(endpoints, "busy_s", where="endpoints"),
            "horizon_s": numbers(endpoints, "horizon_s", where="endpoints"),
        }
    )
    keys = ["run_id", "tier"] + (["replica"] if by == "replica" else [])
    dup = parts.duplicated(["run_id", "tier", "replica"]).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise TraceError(
            "endpoints",
            row=i + 1,
            column="replica",
            problem=f"replica {show(parts['replica'].iloc[i])} of tier {show(parts['tier'].iloc[i])} "
            f"appears twice in run {show(parts['run_id'].iloc[i])}; expected one row per replica",
        )
    g = parts.groupby(keys, sort=True)[["busy_s", "horizon_s"]].sum()
    return (g["busy_s"] / g["horizon_s"]).rename("utilisation")


def prefix_cache_stats(endpoints: pd.DataFrame, *, by: str = "tier") -> pd.DataFrame:
    """Prefix-cache hit rate and saved prefill tokens, per replica or per tier, per run.

    Parameters
    ----------
    endpoints : DataFrame
        Simulator endpoint rows with ``run_id``, ``tier``, ``replica``,
        ``prefix_lookup_blocks``, ``prefix_hit_blocks`` and ``prefix_saved_tokens``.
    by : {"tier", "replica"}
        Level of the result.

    Returns
    -------
    DataFrame
        Indexed by ``(run_id, tier)`` or ``(run_id, tier, replica)``: ``lookup_blocks``,
        ``hit_blocks``, ``saved_tokens`` (int64) and ``hit_rate`` (NaN where nothing was
        looked up: no cache, or no request with prefix blocks).
    """
    option(by, UTILISATION_LEVELS, func="prefix_cache_stats", key="by")
    cols = ["prefix_lookup_blocks", "prefix_hit_blocks", "prefix_saved_tokens"]
    checked_endpoints(endpoints, ["tier", "replica", *cols])
    parts = pd.DataFrame(
        {
            "run_id": endpoints["run_id"].to_numpy(),
            "tier": endpoints["tier"].astype("string").to_numpy(),
            "replica": endpoints["replica"].astype("string").to_numpy(),
            **{
                c.removeprefix("prefix_"): numbers(endpoints, c, where="endpoints").astype("int64")
                for c in cols
            },
        }
    )
    keys = ["run_id", "tier"] + (["replica"] if by == "replica" else [])
    g = parts.groupby(keys, sort=True)[["lookup_blocks", "hit_blocks", "saved_tokens"]].sum()
    looked = g["lookup_blocks"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        g["hit_rate"] = np.where(looked > 0, g["hit_blocks"].to_numpy() / looked, np.nan)
    return g


def tier_shares(records: pd.DataFrame) -> pd.Series:
    """Fraction of each run's requests answered (or failed) on each final tier.

    Parameters
    ----------
    records : DataFrame
        Simulator records with ``run_id`` and ``tier``.

    Returns
    -------
    Series
        ``share`` indexed by ``(run_id, tier)``; tiers with no request in a run are absent,
        requests with no tier (``""``) count in the denominator only.
    """
    table(records, ["tier"], where="records")
    tier = tiers(records)
    n = records.groupby("run_id", sort=True).size()
    has_tier = (tier != "").to_numpy()
    counts = (
        pd.Series(1, index=records.index)[has_tier]
        .groupby([records["run_id"][has_tier], tier[has_tier].rename("tier")], sort=True)
        .sum()
    )
    runs = counts.index.get_level_values("run_id")
    return (counts / n.reindex(runs).to_numpy()).rename("share")


def _counts(records: pd.DataFrame, column: str) -> np.ndarray:
    values = numbers(records, column, where="records")
    fractional = values != np.floor(values)
    if fractional.any():
        i = int(np.flatnonzero(fractional)[0])
        raise TraceError(
            "records",
            row=i + 1,
            column=column,
            problem=f"got {show(values[i])}; expected a whole count >= 0",
        )
    return values.astype(np.int64)


def event_counts(records: pd.DataFrame) -> pd.DataFrame:
    """Retries, 429 responses, failures and privacy violations per run.

    Parameters
    ----------
    records : DataFrame
        Simulator records with ``run_id``, ``status``, ``fail_reason``, ``retries``,
        ``n_429`` and ``privacy_violation`` (bool: a request sent where its tags forbid).

    Returns
    -------
    DataFrame
        Indexed by ``run_id``: ``n_requests``, ``retries`` (total), ``requests_retried``
        (requests with at least one retry), ``n_429`` (total), ``requests_429``,
        ``n_failed``, ``n_context_exceeded`` (failed with ``fail_reason`` ``context_exceeded``:
        over the context window of a tier that refuses such requests,
        :class:`simkit.fleet.Tier`), ``privacy_violations``.
    """
    table(
        records,
        ["status", "fail_reason", "retries", "n_429", "privacy_violation"],
        where="records",
    )
    completed = completed_mask(records)
    retries = _counts(records, "retries")
    n_429 = _counts(records, "n_429")
    privacy = records["privacy_violation"]
    bad = ~privacy.isin([True, False]).fillna(False).to_numpy(dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TraceError(
            "records",
            row=i + 1,
            column="privacy_violation",
            problem=f"got {show(privacy.iloc[i])} ({int(bad.sum())} rows); expected True or False",
        )
    parts = pd.DataFrame(
        {
            "n_requests": 1,
            "retries": retries,
            "requests_retried": (retries > 0).astype(np.int64),
            "n_429": n_429,
            "requests_429": (n_429 > 0).astype(np.int64),
            "n_failed": (~completed).astype(np.int64),
            "n_context_exceeded": (
                ~completed & records["fail_reason"].eq("context_exceeded").fillna(False).to_numpy()
            ).astype(np.int64),
            "privacy_violations": privacy.to_numpy(dtype=bool).astype(np.int64),
        },
        index=records.index,
    )
    out = parts.groupby(records["run_id"].to_numpy(), sort=True).sum().astype("int64")
    out.index.name = "run_id"
    return out
