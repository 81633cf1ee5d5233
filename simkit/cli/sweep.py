"""``simkit sweep``: several policies x parameter grids x seeds, in parallel."""

from __future__ import annotations

import argparse

from simkit.cli.options import (
    POLICY_HELP,
    add_cost_source_arg,
    add_slo_arg,
    add_window_args,
    check_output_file,
    dumps,
    load_window,
    n_jobs_arg,
    parse_assignment,
    parse_list,
    parse_seeds,
    readable,
    yaml_scalar,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="simulate several policies x parameter grids x seeds in parallel",
        description="Run simulate() for every policy (each --policy, expanded over --grid) and "
        "seed, in parallel (joblib on this host, or a Dask or Ray cluster), and print or save one row per run.",
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--policy", action="append", required=True, help=POLICY_HELP + " (repeatable)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="expand every --policy over these values of KEY (repeatable; combined as a product)",
    )
    p.add_argument("--seeds", default="0", help="comma-separated seeds >= 0 (default 0)")
    p.add_argument(
        "--n-jobs", type=n_jobs_arg, default=-1, help="joblib workers (default -1: all cores)"
    )
    p.add_argument(
        "--backend",
        choices=["loky", "dask", "ray"],
        default="loky",
        help="where the runs execute: loky processes on this host (default), or a Dask or Ray "
        "cluster (pip install 'simkit[distributed]')",
    )
    p.add_argument(
        "--address",
        default=None,
        help="an existing cluster: a Dask scheduler (tcp://host:8786) or a Ray address "
        "(ray://host:10001, auto); without it --backend dask|ray starts a local one of "
        "--n-jobs workers",
    )
    add_slo_arg(p)
    add_cost_source_arg(p)
    p.add_argument(
        "--out",
        default=None,
        help="a .csv or .parquet file for the table (written at the end), or a folder that "
        "receives each run's row as it finishes (run-000042.json) and the table as runs.csv",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="with --out FOLDER: keep the runs already there and run only the others",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    add_window_args(p)
    p.set_defaults(func=_run_sweep)


def _run_sweep(args: argparse.Namespace) -> int:
    from simkit.errors import PolicyError
    from simkit.fleet import load_fleet
    from simkit.sweep import expand_grid, grid_per_policy, sweep

    grid = {}
    for item in args.grid:
        key, values = parse_assignment(item, "--grid", "KEY=V1,V2,...", str)
        if key in grid:
            raise PolicyError("--grid", key=key, problem="given twice; list all values once")
        grid[key] = parse_list(values, f"--grid {key}", yaml_scalar, "YAML values")
    seeds = parse_seeds(args.seeds)
    folder = _out_folder(args.out, args.resume)
    per_policy = grid_per_policy(args.policy, grid, where="--grid", policies_name="--policy")
    trace = load_window(args)
    fleet = load_fleet(args.fleet)
    specs = [s for p in args.policy for s in expand_grid(p, per_policy[p])]
    table = sweep(
        trace,
        fleet,
        specs,
        seeds=seeds,
        n_jobs=args.n_jobs,
        slo_ttft_s=args.slo_ttft_s,
        backend=args.backend,
        address=args.address,
        out=folder,
        resume=args.resume,
        progress=not args.no_progress,
        cost_source=args.cost_source,
    )
    shares = [c for c in table.columns if c.startswith("share_")]
    table[shares] = table[shares].fillna(0.0)  # a tier a run never used has share 0, not NaN
    if folder is not None:
        table.to_csv(f"{folder}/runs.csv", index=False)
    elif args.out:
        (table.to_parquet if args.out.endswith(".parquet") else table.to_csv)(args.out, index=False)
    if args.json:
        print(dumps(table.to_dict(orient="records"), indent=2))
    else:
        cols = [
            "policy",
            "seed",
            "cost_per_1k_usd",
            "monthly_cost_usd",
            "mean_quality",
            "p95_ttft_s",
            "slo_attainment",
            "privacy_violations",
        ] + [c for c in table.columns if c.startswith("share_")]
        shown = table[cols].copy()
        for c in cols:
            shown[c] = [readable(c, v) for v in shown[c]]
        print(shown.to_string(index=False))
        print(f"costs: {_COST_NOTE[args.cost_source]}")
    return 0


#: What the table's costs are, printed under it (``--json`` rows carry ``cost_source``).
_COST_NOTE = {
    "catalog": "catalog token prices (cost_source catalog)",
    "observed": "the trace's recorded per-request costs on API tiers (cost_source observed)",
}


def _out_folder(out: str | None, resume: bool) -> str | None:
    """``--out`` as a folder of per-run rows: an existing folder or a name without a suffix
    (None for no --out or a .csv/.parquet file).

    Raises
    ------
    SpecError
        ``--resume`` without a folder, or a file ``--out`` that cannot be written.
    """
    from pathlib import Path

    from simkit.errors import SpecError

    if out is not None and (Path(out).is_dir() or not Path(out).suffix):
        return out  # a folder: an existing one, or a name without a suffix
    if resume:
        raise SpecError(
            "--resume",
            problem="needs --out FOLDER (per-run rows to resume from), got "
            + (f"the file {out}" if out else "no --out"),
        )
    check_output_file(out, "--out", (".csv", ".parquet"))
    return None
