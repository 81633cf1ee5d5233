"""``simulate()``: replay a trace through a policy over a fleet in SimPy.

One source process feeds arrivals lazily from the trace; one process per GPU replica runs
continuous batching; hosted-API attempts are closed-form callbacks; when the policy has no
``next_tier``, completions (API answers, self-hosted deliveries) are not events at all
(:mod:`~simkit.sim.deferred`). Each component draws from its own stream
(:func:`simkit.seeding.named_stream`: ``policy``, ``tier:<name>``), so adding a tier leaves
the other tiers' and the policy's draws unchanged. Per-request results go into preallocated
lists and become the records DataFrame at the end.

The parts, each importing only the ones before it: :mod:`~simkit.sim.draws` (random draws in
blocks), :mod:`~simkit.sim.jobs` (a request's state across attempts, the sink attempts report
to), :mod:`~simkit.sim.deferred` (completions applied lazily), :mod:`~simkit.sim.tier`,
:mod:`~simkit.sim.prefix` (a replica's prefix cache), :mod:`~simkit.sim.api` and
:mod:`~simkit.sim.gpu` (tier runtimes), :mod:`~simkit.sim.arrays` and
:mod:`~simkit.sim.requests` (what is known before the run), :mod:`~simkit.sim.fleet_state`
(the live values policies read), :mod:`~simkit.sim.run` (one run), and this module.
"""

from __future__ import annotations

import hashlib
import json
import platform
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import simpy

from simkit._version import __version__
from simkit.errors import PolicyError, SimulationError, SpecError
from simkit.fleet.costs import check_cost_source
from simkit.fleet.spec import Fleet
from simkit.policies.base import Policy, policy_params
from simkit.sim.arrays import TierArrays, tier_arrays
from simkit.sim.by_tier import TieFound, replay_by_tier, replays_by_tier
from simkit.sim.records import Records
from simkit.sim.requests import RequestTable
from simkit.sim.run import Run
from simkit.trace.core import Trace
from simkit.trace.prefix import PREFIX_BLOCKS_COLUMN

__all__ = ["TierArrays", "simulate", "tier_arrays"]


def hash_trace(h: hashlib._Hash, requests: pd.DataFrame, outcomes: pd.DataFrame) -> None:
    """Feed the rows of a trace's requests and outcomes that change a run into ``h``.

    Row by row (``hash_pandas_object`` hashes each row alone), so feeding a trace's requests
    in chunks, then its outcomes in chunks, gives the same digest as feeding it whole.
    """
    # categorize=False: the same values (pandas' contract), without first dictionary-encoding
    # request ids, which are all distinct (a third of the time); outcomes repeat each id
    # once per model, where dictionary-encoding pays
    h.update(
        pd.util.hash_pandas_object(
            requests[["request_id", "arrival_s"]], index=False, categorize=False
        ).values.tobytes()
    )
    h.update(
        pd.util.hash_pandas_object(
            outcomes[["request_id", "model", "quality"]], index=False
        ).values.tobytes()
    )


def finish_config_hash(
    h: hashlib._Hash,
    fleet: Fleet,
    policy: Policy,
    cost_source: str,
    prefix: tuple[list, Any] | None = None,
) -> str:
    """``h`` (fed the trace's requests, outcomes and scores) completed with the fleet, the
    policy and the options that change records, as the 16-digit ``config_hash``; ``prefix``:
    the trace's prefix-block lists and block size, when a tier caches prefixes."""
    h.update(repr(fleet.tiers).encode())
    h.update(repr(policy).encode())
    # options that change the records only when used enter the hash only then
    for t in fleet.tiers:
        lb = getattr(t.endpoint, "load_balancer", "least_outstanding")
        if lb != "least_outstanding":
            h.update(f"load_balancer:{t.name}={lb}".encode())
        if t.over_context != "serve":
            h.update(f"context:{t.name}={t.context_window},{t.over_context}".encode())
        if getattr(t.endpoint, "prefix_cache", False):
            h.update(f"prefix_cache:{t.name}={t.endpoint.prefix_cache_tokens}".encode())
    if prefix is not None:
        h.update(repr(prefix[0]).encode())
        h.update(repr(prefix[1]).encode())
    if cost_source != "catalog":
        h.update(f"cost_source={cost_source}".encode())
    return h.hexdigest()[:16]


def _config_hash(trace: Trace, fleet: Fleet, policy: Policy, cost_source: str) -> str:
    h = hashlib.sha256()
    hash_trace(h, trace.requests, trace.outcomes)
    if trace.scores is not None:
        h.update(pd.util.hash_pandas_object(trace.scores, index=False).values.tobytes())
    prefix = None
    if PREFIX_BLOCKS_COLUMN in trace.requests.columns and any(
        getattr(t.endpoint, "prefix_cache", False) for t in fleet.tiers
    ):
        prefix = (
            trace.requests[PREFIX_BLOCKS_COLUMN].tolist(),
            trace.meta.get("prefix_block_size"),
        )
    return finish_config_hash(h, fleet, policy, cost_source, prefix)


