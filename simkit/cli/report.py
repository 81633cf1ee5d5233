"""``simkit report``: a standalone HTML report (charts work offline) and PNGs."""

from __future__ import annotations

import argparse
import sys

from simkit import __version__
from simkit.cli.options import (
    add_cost_source_arg,
    add_slo_arg,
    check_output_dir,
    check_output_file,
    parse_assignment,
    parse_numbers,
    parse_seeds,
)

_REPORT_EXAMPLES = """examples:
  simkit report --trace scored/routellm_azure --out report.html --png-dir report-png
  simkit report --trace scored/routellm_azure --cutoff frontier=0.8 --cutoff hosted=0.6 \\
      --requests-per-month 5e6 --slo-ttft-s 0.5 --seeds 0,1,2 --out report.html

The trace needs a routing score column (--score, default p_hard), e.g. from the classifier.
The report is one HTML file with every script inline: it opens offline, anywhere.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a standalone HTML report (charts work offline) and PNGs",
        description="Simulate the standard policies on a scored trace over a fleet and write "
        "one self-contained HTML file: policies compared, cost vs quality with the Pareto "
        "frontier, the RouteLLM-style curve, latency CDFs per tier, self-hosted capacity, "
        "monthly cost vs volume with crossovers. Optionally one PNG per chart.",
        epilog=_REPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory with a score")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--score", default="p_hard", help="the trace's score column (default p_hard)")
    p.add_argument(
        "--cutoff",
        action="append",
        default=[],
        metavar="TIER=SCORE",
        help="the 'chosen' threshold policy: minimum score per tier above the cheapest "
        "(repeatable, e.g. --cutoff frontier=0.8 --cutoff hosted=0.6; default: the cut-offs "
        "that send 20%% of this trace's requests to the frontier and 20%% to each tier "
        "between it and the cheapest, so every tier gets traffic)",
    )
    p.add_argument(
        "--frontier-shares",
        default="0.1,0.2,0.3",
        help="frontier shares of the threshold policies simulated (default 0.1,0.2,0.3)",
    )
    p.add_argument(
        "--requests-per-month",
        type=float,
        default=None,
        help="simulate at this volume (arrivals rescaled; default: the trace's own rate)",
    )
    add_slo_arg(p)
    add_cost_source_arg(p)
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="parallel simulations (joblib workers; default -1: one per core; the report is "
        "the same for any value)",
    )
    p.add_argument(
        "--n-requests", type=int, default=None, help="use only the first N requests of the trace"
    )
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--png-dir", default=None, help="also write one PNG per chart here")
    p.add_argument("--title", default=None, help="report title")
    p.set_defaults(func=_run_report)


#: Share of the trace's requests the default 'chosen' policy sends to each tier above the
#: cheapest (the frontier and every tier between): all tiers get traffic.
DEFAULT_TIER_SHARE = 0.2


def default_cutoffs(study) -> dict[str, float]:  # noqa: ANN001
    """Cut-offs sending :data:`DEFAULT_TIER_SHARE` of the trace to each tier above the
    cheapest (as many as fit: with more than four such tiers the shares shrink to fit)."""
    upper = study.tiers[1:]
    share = min(DEFAULT_TIER_SHARE, 0.8 / len(upper))
    return study.cutoffs_for_shares(dict.fromkeys(upper, share))


def _run_report(args: argparse.Namespace) -> int:
    import shlex

    from simkit.fleet import load_fleet
    from simkit.study import Study
    from simkit.trace import load_trace, window
    from simkit.viz import study_report_sections, write_report

    cutoffs = dict(parse_assignment(item, "--cutoff", "TIER=SCORE", float) for item in args.cutoff)
    seeds = parse_seeds(args.seeds)
    shares = parse_numbers(args.frontier_shares, "--frontier-shares", float)
    check_output_file(args.out, "--out")
    check_output_dir(args.png_dir, "--png-dir")
    trace = load_trace(args.trace)
    trace = window(trace, n_requests=args.n_requests)
    fleet = load_fleet(args.fleet)
    study = Study.prepare(trace, fleet, score=args.score, cost_source=args.cost_source)
    if not cutoffs:
        cutoffs = default_cutoffs(study)

    def progress(done: int, total: int) -> None:
        print(f"\rsimulating: {done}/{total} runs", end="", file=sys.stderr, flush=True)

    results = study.report_results(
        cutoffs=cutoffs or None,
        frontier_shares=shares,
        requests_per_month=args.requests_per_month,
        slo_ttft_s=args.slo_ttft_s,
        seeds=seeds,
        n_jobs=args.n_jobs,
        progress=progress,
    )
    print(file=sys.stderr)
    name = trace.meta.get("name", args.trace)
    licences = trace.meta.get("licences")
    cite = trace.meta.get("attribution")
    footer = [
        f"Generated by simkit {__version__}: simkit report "
        + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        f"Trace {name}: {trace.n_requests:,} requests. Fleet: {fleet.name} ({fleet.source}).",
    ]
    if licences:
        # the licences may already carry the citation: print it once
        cited = bool(cite) and str(cite) in str(licences)
        footer.append(
            f"Data licences: {licences}." + (f" Cite {cite}." if cite and not cited else "")
        )
    files = write_report(
        study_report_sections(results),
        args.out,
        title=args.title or f"Routing report: {name}",
        intro=(
            f"{trace.n_requests:,} requests of {name}, routed by the score '{args.score}' over "
            f"the fleet '{fleet.name}' ({', '.join(fleet.tier_names)}), simulated at "
            f"{results.requests_per_month:,.0f} requests per month. Costs: "
            + (
                "API tiers at the costs the trace recorded per request (observed)."
                if args.cost_source == "observed"
                else "API tiers at catalog token prices."
            )
        ),
        footer="\n\n".join(footer),
        png_dir=args.png_dir,
    )
    for f in files:
        print(f"wrote {f}")
    return 0
