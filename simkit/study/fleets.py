"""The fleet with some prices, the GPU rental or the replica count changed (a what-if)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from simkit.errors import SpecError
from simkit.fleet.spec import ApiEndpoint, Fleet, GpuServer
from simkit.study._checks import positive

__all__ = ["Prices", "fleet_with"]

#: tier -> (input, output) USD per 1M tokens
Prices = Mapping[str, tuple[float, float]]


def fleet_with(
    fleet: Fleet,
    *,
    prices: Prices | None = None,
    gpu_usd_per_hour: float | None = None,
    gpu_replicas: int | None = None,
    gpu_marginal_usd_per_mtok: float | None = None,
) -> Fleet:
    """``fleet`` with some prices, the GPU rental or the replica count changed.

    Parameters
    ----------
    fleet : Fleet
    prices : mapping tier -> (input, output) USD per 1M tokens, optional
        For API tiers.
    gpu_usd_per_hour : float, optional
        Rental of one GPU, applied to every self-hosted tier.
    gpu_replicas : int, optional
        Replicas of every self-hosted tier.
    gpu_marginal_usd_per_mtok : float, optional
        Per-token cost on top of the rental (power, egress) of every self-hosted tier.

    Raises
    ------
    SpecError
        A negative or non-finite rental or marginal price, replicas not an int >= 1, a price
        for an unknown tier (the error lists the tiers) or for a self-hosted tier.
    """
    prices = dict(prices or {})
    positive(gpu_usd_per_hour, key="gpu_usd_per_hour", allow_zero=True)
    positive(gpu_marginal_usd_per_mtok, key="gpu_marginal_usd_per_mtok", allow_zero=True)
    if gpu_replicas is not None and (
        isinstance(gpu_replicas, bool) or int(gpu_replicas) != gpu_replicas or gpu_replicas < 1
    ):
        raise SpecError(
            "study", key="gpu_replicas", problem=f"got {gpu_replicas!r}; expected an int >= 1"
        )
    unknown = sorted(set(prices) - set(fleet.tier_names))
    if unknown:
        raise SpecError(
            "study",
            key=f"prices.{unknown[0]}",
            problem=f"unknown tier; tiers: {', '.join(fleet.tier_names)}",
        )
    tiers = []
    for t in fleet.tiers:
        e = t.endpoint
        if isinstance(e, ApiEndpoint) and t.name in prices:
            p_in, p_out = prices[t.name]
            e = replace(
                e,
                price=replace(
                    e.price,
                    input_usd_per_mtok=float(p_in),
                    output_usd_per_mtok=float(p_out),
                    resolved_by="override",
                ),
            )
        elif isinstance(e, GpuServer):
            if t.name in prices:
                raise SpecError(
                    "study",
                    key=f"prices.{t.name}",
                    problem="a self-hosted tier has no token price; set gpu_usd_per_hour",
                )
            if gpu_usd_per_hour is not None:
                e = replace(e, usd_per_gpu_hour=float(gpu_usd_per_hour))
            if gpu_replicas is not None:
                e = replace(e, replicas=int(gpu_replicas))
            if gpu_marginal_usd_per_mtok is not None:
                e = replace(e, marginal_usd_per_mtok=float(gpu_marginal_usd_per_mtok))
        tiers.append(replace(t, endpoint=e))
    return replace(fleet, tiers=tuple(tiers))
