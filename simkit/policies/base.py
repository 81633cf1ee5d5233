"""What a policy sees and the contract it follows.

A policy is a small frozen class with one decision method (STYLE.md habit 1)::

    route(request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str

returning a tier name. It never sees outcomes (the oracle is the one exception, and it gets the
quality matrix explicitly at construction), never the engine or the fleet spec.

Two optional hooks:

``next_tier(request, attempt, fleet, rng) -> str | None``
    Called after every attempt ends (completed or failed). Return another tier to send the
    request there too (a cascade escalating, a fallback after a 429), or ``None`` to finish.
    Without the hook a request finishes after its first attempt. The answer kept is the last
    completed attempt's; the cost of every attempt is paid and their latencies add.

``check(tiers, score_names) -> None``
    Called once by ``simulate`` before the run with the fleet's tier names (cheapest first)
    and the trace's score columns; raise :class:`~simkit.errors.PolicyError` when the policy
    cannot work with them (unknown tier, missing score), listing the valid choices.

``route_batch(requests, tiers, rng) -> Sequence[str]``
    Every request of a :class:`RequestBatch` routed at once, vectorised: the tier
    ``route`` would return for each, in order, drawing the same values from ``rng``, so the
    records are the same either way. Only a policy with ``reads_live_state = False`` and no
    ``next_tier`` is asked, and only when the class that defines ``route_batch`` also defines
    ``route`` (a subclass that overrides ``route`` alone is routed one request at a time).
    It sees no fleet view: the answer may not depend on ``routed``, ``decided`` or
    ``now_s``.

And one optional attribute:

``reads_live_state: bool``
    ``False`` declares that ``route`` reads nothing of the fleet view that moves while
    requests are served: not ``queued``, ``in_flight``, ``spend_usd``, ``headroom``,
    ``est_wait_s``, ``recent_429s``, ``recent_errors`` or ``prefix_hits`` (``tiers``,
    ``private_tiers``, ``routed``, ``decided`` and ``now_s``, the decision's time, are fine).
    Then ``simulate`` replays hosted-API tiers one at a time (:mod:`simkit.sim.by_tier`),
    with the same records; reading a live value anyway raises
    :class:`~simkit.errors.PolicyError`. Left out, it counts as ``True``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from simkit.errors import PolicyError

__all__ = [
    "AttemptView",
    "FleetView",
    "Policy",
    "RequestBatch",
    "RequestView",
    "StaticFleetState",
    "check_score_column",
    "leading_blocks_held",
    "reads_live_state",
]

_EMPTY: Mapping[str, float] = MappingProxyType({})


class RequestView(NamedTuple):
    """One request as a policy may see it: features and classifier scores, no outcomes.

    Attributes
    ----------
    request_id : str
    arrival_s : float
        Arrival time in the trace (seconds).
    prompt_tokens, max_tokens : int
        Prompt length and the client's ``max_tokens`` (-1 when the trace has none).
    category, source : str
        Task/domain and the benchmark or log it came from ('' when unknown).
    tags : frozenset of str
        Constraint tags, e.g. ``{'sensitive'}``.
    scores : Mapping[str, float]
        Classifier scores attached to the trace (e.g. ``p_hard``).
    prefix_blocks : tuple of int
        The prompt's prefix-block ids in order (the trace's ``prefix_blocks`` column,
        :mod:`simkit.trace.prefix`); ``()`` when the trace has none. Pass them to
        :meth:`FleetView.prefix_hits` to see which tiers hold the prompt's prefix.
    """

    request_id: str
    arrival_s: float
    prompt_tokens: int
    max_tokens: int
    category: str
    source: str
    tags: frozenset[str]
    scores: Mapping[str, float]
    prefix_blocks: tuple[int, ...] = ()


class RequestBatch(NamedTuple):
    """Consecutive requests in arrival order, column by column, for ``route_batch``: the
    fields of :class:`RequestView`, one sequence (or array) per field, position ``j`` being
    the ``j``-th request.

    Attributes
    ----------
    request_id : sequence of str
    arrival_s : sequence of float
    prompt_tokens, max_tokens : sequence of int
    category, source : sequence of str
    tags : sequence of frozenset of str
    scores : Mapping[str, numpy.ndarray]
        Score column name -> float64 array.
    prefix_blocks : sequence of tuple of int, or None
        None when the trace has no prefix blocks.
    """

    request_id: Sequence[str]
    arrival_s: Sequence[float]
    prompt_tokens: Sequence[int]
    max_tokens: Sequence[int]
    category: Sequence[str]
    source: Sequence[str]
    tags: Sequence[frozenset[str]]
    scores: Mapping[str, np.ndarray]
    prefix_blocks: Sequence[tuple[int, ...]] | None


class AttemptView(NamedTuple):
    """How one attempt ended, for ``next_tier``.

    The answer's quality is not exposed; :meth:`verify` plays a verifier (an LLM judge or a
    check) that looks at the answer and errs with a given probability.

    Attributes
    ----------
    tier : str
        Where the attempt went.
    completed : bool
        True if an answer came back.
    fail_reason : str
        '' if completed, else ``'rate_limited'``, ``'error'``, ``'outage'``, ``'timeout'``,
        ``'too_large'`` (the request can never fit the endpoint), ``'context_exceeded'``
        (prompt plus answer over a tier's context window, where the tier refuses them).
    tiers_tried : tuple of str
        Every tier this request has been sent to, in order (this one last).
    n_429 : int
        429 answers received during this attempt.
    """

    tier: str
    completed: bool
    fail_reason: str
    tiers_tried: tuple[str, ...]
    n_429: int
    quality_: float  # hidden from policies by convention: read it only through verify()

    def verify(self, accept_at: float, error_rate: float, rng: np.random.Generator) -> bool:
        """A noisy verifier's verdict on this attempt's answer.

        With probability ``1 - error_rate`` the verdict is right: accept iff the answer's
        quality is ``>= accept_at``; otherwise it is wrong (RouterBench's cascade judge). A
        failed attempt, or an answer the trace has no score for, is never accepted.
        """
        if not self.completed or self.quality_ != self.quality_:
            return False
        good = self.quality_ >= accept_at
        if error_rate > 0.0 and rng.random() < error_rate:
            return not good
        return good


class _State(Protocol):
    def now_s(self) -> float: ...
    def spend_usd(self) -> float: ...
    def headroom(self) -> Mapping[str, float]: ...
    def est_wait_s(self) -> Mapping[str, float]: ...
    def recent_429s(self) -> Mapping[str, int]: ...
    def recent_errors(self) -> Mapping[str, int]: ...


def leading_blocks_held(blocks: Sequence[int], cached: Collection[int]) -> int:
    """How many leading ids of ``blocks`` are in ``cached``: the prefix a cache can skip
    (a snapshot's :meth:`FleetView.prefix_hits` and the simulator's prefix caches alike)."""
    k = 0
    for b in blocks:
        if b not in cached:
            break
        k += 1
    return k


def _read_only(counts: Mapping[str, int]) -> Mapping[str, int]:
    """A read-only mapping that still follows the engine's live counters: a mutable mapping
    (a plain dict) is wrapped, never copied; a read-only one is kept as it is."""
    return MappingProxyType(counts) if isinstance(counts, MutableMapping) else counts


class FleetView:
    """A read-only view of the fleet at the moment of a decision.

    The counters are live read-only mappings: read them inside ``route``/``next_tier``; do not
    keep the view (its values move with the simulation).

    Attributes
    ----------
    tiers : tuple of str
        Tier names, cheapest first.
    private_tiers : frozenset of str
        Tiers that keep data inside our infrastructure.
    queued : Mapping[str, int]
        Requests waiting at each tier (GPU queues; API requests waiting to retry).
    in_flight : Mapping[str, int]
        Requests being served by each tier.
    routed : Mapping[str, int]
        Attempts sent to each tier so far in this run.
    decided : int
        First routing decisions made so far (one per request).
    """

    __slots__ = ("_decided", "_state", "in_flight", "private_tiers", "queued", "routed", "tiers")

    def __init__(
        self,
        tiers: tuple[str, ...],
        private_tiers: frozenset[str],
        queued: Mapping[str, int],
        in_flight: Mapping[str, int],
        routed: Mapping[str, int],
        decided: list[int],
        state: _State,
    ) -> None:
        self.tiers = tiers
        self.private_tiers = private_tiers
        self.queued = _read_only(queued)
        self.in_flight = _read_only(in_flight)
        self.routed = _read_only(routed)
        self._decided = decided
        self._state = state

    @classmethod
    def snapshot(
        cls,
        tiers: tuple[str, ...],
        *,
        private_tiers: frozenset[str] | set[str] = frozenset(),
        queued: Mapping[str, int] | None = None,
        in_flight: Mapping[str, int] | None = None,
        routed: Mapping[str, int] | None = None,
        decided: int = 0,
        now_s: float = 0.0,
        spend_usd: float = 0.0,
        headroom: Mapping[str, float] | None = None,
        est_wait_s: Mapping[str, float] | None = None,
        recent_429s: Mapping[str, int] | None = None,
        recent_errors: Mapping[str, int] | None = None,
        cached_blocks: Mapping[str, Iterable[int]] | None = None,
    ) -> FleetView:
        """A fixed view built from plain values (for a router runtime, tests and examples).

        ``cached_blocks`` maps a tier to the prefix-block ids one of its replicas holds, for
        :meth:`prefix_hits` (tiers left out hold none).
        """
        zero = dict.fromkeys(tiers, 0)
        state = StaticFleetState(
            now_s,
            spend_usd,
            {**dict.fromkeys(tiers, 1.0), **(headroom or {})},
            {**dict.fromkeys(tiers, 0.0), **(est_wait_s or {})},
            {**zero, **(recent_429s or {})},
            {**zero, **(recent_errors or {})},
            {t: frozenset((cached_blocks or {}).get(t, ())) for t in tiers},
        )
        return cls(
            tuple(tiers),
            frozenset(private_tiers),
            {**zero, **(queued or {})},
            {**zero, **(in_flight or {})},
            {**zero, **(routed or {})},
            [decided],
            state,
        )

    @property
    def decided(self) -> int:
        """First routing decisions made so far in this run."""
        return self._decided[0]

    @property
    def now_s(self) -> float:
        """Simulated time of the decision."""
        return self._state.now_s()

    @property
    def spend_usd(self) -> float:
        """Per-token spend of the attempts finished so far (fixed GPU rental excluded)."""
        return self._state.spend_usd()

    @property
    def headroom(self) -> Mapping[str, float]:
        """Tier -> fraction of its tightest rate-limit bucket available now (1.0 if unlimited;
        for a GPU tier, the free share of running-sequence slots)."""
        return self._state.headroom()

    @property
    def est_wait_s(self) -> Mapping[str, float]:
        """Tier -> estimated wait before a new request starts being served (GPU: queued
        prefill work over the saturated throughput and, while the batch is full, the queue
        ahead over the recent completion rate; API: time until the rate limit admits)."""
        return self._state.est_wait_s()

    @property
    def recent_429s(self) -> Mapping[str, int]:
        """Tier -> 429 answers in the last 60 simulated seconds."""
        return self._state.recent_429s()

    @property
    def recent_errors(self) -> Mapping[str, int]:
        """Tier -> failed attempts (errors, outages, timeouts) in the last 60 simulated seconds."""
        return self._state.recent_errors()

    def prefix_hits(self, blocks: Sequence[int]) -> Mapping[str, int]:
        """Tier -> how many leading blocks of ``blocks`` one of its replicas holds in its
        prefix cache now (the longest such run over the tier's replicas).

        Computed when called, from the replicas' caches (:mod:`simkit.sim.prefix`); 0 for a
        tier without a prefix cache (API tiers, GPU tiers without ``prefix_cache``), for every
        tier when ``blocks`` is empty, and where the view knows no caches (a router runtime,
        the gateway). A policy passes ``request.prefix_blocks``.
        """
        hits = getattr(self._state, "prefix_hits", None)  # optional in a state
        if hits is None or not blocks:
            return MappingProxyType(dict.fromkeys(self.tiers, 0))
        got = hits(blocks)
        if len(got) == len(self.tiers):
            return got
        return MappingProxyType({t: got.get(t, 0) for t in self.tiers})

    def __repr__(self) -> str:
        return f"FleetView(tiers={self.tiers}, now_s={self.now_s:.3f}, queued={dict(self.queued)})"


class StaticFleetState:
    """Fixed values behind :meth:`FleetView.snapshot`."""

    __slots__ = ("_cached", "_errors", "_headroom", "_now", "_r429", "_spend", "_wait")

    def __init__(  # noqa: ANN001
        self, now_s, spend_usd, headroom, est_wait_s, recent_429s, recent_errors, cached=None
    ) -> None:
        self._cached: Mapping[str, frozenset[int]] = MappingProxyType(
            {t: frozenset(b) for t, b in (cached or {}).items()}
        )
        self._now = float(now_s)
        self._spend = float(spend_usd)
        self._headroom = MappingProxyType(dict(headroom))
        self._wait = MappingProxyType(dict(est_wait_s))
        self._r429 = MappingProxyType(dict(recent_429s))
        self._errors = MappingProxyType(dict(recent_errors))

    def now_s(self) -> float:
        return self._now

    def spend_usd(self) -> float:
        return self._spend

    def headroom(self) -> Mapping[str, float]:
        return self._headroom

    def est_wait_s(self) -> Mapping[str, float]:
        return self._wait

    def recent_429s(self) -> Mapping[str, int]:
        return self._r429

    def recent_errors(self) -> Mapping[str, int]:
        return self._errors

    def prefix_hits(self, blocks: Sequence[int]) -> Mapping[str, int]:
        return MappingProxyType(
            {t: leading_blocks_held(blocks, held) for t, held in self._cached.items()}
        )


@runtime_checkable
class Policy(Protocol):
    """The policy contract: one decision method returning a tier name."""

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        """The tier to send ``request`` to first."""
        ...


def reads_live_state(policy: Any) -> bool:
    """Whether ``policy.route`` may read live values of the fleet view (the default: yes)."""
    return getattr(policy, "reads_live_state", True) is not False


def batch_router(policy: Any) -> Callable[..., Sequence[str]] | None:
    """``policy.route_batch`` when it stands for ``policy.route`` (the first class in the
    method resolution order that defines ``route_batch`` also defines ``route``), else None."""
    if getattr(policy, "route_batch", None) is None:
        return None
    for cls in type(policy).__mro__:
        has_route, has_batch = "route" in vars(cls), "route_batch" in vars(cls)
        if has_route or has_batch:
            return policy.route_batch if has_route and has_batch else None
    return None


def policy_params(policy: Any) -> dict[str, Any]:
    """A policy's parameters as given (dataclass fields), for records and sweeps."""
    import dataclasses

    if dataclasses.is_dataclass(policy):
        return {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy) if f.init}
    return {}


def need_tier(policy: str, key: str, tier: str | None, tiers: tuple[str, ...]) -> None:
    """Raise :class:`PolicyError` if ``tier`` (when given) is not one of the fleet's tiers."""
    if tier is not None and tier not in tiers:
        raise PolicyError(
            f"policy '{policy}'",
            key=key,
            problem=f"unknown tier {tier!r}; tiers of this fleet: {', '.join(tiers)}",
        )


def need_score(policy: str, score: str, score_names: tuple[str, ...]) -> None:
    """Raise :class:`PolicyError` if the trace has no score column ``score``
    (:func:`check_score_column` for policy ``policy``)."""
    check_score_column(score, score_names, source=f"policy '{policy}'")


def check_score_column(score: str, score_names: Sequence[str], *, source: str) -> None:
    """The one check that a trace has the score column a policy, a curve or a study reads.

    Parameters
    ----------
    score : str
        The score column wanted (``p_hard``).
    score_names : sequence of str
        The trace's score columns (``Trace.score_names``).
    source : str
        Who needs it, for the message: ``"policy 'threshold'"``, ``"study"``...

    Raises
    ------
    PolicyError
        ``<source>, key 'score': the trace has no score column 'p_hard'; score columns: none``,
        with how to score a trace.
    """
    if score not in score_names:
        raise PolicyError(
            source,
            key="score",
            problem=f"the trace has no score column {score!r}; score columns: "
            f"{', '.join(score_names) or 'none'}",
            hint="score the trace first: simkit classifier score TRACE --bundle "
            "classifiers/routellm-static-minilm --out SCORED (or simkit.classify.score_trace, "
            "Trace.with_scores)",
        )
