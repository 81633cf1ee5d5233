"""Self-hosted GPU tiers: one SimPy process per replica running vLLM-like continuous batching.

The step loop follows SERVING.md §3.2 (each iteration: decodes add one token each, preempting
the newest running request while KV is short; continuing prefill chunks; FCFS admission while
under ``max_num_seqs``, budget and KV, stopping at the first request that does not fit), with
the step time of §3.3 and the decode fast-forward of §3.6.

Bookkeeping is O(1) per decode step: a replica keeps a global decode-step counter ``D``; a
decoding request's context is ``n_in + gen = s_i + D`` with ``s_i`` fixed while it decodes, so
the batch's total context is ``S = sum(s_i) + B * D`` and its KV use is the same number. Finish
steps sit in a heap. A pure-decode stretch with nothing admissible is advanced in one event of
``T(k) = k * (t0 + beta * S0) + beta * B * k * (k - 1) / 2``; an arrival that could be admitted
interrupts it, the in-flight step is finished and the loop re-plans.

Preemption is vLLM's recompute: the newest running request frees its KV and goes to the front
of the queue; when readmitted it prefills its prompt plus the tokens it already generated and
continues (its first-token time stays the original one).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import simpy

from simkit.fleet.costs import request_token_cost_usd
from simkit.fleet.spec import GpuServer
from simkit.sim.tier import TierRuntime

if TYPE_CHECKING:
    from simkit.sim.engine import _Job, _Run

__all__ = ["GpuTier"]

_WAITING, _PREFILL, _DECODE, _DONE = 0, 1, 2, 3
#: completions a replica remembers to estimate its departure rate for :meth:`est_wait_s`
_DEPARTURE_WINDOW = 32


class GpuReplica:
    """One replica: its queue, running batch and the process that steps it."""

    __slots__ = (
        "D",
        "busy_s",
        "departures",
        "env",
        "fast_forward",
        "ff",
        "heap",
        "idle",
        "kv_cap",
        "kv_prefill",
        "n_dec",
        "n_requests",
        "name",
        "output_tokens",
        "outstanding",
        "preemptions",
        "prefilling",
        "proc",
        "prompt_tokens",
        "running",
        "s_base",
        "seq",
        "spec",
        "steps",
        "tier",
        "waiting",
    )

    def __init__(self, tier: GpuTier, name: str) -> None:
        self.tier = tier
        self.env: simpy.Environment = tier.env
        self.spec: GpuServer = tier.spec
        self.name = name
        self.kv_cap = int(tier.spec.kv_capacity_tokens)
        self.fast_forward = tier.run.fast_forward
        self.waiting: deque[_Job] = deque()
        self.running: dict[int, _Job] = {}  # admission seq -> job, oldest first
        self.prefilling: dict[int, _Job] = {}
        self.heap: list[tuple[int, int, _Job]] = []  # (finish step, seq, job)
        self.n_dec = 0
        self.s_base = 0
        self.D = 0
        self.kv_prefill = 0
        self.seq = 0
        self.outstanding = 0
        self.idle: simpy.Event | None = None
        self.ff: tuple[float, float, float] | None = None  # (start, a, c) while fast-forwarding
        self.busy_s = 0.0
        self.steps = 0
        self.preemptions = 0
        self.n_requests = 0
        self.prompt_tokens = 0
        self.output_tokens = 0
        self.departures: deque[float] = deque(maxlen=_DEPARTURE_WINDOW)
        self.proc = self.env.process(self._loop())

    # -- queue ---------------------------------------------------------------------------------
    def _kv_used(self) -> int:
        return self.s_base + self.n_dec * self.D + self.kv_prefill

    def _admissible(self, job: _Job) -> bool:
        return (
            len(self.running) < self.spec.max_num_seqs
            and self.n_dec < self.spec.max_batched_tokens
            and self._kv_used() + job.prefill_len + 1 <= self.kv_cap
        )

    def enqueue(self, job: _Job) -> None:
        job.gstate = _WAITING
        job.gen = 0
        job.prefill_len = job.n_in if job.n_in > 0 else 1  # an empty prompt still takes a step
        job.prefill_done = 0
        job.first_stamped = False
        self.waiting.append(job)
        self.outstanding += 1
        self.n_requests += 1
        if self.idle is not None:
            ev, self.idle = self.idle, None
            ev.succeed()
        elif self.ff is not None and len(self.waiting) == 1 and self._admissible(job):
            self.ff = None
            self.proc.interrupt()

    def est_wait_s(self) -> float:
        """Seconds until a request sent now would start its prefill, as a router could estimate
        it from the server's metrics (queue, running sequences, KV use, recent completions).

        The queued and unfinished prefill work at the saturated prefill throughput; and when the
        batch is full (``max_num_seqs`` or KV), the queue ahead plus this request must also wait
        for that many sequences to finish, at the replica's recent completion rate (the last
        ``_DEPARTURE_WINDOW`` completions). Output lengths are not used: a router does not know
        them.
        """
        work = 0
        for job in self.waiting:
            work += job.prefill_len
        for job in self.prefilling.values():
            work += job.prefill_len - job.prefill_done
        wait = work / self.spec.x_sat_tokens_per_s
        blocked = len(self.running) >= self.spec.max_num_seqs or (
            self.waiting and not self._admissible(self.waiting[0])
        )
        if blocked:
            dep = self.departures
            span = dep[-1] - dep[0] if len(dep) >= 2 else 0.0
            if span > 0.0:
                slots_wait = (len(self.waiting) + 1) * span / (len(dep) - 1)
                if slots_wait > wait:
                    wait = slots_wait
        return wait

    # -- batch changes ---------------------------------------------------------------------------
    def _preempt_newest(self) -> None:
        seq = next(reversed(self.running))
        job = self.running.pop(seq)
        if job.gstate == _DECODE:
            self.n_dec -= 1
            self.s_base -= job.s_i
            job.gen = job.s_i + self.D - job.n_in  # tokens generated so far
        else:
            del self.prefilling[seq]
            self.kv_prefill -= job.prefill_len + 1
        job.gstate = _WAITING
        job.prefill_len = job.n_in + job.gen
        job.prefill_done = 0
        job.n_preempt += 1
        self.preemptions += 1
        self.waiting.appendleft(job)

    def _finish(self, job: _Job, t_end: float) -> None:
        job.gstate = _DONE
        del self.running[job.gseq]
        self.outstanding -= 1
        self.prompt_tokens += job.n_in
        self.output_tokens += job.n_out
        self.departures.append(t_end)
        self.tier.finished(job, t_end)

    def _pop_finished(self, t_end: float) -> None:
        heap = self.heap
        D = self.D
        while heap and heap[0][0] <= D:
            _, _, job = heapq.heappop(heap)
            if job.gstate == _DECODE and job.d_finish == D:
                self.n_dec -= 1
                self.s_base -= job.s_i
                self._finish(job, t_end)

    def _next_finish(self) -> int:
        heap = self.heap
        while heap:
            d, _, job = heap[0]
            if job.gstate == _DECODE and job.d_finish == d:
                return d
            heapq.heappop(heap)  # stale entry of a preempted request
        return -1

    # -- the replica process -------------------------------------------------------------------
    def _loop(self):  # noqa: ANN202 - SimPy process generator
        env = self.env
        spec = self.spec
        t_floor = spec.t_floor_s
        x_sat = spec.x_sat_tokens_per_s
        beta = spec.beta_s_per_ctx_token
        t_ovh = spec.t_ovh_s
        max_seqs = spec.max_num_seqs
        max_batch = spec.max_batched_tokens
        kv_cap = self.kv_cap
        waiting = self.waiting
        running = self.running
        prefilling = self.prefilling
        while True:
            if not running and not waiting:
                self.idle = env.event()
                yield self.idle
                continue
            # -- decode fast-forward ---------------------------------------------------------
            B = self.n_dec
            if (
                B
                and self.fast_forward
                and not prefilling
                and (not waiting or not self._admissible(waiting[0]))
            ):
                nxt = self._next_finish()
                k = nxt - self.D
                head = (kv_cap - self._kv_used()) // B
                if head < k:
                    k = head
                if k >= 2:
                    lin = B / x_sat
                    S0 = self.s_base + B * self.D
                    a = (lin if lin > t_floor else t_floor) + t_ovh + beta * S0
                    c = beta * B
                    total = k * a + c * k * (k - 1) / 2
                    start = env.now
                    self.ff = (start, a, c)
                    try:
                        yield env.timeout(total)
                        self.ff = None
                        done = k
                    except simpy.Interrupt:
                        elapsed = env.now - start
                        j = _steps_done(elapsed, a, c, k)
                        t_j = j * a + c * j * (j - 1) / 2
                        if t_j < elapsed:  # finish the step in flight
                            j += 1
                            t_j = j * a + c * j * (j - 1) / 2
                            yield env.timeout(t_j - elapsed)
                        done = j
                        total = t_j
                    self.busy_s += total
                    self.steps += done
                    self.D += done
                    self._pop_finished(env.now)
                    continue
            # -- one ordinary step ---------------------------------------------------------------
            while B and self._kv_used() + B > kv_cap:
                self._preempt_newest()
                B = self.n_dec
            budget = max_batch - B
            n_tok = B
            chunks: list[tuple[_Job, int]] = []
            for job in prefilling.values():
                if budget <= 0:
                    break
                c_tok = job.prefill_len - job.prefill_done
                if c_tok > budget:
                    c_tok = budget
                chunks.append((job, c_tok))
                budget -= c_tok
                n_tok += c_tok
            while waiting and len(running) < max_seqs and budget > 0:
                job = waiting[0]
                need = job.prefill_len + 1
                if self._kv_used() + need > kv_cap:
                    break
                waiting.popleft()
                self.seq += 1
                job.gseq = self.seq
                job.gstate = _PREFILL
                running[job.gseq] = job
                prefilling[job.gseq] = job
                self.kv_prefill += need
                c_tok = job.prefill_len if job.prefill_len < budget else budget
                chunks.append((job, c_tok))
                budget -= c_tok
                n_tok += c_tok
            if n_tok == 0:
                # nothing runnable (only possible if the head can never fit; enqueue prevents it)
                self.idle = env.event()
                yield self.idle
                continue
            lin = n_tok / x_sat
            dur = (lin if lin > t_floor else t_floor) + beta * (self.s_base + B * self.D) + t_ovh
            yield env.timeout(dur)
            t_end = env.now
            self.busy_s += dur
            self.steps += 1
            if B:
                self.D += 1
                self._pop_finished(t_end)
            D = self.D
            for job, c_tok in chunks:
                job.prefill_done += c_tok
                if job.prefill_done < job.prefill_len:
                    continue
                del prefilling[job.gseq]
                self.kv_prefill -= job.prefill_len + 1
                job.gen += 1
                if not job.first_stamped:
                    job.first_stamped = True
                    job.t_first_server = t_end
                if job.gen >= job.n_out:
                    self._finish(job, t_end)
                else:
                    job.gstate = _DECODE
                    job.s_i = job.n_in + job.gen - D
                    job.d_finish = D + job.n_out - job.gen
                    self.s_base += job.s_i
                    self.n_dec += 1
                    heapq.heappush(self.heap, (job.d_finish, job.gseq, job))


def _steps_done(elapsed: float, a: float, c: float, k: int) -> int:
    """Largest j <= k with T(j) = j*a + c*j*(j-1)/2 <= elapsed."""
    if c > 0:
        b = a - c / 2
        j = int((-b + math.sqrt(b * b + 2 * c * elapsed)) / c)
    else:
        j = int(elapsed / a)
    j = max(0, min(j, k))
    while j < k and (j + 1) * a + c * (j + 1) * j / 2 <= elapsed:
        j += 1
    while j > 0 and j * a + c * j * (j - 1) / 2 > elapsed:
        j -= 1
    return j


class GpuTier(TierRuntime):
    """A self-hosted tier: ``replicas`` replicas, join-the-shortest-queue dispatch."""

    __slots__ = ("replicas",)

    kind = "gpu"

    def __init__(
        self, run: _Run, idx: int, name: str, spec: GpuServer, rng: np.random.Generator
    ) -> None:
        super().__init__(run, idx, name, spec, rng)
        self.spec: GpuServer = spec
        self.replicas = [GpuReplica(self, f"{name}-{r}") for r in range(spec.replicas)]

    @property
    def queued(self) -> int:
        return sum(len(r.waiting) for r in self.replicas)

    @property
    def in_flight(self) -> int:
        return sum(len(r.running) for r in self.replicas)

    def headroom(self, now_s: float) -> float:
        slots = self.spec.max_num_seqs * len(self.replicas)
        return max(0.0, 1.0 - self.in_flight / slots)

    def est_wait_s(self, now_s: float) -> float:
        return min(r.est_wait_s() for r in self.replicas)

    def replica_rows(self) -> list[tuple[str, float, int, int, int]]:
        return [
            (r.name, r.busy_s, r.n_requests, r.prompt_tokens, r.output_tokens)
            for r in self.replicas
        ]

    def submit(self, job: _Job) -> None:
        """Send an attempt to the replica with the fewest outstanding requests."""
        if job.n_in + job.n_out > self.spec.kv_capacity_tokens:
            job.reason = "too_large"
            self.recent_errors.append(self.env.now)
            self.run.attempt_done(job, False, 0.0)
            return
        best = self.replicas[0]
        for r in self.replicas:
            if r.outstanding < best.outstanding:
                best = r
        job.rtt = self.draws.lognormal(self.spec.rtt_s.median, self.spec.rtt_s.sigma)
        best.enqueue(job)

    def finished(self, job: _Job, t_end: float) -> None:
        """A replica finished ``job`` at ``t_end``; the client sees it one RTT later."""
        job.t_first = job.t_first_server + job.rtt
        ev = self.env.timeout(job.rtt, job)
        ev.callbacks.append(self._deliver)

    def _deliver(self, event: simpy.Event) -> None:
        job = event._value
        cost = request_token_cost_usd(self.spec, job.n_in, job.n_out)
        self.run.attempt_done(job, True, cost)
