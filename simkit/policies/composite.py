"""Policies that act after an attempt (cascade, fallback) or wrap another policy's decision
(spill-over under load, privacy constraint, prefix affinity)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from simkit.errors import PolicyError
from simkit.policies.base import AttemptView, FleetView, Policy, RequestView

__all__ = [
    "CascadePolicy",
    "FallbackPolicy",
    "PrefixAffinityPolicy",
    "PrivacyPolicy",
    "SpillOverPolicy",
]

FAILURES = ("rate_limited", "error", "outage", "timeout", "too_large")
#: Every reason a fallback can react to: the default ``FAILURES`` plus ``context_exceeded``
#: (a refusal over a tier's context window), which a fallback takes only when asked to, so
#: that fallbacks written before context windows keep their configuration hash.
FAILURE_REASONS = (*FAILURES, "context_exceeded")


def _tiers_known(
    policy: str, key: str, names: Sequence[str] | None, tiers: tuple[str, ...]
) -> None:
    for t in names or ():
        if t not in tiers:
            raise PolicyError(
                f"policy '{policy}'",
                key=key,
                problem=f"unknown tier {t!r}; tiers of this fleet: {', '.join(tiers)}",
            )


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _check_base(base: Any, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
    if not callable(getattr(base, "route", None)):
        raise PolicyError(
            "policy", key="base", problem=f"expected a policy with route(), got {base!r}"
        )
    check = getattr(base, "check", None)
    if check is not None:
        check(tiers, score_names)


def _base_next(
    base: Any,
    request: RequestView,
    attempt: AttemptView,
    fleet: FleetView,
    rng: np.random.Generator,
) -> str | None:
    hook = getattr(base, "next_tier", None)
    return hook(request, attempt, fleet, rng) if hook is not None else None


@dataclass(frozen=True)
class CascadePolicy:
    """Try the cheapest tier first; escalate while a noisy verifier rejects the answer.

    After each attempt the verifier accepts the answer iff its quality is ``>= accept_at``,
    except that with probability ``judge_error`` it says the opposite (RouterBench's cascade
    judge, METRICS.md §5.4). A rejected or failed attempt escalates to the next tier of
    ``chain``; the last tier's answer is kept whatever the verdict. Every call is paid and
    latencies add.

    Parameters
    ----------
    chain : sequence of str, optional
        Tiers in escalation order; default: all tiers, cheapest first.
    accept_at : float
        Quality the verifier requires (0.5 on correct/incorrect outcomes).
    judge_error : float
        Probability that the verdict is wrong (0 = perfect verifier).
    """

    name: ClassVar[str] = "cascade"
    chain: Sequence[str] | None = None
    accept_at: float = 0.5
    judge_error: float = 0.1

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        _tiers_known(self.name, "chain", self.chain, tiers)
        if self.chain is not None and len(self.chain) < 1:
            raise PolicyError(
                f"policy '{self.name}'", key="chain", problem="needs at least one tier"
            )
        e = self.judge_error
        if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e <= 1:
            raise PolicyError(
                f"policy '{self.name}'", key="judge_error", problem=f"must be in [0, 1], got {e!r}"
            )

    def _chain(self, fleet: FleetView) -> Sequence[str]:
        return self.chain if self.chain is not None else fleet.tiers

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        return self._chain(fleet)[0]

    def next_tier(
        self, request: RequestView, attempt: AttemptView, fleet: FleetView, rng: np.random.Generator
    ) -> str | None:
        chain = list(self._chain(fleet))
        if attempt.tier not in chain:
            return None
        i = chain.index(attempt.tier)
        if i + 1 >= len(chain):
            return None
        if attempt.verify(self.accept_at, self.judge_error, rng):
            return None
        return chain[i + 1]


@dataclass(frozen=True)
class SpillOverPolicy:
    """Follow ``base``, but spill to the next tier when the chosen one is overloaded.

    A tier is overloaded when any set limit is crossed: more than ``max_queued`` requests
    waiting, an estimated wait above ``max_wait_s``, or rate-limit headroom below
    ``min_headroom``. The request then goes to the first tier after it in ``order`` (default:
    fleet order, i.e. towards more expensive tiers, wrapping around) that is not overloaded;
    if all are, it stays.

    Parameters
    ----------
    base : Policy
        The policy whose choice is checked.
    max_queued : int, optional
    max_wait_s : float, optional
    min_headroom : float, optional
        In [0, 1].
    order : sequence of str, optional
    """

    name: ClassVar[str] = "spillover"
    base: Policy
    max_queued: int | None = None
    max_wait_s: float | None = None
    min_headroom: float | None = None
    order: Sequence[str] | None = None

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        _check_base(self.base, tiers, score_names)
        _tiers_known(self.name, "order", self.order, tiers)
        if self.max_queued is None and self.max_wait_s is None and self.min_headroom is None:
            raise PolicyError(
                f"policy '{self.name}'",
                key="max_queued",
                problem="no overload limit set",
                hint="set at least one of max_queued, max_wait_s, min_headroom",
            )
        q = self.max_queued
        if q is not None and (isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 0):
            raise PolicyError(
                f"policy '{self.name}'",
                key="max_queued",
                problem=f"expected a whole number of waiting requests >= 0, got {q!r}",
            )
        w = self.max_wait_s
        if w is not None and (not _is_real(w) or not 0 <= w < np.inf):
            raise PolicyError(
                f"policy '{self.name}'",
                key="max_wait_s",
                problem=f"expected a finite number of seconds >= 0, got {w!r}",
            )
        h = self.min_headroom
        if h is not None and (not _is_real(h) or not 0 <= h <= 1):
            raise PolicyError(
                f"policy '{self.name}'",
                key="min_headroom",
                problem=f"expected a share of the rate limit in [0, 1], got {h!r}",
            )

    def overloaded(self, tier: str, fleet: FleetView) -> bool:
        """Whether ``tier`` crosses any of the limits now."""
        if self.max_queued is not None and fleet.queued[tier] > self.max_queued:
            return True
        if self.max_wait_s is not None and fleet.est_wait_s[tier] > self.max_wait_s:
            return True
        return self.min_headroom is not None and fleet.headroom[tier] < self.min_headroom

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        tier = self.base.route(request, fleet, rng)
        if not self.overloaded(tier, fleet):
            return tier
        order = list(self.order if self.order is not None else fleet.tiers)
        start = order.index(tier) if tier in order else -1
        for k in range(1, len(order) + 1):
            cand = order[(start + k) % len(order)]
            if cand != tier and not self.overloaded(cand, fleet):
                return cand
        return tier

    def next_tier(
        self, request: RequestView, attempt: AttemptView, fleet: FleetView, rng: np.random.Generator
    ) -> str | None:
        return _base_next(self.base, request, attempt, fleet, rng)


@dataclass(frozen=True)
class FallbackPolicy:
    """Follow ``base``; when an attempt fails (429s past the retries, errors, outage,
    timeout), send the request to the next tier not tried yet.

    Parameters
    ----------
    base : Policy
    order : sequence of str, optional
        Fallback order; default: the tiers above the failed one (more expensive) in fleet
        order, then those below it, nearest first.
    on : sequence of str
        Failure reasons that trigger a fallback; default every reason but
        ``'context_exceeded'``, which is taken only when listed (``FAILURE_REASONS``).
    """

    name: ClassVar[str] = "fallback"
    base: Policy
    order: Sequence[str] | None = None
    on: Sequence[str] = FAILURES

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        _check_base(self.base, tiers, score_names)
        _tiers_known(self.name, "order", self.order, tiers)
        bad = [r for r in self.on if r not in FAILURE_REASONS]
        if bad:
            raise PolicyError(
                f"policy '{self.name}'",
                key="on",
                problem=f"unknown failure reason {bad[0]!r}; valid reasons: "
                f"{', '.join(FAILURE_REASONS)}",
            )

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        return self.base.route(request, fleet, rng)

    def next_tier(
        self, request: RequestView, attempt: AttemptView, fleet: FleetView, rng: np.random.Generator
    ) -> str | None:
        if attempt.completed or attempt.fail_reason not in self.on:
            return _base_next(self.base, request, attempt, fleet, rng)
        if self.order is not None:
            order = list(self.order)
        else:
            tiers = list(fleet.tiers)
            i = tiers.index(attempt.tier) if attempt.tier in tiers else 0
            order = tiers[i + 1 :] + tiers[:i][::-1]
        for t in order:
            if t not in attempt.tiers_tried:
                return t
        return None


@dataclass(frozen=True)
class PrivacyPolicy:
    """Follow ``base``, but keep requests tagged ``tag`` on private (self-hosted) tiers.

    A tagged request that ``base`` sends to a public tier goes to the cheapest private tier
    instead; a tagged request is never escalated or fallen back to a public tier. The
    simulator counts any tagged request that reaches a public tier as a privacy violation, so
    under this policy the count is zero.

    Parameters
    ----------
    base : Policy
    tag : str
        The constraint tag, default ``'sensitive'``.
    """

    name: ClassVar[str] = "privacy"
    base: Policy
    tag: str = "sensitive"

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        _check_base(self.base, tiers, score_names)

    def _private(self, fleet: FleetView) -> str:
        for t in fleet.tiers:
            if t in fleet.private_tiers:
                return t
        raise PolicyError(
            f"policy '{self.name}'",
            key="base",
            problem=f"the fleet has no private tier for requests tagged {self.tag!r}",
            hint="mark a tier 'private: true' or add a self-hosted GPU tier",
        )

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        tier = self.base.route(request, fleet, rng)
        if self.tag in request.tags and tier not in fleet.private_tiers:
            return self._private(fleet)
        return tier

    def next_tier(
        self, request: RequestView, attempt: AttemptView, fleet: FleetView, rng: np.random.Generator
    ) -> str | None:
        nxt = _base_next(self.base, request, attempt, fleet, rng)
        if nxt is None or self.tag not in request.tags or nxt in fleet.private_tiers:
            return nxt
        for t in fleet.tiers:  # an untried private tier instead, else stop
            if t in fleet.private_tiers and t not in attempt.tiers_tried:
                return t
        return None


@dataclass(frozen=True)
class PrefixAffinityPolicy:
    """Send a request to the tier whose prefix cache holds most of its prompt's prefix, else
    follow ``base``.

    The request's prefix blocks (``RequestView.prefix_blocks``) are looked up in every tier's
    replicas' prefix caches as they are at the decision (:meth:`FleetView.prefix_hits`: the
    longest run of leading blocks one replica holds). The tier holding the most, at least
    ``min_blocks``, takes the request; ties go to the earlier tier in fleet order (the
    cheaper). A request tagged ``tag`` is only sent to a private tier this way; where no
    allowed tier holds ``min_blocks`` of its prefix, or the trace has no prefix blocks,
    ``base`` decides (wrap in ``privacy>`` to keep ``base``'s choices private too).
    ``next_tier`` is ``base``'s.

    Requests that share a prefix therefore follow the tier that first computed it, where its
    prefill is skipped (GPU tiers with ``prefix_cache: true``; API tiers hold no cache). Within
    the tier, the ``prefix_affinity`` load balancer picks the replica that holds it.

    Parameters
    ----------
    base : Policy
        Decides requests whose prefix no tier holds.
    min_blocks : int
        Leading blocks a tier must hold to take the request (>= 1).
    tag : str
        Requests tagged so go only to private tiers by affinity, default ``'sensitive'``.

    Examples
    --------
    >>> from simkit.policies import FleetView, RequestView, StaticPolicy
    >>> policy = PrefixAffinityPolicy(StaticPolicy("api"), min_blocks=2)
    >>> fleet = FleetView.snapshot(
    ...     ("gpu-a", "gpu-b", "api"), private_tiers={"gpu-a", "gpu-b"},
    ...     cached_blocks={"gpu-a": [1], "gpu-b": [1, 2, 3]},
    ... )
    >>> req = RequestView("r1", 0.0, 300, -1, "", "", frozenset(), {}, (1, 2, 3))
    >>> policy.route(req, fleet, None)
    'gpu-b'
    >>> policy.route(req._replace(prefix_blocks=(1, 9)), fleet, None)
    'api'
    """

    name: ClassVar[str] = "affinity"
    base: Policy
    min_blocks: int = 1
    tag: str = "sensitive"

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        _check_base(self.base, tiers, score_names)
        m = self.min_blocks
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise PolicyError(
                f"policy '{self.name}'",
                key="min_blocks",
                problem=f"expected a whole number of prefix blocks >= 1, got {m!r}",
                hint="e.g. affinity:min_blocks=2>share:target_share=0.2",
            )
        if not isinstance(self.tag, str) or not self.tag:
            raise PolicyError(
                f"policy '{self.name}'",
                key="tag",
                problem=f"expected a non-empty constraint tag, got {self.tag!r}",
                hint="e.g. tag=sensitive",
            )

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        blocks = request.prefix_blocks
        if len(blocks) >= self.min_blocks:
            hits = fleet.prefix_hits(blocks)
            private_only = self.tag in request.tags
            best, most = None, self.min_blocks - 1
            for t in fleet.tiers:  # cheapest first: a strictly longer run only replaces it
                h = hits[t]
                if h > most and (not private_only or t in fleet.private_tiers):
                    best, most = t, h
            if best is not None:
                return best
        return self.base.route(request, fleet, rng)

    def next_tier(
        self, request: RequestView, attempt: AttemptView, fleet: FleetView, rng: np.random.Generator
    ) -> str | None:
        return _base_next(self.base, request, attempt, fleet, rng)
