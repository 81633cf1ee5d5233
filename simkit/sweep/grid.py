"""``sweep()``: full simulations over policies x parameters x seeds, in parallel, into one tidy
DataFrame (one row per run).

Runs execute on joblib's ``loky`` processes on this host (default), or on a Dask
``distributed`` or Ray cluster (``backend="dask"``/``"ray"``, ``address=`` an existing one):
see :mod:`simkit.sweep.backends`. The trace and fleet go to each worker once; each task is one
``simulate()`` call returning a small summary dict, and with ``keep_records=True`` also the
run's record and endpoint tables. Results are identical whatever the backend and ``n_jobs``,
and identical to a serial loop of ``simulate(trace, fleet, policy, seed=seed, run_id=run_id)``
over the same runs: every run is seeded by its own ``seed`` and numbered by its position
(policy-major, seed-minor). With ``out=`` each finished run is written at once and
``resume=True`` skips the runs already there.

This is the one loop over simulations in simkit: :class:`simkit.study.Study`, ``simkit
report``, ``simkit demo`` and ``simkit sweep`` all run their simulations through
:func:`sweep`.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import pandas as pd

from simkit.errors import PolicyError, SpecError
from simkit.fleet.costs import check_cost_source
from simkit.fleet.spec import Fleet
from simkit.metrics import DEFAULT_SLO_TTFT_S, summarize_runs
from simkit.policies import build_policy, policy_name, policy_params
from simkit.policies.grammar import join_policy, split_policy
from simkit.sim import simulate
from simkit.sweep.backends import check_backend, run_tasks
from simkit.sweep.store import RunStore
from simkit.trace.core import Trace

__all__ = ["SweepResult", "expand_grid", "grid_per_policy", "sweep"]

#: ``progress(done, total)``: called in this process after each run, in run order.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class SweepResult:
    """What :func:`sweep` returns with ``keep_records=True``.

    Attributes
    ----------
    runs : DataFrame
        One row per run: what :func:`sweep` returns without ``keep_records``.
    records : DataFrame
        Every run's :attr:`simkit.sim.Records.requests`, concatenated in ``run_id`` order
        (the ``run_id`` column tells the runs apart).
    endpoints : DataFrame
        Every run's :attr:`simkit.sim.Records.endpoints`, concatenated the same way.
    """

    runs: pd.DataFrame
    records: pd.DataFrame
    endpoints: pd.DataFrame


def _grid_params(spec: str) -> tuple[str, list[str]]:
    """The outermost policy's name in ``spec`` and its parameter names (none for an unknown
    name; a threshold takes any key, since its shorthand names the score)."""
    import dataclasses

    from simkit.policies import POLICIES

    name = split_policy(spec)[0].name
    cls = POLICIES.get(name)
    if cls is None:
        return name, []
    return name, [f.name for f in dataclasses.fields(cls) if f.init and f.name != "base"]


def grid_per_policy(
    policies: Sequence[str],
    grid: Mapping[str, Sequence[Any]],
    *,
    where: str = "grid",
    policies_name: str = "policy",
) -> dict[str, dict[str, Sequence[Any]]]:
    """Which keys of ``grid`` vary each policy: those naming a parameter of its outermost
    policy (dotted keys by their first part; a threshold takes every key). ``where`` and
    ``policies_name`` name the grid and the policies in the error (the CLI: ``--grid``,
    ``--policy``).

    Raises
    ------
    PolicyError
        A key that is a parameter of none of ``policies``, listing each policy's parameters.
    """
    per_policy: dict[str, dict[str, Sequence[Any]]] = {}
    for spec in policies:
        name, params = _grid_params(spec)
        if name == "threshold":
            per_policy[spec] = dict(grid)
        else:
            per_policy[spec] = {k: v for k, v in grid.items() if k.split(".")[0] in params}
    used = {k for g in per_policy.values() for k in g}
    unknown = [k for k in grid if k not in used]
    if unknown:
        listing = []
        for spec in policies:
            name, params = _grid_params(spec)
            listing.append(f"{name}: {', '.join(params) or '(none)'}")
        raise PolicyError(
            where,
            key=unknown[0],
            problem=f"not a parameter of any {policies_name}; " + "; ".join(listing),
        )
    return per_policy


def expand_grid(
    base: str | Mapping[str, Any], grid: Mapping[str, Sequence[Any]] | None = None
) -> list[Any]:
    """Policy specs for every combination of ``grid`` values applied to ``base``.

    ``expand_grid("threshold:p_hard=0.5", {"p_hard": [0.3, 0.5, 0.7]})`` gives three threshold
    specs; keys may be dotted (``cutoffs.frontier``) as in policy strings. In a ``>`` chain the
    keys set the outermost policy's parameters (``spillover:max_wait_s=1>static:tier=gpu``
    with ``{"max_wait_s": [0.5, 2]}`` keeps the ``static`` base).
    """
    if not grid:
        return [base]
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        if isinstance(base, str):
            outer, *inner = split_policy(base)
            outer = outer.with_values(dict(zip(keys, values, strict=True)))
            out.append(join_policy([outer, *inner]))
        else:
            spec = dict(base)
            for k, v in zip(keys, values, strict=True):
                target = spec
                *parents, leaf = k.split(".")
                for p in parents:
                    target = target.setdefault(p, {})
                target[leaf] = v
            out.append(spec)
    return out


def _one(
    trace: Trace,
    fleet: Fleet,
    spec: Any,
    label: str,
    seed: int,
    run_id: int,
    options: Mapping[str, Any],
    trace_label: str | None = None,
) -> tuple[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]:
    policy = build_policy(spec, fleet=fleet, trace=trace)
    records = simulate(
        trace, fleet, policy, seed=seed, run_id=run_id, cost_source=options["cost_source"]
    )
    row: dict[str, Any] = {"run_id": run_id}
    if trace_label is not None:
        row["trace"] = trace_label
    row |= {
        "policy": label,
        "policy_name": policy_name(policy),
        "seed": seed,
        "cost_source": options["cost_source"],
    }
    for k, v in policy_params(policy).items():
        if k in ("base", "quality"):
            continue
        row[f"param_{k}"] = (
            v if isinstance(v, (int, float, str, bool, type(None))) else json.dumps(v, default=repr)
        )
    summary = summarize_runs(
        records.requests,
        records.endpoints,
        slo_ttft_s=options.get("slo_ttft_s", DEFAULT_SLO_TTFT_S),
    )
    # to_dict("records") keeps each column's type: counts stay int
    row.update({k: v for k, v in summary.to_dict(orient="records")[0].items() if k != "run_id"})
    context = records.meta["context"].values()
    row["n_context_truncated"] = sum(c["truncated"] for c in context)
    row["config_hash"] = records.meta["config_hash"]
    if options["keep_records"]:
        return row, records.requests, records.endpoints
    return row, None, None


@overload
def sweep(
    trace: Trace | Mapping[str, Trace],
    fleet: Fleet,
    policies: Iterable[Any] | Mapping[str, Any],
    *,
    seeds: Sequence[int] = ...,
    n_jobs: int = ...,
    slo_ttft_s: float = ...,
    progress: bool | Progress = ...,
    keep_records: Literal[False] = ...,
    cost_source: str = ...,
    backend: str = ...,
    address: str | None = ...,
    out: str | Path | None = ...,
    resume: bool = ...,
) -> pd.DataFrame: ...


@overload
def sweep(
    trace: Trace | Mapping[str, Trace],
    fleet: Fleet,
    policies: Iterable[Any] | Mapping[str, Any],
    *,
    seeds: Sequence[int] = ...,
    n_jobs: int = ...,
    slo_ttft_s: float = ...,
    progress: bool | Progress = ...,
    keep_records: Literal[True],
    cost_source: str = ...,
    backend: str = ...,
    address: str | None = ...,
    out: None = ...,
    resume: bool = ...,
) -> SweepResult: ...


def sweep(
    trace: Trace | Mapping[str, Trace],
    fleet: Fleet,
    policies: Iterable[Any] | Mapping[str, Any],
    *,
    seeds: Sequence[int] = (0,),
    n_jobs: int = 1,
    slo_ttft_s: float = DEFAULT_SLO_TTFT_S,
    progress: bool | Progress = False,
    keep_records: bool = False,
    cost_source: str = "catalog",
    backend: str = "loky",
    address: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
) -> pd.DataFrame | SweepResult:
    """Simulate every policy under every seed; one row per run.

    Parameters
    ----------
    trace : Trace, or mapping label -> Trace
        With a mapping, every policy runs on every trace (e.g. the same requests at several
        arrival rates); the rows then carry the trace's label in a ``trace`` column and are
        numbered trace-major.
    fleet : Fleet
    policies : iterable or mapping
        Policy objects or specs (strings, mappings; see :func:`simkit.policies.build_policy`),
        or a mapping label -> policy. Use :func:`expand_grid` for parameter grids.
    seeds : sequence of int
        Every policy runs once per seed.
    n_jobs : int
        Workers on this host (``-1``: all cores): loky's processes, or the size of the local
        Dask/Ray cluster started when ``backend`` is ``"dask"``/``"ray"`` without ``address``.
    slo_ttft_s : float
        TTFT bound for the ``slo_attainment`` column.
    progress : bool or callable(done, total)
        True: a progress bar across the grid on stderr (tqdm); a callable is called in this
        process as each run finishes (``done`` counts runs finished, resumed ones included).
    keep_records : bool, default False
        Also return every run's record and endpoint tables (:class:`SweepResult`).
    cost_source : {"catalog", "observed"}, default "catalog"
        Passed to :func:`simkit.simulate`: price API tiers by the catalog or by the costs the
        trace recorded (:mod:`simkit.fleet.costs`).
    backend : {"loky", "dask", "ray"}, default "loky"
        Where the runs execute (:mod:`simkit.sweep.backends`); the same rows on each.
    address : str, optional
        An existing cluster: a Dask scheduler (``tcp://host:8786``) or a Ray address
        (``ray://host:10001``, ``auto``). Without it Dask/Ray start a local cluster.
    out : path, optional
        A folder that receives each run's row as soon as the run finishes
        (``run-000042.json``, written atomically), so an interrupted sweep keeps what finished.
    resume : bool, default False
        With ``out``: load the runs already in the folder and run only the others; the table
        is the one an uninterrupted sweep gives.

    Returns
    -------
    DataFrame, or SweepResult with ``keep_records=True``
        ``run_id``, ``policy`` (label), ``policy_name``, ``seed``, ``cost_source`` (which
        prices the cost columns used), ``param_<name>`` columns,
        then the per-run numbers of :func:`simkit.metrics.summarize_runs` (cost incl. GPU
        rental over the horizon, monthly cost, quality, latency percentiles, SLO attainment,
        tier shares, privacy violations, requests refused over a context window...),
        ``n_context_truncated`` (attempts truncated to a context window, from
        ``Records.meta["context"]``), sorted by ``run_id`` (policy-major, seed-minor;
        trace-major before that when ``trace`` is a mapping).

    Raises
    ------
    SpecError
        No policies or no seeds.
    PolicyError
        A bad policy spec, or one that does not fit the fleet or the trace's scores: raised
        before any run.
    BackendError
        Unknown backend, its package missing, or no cluster at ``address``.
    SpecError
        ``out`` holds runs of another sweep, or finished runs without ``resume``.
    """
    if isinstance(policies, Mapping):
        items = list(policies.items())
    else:
        items = [
            (p if isinstance(p, str) else policy_name(p) if hasattr(p, "route") else str(p), p)
            for p in policies
        ]
    seeds = [int(s) for s in seeds]
    traces = list(trace.items()) if isinstance(trace, Mapping) else [(None, trace)]
    if not items or not seeds or not traces:
        raise SpecError(
            "sweep",
            key="policies" if not items else "seeds" if not seeds else "trace",
            problem="empty; give at least one",
        )
    tasks = [
        (trace_label, t, label, spec, seed, run_id)
        for run_id, ((trace_label, t), (label, spec), seed) in enumerate(
            itertools.product(traces, items, seeds)
        )
    ]
    check_cost_source(cost_source, where="sweep")
    options = {
        "slo_ttft_s": slo_ttft_s,
        "keep_records": bool(keep_records),
        "cost_source": cost_source,
    }
    for _, t, _, spec, _, _ in tasks[:: len(seeds)]:  # fail fast, in this process, on a bad spec
        policy = build_policy(spec, fleet=fleet, trace=t)
        check = getattr(policy, "check", None)
        if check is not None:
            check(fleet.tier_names, t.score_names)
    check_backend(backend, address)
    if out is not None and keep_records:
        raise SpecError(
            "sweep",
            key="out",
            problem="per-run files keep each run's row, not its records; "
            "use keep_records=False with out",
        )
    store = None if out is None else RunStore(out, _sweep_key(tasks, fleet, options), resume)
    finished = {} if store is None else store.finished()
    todo = [task for task in tasks if task[5] not in finished]
    index = {label: i for i, (label, _) in enumerate(traces)}
    shared = [fleet, tuple(t for _, t in traces)]
    work = [
        (index[trace_label], spec, label, seed, run_id, options, trace_label)
        for trace_label, _, label, spec, seed, run_id in todo
    ]
    bar = None
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), initial=len(finished), unit="run", file=sys.stderr)
    report = progress if callable(progress) else None
    rows: dict[int, dict[str, Any]] = dict(finished)
    records: dict[int, pd.DataFrame | None] = {}
    endpoints: dict[int, pd.DataFrame | None] = {}
    try:
        for _, (row, rec, ep) in run_tasks(
            _run, shared, work, backend=backend, n_jobs=n_jobs, address=address
        ):
            run_id = row["run_id"]
            if store is not None:
                store.write(row)
            rows[run_id], records[run_id], endpoints[run_id] = row, rec, ep
            if bar is not None:
                bar.update(1)
            if report is not None:
                report(len(rows), len(tasks))
    finally:
        if bar is not None:
            bar.close()
    order = sorted(rows)
    # rows in run order before the frame is built: its columns come out the same whatever order
    # the runs finished in
    runs = pd.DataFrame([rows[i] for i in order])
    if not keep_records:
        return runs
    return SweepResult(
        runs=runs,
        records=pd.concat([records[i] for i in order], ignore_index=True),
        endpoints=pd.concat([endpoints[i] for i in order], ignore_index=True),
    )


def _run(
    fleet: Fleet,
    traces: tuple[Trace, ...],
    trace_index: int,
    spec: Any,
    label: str,
    seed: int,
    run_id: int,
    options: Mapping[str, Any],
    trace_label: str | None,
) -> tuple[dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]:
    """One task on a worker: the fleet and traces arrive once per worker (see
    :mod:`simkit.sweep.backends`), the rest per run."""
    return _one(traces[trace_index], fleet, spec, label, seed, run_id, options, trace_label)


def _sweep_key(tasks: list[tuple], fleet: Fleet, options: Mapping[str, Any]) -> str:
    """A digest of what a sweep runs (runs, policies, seeds, traces' sizes, fleet tiers, options):
    ``resume`` refuses a folder written by a different sweep."""
    import hashlib

    described = [
        [
            trace_label,
            len(t.requests),
            label,
            spec if isinstance(spec, (str, int, float)) else repr(spec),
            seed,
            run_id,
        ]
        for trace_label, t, label, spec, seed, run_id in tasks
    ]
    payload = json.dumps(
        [described, list(fleet.tier_names), {k: options[k] for k in sorted(options)}],
        sort_keys=True,
        default=repr,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
