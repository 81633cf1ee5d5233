"""One simulation run: arrivals, routing decisions, attempts on tier runtimes, and the
per-request results they leave (preallocated lists that become the records at the end).

The run builds each tier runtime from what it needs (the environment, itself as the
:class:`~simkit.sim.jobs.AttemptSink`, the tier's spec and random stream); tiers report
finished attempts back through :meth:`Run.attempt_done` and never import this module.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import simpy

from simkit.errors import PolicyError, SimulationError
from simkit.fleet.costs import missing_observed_cost_error
from simkit.fleet.spec import ApiEndpoint, Fleet
from simkit.policies.base import AttemptView, FleetView, Policy
from simkit.schema import ENDPOINT_COLUMNS
from simkit.seeding import named_stream
from simkit.sim.api import ApiTier
from simkit.sim.deferred import DeferredCompletions
from simkit.sim.fleet_state import LiveCounts, LiveState
from simkit.sim.gpu import GpuTier
from simkit.sim.jobs import Job
from simkit.sim.records import requests_frame
from simkit.sim.requests import RequestTable

__all__ = ["RESULT_LISTS", "Run", "events_scheduled"]

#: The per-request results a run books, one list (or dict) each, indexed by request position.
RESULT_LISTS = (
    "final",
    "tried",
    "dispatch",
    "first",
    "end",
    "out_tok",
    "cost",
    "retries",
    "n429",
    "reason",
    "violation",
)


def events_scheduled(env: simpy.Environment) -> int:
    """Events ``env`` has scheduled so far (``meta['n_events']``); read once, after the run.

    The one read of a SimPy private attribute in simkit: SimPy keeps this count only as the
    tie-break counter of its event heap, ``Environment._eid``. Counting in an overridden
    ``schedule()`` instead (every event passes through it) cost 17-20 % of replay speed
    side by side (20,000 requests, median of 6, shared 2-core machine: API fleet 7,131 vs
    8,941 requests/s, GPU fleet 4,653 vs 5,588), so the counter is read here and nowhere
    else. ``next()`` advances it, which is harmless once the run is over.
    """
    return next(env._eid)


class Run:
    """The state of one simulation run; created and discarded by :func:`~simkit.sim.simulate`.

    Parameters
    ----------
    fleet : Fleet
    policy : Policy
    seed : int
        Root seed: the policy and every tier draw from their own named streams.
    table : RequestTable
        The trace's requests.
    progress : bool
        Show a tqdm progress bar.
    fast_forward : bool
        GPU decode fast-forward (SERVING.md §3.6).
    cost_source : {"catalog", "observed"}
        What a completed attempt on an API tier is charged (:mod:`simkit.fleet.costs`).
    """

    def __init__(
        self,
        fleet: Fleet,
        policy: Policy,
        seed: int,
        table: RequestTable,
        progress: bool,
        fast_forward: bool,
        cost_source: str,
    ) -> None:
        self.env = simpy.Environment()
        self.seed = seed
        self.fleet = fleet
        self.policy = policy
        self.table = table
        self.n = len(table)
        self.tier_names = fleet.tier_names
        self.tier_index = {name: i for i, name in enumerate(self.tier_names)}
        self.private = [t.private for t in fleet.tiers]
        self.next_tier = getattr(policy, "next_tier", None)
        # API completions need no event when no policy hook runs at that time
        self.deferred = DeferredCompletions() if self.next_tier is None else None
        self.fast_forward = fast_forward
        # one runtime per tier, each with its own stream tier:<name>
        self.tiers = [
            self.tier_runtime(k, self.env, self.deferred) for k in range(len(fleet.tiers))
        ]
        # per tier: the recorded costs a completed attempt is charged, or None (the catalog)
        self.observed: list[list[float] | None] = [
            table.observed_cost[k]
            if cost_source == "observed" and isinstance(t.endpoint, ApiEndpoint)
            else None
            for k, t in enumerate(fleet.tiers)
        ]
        self.rng = named_stream(seed, "policy")
        self.route = policy.route
        self.routed = dict.fromkeys(self.tier_names, 0)
        self.decided = [0]
        self.spend = [0.0]
        self.view = FleetView(
            self.tier_names,
            frozenset(fleet.private_tiers),
            LiveCounts(self.tiers, lambda t: t.queued),
            LiveCounts(self.tiers, lambda t: t.in_flight),
            MappingProxyType(self.routed),
            self.decided,
            LiveState(self.env, self.tiers, self.spend),
        )
        # per tier: the enforced context window (None: none, or over_context='serve') and
        # what a request over it does; counts of refused and truncated attempts
        self.window = [t.context_window if t.over_context != "serve" else None for t in fleet.tiers]
        self.truncate = [t.over_context == "truncate" for t in fleet.tiers]
        self.ctx_exceeded = [0] * len(fleet.tiers)
        self.ctx_truncated = [0] * len(fleet.tiers)
        self.ctx_cut_tokens = [0] * len(fleet.tiers)
        self.max_attempts = max(8, 4 * len(self.tier_names))
        # set when the run was replayed tier by tier (simkit.sim.by_tier) instead of by SimPy:
        # the events the event run schedules, and the time of its last one
        self.replayed_by_tier: tuple[int, float] | None = None
        # what an arrival event does with each request it starts (by_tier: requests routed
        # beforehand, started only on the self-hosted tiers)
        self.on_arrival: Callable[[int], None] = self.start_request
        self._allocate_results(self.n)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.n, unit="req", desc="simulate", mininterval=0.5)

    def tier_runtime(
        self, k: int, env: Any, deferred: DeferredCompletions | None
    ) -> ApiTier | GpuTier:
        """A fresh runtime of tier ``k`` on ``env`` (the run's SimPy environment, or a clock
        of :mod:`~simkit.sim.by_tier` that offers the part of it the tier uses)."""
        tier = self.fleet.tiers[k]
        rng = named_stream(self.seed, f"tier:{tier.name}")
        if isinstance(tier.endpoint, ApiEndpoint):
            return ApiTier(env, self, tier.name, tier.endpoint, rng, deferred)
        return GpuTier(
            env,
            self,
            tier.name,
            tier.endpoint,
            rng,
            fast_forward=self.fast_forward,
            prefix_blocks=self.table.blocks,
            prompt_tokens=self.table.prompt,
            block_size=self.table.block_size,
            deferred=deferred,
        )

    def _allocate_results(self, n: int) -> None:
        nan = float("nan")
        self.final = [-1] * n
        self.tried: list[str] = [""] * n
        self.dispatch = [nan] * n
        self.first = [nan] * n
        self.end = [nan] * n
        self.out_tok = [0] * n
        self.cost = [0.0] * n
        self.retries = [0] * n
        self.n429 = [0] * n
        self.reason = [""] * n
        self.violation = [False] * n
        self.n_done = 0

    # -- arrivals ------------------------------------------------------------------------------
    def start_arrivals(self) -> None:
        """Feed arrivals lazily: one scheduled event per distinct arrival time, each starting
        its requests and scheduling the next (no process per request, nothing up front)."""
        self._next = 0
        if self.n:
            ev = self.env.timeout(self.table.arrival[0])
            ev.callbacks.append(self._arrive)

    def _arrive(self, event: simpy.Event) -> None:
        arrival = self.table.arrival
        now = self.env.now
        if self.deferred is not None:  # what the policy reads includes earlier completions
            self.deferred.drain(now)
        i = self._next
        n = self.n
        start_request = self.on_arrival
        while i < n and arrival[i] <= now:
            start_request(i)
            i += 1
        self._next = i
        if i < n:
            ev = self.env.timeout(arrival[i] - now)
            ev.callbacks.append(self._arrive)

    def start_request(self, i: int) -> None:
        table = self.table
        req = table.request_view(i)
        job = Job(i, req, table.prompt[i])
        tier = self.route(req, self.view, self.rng)
        self.decided[0] += 1
        now = self.env.now
        self.dispatch[i] = now
        self.send(job, tier, "route", now)

    def send(self, job: Job, tier: str, hook: str, now: float) -> None:
        """Start an attempt of ``job`` on ``tier`` (the policy's answer to ``hook``) at ``now``."""
        k = self.book(job.i, tier, hook)
        if self.start(job, k, now):
            self.tiers[k].submit(job)

    def book(self, i: int, tier: str, hook: str) -> int:
        """The index of ``tier``, the policy's answer to ``hook`` for request ``i``, counted as
        routed there (and as a privacy violation when a sensitive request goes public)."""
        k = self.tier_index.get(tier)
        if k is None:
            raise self._not_a_tier(i, tier, hook)
        self.routed[tier] += 1
        if self.table.sensitive[i] and not self.private[k]:
            self.violation[i] = True
        return k

    def book_batch(self, first: int, tiers: list[str], hook: str) -> list[int]:
        """:meth:`book` for requests ``first``, ``first + 1``, ... routed to ``tiers`` by a
        ``route_batch``, which reads no fleet view: the view's counts are not kept."""
        index = self.tier_index
        ks = [index.get(t, -1) for t in tiers]
        if -1 in ks:
            j = ks.index(-1)
            raise self._not_a_tier(first + j, tiers[j], hook)
        public = [not p for p in self.private]
        if any(public):
            sensitive = self.table.sensitive
            violation = self.violation
            for j, k in enumerate(ks):
                if public[k] and sensitive[first + j]:
                    violation[first + j] = True
        return ks

    def _not_a_tier(self, i: int, tier: Any, hook: str) -> PolicyError:
        """The error for ``tier``, the policy's answer to ``hook`` for request ``i``, when the
        fleet has no such tier."""
        return PolicyError(
            f"policy {type(self.policy).__name__}",
            key=hook,
            problem=f"returned {tier!r} for request {self.table.ids[i]!r}, which is not a "
            f"tier of this fleet; tiers: {', '.join(self.tier_names)}",
        )

    def start(self, job: Job, k: int, now: float) -> bool:
        """Set ``job`` up for an attempt on tier ``k`` at ``now``; ``False`` when the tier
        refuses it at once (over its context window: the attempt is booked as failed)."""
        i = job.i
        if len(job.tried) >= self.max_attempts:
            raise SimulationError(
                f"policy {type(self.policy).__name__} sent request {self.table.ids[i]!r} to "
                f"{len(job.tried)} tiers in a row; its next_tier() must return None eventually"
            )
        table = self.table
        job.tried.append(k)
        job.tier = k
        n_out = job.n_out = table.out[k][i]
        mt = table.max_tok[i]
        job.max_tok = mt if mt >= 0 else n_out
        job.att_n429 = 0
        job.reason = ""
        n_in = table.prompt[i]
        window = self.window[k]
        if window is not None and n_in + job.n_out > window:
            if not self.truncate[k]:  # refused at once: no cost, no retry
                self.ctx_exceeded[k] += 1
                job.reason = "context_exceeded"
                job.n_in = n_in
                self.attempt_done(job, False, 0.0, now)
                return False
            # keep the prompt's newest tokens; the answer alone is cut to window - 1
            job.n_out = min(job.n_out, window - 1)
            kept = window - job.n_out
            self.ctx_truncated[k] += 1
            self.ctx_cut_tokens[k] += n_in - kept
            n_in = kept
        job.n_in = n_in
        return True

    # -- attempt results -----------------------------------------------------------------------
    def attempt_done(self, job: Job, completed: bool, cost_usd: float, now: float) -> None:
        """Book an attempt finished at ``now``; ask the policy's ``next_tier`` (if any) where to
        go next, else close the request's record."""
        i = job.i
        k = job.tier
        if completed:
            observed = self.observed[k]
            if observed is not None:
                cost_usd = observed[i]
                if cost_usd != cost_usd:  # NaN: the trace recorded no cost for this pair
                    tier = self.fleet.tiers[k]
                    raise missing_observed_cost_error(
                        self.table.where,
                        self.table.ids[i],
                        i + 1,
                        tier.name,
                        tier.quality_model,
                        sum(c != c for c in observed),
                    )
            self.cost[i] += cost_usd
            self.spend[0] += cost_usd
            self.final[i] = k
            self.first[i] = job.t_first
            self.out_tok[i] = job.n_out
        if self.next_tier is not None:
            names = self.tier_names
            attempt = AttemptView(
                names[k],
                completed,
                job.reason,
                tuple(names[t] for t in job.tried),
                job.att_n429,
                self.table.quality[k][i] if completed else float("nan"),
            )
            nxt = self.next_tier(job.req, attempt, self.view, self.rng)
            if nxt is not None:
                self.send(job, nxt, "next_tier", now)
                return
        self.end[i] = now
        self.retries[i] = job.retries
        self.n429[i] = job.n_429
        self.reason[i] = "" if self.final[i] >= 0 else job.reason
        tried = job.tried
        names = self.tier_names
        self.tried[i] = names[tried[0]] if len(tried) == 1 else ",".join([names[t] for t in tried])
        self.n_done += 1
        if self.bar is not None and self.n_done % 1024 == 0:
            self.bar.update(1024)

    def events(self) -> int:
        """Events the run scheduled (``meta['n_events']``)."""
        if self.replayed_by_tier is not None:
            return self.replayed_by_tier[0]
        return events_scheduled(self.env)

    def last_event_s(self) -> float:
        """Simulated time of the run's last event."""
        if self.replayed_by_tier is not None:
            return self.replayed_by_tier[1]
        return self.env.now

    def replay(self) -> None:
        """The event run: arrivals fed lazily, SimPy to the end, the completions left."""
        self.start_arrivals()
        self.env.run()
        self.finish()

    def close_bar(self) -> None:
        """Bring the progress bar (if any) to the requests done and close it."""
        if self.bar is not None:
            self.bar.update(self.n_done - self.bar.n)
            self.bar.close()

    def finish(self) -> None:
        """Apply the deferred completions left when SimPy's queue ran dry (none of them can
        start anything: deferral is on only when no policy hook answers a completion)."""
        if self.deferred is not None:
            self.deferred.drain(float("inf"))

    # -- results -------------------------------------------------------------------------------
    def to_frames(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
        """The requests and endpoints frames of the finished run, and its horizon."""
        n = self.n
        end = np.asarray(self.end, dtype="float64")
        horizon = float(
            max(end.max() if n else 0.0, self.table.arrival[-1] if n else 0.0, self.last_event_s())
        )
        requests = self._requests_frame(run_id, end)
        return requests, self._endpoints_frame(run_id, horizon), horizon

    def _requests_frame(self, run_id: int, end: np.ndarray) -> pd.DataFrame:
        table = self.table
        results = {name: getattr(self, name) for name in RESULT_LISTS}
        results["end"] = end
        return requests_frame(
            run_id,
            self.tier_names,
            [t.quality_model for t in self.fleet.tiers],
            table.ids,
            table.arrival,
            table.prompt,
            results,
            table.arrays.quality.T,
        )

    def _endpoints_frame(self, run_id: int, horizon: float) -> pd.DataFrame:
        rows = []
        for tier_rt, tier in zip(self.tiers, self.fleet.tiers, strict=True):
            fixed = tier.endpoint.usd_per_hour
            prefix = tier_rt.prefix_rows() if isinstance(tier_rt, GpuTier) else {}
            for replica, busy, n_req, p_tok, o_tok in tier_rt.replica_rows():
                lookup, hit, saved = prefix.get(replica, (0, 0, 0))
                rows.append(
                    {
                        "run_id": run_id,
                        "tier": tier.name,
                        "replica": replica,
                        "kind": tier.kind,
                        "horizon_s": horizon,
                        "busy_s": float(busy),
                        "usd_per_hour": float(fixed),
                        "n_requests": int(n_req),
                        "prompt_tokens": int(p_tok),
                        "output_tokens": int(o_tok),
                        "prefix_lookup_blocks": int(lookup),
                        "prefix_hit_blocks": int(hit),
                        "prefix_saved_tokens": int(saved),
                    }
                )
        return pd.DataFrame(rows, columns=list(ENDPOINT_COLUMNS)).astype(dict(ENDPOINT_COLUMNS))

    def context_counts(self) -> dict[str, dict[str, int]]:
        """Per tier: attempts refused over the context window, attempts truncated to it, and
        the prompt tokens truncation dropped."""
        return {
            name: {
                "exceeded": self.ctx_exceeded[k],
                "truncated": self.ctx_truncated[k],
                "truncated_prompt_tokens": self.ctx_cut_tokens[k],
            }
            for k, name in enumerate(self.tier_names)
        }

    def gpu_counts(self) -> tuple[int, int]:
        """Steps and preemptions of every GPU replica of the run."""
        replicas = [r for t in self.tiers if isinstance(t, GpuTier) for r in t.replicas]
        return sum(r.steps for r in replicas), sum(r.preemptions for r in replicas)
