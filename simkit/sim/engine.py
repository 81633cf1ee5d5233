"""``simulate()``: replay a trace through a policy over a fleet in SimPy.

One source process feeds arrivals lazily from the trace; one process per GPU replica runs
continuous batching; hosted-API attempts are closed-form callbacks. Each component draws from
its own stream (:func:`simkit.seeding.named_stream`: ``policy``, ``tier:<name>``), so adding a
tier leaves the other tiers' and the policy's draws unchanged. Per-request results go into
preallocated lists and become the records DataFrame at the end.
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import simpy

from simkit.errors import PolicyError, SimulationError, SpecError
from simkit.fleet.spec import ApiEndpoint, Fleet
from simkit.policies.base import AttemptView, FleetView, Policy, RequestView, policy_params
from simkit.schema import ENDPOINT_COLUMNS, RECORD_COLUMNS, TAG_SEPARATOR
from simkit.seeding import named_stream
from simkit.sim.api import ApiTier
from simkit.sim.gpu import GpuTier
from simkit.sim.records import Records
from simkit.trace.core import Trace

__all__ = ["simulate"]

_RECENT_S = 60.0
_EMPTY_SCORES: Mapping[str, float] = MappingProxyType({})


class _Job:
    """One request's state across its attempts (one object per request, reused)."""

    __slots__ = (
        "admission",
        "att_n429",
        "att_retries",
        "d_finish",
        "first_stamped",
        "gen",
        "gseq",
        "gstate",
        "i",
        "max_tok",
        "n_429",
        "n_in",
        "n_out",
        "n_preempt",
        "prefill_done",
        "prefill_len",
        "reason",
        "req",
        "retries",
        "rtt",
        "s_i",
        "t_first",
        "t_first_server",
        "tier",
        "tried",
    )

    def __init__(self, i: int, req: RequestView, n_in: int) -> None:
        self.i = i
        self.req = req
        self.n_in = n_in
        self.n_429 = 0
        self.retries = 0
        self.n_preempt = 0
        self.tried: list[int] = []
        self.reason = ""
        self.t_first = float("nan")


class _State:
    """Live values behind the FleetView (computed only when a policy asks)."""

    __slots__ = ("run",)

    def __init__(self, run: _Run) -> None:
        self.run = run

    def now_s(self) -> float:
        return self.run.env.now

    def spend_usd(self) -> float:
        return self.run.spend[0]

    def headroom(self) -> Mapping[str, float]:
        now = self.run.env.now
        return MappingProxyType({t.name: t.headroom(now) for t in self.run.tiers})

    def est_wait_s(self) -> Mapping[str, float]:
        now = self.run.env.now
        return MappingProxyType({t.name: t.est_wait_s(now) for t in self.run.tiers})

    def _recent(self, attr: str) -> Mapping[str, int]:
        cutoff = self.run.env.now - _RECENT_S
        out = {}
        for t in self.run.tiers:
            q: deque[float] = getattr(t, attr)
            while q and q[0] < cutoff:
                q.popleft()
            out[t.name] = len(q)
        return MappingProxyType(out)

    def recent_429s(self) -> Mapping[str, int]:
        return self._recent("recent_429")

    def recent_errors(self) -> Mapping[str, int]:
        return self._recent("recent_errors")


class _LiveCounts(Mapping[str, int]):
    """tier -> current queued / in-flight count, read from the tier runtimes."""

    __slots__ = ("attr", "tiers")

    def __init__(self, tiers: list, attr: str) -> None:  # noqa: ANN001
        self.tiers = {t.name: t for t in tiers}
        self.attr = attr

    def __getitem__(self, key: str) -> int:
        return getattr(self.tiers[key], self.attr)

    def __iter__(self):  # noqa: ANN204
        return iter(self.tiers)

    def __len__(self) -> int:
        return len(self.tiers)


def _int_column(trace: Trace, column: str) -> tuple[np.ndarray, np.ndarray]:
    s = trace.requests[column]
    known = s.notna().to_numpy()
    return s.fillna(0).to_numpy(dtype="int64"), known


