"""Self-hosted GPU tiers: replicas running vLLM-like continuous batching
(:mod:`simkit.sim.batching`), dispatch by the spec's ``load_balancer``
(:class:`simkit.fleet.GpuServer`), each replica's prefix cache when the spec asks for one
(:mod:`simkit.sim.prefix`), and the client's round trip.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import simpy

from simkit.fleet.costs import request_token_cost_function
from simkit.fleet.spec import GpuServer
from simkit.sim.batching import GpuReplica, Seq
from simkit.sim.deferred import DeferredCompletions
from simkit.sim.jobs import AttemptSink, Job
from simkit.sim.prefix import PrefixCache
from simkit.sim.tier import TierRuntime

__all__ = ["GpuTier"]


class GpuTier(TierRuntime):
    """A self-hosted tier: ``replicas`` replicas, dispatch by ``spec.load_balancer``.

    Parameters
    ----------
    env, sink, name, spec, rng
        As :class:`~simkit.sim.tier.TierRuntime`.
    fast_forward : bool
        Advance pure-decode stretches in one event (SERVING.md §3.6).
    prefix_blocks : sequence of tuple of int, optional
        Each request's prefix-block ids, by trace position (needed when the spec has
        ``prefix_cache``).
    prompt_tokens : sequence of int, optional
        Each request's prompt tokens as in the trace: an attempt whose prompt was truncated
        to the context window no longer starts with its blocks and is not looked up.
    block_size : int, optional
        Tokens per prefix block.
    """

    __slots__ = (
        "_cost",
        "blocks",
        "fast_forward",
        "lb",
        "prompt_tokens",
        "replicas",
        "rr",
        "shared",
    )

    kind = "gpu"

    def __init__(
        self,
        env: simpy.Environment,
        sink: AttemptSink,
        name: str,
        spec: GpuServer,
        rng: np.random.Generator,
        *,
        fast_forward: bool = True,
        prefix_blocks: Sequence[tuple[int, ...]] | None = None,
        prompt_tokens: Sequence[int] | None = None,
        block_size: int | None = None,
        deferred: DeferredCompletions | None = None,
    ) -> None:
        super().__init__(env, sink, name, spec, rng, deferred)
        self.spec: GpuServer = spec
        self._cost = request_token_cost_function(spec)  # bound once, as ApiTier does
        self.fast_forward = fast_forward
        self.blocks = prefix_blocks if spec.prefix_cache else None
        self.prompt_tokens = prompt_tokens
        capacity = 0
        if self.blocks is not None:
            tokens = spec.prefix_cache_tokens or spec.kv_capacity_tokens
            capacity = max(1, tokens // block_size)
        self.replicas = [
            GpuReplica(
                env,
                spec,
                f"{name}-{r}",
                self.finished,
                fast_forward=fast_forward,
                cache=PrefixCache(capacity, block_size) if capacity else None,
            )
            for r in range(spec.replicas)
        ]
        self.lb = spec.load_balancer
        self.rr = 0  # round robin: the next replica
        self.shared: deque[Seq] = deque()  # shared queue: requests no replica has room for

    def _pick(self, seq: Seq | None = None) -> GpuReplica | None:
        """The replica the load balancer sends ``seq`` to (None: shared queue full)."""
        replicas = self.replicas
        lb = self.lb
        if lb == "prefix_affinity":
            best = replicas[0]
            most = -1
            if seq is not None and seq.blocks:
                for r in replicas:
                    m = r.cache.match(seq.blocks)
                    if m > most or (m == most and r.outstanding < best.outstanding):
                        best, most = r, m
            if most > 0:
                return best
            lb = "least_outstanding"  # nobody holds its prefix
        if lb == "least_outstanding":
            best = replicas[0]
            for r in replicas:
                if r.outstanding < best.outstanding:
                    best = r
            return best
        if lb == "round_robin":
            best = replicas[self.rr]
            self.rr = (self.rr + 1) % len(replicas)
            return best
        if lb == "shortest_queue":
            best = replicas[0]
            for r in replicas:
                if len(r.waiting) < len(best.waiting):
                    best = r
            return best
        slots = self.spec.max_num_seqs  # shared_queue: the first replica with a free slot
        return next((r for r in replicas if r.outstanding < slots), None)

    @property
    def queued(self) -> int:
        return len(self.shared) + sum(len(r.waiting) for r in self.replicas)

    @property
    def in_flight(self) -> int:
        return sum(len(r.running) for r in self.replicas)

    def headroom(self, now_s: float) -> float:
        slots = self.spec.max_num_seqs * len(self.replicas)
        return max(0.0, 1.0 - self.in_flight / slots)

    def est_wait_s(self, now_s: float) -> float:
        return min(r.est_wait_s() for r in self.replicas)

    def prefix_match(self, blocks: Sequence[int]) -> int:
        """The most leading blocks of ``blocks`` that one replica's prefix cache holds now
        (0 without caches); no side effect on the caches or their counters."""
        if self.blocks is None:
            return 0
        return max(r.cache.match(blocks) for r in self.replicas)

    def replica_rows(self) -> list[tuple[str, float, int, int, int]]:
        return [
            (r.name, r.busy_s, r.n_requests, r.prompt_tokens, r.output_tokens)
            for r in self.replicas
        ]

    def prefix_rows(self) -> dict[str, tuple[int, int, int]]:
        """Per replica with a prefix cache: blocks looked up, blocks hit, prefill tokens saved."""
        return {
            r.name: (r.cache.lookup_blocks, r.cache.hit_blocks, r.cache.saved_tokens)
            for r in self.replicas
            if r.cache is not None
        }

    def submit(self, job: Job) -> None:
        """Send an attempt to the replica the load balancer picks (or the shared queue)."""
        if job.n_in + job.n_out > self.spec.kv_capacity_tokens:
            job.reason = "too_large"
            now = self.env.now
            self.recent_errors.append(now)
            self.sink.attempt_done(job, False, 0.0, now)
            return
        seq = Seq(job, self.draws.lognormal(self.spec.rtt_s.median, self.spec.rtt_s.sigma))
        if self.blocks is not None and job.n_in == self.prompt_tokens[job.i]:
            seq.blocks = self.blocks[job.i]
        best = self._pick(seq) if not self.shared else None  # FIFO: nobody passes the queue
        if best is None:
            self.shared.append(seq)
        else:
            best.enqueue(seq)

    def finished(self, seq: Seq, t_end: float) -> None:
        """A replica finished ``seq`` at ``t_end``; the client sees it one RTT later."""
        seq.job.t_first = seq.t_first_server + seq.rtt
        if self.deferred is not None:  # delivered without an event (the time SimPy would give)
            self.deferred.push(self.env.now + seq.rtt, self, seq)
        else:
            ev = self.env.timeout(seq.rtt, seq)
            ev.callbacks.append(self._deliver)
        while self.shared:  # a slot came free: the shared queue's head takes it
            free = self._pick()
            if free is None:
                break
            free.enqueue(self.shared.popleft())

    def _deliver(self, event: simpy.Event) -> None:
        self.complete(event.value, self.env.now)

    def complete(self, seq: Seq, now: float) -> None:
        """The client received ``seq``'s answer at ``now``: charge it and report it."""
        self.sink.attempt_done(seq.job, True, self._cost(seq.n_in, seq.n_out), now)
