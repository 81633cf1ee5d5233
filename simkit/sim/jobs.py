"""One request's state across its attempts, and the sink its attempts report to.

Tier runtimes (:mod:`simkit.sim.api`, :mod:`simkit.sim.gpu`) read and update a :class:`Job`
and report each finished attempt to an :class:`AttemptSink`; they never see the run that owns
both. State that only one kind of tier needs (an API attempt's admission and retries, a GPU
sequence's batching state) lives in that tier's own attempt object.
"""

from __future__ import annotations

from typing import Protocol

from simkit.policies.base import RequestView

__all__ = ["AttemptSink", "Job"]


class Job:
    """One request across its attempts (one object per request, reused by every attempt).

    Attributes
    ----------
    i : int
        The request's position in the trace.
    req : RequestView or None
        What policies see of the request (``None`` when no policy will see it again: a run
        replayed tier by tier, :mod:`~simkit.sim.by_tier`, routes every request beforehand).
    n_in : int
        Prompt tokens.
    n_out, max_tok : int
        Output tokens and the ``max_tokens`` charged by rate limits, on the current tier.
    tier : int
        Index of the current attempt's tier.
    tried : list of int
        Tier indices of every attempt so far, in order.
    reason : str
        Why the current attempt failed (``''`` while it has not).
    t_first : float
        Client-side first-token time of the completed attempt (NaN before).
    retries, n_429 : int
        Retries and 429 answers over all attempts.
    att_n429 : int
        429 answers of the current attempt.
    """

    __slots__ = (
        "att_n429",
        "i",
        "max_tok",
        "n_429",
        "n_in",
        "n_out",
        "reason",
        "req",
        "retries",
        "t_first",
        "tier",
        "tried",
    )

    def __init__(self, i: int, req: RequestView | None, n_in: int) -> None:
        self.i = i
        self.req = req
        self.n_in = n_in
        self.n_429 = 0
        self.retries = 0
        self.tried: list[int] = []
        self.reason = ""
        self.t_first = float("nan")


class AttemptSink(Protocol):
    """Where a tier reports a finished attempt (the run's bookkeeping)."""

    def attempt_done(self, job: Job, completed: bool, cost_usd: float, now: float) -> None:
        """``job``'s current attempt ended at ``now``, completed (and charged ``cost_usd``) or
        not (``job.reason`` says why)."""
        ...
