"""``simkit replay``: one policy over a fleet on a trace, the headline numbers."""

from __future__ import annotations

import argparse

from simkit.cli.options import POLICY_HELP, add_slo_arg, add_window_args, load_window, readable


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="simulate one policy over a fleet on a trace and print the headline numbers",
        description="Replay a trace through a routing policy over a simulated fleet (SimPy) and "
        "print cost, quality, latency and tier shares.",
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--policy", required=True, help=POLICY_HELP)
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    add_slo_arg(p)
    p.add_argument(
        "--records", default=None, help="also write the per-request records to this Parquet file"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")
    add_window_args(p)
    p.set_defaults(func=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    import json

    from simkit.fleet import load_fleet
    from simkit.metrics import summarize_runs
    from simkit.policies import build_policy, policy_name
    from simkit.sim import simulate

    trace = load_window(args)
    fleet = load_fleet(args.fleet)
    policy = build_policy(args.policy, fleet=fleet, trace=trace)
    records = simulate(trace, fleet, policy, seed=args.seed, progress=not args.no_progress)
    if args.records:
        records.requests.to_parquet(args.records, index=False)
    summary = {"policy": args.policy, "policy_name": policy_name(policy), "seed": args.seed}
    row = summarize_runs(records.requests, records.endpoints, slo_ttft_s=args.slo_ttft_s).iloc[0]
    summary.update(
        {
            k: (v.item() if hasattr(v, "item") else v)
            for k, v in row.to_dict().items()
            if k != "run_id"
        }
    )
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        # the same keys as --json, in the same order; fractions as percentages
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            print(f"{k:<{width}}  {readable(k, v)}")
    return 0
