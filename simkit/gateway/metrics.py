"""Prometheus metrics of one gateway, in a registry of its own (no process-global state).

===================================  =========  =============================================
``simkit_gateway_requests_total``    counter    requests by tier and final status
``simkit_gateway_errors_total``      counter    failed upstream attempts by tier and reason
``simkit_gateway_rate_limited_total`` counter   429 answers by tier
``simkit_gateway_spend_usd_total``   counter    per-token spend by tier (the config's prices)
``simkit_gateway_decision_seconds``  histogram  time to score and route a request
``simkit_gateway_ttft_seconds``      histogram  upstream time to first byte of the answer
``simkit_gateway_e2e_seconds``       histogram  upstream end-to-end time
===================================  =========  =============================================
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["GatewayMetrics"]

_FAST = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    """The gateway's counters and histograms, registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "simkit_gateway_requests",
            "Requests by the tier that answered (or was tried last) and final status",
            ["tier", "status"],
            registry=r,
        )
        self.errors = Counter(
            "simkit_gateway_errors",
            "Failed upstream attempts by tier and reason",
            ["tier", "reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "simkit_gateway_rate_limited",
            "429 answers from upstreams by tier",
            ["tier"],
            registry=r,
        )
        self.spend = Counter(
            "simkit_gateway_spend_usd", "Per-token spend in USD by tier", ["tier"], registry=r
        )
        self.decision = Histogram(
            "simkit_gateway_decision_seconds",
            "Time to score a request and pick its tier",
            buckets=_FAST,
            registry=r,
        )
        self.ttft = Histogram(
            "simkit_gateway_ttft_seconds",
            "Upstream time to the first byte of the answer",
            ["tier"],
            buckets=_SLOW,
            registry=r,
        )
        self.e2e = Histogram(
            "simkit_gateway_e2e_seconds",
            "Upstream end-to-end time",
            ["tier"],
            buckets=_SLOW,
            registry=r,
        )

        # children bound once per label values: a request's metrics then cost no label lookup
        self._tier: dict[str, tuple[Any, Any, Any]] = {}
        self._requests: dict[tuple[str, str], Any] = {}

    def tier(self, tier: str) -> tuple[Any, Any, Any]:
        """The (ttft, e2e, spend) children of ``tier``, bound on first use."""
        got = self._tier.get(tier)
        if got is None:
            got = self._tier[tier] = (
                self.ttft.labels(tier),
                self.e2e.labels(tier),
                self.spend.labels(tier),
            )
        return got

    def request(self, tier: str, status: str) -> Any:
        """The requests counter child of (``tier``, ``status``), bound on first use."""
        got = self._requests.get((tier, status))
        if got is None:
            got = self._requests[tier, status] = self.requests.labels(tier, status)
        return got

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