def _per_model_arrays(trace: Trace, models: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """model -> (quality, output_tokens) per request in request order (NaN = no outcome)."""
    out = trace.outcomes
    n = trace.n_requests
    req_ids = trace.requests["request_id"]
    out_ids = out["request_id"]
    model_col = out["model"]
    quality = out["quality"].to_numpy(dtype="float64", na_value=np.nan)
    tokens = out["output_tokens"].to_numpy(dtype="float64", na_value=np.nan)
    rows_all = None  # request position of every outcome row, computed only if needed
    result = {}
    for m in dict.fromkeys(models):
        sel = (model_col == m).to_numpy(dtype=bool, na_value=False)
        q = np.full(n, np.nan)
        t = np.full(n, np.nan)
        ids_m = out_ids[sel]
        if (
            len(ids_m) == n
            and (ids_m.to_numpy(dtype=object) == req_ids.to_numpy(dtype=object)).all()
        ):
            q[:] = quality[sel]  # the common layout: this model's outcomes in request order
            t[:] = tokens[sel]
        else:
            if rows_all is None:
                rows_all = pd.Index(req_ids).get_indexer(out_ids)
            q[rows_all[sel]] = quality[sel]
            t[rows_all[sel]] = tokens[sel]
        result[m] = (q, t)
    return result


@dataclass(frozen=True)
class TierArrays:
    """What each request costs and yields on each tier, known before any run.

    Attributes
    ----------
    tiers : tuple of str
        Tier names in fleet order (cheapest first); the columns of the matrices.
    prompt_tokens : ndarray of shape (n_requests,)
    output_tokens : ndarray of shape (n_requests, n_tiers)
        The outcome's ``output_tokens`` for the tier's quality model, else the request's
        ``output_tokens``, capped at the request's ``max_tokens`` when it has one; at least 1
        (an answer has a token). The quality recorded for a capped answer is unchanged.
    quality : ndarray of shape (n_requests, n_tiers)
        Quality of the tier's quality model; NaN where the trace has no outcome.
    """

    tiers: tuple[str, ...]
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    quality: np.ndarray


def tier_arrays(trace: Trace, fleet: Fleet, *, allow_missing_quality: bool = False) -> TierArrays:
    """Per-request prompt length and per-tier output length and quality, validated.

    The simulator and the vectorised curves (:func:`simkit.sweep.threshold_curves`) both start
    from these arrays, so they agree on lengths, prices and quality by construction.

    Raises
    ------
    SimulationError
        An empty trace, a request without ``prompt_tokens``, or without an output length for
        some tier.
    SpecError
        A tier whose quality model has no outcomes (unless ``allow_missing_quality``).
    """
    req = trace.requests
    n = trace.n_requests
    if n == 0:
        raise SimulationError(
            f"{trace.where}: the trace is empty (0 requests); there is nothing to simulate. "
            "Check the file it came from, or the --n-requests / filter that selected it"
        )
    ids = req["request_id"]
    prompt, known = _int_column(trace, "prompt_tokens")
    if n and not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise SimulationError(
            f"{trace.where}: request {ids.iloc[i]!r} (row {i + 1}) has no prompt_tokens "
            f"({int((~known).sum())} requests without); the simulator needs prompt lengths. "
            "Count them from the prompt text (simkit.trace tokens) or attach lengths from a "
            "serving trace"
        )
    req_out, req_out_known = _int_column(trace, "output_tokens")
    max_tokens, max_known = _int_column(trace, "max_tokens")
    models = set(trace.models)
    per_model_cache = _per_model_arrays(
        trace, [t.quality_model for t in fleet.tiers if t.quality_model in models]
    )
    quality, outputs = [], []
    for tier in fleet.tiers:
        m = tier.quality_model
        if m in models:
            q, per_model = per_model_cache[m]
        elif allow_missing_quality:
            q = np.full(n, np.nan)
            per_model = np.full(n, np.nan)
        else:
            raise SpecError(
                fleet.source,
                key=f"tiers.{tier.name}.quality_model",
                problem=f"the trace has no outcomes for model {m!r}; models with outcomes: "
                f"{', '.join(sorted(models)) or 'none'}",
                hint="set quality_model to one of them, or pass allow_missing_quality=True "
                "to simulate (`simkit replay --allow-missing-quality`; quality is then "
                "unknown for this tier)",
            )
        have = ~np.isnan(per_model)
        out = np.where(have, np.nan_to_num(per_model), req_out)
        ok = have | req_out_known
        if n and not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise SimulationError(
                f"{trace.where}: request {ids.iloc[i]!r} (row {i + 1}) has no output length for "
                f"tier {tier.name!r} (model {m!r}): neither an outcome 'output_tokens' for "
                f"that model nor the request's 'output_tokens' ({int((~ok).sum())} requests). "
                "Attach output lengths to the trace (e.g. from a serving trace)"
            )
        # a request's max_tokens caps what any tier generates for it
        out = np.where(max_known, np.minimum(out, max_tokens), out)
        outputs.append(np.maximum(out.astype("int64"), 1))  # an answer has at least one token
        quality.append(q)
    k = len(fleet.tiers)
    return TierArrays(
        tiers=fleet.tier_names,
        prompt_tokens=prompt,
        output_tokens=np.column_stack(outputs) if k else np.zeros((n, 0), dtype="int64"),
        quality=np.column_stack(quality) if k else np.zeros((n, 0)),
    )


class _Prepared:
    """Everything per request and per tier that is known before the run, as lists."""

    def __init__(
        self, trace: Trace, fleet: Fleet, allow_missing_quality: bool, sensitive_tag: str
    ) -> None:
        req = trace.requests
        self.ids = req["request_id"].astype(str).tolist()
        self.arrival = req["arrival_s"].to_numpy(dtype="float64").tolist()
        arrays = tier_arrays(trace, fleet, allow_missing_quality=allow_missing_quality)
        self.prompt = arrays.prompt_tokens.tolist()
        max_tok, max_known = _int_column(trace, "max_tokens")
        self.max_tok = np.where(max_known, max_tok, -1).tolist()
        self.quality: list[list[float]] = [
            arrays.quality[:, j].tolist() for j in range(len(fleet.tiers))
        ]
        self.out: list[list[int]] = [
            arrays.output_tokens[:, j].tolist() for j in range(len(fleet.tiers))
        ]
        self.category = req["category"].fillna("").astype(str).tolist()
        self.source = req["source"].fillna("").astype(str).tolist()
        tag_cache: dict[str, frozenset[str]] = {}
        tags = []
        for t in req["tags"].fillna("").astype(str).tolist():
            fs = tag_cache.get(t)
            if fs is None:
                fs = tag_cache[t] = frozenset(
                    x.strip() for x in t.split(TAG_SEPARATOR) if x.strip()
                )
            tags.append(fs)
        self.tags = tags
        self.sensitive = [sensitive_tag in t for t in tags]
        self.score_names = trace.score_names
        self.scores = (
            [trace.scores[c].to_numpy(dtype="float64").tolist() for c in self.score_names]
            if self.score_names
            else []
        )

    def request_view(self, i: int) -> RequestView:
        scores = (
            {name: col[i] for name, col in zip(self.score_names, self.scores, strict=True)}
            if self.scores
            else _EMPTY_SCORES
        )
        return RequestView(
            self.ids[i],
            self.arrival[i],
            self.prompt[i],
            self.max_tok[i],
            self.category[i],
            self.source[i],
            self.tags[i],
            scores,
        )


class _Run:
    """The state of one simulation run; created and discarded by :func:`simulate`."""

    def __init__(
        self,
        trace: Trace,
        fleet: Fleet,
        policy: Policy,
        seed: int,
        prep: _Prepared,
        progress: bool,
        fast_forward: bool = True,
    ) -> None:
        self.env = simpy.Environment()
        self.fast_forward = fast_forward
        self.fleet = fleet
        self.policy = policy
        self.prep = prep
        self.n = trace.n_requests
        self.tier_names = fleet.tier_names
        self.tier_index = {name: i for i, name in enumerate(self.tier_names)}
        self.private = [t.private for t in fleet.tiers]
        self.tiers: list[ApiTier | GpuTier] = []
        for i, tier in enumerate(fleet.tiers):
            rng = named_stream(seed, f"tier:{tier.name}")
            cls = ApiTier if isinstance(tier.endpoint, ApiEndpoint) else GpuTier
            self.tiers.append(cls(self, i, tier.name, tier.endpoint, rng))
        self.rng = named_stream(seed, "policy")
        self.routed = dict.fromkeys(self.tier_names, 0)
        self.decided = [0]
        self.spend = [0.0]
        self.view = FleetView(
            self.tier_names,
            frozenset(fleet.private_tiers),
            _LiveCounts(self.tiers, "queued"),
            _LiveCounts(self.tiers, "in_flight"),
            MappingProxyType(self.routed),
            self.decided,
            _State(self),
        )
        self.next_tier = getattr(policy, "next_tier", None)
        self.max_attempts = max(8, 4 * len(self.tier_names))
        n = self.n
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
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n, unit="req", desc="simulate", mininterval=0.5)

    # -- arrivals ------------------------------------------------------------------------------
    def start_arrivals(self) -> None:
        """Feed arrivals lazily: one scheduled event per distinct arrival time, each starting
        its requests and scheduling the next (no process per request, nothing up front)."""
        self._next = 0
        if self.n:
            ev = self.env.timeout(self.prep.arrival[0])
            ev.callbacks.append(self._arrive)

    def _arrive(self, event: simpy.Event) -> None:
        arrival = self.prep.arrival
        now = self.env.now
        i = self._next
        n = self.n
        while i < n and arrival[i] <= now:
            self.start_request(i)
            i += 1
        self._next = i
        if i < n:
            ev = self.env.timeout(arrival[i] - now)
            ev.callbacks.append(self._arrive)

    def start_request(self, i: int) -> None:
        prep = self.prep
        req = prep.request_view(i)
        job = _Job(i, req, prep.prompt[i])
        tier = self.policy.route(req, self.view, self.rng)
        self.decided[0] += 1
        self.dispatch[i] = self.env.now
        self.send(job, tier, "route")

    def send(self, job: _Job, tier: str, hook: str) -> None:
        k = self.tier_index.get(tier)
        if k is None:
            raise PolicyError(
                f"policy {type(self.policy).__name__}",
                key=hook,
                problem=f"returned {tier!r} for request {job.req.request_id!r}, which is not a "
                f"tier of this fleet; tiers: {', '.join(self.tier_names)}",
            )
        if len(job.tried) >= self.max_attempts:
            raise SimulationError(
                f"policy {type(self.policy).__name__} sent request {job.req.request_id!r} to "
                f"{len(job.tried)} tiers in a row; its next_tier() must return None eventually"
            )
        i = job.i
        job.tried.append(k)
        job.tier = k
        job.n_out = self.prep.out[k][i]
        mt = self.prep.max_tok[i]
        job.max_tok = mt if mt >= 0 else job.n_out
        job.att_retries = 0
        job.att_n429 = 0
        job.reason = ""
        self.routed[self.tier_names[k]] += 1
        if self.prep.sensitive[i] and not self.private[k]:
            self.violation[i] = True
        self.tiers[k].submit(job)

    # -- attempt results -----------------------------------------------------------------------
    def attempt_done(self, job: _Job, completed: bool, cost_usd: float) -> None:
        i = job.i
        k = job.tier
        if completed:
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
                self.prep.quality[k][i] if completed else float("nan"),
            )
            nxt = self.next_tier(job.req, attempt, self.view, self.rng)
            if nxt is not None:
                self.send(job, nxt, "next_tier")
                return
        self.end[i] = self.env.now
        self.retries[i] = job.retries
        self.n429[i] = job.n_429
        self.reason[i] = "" if self.final[i] >= 0 else job.reason
        self.tried[i] = ",".join(self.tier_names[t] for t in job.tried)
        self.n_done += 1
        if self.bar is not None and self.n_done % 1024 == 0:
            self.bar.update(1024)

    # -- results -------------------------------------------------------------------------------
    def to_frames(self, run_id: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
        n = self.n
        prep = self.prep
        final = np.asarray(self.final, dtype="int64")
        done = final >= 0
        names = np.asarray([*self.tier_names, ""], dtype=object)
        models = np.asarray([*(t.quality_model for t in self.fleet.tiers), ""], dtype=object)
        q_all = np.asarray(prep.quality, dtype="float64").reshape(len(self.tier_names), n)
        quality = np.full(n, np.nan)
        if n:
            quality[done] = q_all[final[done], np.flatnonzero(done)]
        end = np.asarray(self.end, dtype="float64")
        horizon = float(max(end.max() if n else 0.0, prep.arrival[-1] if n else 0.0, self.env.now))
        requests = pd.DataFrame(
            {
                "run_id": np.full(n, run_id, dtype="int64"),
                "request_id": pd.array(prep.ids, dtype="string"),
                "tier": pd.array(names[final].tolist(), dtype="string"),
                "model": pd.array(models[final].tolist(), dtype="string"),
                "tiers_tried": pd.array(self.tried, dtype="string"),
                "arrival_s": np.asarray(prep.arrival, dtype="float64"),
                "dispatch_s": np.asarray(self.dispatch, dtype="float64"),
                "first_token_s": np.asarray(self.first, dtype="float64"),
                "end_s": end,
                "prompt_tokens": np.asarray(prep.prompt, dtype="int64"),
                "output_tokens": np.asarray(self.out_tok, dtype="int64"),
                "cost_usd": np.asarray(self.cost, dtype="float64"),
                "retries": np.asarray(self.retries, dtype="int64"),
                "n_429": np.asarray(self.n429, dtype="int64"),
                "quality": quality,
                "status": pd.array(np.where(done, "completed", "failed").tolist(), dtype="string"),
                "fail_reason": pd.array(self.reason, dtype="string"),
                "privacy_violation": np.asarray(self.violation, dtype="bool"),
            }
        )
        requests = requests[list(RECORD_COLUMNS)]
        rows = []
        for tier_rt, tier in zip(self.tiers, self.fleet.tiers, strict=True):
            fixed = tier.endpoint.usd_per_hour
            for replica, busy, n_req, p_tok, o_tok in tier_rt.replica_rows():
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
                    }
                )
        endpoints = pd.DataFrame(rows, columns=list(ENDPOINT_COLUMNS)).astype(
            dict(ENDPOINT_COLUMNS)
        )
        return requests, endpoints, horizon