def _versions() -> dict[str, str]:
    return {
        "simkit": __version__,
        "simpy": simpy.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _check_inputs(trace: Trace, fleet: Fleet, policy: Policy) -> None:
    """Types of the three inputs, and the policy's own ``check`` against this fleet and trace."""
    if not isinstance(trace, Trace):
        raise SimulationError(f"trace must be a simkit Trace, got {type(trace).__name__}")
    check_fleet_and_policy(fleet, policy, trace.score_names)
    check_prefix_column(fleet, PREFIX_BLOCKS_COLUMN in trace.requests.columns, trace.where)


def check_fleet_and_policy(fleet: Fleet, policy: Policy, score_names: tuple[str, ...]) -> None:
    """Types of the fleet and the policy, and the policy's own ``check`` against the fleet
    and the trace's score columns."""
    if not isinstance(fleet, Fleet):
        raise SimulationError(f"fleet must be a simkit Fleet, got {type(fleet).__name__}")
    if not callable(getattr(policy, "route", None)):
        raise PolicyError("policy", problem=f"expected an object with route(), got {policy!r}")
    check = getattr(policy, "check", None)
    if check is not None:
        check(fleet.tier_names, score_names)


def check_prefix_column(fleet: Fleet, has_column: bool, where: str) -> None:
    """A tier with ``prefix_cache`` needs the trace's prefix-block column."""
    cached = [t.name for t in fleet.tiers if getattr(t.endpoint, "prefix_cache", False)]
    if cached and not has_column:
        raise SpecError(
            f"fleet {fleet.name!r}",
            key=f"tiers.{cached[0]}.prefix_cache",
            problem=f"is true but trace {where!r} has no {PREFIX_BLOCKS_COLUMN!r} column "
            "(each request's prefix-block ids), so the cache could never hit",
            hint="load the trace with a 'prefix_blocks' column mapping (and "
            "'prefix_block_size'), or set prefix_cache: false",
        )


def run_meta(
    trace_name: str,
    config_hash: str,
    fleet: Fleet,
    policy: Policy,
    run: Run,
    seed: int,
    run_id: int,
    cost_source: str,
) -> dict:
    """What the run was (seed, config hash, policy and its parameters, cost source), its event
    counts and its context-window counts (``simulate`` and ``simulate_stream`` alike)."""
    gpu_steps, preemptions = run.gpu_counts()
    return {
        "seed": int(seed),
        "run_id": int(run_id),
        "config_hash": config_hash,
        "policy": type(policy).__name__,
        "policy_params": json.loads(json.dumps(policy_params(policy), default=repr)),
        "fleet": fleet.name,
        "trace": trace_name,
        "n_events": run.events(),
        "gpu_steps": int(gpu_steps),
        "preemptions": int(preemptions),
        "versions": _versions(),
        "cost_source": cost_source,
        "context": run.context_counts(),
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
    cost_source: str = "catalog",
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
        A tier's quality model has no outcomes in the trace, or a tier has a prefix cache and
        the trace no ``prefix_blocks``.
    PolicyError
        The policy cannot work with this fleet or trace, or returned an unknown tier.
    TraceError
        ``cost_source="observed"`` and a request completed on an API tier whose model has no
        recorded cost for it.
    SimulationError
        Missing request lengths, or a request left unfinished (a bug: every request ends
        completed or failed with a reason).

    Notes
    -----
    A tier with ``over_context`` ``"fail"`` or ``"truncate"`` enforces its
    ``context_window`` (:class:`simkit.fleet.Tier`): refused attempts fail with
    ``fail_reason='context_exceeded'``; truncated ones are served shorter. ``meta["context"]``
    counts both per tier (``exceeded``, ``truncated``, ``truncated_prompt_tokens``).

    A GPU tier with ``prefix_cache`` (:class:`simkit.fleet.GpuServer`) needs the trace's
    ``prefix_blocks`` column (:mod:`simkit.trace.prefix`; else :class:`SpecError`); its
    replicas skip the prefill of cached leading blocks (:mod:`simkit.sim.prefix`) and the
    endpoint rows count ``prefix_lookup_blocks``, ``prefix_hit_blocks`` and
    ``prefix_saved_tokens``.
    """
    _check_inputs(trace, fleet, policy)
    check_cost_source(cost_source, where="simulate")
    table = RequestTable(trace, fleet, allow_missing_quality, sensitive_tag)

    def replayed(by_tier: bool) -> Run:
        run = Run(fleet, policy, seed, table, progress, decode_fast_forward, cost_source)
        try:
            replay_by_tier(run) if by_tier else run.replay()
        finally:
            run.close_bar()
        return run

    run = None
    if replays_by_tier(fleet, policy):
        try:
            run = replayed(by_tier=True)
        except TieFound:
            pass  # an exact tie between tiers' events: the event run orders it
    if run is None:
        run = replayed(by_tier=False)
    if run.n_done != run.n:
        lost = [table.ids[i] for i in range(run.n) if run.end[i] != run.end[i]]
        raise SimulationError(
            f"{run.n - run.n_done} requests did not finish (first: {lost[:3]}); this is a bug in "
            "the simulator, please report it with the fleet spec"
        )
    requests, endpoints, horizon = run.to_frames(run_id)
    meta = run_meta(
        str(trace.meta.get("name", trace.where)),
        _config_hash(trace, fleet, policy, cost_source),
        fleet,
        policy,
        run,
        seed,
        run_id,
        cost_source,
    )
    return Records(
        requests=requests, endpoints=endpoints, horizon_s=horizon, meta=MappingProxyType(meta)
    )
