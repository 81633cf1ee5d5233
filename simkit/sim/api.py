"""Hosted-API tiers in the simulator: closed-form latency, token buckets, 429s and retries.

No process per request and none per endpoint: an API has no queue of its own (its capacity is
its rate limit), so each attempt is one or two scheduled callbacks (SERVING.md §7: hosted APIs
are closed-form, 1–2 events per request).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from simkit.fleet.costs import request_token_cost_function
from simkit.fleet.ratelimit import Admission, RateLimiter
from simkit.fleet.spec import ApiEndpoint
from simkit.sim.deferred import DeferredCompletions
from simkit.sim.jobs import AttemptSink, Job
from simkit.sim.tier import TierRuntime

__all__ = ["ApiTier"]

_INF = float("inf")


class _Attempt:
    """One attempt of a job on an API tier: its retries so far and what the limiter charged."""

    __slots__ = ("admission", "job", "retries")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.retries = 0
        self.admission: Admission | None = None


class ApiTier(TierRuntime):
    """Runtime state of one hosted-API tier (one replica: the account)."""

    __slots__ = (
        "_admit",
        "_busy_since",
        "_cost",
        "_error_rate",
        "_outages",
        "_prefill",
        "_rtt",
        "_speed",
        "_timeout",
        "_ttft",
        "busy_s",
        "in_flight",
        "limiter",
        "n_requests",
        "output_tokens",
        "prompt_tokens",
        "queued",
    )

    kind = "api"

    def __init__(
        self,
        env: simpy.Environment,
        sink: AttemptSink,
        name: str,
        spec: ApiEndpoint,
        rng: np.random.Generator,
        deferred: DeferredCompletions | None = None,
    ) -> None:
        super().__init__(env, sink, name, spec, rng, deferred)
        self.spec: ApiEndpoint = spec
        self.limiter = RateLimiter(spec.rate_limit) if spec.rate_limit is not None else None
        self._admit = self.limiter.admission_function() if self.limiter is not None else None
        self.in_flight = 0
        self.queued = 0
        self.busy_s = 0.0
        self._busy_since = 0.0
        self.n_requests = 0
        self.prompt_tokens = 0
        self.output_tokens = 0
        # the spec's values the hot path reads, looked up once
        self._rtt = (spec.rtt_s.median, spec.rtt_s.sigma)
        self._ttft = (spec.ttft_s.median, spec.ttft_s.sigma)
        self._speed = (spec.output_tokens_per_s.median, spec.output_tokens_per_s.sigma)
        self._prefill = spec.prefill_tokens_per_s
        self._error_rate = spec.error_rate
        self._timeout = spec.timeout_s
        self._outages = bool(spec.outages)
        self._cost = request_token_cost_function(spec)

    # -- views for policies ------------------------------------------------------------------
    def headroom(self, now_s: float) -> float:
        return self.limiter.headroom(now_s) if self.limiter is not None else 1.0

    def est_wait_s(self, now_s: float) -> float:
        lim = self.limiter
        if lim is None or lim.requests is None:
            return 0.0
        return lim.requests.wait_s(now_s, 1.0)

    def replica_rows(self) -> list[tuple[str, float, int, int, int]]:
        return [
            (f"{self.name}-0", self.busy_s, self.n_requests, self.prompt_tokens, self.output_tokens)
        ]

    # -- attempts ------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Start an attempt of ``job`` now."""
        self._try(_Attempt(job))

    def _later(
        self, delay: float, attempt: _Attempt, callback: Callable[[simpy.Event], None]
    ) -> None:
        ev = self.env.timeout(delay, attempt)
        ev.callbacks.append(callback)

    def _try(self, attempt: _Attempt) -> None:
        job = attempt.job
        now = self.env.now
        lognormal = self.draws.lognormal
        rtt = lognormal(*self._rtt)
        if self._outages and self.spec.in_outage(now):
            job.reason = "outage"
            self._later(rtt, attempt, self._on_failure)
            return
        admit = self._admit
        adm = None
        if admit is not None:
            adm, wait = admit(now, job.n_in, job.max_tok)
            if adm is None:
                self._rate_limited(attempt, now, rtt, wait)
                return
        attempt.admission = adm
        self.n_requests += 1
        if self.in_flight == 0:
            self._busy_since = now
        self.in_flight += 1
        ttft = rtt + lognormal(*self._ttft)
        if self._prefill is not None:
            ttft += job.n_in / self._prefill
        speed = lognormal(*self._speed)
        n_out = job.n_out
        e2e = ttft + (n_out - 1) / speed if n_out > 1 else ttft
        timeout = self._timeout
        if self._error_rate > 0.0 and self.draws.uniform() < self._error_rate:
            job.reason = "error"
            delay = ttft if ttft < timeout else timeout
            self._later(delay, attempt, self._on_admitted_failure)
        elif e2e > timeout:
            job.reason = "timeout"
            self._later(timeout, attempt, self._on_admitted_failure)
        else:
            job.t_first = now + ttft
            if self.deferred is not None:  # the same end time SimPy would give the event
                self.deferred.push(now + e2e, self, attempt)
            else:
                self._later(e2e, attempt, self._on_complete)

    def _rate_limited(self, attempt: _Attempt, now: float, rtt: float, wait: float) -> None:
        """A 429 at ``now``: retry after ``retry-after`` (or a back-off), or fail the attempt
        (``too_large`` when the bucket can never admit it, ``rate_limited`` past the retries)."""
        job = attempt.job
        job.n_429 += 1
        job.att_n429 += 1
        self.recent_429.append(now)
        retry = self.spec.retry
        if wait == _INF:
            job.reason = "too_large"
            self._later(rtt, attempt, self._on_final_failure)
        elif attempt.retries < retry.max_retries:
            if not retry.honour_retry_after:
                wait = self._backoff(attempt.retries)
            attempt.retries += 1
            job.retries += 1
            self.queued += 1
            self._later(rtt + wait, attempt, self._on_retry)
        else:
            job.reason = "rate_limited"
            self._later(rtt, attempt, self._on_final_failure)

    def _backoff(self, k: int) -> float:
        r = self.spec.retry
        base = r.backoff_base_s * 2.0**k
        return (base if base < r.backoff_cap_s else r.backoff_cap_s) * (
            0.5 + 0.5 * self.draws.uniform()
        )

    def _leave(self, now: float) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.busy_s += now - self._busy_since

    def _on_retry(self, event: simpy.Event) -> None:
        if self.deferred is not None:
            self.deferred.drain(self.env.now)
        self.queued -= 1
        self._try(event.value)

    def _on_complete(self, event: simpy.Event) -> None:
        self.complete(event.value, self.env.now)

    def complete(self, attempt: _Attempt, now: float) -> None:
        """``attempt`` completed at ``now``: refund the limiter, count tokens, charge it."""
        job = attempt.job
        self._leave(now)
        if self.limiter is not None:
            self.limiter.complete(now, attempt.admission, job.n_in, job.n_out)
        self.prompt_tokens += job.n_in
        self.output_tokens += job.n_out
        self.sink.attempt_done(job, True, self._cost(job.n_in, job.n_out), now)

    def _on_admitted_failure(self, event: simpy.Event) -> None:
        attempt: _Attempt = event.value
        now = self.env.now
        if self.deferred is not None:
            self.deferred.drain(now)
        self._leave(now)
        if self.limiter is not None:
            self.limiter.complete(now, attempt.admission, attempt.job.n_in, 0)
        self._failed(attempt, now)

    def _on_failure(self, event: simpy.Event) -> None:
        now = self.env.now
        if self.deferred is not None:
            self.deferred.drain(now)
        self._failed(event.value, now)

    def _failed(self, attempt: _Attempt, now: float) -> None:
        """A retryable failure (error, outage, timeout): back off and retry, or give up."""
        self.recent_errors.append(now)
        if attempt.retries < self.spec.retry.max_retries:
            wait = self._backoff(attempt.retries)
            attempt.retries += 1
            attempt.job.retries += 1
            self.queued += 1
            self._later(wait, attempt, self._on_retry)
        else:
            self.sink.attempt_done(attempt.job, False, 0.0, now)

    def _on_final_failure(self, event: simpy.Event) -> None:
        now = self.env.now
        if self.deferred is not None:
            self.deferred.drain(now)
        self.recent_errors.append(now)
        self.sink.attempt_done(event.value.job, False, 0.0, now)