def _config_hash(trace: Trace, fleet: Fleet, policy: Policy) -> str:
    h = hashlib.sha256()
    h.update(
        pd.util.hash_pandas_object(
            trace.requests[["request_id", "arrival_s"]], index=False
        ).values.tobytes()
    )
    h.update(
        pd.util.hash_pandas_object(
            trace.outcomes[["request_id", "model", "quality"]], index=False
        ).values.tobytes()
    )
    if trace.scores is not None:
        h.update(pd.util.hash_pandas_object(trace.scores, index=False).values.tobytes())
    h.update(repr(fleet.tiers).encode())
    h.update(repr(policy).encode())
    return h.hexdigest()[:16]


def _versions() -> dict[str, str]:
    import simkit

    return {
        "simkit": simkit.__version__,
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def simulate(
    trace: Trace,
    fleet: Fleet,
    policy: Policy,
    *,
    seed: int,
    run_id: int = 0,
    allow_missing_quality: bool = False,
    sensitive_tag: str = "sensitive",
    progress: bool = False,
    decode_fast_forward: bool = True,
) -> Records:
    """Replay ``trace`` through ``policy`` over ``fleet``; same inputs and seed, same Records.

    Parameters
    ----------
    trace : Trace
        Requests (need ``prompt_tokens``; output lengths from the outcomes of each tier's
        quality model, else the request's ``output_tokens``) and outcomes.
    fleet : Fleet
        Tiers, cheapest first.
    policy : Policy
        Any object with ``route(request, fleet, rng) -> tier``.
    seed : int
        Root seed; each component draws from its own named stream.
    run_id : int
        Written into every record row (sweeps concatenate runs).
    allow_missing_quality : bool
        Let a tier's ``quality_model`` have no outcomes (its quality is then NaN) instead of
        raising :class:`~simkit.errors.SpecError`.
    sensitive_tag : str
        Requests with this tag that reach a non-private tier are privacy violations.
    progress : bool
        Show a tqdm progress bar (off by default; the CLI turns it on).
    decode_fast_forward : bool
        Advance pure-decode stretches of GPU replicas in one event (SERVING.md §3.6). Results
        are the same either way up to float rounding; ``False`` steps one iteration per event
        (for validation and benchmarks).

    Returns
    -------
    Records
        ``requests`` (one row per request, :data:`simkit.schema.RECORD_COLUMNS`), ``endpoints``
        (one row per replica), ``horizon_s`` and ``meta``.

    Raises
    ------
    SpecError
        A tier's quality model has no outcomes in the trace.
    PolicyError
        The policy cannot work with this fleet or trace, or returned an unknown tier.
    SimulationError
        Missing request lengths, or a request left unfinished (a bug: every request ends
        completed or failed with a reason).
    """
    if not isinstance(trace, Trace):
        raise SimulationError(f"trace must be a simkit Trace, got {type(trace).__name__}")
    if not isinstance(fleet, Fleet):
        raise SimulationError(f"fleet must be a simkit Fleet, got {type(fleet).__name__}")
    if not callable(getattr(policy, "route", None)):
        raise PolicyError("policy", problem=f"expected an object with route(), got {policy!r}")
    check = getattr(policy, "check", None)
    if check is not None:
        check(fleet.tier_names, trace.score_names)
    prep = _Prepared(trace, fleet, allow_missing_quality, sensitive_tag)
    run = _Run(trace, fleet, policy, seed, prep, progress, decode_fast_forward)
    env = run.env
    run.start_arrivals()
    try:
        env.run()
    finally:
        if run.bar is not None:
            run.bar.update(run.n_done - run.bar.n)
            run.bar.close()
    if run.n_done != run.n:
        lost = [prep.ids[i] for i in range(run.n) if run.end[i] != run.end[i]]
        raise SimulationError(
            f"{run.n - run.n_done} requests did not finish (first: {lost[:3]}); this is a bug in "
            "the simulator, please report it with the fleet spec"
        )
    requests, endpoints, horizon = run.to_frames(run_id)
    meta = {
        "seed": int(seed),
        "run_id": int(run_id),
        "config_hash": _config_hash(trace, fleet, policy),
        "policy": type(policy).__name__,
        "policy_params": json.loads(json.dumps(policy_params(policy), default=repr)),
        "fleet": fleet.name,
        "trace": str(trace.meta.get("name", trace.where)),
        "n_events": next(env._eid),  # SimPy's event-id counter (events scheduled)
        "gpu_steps": int(
            sum(r.steps for t in run.tiers if isinstance(t, GpuTier) for r in t.replicas)
        ),
        "preemptions": int(
            sum(r.preemptions for t in run.tiers if isinstance(t, GpuTier) for r in t.replicas)
        ),
        "versions": _versions(),
    }
    return Records(
        requests=requests, endpoints=endpoints, horizon_s=horizon, meta=MappingProxyType(meta)
    )
