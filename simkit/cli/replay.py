"""``simkit replay``: one policy over a fleet on a trace, the headline numbers."""

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
    readable,
    seed_arg,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="simulate one policy over a fleet on a trace and print the headline numbers",
        description="Replay a trace through a routing policy over a simulated fleet (SimPy) and "
        "print cost, quality, latency and tier shares. The trace is read and the records written "
        "in chunks, so memory stays bounded however many requests it holds (build a "
        "production-sized one with `simkit trace repeat`); --in-memory loads it whole instead "
        "(the oracle policy needs that). Both give the same numbers and records.",
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--policy", required=True, help=POLICY_HELP)
    p.add_argument("--seed", type=seed_arg, default=0, help="root seed, >= 0 (default 0)")
    add_slo_arg(p)
    add_cost_source_arg(p)
    p.add_argument(
        "--records",
        default=None,
        help="also write the per-request records to this Parquet file (written chunk by chunk)",
    )
    p.add_argument(
        "--in-memory",
        action="store_true",
        help="load the whole trace and keep every record in memory instead of streaming "
        "(automatic for policies that need the whole trace, oracle, and for fleets with a "
        "prefix cache)",
    )
    p.add_argument(
        "--chunk-rows",
        type=_chunk_rows,
        default=None,
        help="requests read and records written per chunk when streaming (default 16384)",
    )
    p.add_argument(
        "--allow-missing-quality",
        action="store_true",
        help="replay a trace without quality outcomes for some tier (a timing-only log): "
        "cost and latency as usual, quality reported as unavailable",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")
    add_window_args(p)
    p.set_defaults(func=_run_replay)


def _chunk_rows(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _needs_trace(spec: str) -> bool:
    """Whether the policy spec (or a policy it wraps) is built from the whole trace."""
    from pathlib import Path

    from simkit.policies.grammar import parse_policy

    if Path(spec).suffix.lower() in (".yaml", ".yml"):
        return True  # a policy file: build it the general way
    data = parse_policy(spec)
    while isinstance(data, dict):
        if data.get("policy") == "oracle":
            return True
        data = data.get("base")
    return False


#: Summary keys about answer quality: unavailable (null) when some tier's quality is unknown.
_QUALITY_KEYS = ("mean_quality", "mean_quality_incl_failed", "apgr")


def _run_replay(args: argparse.Namespace) -> int:
    import math
    import sys

    from simkit.fleet import load_fleet
    from simkit.metrics import summarize_runs
    from simkit.policies import build_policy, policy_name
    from simkit.sim import simulate

    check_output_file(args.records, "--records", (".parquet",))
    fleet = load_fleet(args.fleet)
    prefix_cache = any(getattr(t.endpoint, "prefix_cache", False) for t in fleet.tiers)
    if args.in_memory or prefix_cache or _needs_trace(args.policy):
        trace = load_window(args)
        policy = build_policy(args.policy, fleet=fleet, trace=trace)
        models = set(trace.models)
        records = simulate(
            trace,
            fleet,
            policy,
            seed=args.seed,
            allow_missing_quality=args.allow_missing_quality,
            progress=not args.no_progress,
            cost_source=args.cost_source,
        )
        if args.records:
            try:
                records.requests.to_parquet(args.records, index=False)
            except OSError as exc:
                from simkit.errors import SpecError

                raise SpecError(
                    "--records", problem=f"cannot write {args.records} ({exc})"
                ) from None
        requests, endpoints = records.requests, records.endpoints
    else:
        from simkit.sim import simulate_stream
        from simkit.trace.stream import DEFAULT_CHUNK_ROWS

        policy = build_policy(args.policy, fleet=fleet)
        run = simulate_stream(
            args.trace,
            fleet,
            policy,
            seed=args.seed,
            records=args.records,
            chunk_rows=args.chunk_rows or DEFAULT_CHUNK_ROWS,
            n_requests=args.n_requests,
            rate_multiplier=args.rate_multiplier,
            allow_missing_quality=args.allow_missing_quality,
            progress=not args.no_progress,
            cost_source=args.cost_source,
        )
        models = run.models
        requests, endpoints = run.requests, run.endpoints
    missing = [t.name for t in fleet.tiers if t.quality_model not in models]
    summary = {
        "policy": args.policy,
        "policy_name": policy_name(policy),
        "seed": args.seed,
        "cost_source": args.cost_source,
    }
    table = summarize_runs(requests, endpoints, slo_ttft_s=args.slo_ttft_s)
    row = table.to_dict(orient="records")[0]  # per-column types: counts stay int
    summary.update(
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k != "run_id"}
    )
    ep = endpoints
    if ep["prefix_lookup_blocks"].sum() > 0:  # per replica, beside the per-tier summary keys
        from simkit.metrics import prefix_cache_stats

        stats = prefix_cache_stats(ep[ep["prefix_lookup_blocks"] > 0], by="replica")
        summary["prefix_cache_by_replica"] = {
            str(replica): {"hit_rate": float(r.hit_rate), "saved_tokens": int(r.saved_tokens)}
            for (_, _, replica), r in stats.iterrows()
        }
    used = [t for t in missing if (summary.get(f"share_{t}") or 0) > 0]
    if used:
        # a mean over the requests whose tier has outcomes is not the policy's quality
        for k in _QUALITY_KEYS:
            if k in summary:
                summary[k] = None
        summary["quality_unavailable_for"] = used
        print(
            f"simkit replay: note: the trace has no quality outcomes for tier(s) "
            f"{', '.join(used)}, which served requests; quality is reported as unavailable",
            file=sys.stderr,
        )
    monthly = summary.get("monthly_cost_usd")
    if isinstance(monthly, float) and not math.isfinite(monthly):
        print(
            "simkit replay: note: monthly cost is undefined: the replayed requests all arrive "
            "at one instant, so the trace has no arrival rate to extrapolate from",
            file=sys.stderr,
        )
    if args.json:
        print(dumps(summary, indent=2))
    else:
        # the same keys as --json, in the same order; fractions as percentages
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            if v is None:
                v = "unavailable"
            elif isinstance(v, list):
                v = ", ".join(map(str, v))
            elif isinstance(v, dict):  # prefix_cache_by_replica
                v = "; ".join(
                    f"{name}: {d['hit_rate']:.1%} hit, {d['saved_tokens']:,} tokens saved"
                    for name, d in v.items()
                )
            print(f"{k:<{width}}  {readable(k, v)}")
    return 0
