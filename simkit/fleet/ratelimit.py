"""Token buckets for hosted-API rate limits (SERVING.md §4.3); plain Python, no SimPy.

A bucket refills continuously at ``rate_per_s`` up to ``capacity``. Time is passed in, so the
same object serves the simulator and unit tests. :class:`RateLimiter` combines the buckets of
one :class:`~simkit.fleet.spec.RateLimit` with OpenAI- or Anthropic-style accounting.
"""

from __future__ import annotations

from collections.abc import Callable

from simkit.fleet.spec import RateLimit

__all__ = ["Admission", "RateLimiter", "TokenBucket"]

_INF = float("inf")


class TokenBucket:
    """A continuously refilled bucket: ``level(t) = min(capacity, level + rate * dt)``.

    Parameters
    ----------
    rate_per_s : float
        Refill per second (limit per minute / 60).
    capacity : float
        Maximum level; the bucket starts full.
    """

    __slots__ = ("capacity", "level", "rate_per_s", "t_s")

    def __init__(self, rate_per_s: float, capacity: float) -> None:
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self.level = float(capacity)
        self.t_s = 0.0

    def refill(self, now_s: float) -> float:
        """Bring the level up to ``now_s`` and return it."""
        if now_s > self.t_s:
            level = self.level + (now_s - self.t_s) * self.rate_per_s
            self.level = level if level < self.capacity else self.capacity
            self.t_s = now_s
        return self.level

    def wait_s(self, now_s: float, amount: float) -> float:
        """Seconds until ``amount`` is available (0 if it is now); inf if it never fits."""
        if amount > self.capacity:
            return float("inf")
        level = self.refill(now_s)
        return 0.0 if level >= amount else (amount - level) / self.rate_per_s

    def take(self, now_s: float, amount: float) -> None:
        """Remove ``amount`` (the caller checked :meth:`wait_s`)."""
        self.refill(now_s)
        self.level -= amount

    def give(self, now_s: float, amount: float) -> None:
        """Return ``amount`` (a refund), never above capacity."""
        level = self.refill(now_s) + amount
        self.level = level if level < self.capacity else self.capacity

    def headroom(self, now_s: float) -> float:
        """Fraction of capacity available now, in [0, 1]."""
        return self.refill(now_s) / self.capacity


class Admission:
    """What an admitted attempt was charged, for the refund at completion."""

    __slots__ = ("output_charged", "tokens_charged")

    def __init__(self, tokens_charged: float, output_charged: float) -> None:
        self.tokens_charged = tokens_charged
        self.output_charged = output_charged


class RateLimiter:
    """The buckets of one hosted model with OpenAI- or Anthropic-style accounting.

    OpenAI: ``requests`` (RPM) and ``tokens`` (TPM) buckets; an attempt is charged one request
    and ``prompt + max_tokens`` tokens at admission, refunded to ``prompt + output`` at
    completion; a rejected attempt still uses one request when one is available.
    Anthropic: ``requests``, ``input`` (charged the prompt) and ``output`` (charged
    ``max_tokens``, refunded to the actual output at completion).
    """

    __slots__ = ("anthropic", "input", "openai_only", "output", "requests", "tokens")

    def __init__(self, spec: RateLimit) -> None:
        b = spec.buckets()
        self.anthropic = spec.style == "anthropic"
        self.requests = TokenBucket(*b["requests"]) if "requests" in b else None
        self.tokens = TokenBucket(*b["tokens"]) if "tokens" in b else None
        self.input = TokenBucket(*b["input"]) if "input" in b else None
        self.output = TokenBucket(*b["output"]) if "output" in b else None
        # OpenAI-style with only the requests and tokens buckets: the specialised path
        self.openai_only = not self.anthropic and self.input is None and self.output is None

    def admission_function(self) -> Callable[[float, int, int], tuple[Admission | None, float]]:
        """:meth:`try_admit`, or for OpenAI-style accounting with only the requests and tokens
        buckets its specialised path taking the same arguments (the simulator's hot path)."""
        return self._try_admit_openai if self.openai_only else self.try_admit

    def try_admit(
        self, now_s: float, prompt_tokens: int, max_tokens: int
    ) -> tuple[Admission | None, float]:
        """Admit and charge, or reject with the retry-after in seconds (inf: never fits)."""
        if self.openai_only:
            return self._try_admit_openai(now_s, prompt_tokens, max_tokens)
        if self.anthropic:
            need = ((self.requests, 1.0), (self.input, prompt_tokens), (self.output, max_tokens))
        else:
            need = ((self.requests, 1.0), (self.tokens, prompt_tokens + max_tokens))
        wait = 0.0
        for bucket, amount in need:
            if bucket is None:
                continue
            if amount > bucket.capacity:
                wait = float("inf")
                continue
            level = bucket.refill(now_s)
            if level < amount:
                w = (amount - level) / bucket.rate_per_s
                if w > wait:
                    wait = w
        r = self.requests
        if wait > 0.0:
            if r is not None and not self.anthropic and r.level >= 1.0:
                r.level -= 1.0  # OpenAI: a rejected attempt still counts as a request
            return None, wait
        for bucket, amount in need:
            if bucket is not None:
                bucket.level -= amount  # refilled to now_s above
        if self.anthropic:
            return Admission(0.0, float(max_tokens)), 0.0
        return Admission(
            float(prompt_tokens + max_tokens) if self.tokens is not None else 0.0, 0.0
        ), 0.0

    def _try_admit_openai(
        self, now_s: float, prompt_tokens: int, max_tokens: int
    ) -> tuple[Admission | None, float]:
        """:meth:`try_admit` for OpenAI-style accounting (requests and tokens buckets), the
        same arithmetic in the same order without the general loop (the simulator's hot
        path)."""
        tokens = prompt_tokens + max_tokens
        wait = 0.0
        r = self.requests
        if r is not None:
            if r.capacity < 1.0:
                wait = _INF
            else:
                level = r.refill(now_s)
                if level < 1.0:
                    wait = (1.0 - level) / r.rate_per_s
        t = self.tokens
        if t is not None:
            if tokens > t.capacity:
                wait = _INF
            else:
                level = t.refill(now_s)
                if level < tokens:
                    w = (tokens - level) / t.rate_per_s
                    if w > wait:
                        wait = w
        if wait > 0.0:
            if r is not None and r.level >= 1.0:
                r.level -= 1.0  # a rejected attempt still counts as a request
            return None, wait
        if r is not None:
            r.level -= 1.0
        if t is None:
            return Admission(0.0, 0.0), 0.0
        t.level -= tokens
        return Admission(float(tokens), 0.0), 0.0

    def complete(
        self, now_s: float, admission: Admission, prompt_tokens: int, output_tokens: int
    ) -> None:
        """Refund the unused part of the charge (``max_tokens`` minus the real output)."""
        if self.tokens is not None and admission.tokens_charged:
            refund = admission.tokens_charged - (prompt_tokens + output_tokens)
            if refund > 0:
                self.tokens.give(now_s, refund)
        if self.output is not None and admission.output_charged:
            refund = admission.output_charged - output_tokens
            if refund > 0:
                self.output.give(now_s, refund)

    def headroom(self, now_s: float) -> float:
        """The tightest bucket's available fraction, in [0, 1]."""
        h = 1.0
        for b in (self.requests, self.tokens, self.input, self.output):
            if b is not None:
                x = b.headroom(now_s)
                h = x if x < h else h
        return h
