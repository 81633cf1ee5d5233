"""Continuous batching on one self-hosted GPU replica: a SimPy process per replica, vLLM-like.

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

With a prefix cache (:mod:`simkit.sim.prefix`) the one change is at admission: the request's
cached leading blocks count as already prefilled (``prefill_done``), so its chunks cover only
the rest; its KV is charged in full as before.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable

import simpy

from simkit.fleet.spec import GpuServer
from simkit.sim.jobs import Job
from simkit.sim.prefix import PrefixCache

__all__ = ["GpuReplica", "Seq"]

_WAITING, _PREFILL, _DECODE, _DONE = 0, 1, 2, 3
#: completions a replica remembers to estimate its departure rate for :meth:`est_wait_s`
_DEPARTURE_WINDOW = 32


class Seq:
    """One attempt of a job on a GPU tier: its place in a replica's queue and batch.

    ``gstate`` is waiting, prefill, decode or done; ``gen`` the tokens generated so far;
    ``prefill_len``/``prefill_done`` the prompt (plus recomputed tokens after a preemption)
    and how much of it is prefilled; a decoding sequence's context is ``s_i + D`` and it ends
    at decode step ``d_finish``; ``gseq`` orders admissions; ``rtt`` is the client's round trip;
    ``blocks`` the prompt's prefix-block ids when the replica has a prefix cache (else empty).
    """

    __slots__ = (
        "blocks",
        "d_finish",
        "first_stamped",
        "gen",
        "gseq",
        "gstate",
        "job",
        "n_in",
        "n_out",
        "prefill_done",
        "prefill_len",
        "rtt",
        "s_i",
        "t_first_server",
    )

    def __init__(self, job: Job, rtt: float) -> None:
        self.job = job
        self.n_in = job.n_in
        self.n_out = job.n_out
        self.rtt = rtt
        self.gstate = _WAITING
        self.gen = 0
        self.prefill_len = job.n_in if job.n_in > 0 else 1  # an empty prompt still takes a step
        self.prefill_done = 0
        self.first_stamped = False
        self.blocks: tuple[int, ...] = ()


class GpuReplica:
    """One replica: its queue, running batch and the process that steps it.

    Parameters
    ----------
    env : simpy.Environment
    spec : GpuServer
    name : str
        ``<tier>-<k>``.
    on_finished : callable
        Called with a sequence and the server-side end time when it has all its tokens.
    fast_forward : bool
        Advance pure-decode stretches in one event (SERVING.md §3.6).
    cache : PrefixCache, optional
        The replica's prefix cache (:mod:`simkit.sim.prefix`): an admitted request skips
        the prefill of its cached leading blocks, and its blocks are cached when its prefill
        completes.
    """

    __slots__ = (
        "D",
        "busy_s",
        "cache",
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
        "on_finished",
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
        "waiting",
    )

    def __init__(
        self,
        env: simpy.Environment,
        spec: GpuServer,
        name: str,
        on_finished: Callable[[Seq, float], None],
        *,
        fast_forward: bool = True,
        cache: PrefixCache | None = None,
    ) -> None:
        self.env = env
        self.spec = spec
        self.cache = cache
        self.name = name
        self.on_finished = on_finished
        self.kv_cap = int(spec.kv_capacity_tokens)
        self.fast_forward = fast_forward
        self.waiting: deque[Seq] = deque()
        self.running: dict[int, Seq] = {}  # admission seq -> sequence, oldest first
        self.prefilling: dict[int, Seq] = {}
        self.heap: list[tuple[int, int, Seq]] = []  # (finish step, gseq, sequence)
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

    def _admissible(self, job: Seq) -> bool:
        return (
            len(self.running) < self.spec.max_num_seqs
            and self.n_dec < self.spec.max_batched_tokens
            and self._kv_used() + job.prefill_len + 1 <= self.kv_cap
        )

    def enqueue(self, job: Seq) -> None:
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
        self.preemptions += 1
        self.waiting.appendleft(job)

    def _finish(self, job: Seq, t_end: float) -> None:
        job.gstate = _DONE
        del self.running[job.gseq]
        self.outstanding -= 1
        self.prompt_tokens += job.n_in
        self.output_tokens += job.n_out
        self.departures.append(t_end)
        self.on_finished(job, t_end)

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
        """Step while there is work; sleep until :meth:`enqueue` wakes the replica."""
        while True:
            if not self.running and not self.waiting:
                self.idle = self.env.event()
                yield self.idle
                continue
            k = self._fast_forward_steps()
            if k >= 2:
                yield from self._fast_forward(k)
            else:
                yield from self._step()

    def _fast_forward_steps(self) -> int:
        """Decode steps that can run as one event now: while only decodes run and nothing
        waiting fits, up to the next finish or the step where KV runs out (0 if not so)."""
        B = self.n_dec
        waiting = self.waiting
        if not (
            B
            and self.fast_forward
            and not self.prefilling
            and (not waiting or not self._admissible(waiting[0]))
        ):
            return 0
        k = self._next_finish() - self.D
        head = (self.kv_cap - self._kv_used()) // B
        return head if head < k else k

    def _fast_forward(self, k: int):  # noqa: ANN202 - SimPy process generator
        """``k`` pure-decode steps in one event of ``T(k) = k*a + c*k*(k-1)/2``; an admissible
        arrival interrupts it, and the step in flight is finished first."""
        env = self.env
        spec = self.spec
        B = self.n_dec
        lin = B / spec.x_sat_tokens_per_s
        t_floor = spec.t_floor_s
        S0 = self.s_base + B * self.D
        a = (lin if lin > t_floor else t_floor) + spec.t_ovh_s + spec.beta_s_per_ctx_token * S0
        c = spec.beta_s_per_ctx_token * B
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

    def _step(self):  # noqa: ANN202 - SimPy process generator
        """One iteration: preempt while KV is short, then decodes, prefill chunks and FCFS
        admissions within the token budget, for the step time of SERVING.md §3.3."""
        while self.n_dec and self._kv_used() + self.n_dec > self.kv_cap:
            self._preempt_newest()
        B = self.n_dec
        chunks, n_tok = self._plan_chunks(B)
        if n_tok == 0:
            # nothing runnable (only possible if the head can never fit; enqueue prevents it)
            self.idle = self.env.event()
            yield self.idle
            return
        spec = self.spec
        lin = n_tok / spec.x_sat_tokens_per_s
        t_floor = spec.t_floor_s
        dur = (
            (lin if lin > t_floor else t_floor)
            + spec.beta_s_per_ctx_token * (self.s_base + B * self.D)
            + spec.t_ovh_s
        )
        yield self.env.timeout(dur)
        self.busy_s += dur
        self.steps += 1
        self._end_step(B, chunks, self.env.now)

    def _plan_chunks(self, B: int) -> tuple[list[tuple[Seq, int]], int]:
        """Prefill chunks of this step (continuing prefills first, then FCFS admissions while
        under ``max_num_seqs``, the token budget and KV) and the step's token count."""
        budget = self.spec.max_batched_tokens - B
        n_tok = B
        chunks: list[tuple[Seq, int]] = []
        for job in self.prefilling.values():
            if budget <= 0:
                break
            c_tok = job.prefill_len - job.prefill_done
            if c_tok > budget:
                c_tok = budget
            chunks.append((job, c_tok))
            budget -= c_tok
            n_tok += c_tok
        waiting = self.waiting
        running = self.running
        max_seqs = self.spec.max_num_seqs
        cache = self.cache
        while waiting and len(running) < max_seqs and budget > 0:
            job = waiting[0]
            need = job.prefill_len + 1
            if self._kv_used() + need > self.kv_cap:
                break
            waiting.popleft()
            self.seq += 1
            job.gseq = self.seq
            job.gstate = _PREFILL
            running[job.gseq] = job
            self.prefilling[job.gseq] = job
            self.kv_prefill += need
            if cache is not None and job.blocks:  # cached leading blocks count as prefilled
                job.prefill_done = cache.admit(job.blocks, job.n_in, job.prefill_len)
            c_tok = job.prefill_len - job.prefill_done
            if c_tok > budget:
                c_tok = budget
            chunks.append((job, c_tok))
            budget -= c_tok
            n_tok += c_tok
        return chunks, n_tok

    def _end_step(self, B: int, chunks: list[tuple[Seq, int]], t_end: float) -> None:
        """Decodes advance (finishing those due); finished prefills emit their first token and
        finish or start decoding."""
        if B:
            self.D += 1
            self._pop_finished(t_end)
        D = self.D
        for job, c_tok in chunks:
            job.prefill_done += c_tok
            if job.prefill_done < job.prefill_len:
                continue
            del self.prefilling[job.gseq]
            self.kv_prefill -= job.prefill_len + 1
            if self.cache is not None and job.blocks:
                self.cache.insert(job.blocks)
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
