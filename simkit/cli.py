"""The ``simkit`` command line: argument parsing only; the work is done by library functions.

Each command group registers itself in :func:`build_parser`; a failing command prints the
:class:`~simkit.errors.SimkitError` message (which says where and what to do) and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simkit import __version__
from simkit.errors import SimkitError
from simkit.trace.convert import FORMATS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``simkit`` parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="simkit",
        description="Benchmark and simulate LLM model routers: replay request traces through "
        "routing policies over a simulated fleet and measure cost, quality and latency together.",
        epilog="Start with `simkit demo`. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"simkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_demo(sub)
    _add_trace(sub)
    _add_replay(sub)
    _add_sweep(sub)
    _add_prices(sub)
    _add_classifier(sub)
    _add_route(sub)
    _add_report(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simkit`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SimkitError as exc:
        print(f"simkit {args.command}: error: {exc}", file=sys.stderr)
        return 2


# --- demo -------------------------------------------------------------------------------------
def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the main job on the bundled traces and print the results",
        description=(
            "Summarise every bundled trace (requests, time span, tokens, models with mean "
            "quality and coverage, source and licence), then replay the first 4,000 requests "
            "of traces/routellm_azure (real GPT-4 / Mixtral outcomes on MMLU and GSM8K, Azure "
            "2023 arrivals) through ten routing policies on the shipped 3-tier fleet "
            "(frontier API, hosted open-model API, self-hosted Llama-3-70B) and print cost per "
            "1k requests, monthly cost, mean quality, APGR, p95 TTFT, SLO attainment and the "
            "share per tier; then the same requests 3x as fast. About 5 seconds on 2 cores."
        ),
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from simkit.demo import run_demo

    return run_demo()


# --- trace ------------------------------------------------------------------------------------
_CONVERT_EXAMPLES = """examples:
  # RouteLLM's outcome files, Arena-Bench-v1 and an Azure 2023 CSV, downloaded:
  simkit trace convert routellm/mmlu out/mmlu --format routellm-mmlu \\
      --arrivals replay:AzureLLMInferenceTrace_conv.csv
  simkit trace convert arena_bench_v1 out/arena --format arena \\
      --arrivals poisson:rate=0.5 --seed 1
  simkit trace convert routellm/gsm8k out/gsm8k --format routellm-gsm8k \\
      --arrivals replay:traces/azure_conv_2023 --rate-multiplier 2
  simkit trace convert AzureLLMInferenceTrace_code.csv out/code --format azure
  simkit trace convert prod.csv out/prod --format csv --mapping mapping.yaml \\
      --time-unit datetime --sort --drop-invalid
  simkit trace convert gateway.jsonl out/gw --format openai-log --sort

a mapping file (csv, jsonl, parquet) maps trace fields to your columns, e.g.:
  request_id: id
  arrival: ts
  prompt: prompt_text
  model: model
  outcome: {quality: grade, latency_s: latency, cost_usd: cost}
  flags: {sensitive: has_pii}
(see simkit.trace.loaders.generic for every key)

arrival processes (--arrivals): poisson:rate=R | bursty:rate=R,cv=C |
  diurnal:rate=R,amplitude=A,period=P,phase=F | replay:PATH (a trace directory or an Azure
  2023 CSV); --rate-multiplier scales any of them; --seed makes them (and the order) repeatable.
"""


def _add_trace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="inspect and convert traces")
    tsub = p.add_subparsers(dest="trace_command", metavar="TRACE_COMMAND")
    tsub.required = True
    ins = tsub.add_parser(
        "inspect",
        help="summarise a trace (requests, timing, tokens, models)",
        description="Summarise a simkit trace: requests, time span, arrival rate, prompt and "
        "output token statistics, and per model the mean quality and coverage.",
    )
    ins.add_argument("path", help="a simkit trace directory")
    ins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ins.set_defaults(func=_run_trace_inspect)

    conv = tsub.add_parser(
        "convert",
        help="convert a public dataset or your own log into a simkit trace",
        description="Read INPUT in one of the supported formats and write a simkit trace "
        "directory (trace.json + Parquet tables) to OUT_DIR.",
        epilog=_CONVERT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    conv.add_argument("input", help="input file or folder (see --format)")
    conv.add_argument("out_dir", help="output trace directory (created)")
    conv.add_argument("--format", required=True, choices=FORMATS, help="input format")
    conv.add_argument("--mapping", help="YAML column mapping (csv, jsonl, parquet)")
    conv.add_argument(
        "--time-unit",
        default="s",
        choices=["s", "ms", "us", "ns", "datetime"],
        help="what the mapped arrival column holds (csv, jsonl, parquet; default: s)",
    )
    conv.add_argument("--time-format", help="strftime format of non-ISO datetimes")
    conv.add_argument("--sort", action="store_true", help="sort rows by arrival time")
    conv.add_argument(
        "--drop-invalid",
        action="store_true",
        help="drop bad rows (count and reasons are reported) instead of failing",
    )
    conv.add_argument("--arrivals", help="attach arrivals from a process or a timing trace")
    conv.add_argument("--seed", type=int, default=0, help="seed for --arrivals (default 0)")
    conv.add_argument("--rate-multiplier", type=float, default=1.0, help="scale the arrival rate")
    conv.add_argument(
        "--order",
        default="shuffle",
        choices=["shuffle", "keep"],
        help="request order when attaching arrivals (default: seeded shuffle)",
    )
    conv.add_argument(
        "--replay-start",
        default="first",
        choices=["first", "random"],
        help="with --arrivals replay:...: start at the first row or at a seeded random row",
    )
    conv.add_argument(
        "--tokenizer",
        default="cl100k_base",
        help="offline tokenizer for counts the source lacks; 'none' to skip (default cl100k_base)",
    )
    conv.add_argument("--name", help="trace name recorded in its metadata")
    conv.set_defaults(func=_run_trace_convert)


def _run_trace_inspect(args: argparse.Namespace) -> int:
    import json

    from simkit.trace import load_trace
    from simkit.trace.summary import format_summary, summarize

    summary = summarize(load_trace(args.path))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


# --- replay / sweep / prices -------------------------------------------------------------------
_POLICY_HELP = (
    "policy spec: NAME or NAME:key=value,...; OUTER>INNER wraps (e.g. "
    "'privacy>fallback>threshold:p_hard=0.8/0.5'); a.b=v sets nested keys, x/y is a list; or a "
    "YAML file. Names: static, random, task, threshold, share, budget, cascade, spillover, "
    "fallback, privacy, oracle. Examples: static:tier=frontier, threshold:p_hard=0.7, "
    "random:weights.selfhosted=3,weights.frontier=1, cascade:judge_error=0.1, "
    "share:target_share=0.2,score=null, spillover:max_queued=64>static:tier=selfhosted"
)


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="simulate one policy over a fleet on a trace and print the headline numbers",
        description="Replay a trace through a routing policy over a simulated fleet (SimPy) and "
        "print cost, quality, latency and tier shares.",
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--policy", required=True, help=_POLICY_HELP)
    p.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    p.add_argument("--slo-ttft-s", type=float, default=2.0, help="TTFT SLO in seconds (default 2)")
    p.add_argument(
        "--records", default=None, help="also write the per-request records to this Parquet file"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_window_args(p)
    p.set_defaults(func=_run_replay)


def _add_window_args(p: argparse.ArgumentParser) -> None:
    """``--n-requests`` and ``--rate-multiplier`` (see :func:`simkit.trace.window`)."""
    p.add_argument("--n-requests", type=int, default=None, help="replay only the first N requests")
    p.add_argument(
        "--rate-multiplier",
        type=float,
        default=1.0,
        help="the same requests arriving X times as fast (arrival times / X): your volume",
    )


def _load_window(args: argparse.Namespace):  # noqa: ANN202
    from simkit.trace import load_trace, window

    return window(
        load_trace(args.trace), n_requests=args.n_requests, rate_multiplier=args.rate_multiplier
    )


def _run_replay(args: argparse.Namespace) -> int:
    import json

    from simkit.fleet import load_fleet
    from simkit.metrics import summarize_runs
    from simkit.policies import build_policy, policy_name
    from simkit.sim import simulate

    trace = _load_window(args)
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
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
    return 0


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="simulate several policies x parameter grids x seeds in parallel",
        description="Run simulate() for every policy (each --policy, expanded over --grid) and "
        "seed, in parallel with joblib, and print or save one row per run.",
    )
    p.add_argument("--trace", required=True, help="a simkit trace directory")
    p.add_argument("--fleet", default=None, help="fleet YAML (default: the shipped 3-tier fleet)")
    p.add_argument("--policy", action="append", required=True, help=_POLICY_HELP + " (repeatable)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="expand every --policy over these values of KEY (repeatable; combined as a product)",
    )
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--n-jobs", type=int, default=-1, help="joblib workers (default -1: all cores)")
    p.add_argument("--slo-ttft-s", type=float, default=2.0, help="TTFT SLO in seconds (default 2)")
    p.add_argument("--out", default=None, help="write the table to this .csv or .parquet file")
    p.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    _add_window_args(p)
    p.set_defaults(func=_run_sweep)


def _run_sweep(args: argparse.Namespace) -> int:
    import yaml

    from simkit.errors import PolicyError
    from simkit.fleet import load_fleet
    from simkit.sweep import expand_grid, sweep

    grid = {}
    for item in args.grid:
        key, eq, values = item.partition("=")
        if not eq or not key or not values:
            raise PolicyError("--grid", key=item, problem="expected KEY=V1,V2,...")
        grid[key] = [yaml.safe_load(v) for v in values.split(",")]
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise PolicyError(
            "--seeds", problem=f"expected comma-separated integers, got {args.seeds!r}"
        ) from None
    trace = _load_window(args)
    fleet = load_fleet(args.fleet)
    specs = [s for p in args.policy for s in expand_grid(p, _grid_for(p, grid))]
    table = sweep(trace, fleet, specs, seeds=seeds, n_jobs=args.n_jobs, slo_ttft_s=args.slo_ttft_s)
    if args.out:
        (table.to_parquet if args.out.endswith(".parquet") else table.to_csv)(args.out, index=False)
    if args.json:
        print(table.to_json(orient="records", indent=2))
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
        print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    return 0


def _grid_for(spec: str, grid: dict) -> dict:
    """The grid keys that are parameters of the outermost policy of ``spec`` (any key for a
    threshold, whose shorthand takes the score name)."""
    import dataclasses

    from simkit.policies import POLICIES

    cls = POLICIES.get(spec.split(">")[0].partition(":")[0].strip())
    if cls is None or cls.name == "threshold":
        return grid
    fields = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in grid.items() if k.split(".")[0] in fields}


#: The issue's default prices (USD per 1M input / output tokens) and where they come from.
ISSUE_DEFAULTS = (
    ("GPT-4o", "gpt-4o", None, 2.50, 10.00),
    ("Claude 3.5 Sonnet", "claude-3-5-sonnet", None, 3.00, 15.00),
    ("Llama 3 70B hosted", "llama3-70b-8192", "groq", 0.59, 0.79),
    ("Llama 3 70B hosted (HF id)", "meta-llama/Meta-Llama-3-70B-Instruct", None, 0.59, 0.79),
)


def _add_prices(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prices",
        help="look up model prices in the shipped price catalog",
        description="Resolve model names to USD per 1M input/output tokens through the shipped "
        "genai-prices snapshot (match rules, then aliases), with optional YAML overrides.",
    )
    p.add_argument(
        "models", nargs="*", help="model names, e.g. gpt-4o mistralai/Mixtral-8x7B-Instruct-v0.1"
    )
    p.add_argument("--provider", default=None, help="restrict to one provider (e.g. openai, groq)")
    p.add_argument(
        "--at", default=None, help="price in force on this date (YYYY-MM-DD); default: latest"
    )
    p.add_argument("--overrides", default=None, help="YAML with 'prices:' and 'aliases:' sections")
    p.add_argument(
        "--check-defaults",
        action="store_true",
        help="compare the issue's default prices with the catalog",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_prices)


def _run_prices(args: argparse.Namespace) -> int:
    import json
    from datetime import date

    from simkit.errors import PriceError
    from simkit.fleet.prices import PriceCatalog, load_price_overrides

    catalog = PriceCatalog.load()
    if args.overrides:
        catalog = load_price_overrides(args.overrides, catalog=catalog)
    try:
        at = date.fromisoformat(args.at) if args.at else None
    except ValueError:
        raise PriceError("--at", problem=f"expected YYYY-MM-DD, got {args.at!r}") from None
    rows = [catalog.resolve(m, provider=args.provider, at=at).as_dict() for m in args.models]
    if args.check_defaults:
        for label, model, provider, p_in, p_out in ISSUE_DEFAULTS:
            row = catalog.resolve(model, provider=provider, at=at).as_dict()
            row.update(
                label=label,
                issue_input_usd_per_mtok=p_in,
                issue_output_usd_per_mtok=p_out,
                matches_issue=(row["input_usd_per_mtok"], row["output_usd_per_mtok"])
                == (p_in, p_out),
            )
            rows.append(row)
    if not rows:
        raise PriceError(
            None, problem="give model names or --check-defaults", hint="e.g. simkit prices gpt-4o"
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        line = (
            f"{r['model']:<40} {r['input_usd_per_mtok']:>8.4g} {r['output_usd_per_mtok']:>8.4g}  "
            f"{r['resolved_by']}:{r['provider']}/{r['catalog_id']}"
        )
        if "matches_issue" in r:
            line += (
                f"  issue {r['issue_input_usd_per_mtok']:.2f}/{r['issue_output_usd_per_mtok']:.2f} "
                + ("same" if r["matches_issue"] else "DIFFERENT")
            )
        print(line)
    return 0


# --- report -----------------------------------------------------------------------------------
_REPORT_EXAMPLES = """examples:
  simkit report --trace scored/routellm_azure --out report.html --png-dir report-png
  simkit report --trace scored/routellm_azure --cutoff frontier=0.8 --cutoff hosted=0.6 \\
      --requests-per-month 5e6 --slo-ttft-s 0.5 --seeds 0,1,2 --out report.html

The trace needs a routing score column (--score, default p_hard), e.g. from the classifier.
The report is one HTML file with every script inline: it opens offline, anywhere.
"""


def _add_report(sub: argparse._SubParsersAction) -> None:
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
        "(repeatable, e.g. --cutoff frontier=0.8 --cutoff hosted=0.6)",
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
    p.add_argument("--slo-ttft-s", type=float, default=1.0, help="TTFT SLO in seconds (default 1)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument(
        "--n-requests", type=int, default=None, help="use only the first N requests of the trace"
    )
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--png-dir", default=None, help="also write one PNG per chart here")
    p.add_argument("--title", default=None, help="report title")
    p.set_defaults(func=_run_report)


def _numbers(text: str, option: str, kind: type, what: str | None = None) -> list:
    """Comma-separated numbers of ``kind``; a clear error naming ``option`` otherwise."""
    from simkit.errors import SpecError

    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = what or f"{kind.__name__}s"
        raise SpecError(option, problem=f"expected comma-separated {what}, got {text!r}") from None


def _run_report(args: argparse.Namespace) -> int:
    import shlex

    from simkit.errors import SpecError
    from simkit.fleet import load_fleet
    from simkit.study import Study
    from simkit.trace import load_trace, window
    from simkit.viz import study_report_sections, write_report

    cutoffs = {}
    for item in args.cutoff:
        tier, eq, value = item.partition("=")
        try:
            cutoffs[tier.strip()] = float(value)
        except ValueError:
            raise SpecError("--cutoff", key=item, problem="expected TIER=SCORE") from None
        if not eq or not tier.strip():
            raise SpecError("--cutoff", key=item, problem="expected TIER=SCORE")
    seeds = _numbers(args.seeds, "--seeds", int)
    shares = _numbers(args.frontier_shares, "--frontier-shares", float)
    trace = load_trace(args.trace)
    trace = window(trace, n_requests=args.n_requests)
    fleet = load_fleet(args.fleet)
    study = Study.prepare(trace, fleet, score=args.score)

    def progress(done: int, total: int) -> None:
        print(f"\rsimulating: {done}/{total} runs", end="", file=sys.stderr, flush=True)

    results = study.report_results(
        cutoffs=cutoffs or None,
        frontier_shares=shares,
        requests_per_month=args.requests_per_month,
        slo_ttft_s=args.slo_ttft_s,
        seeds=seeds,
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
        footer.append(f"Data licences: {licences}." + (f" Cite {cite}." if cite else ""))
    files = write_report(
        study_report_sections(results),
        args.out,
        title=args.title or f"Routing report: {name}",
        intro=(
            f"{trace.n_requests:,} requests of {name}, routed by the score '{args.score}' over "
            f"the fleet '{fleet.name}' ({', '.join(fleet.tier_names)}), simulated at "
            f"{results['requests_per_month']:,.0f} requests per month."
        ),
        footer="\n\n".join(footer),
        png_dir=args.png_dir,
    )
    for f in files:
        print(f"wrote {f}")
    return 0


def _run_trace_convert(args: argparse.Namespace) -> int:
    import warnings

    from simkit.trace import save_trace
    from simkit.trace.convert import convert

    tokenizer = None if args.tokenizer.lower() == "none" else args.tokenizer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = convert(
            args.input,
            args.format,
            mapping=args.mapping,
            time_unit=args.time_unit,
            time_format=args.time_format,
            sort=args.sort,
            drop_invalid=args.drop_invalid,
            tokenizer=tokenizer,
            arrivals=args.arrivals,
            seed=args.seed,
            rate_multiplier=args.rate_multiplier,
            order=args.order,
            replay_start=args.replay_start,
            name=args.name,
        )
    for w in caught:
        print(f"simkit trace convert: warning: {w.message}", file=sys.stderr)
    out = save_trace(trace, args.out_dir)
    print(f"wrote {out}: {trace!r}")
    return 0


# --- classifier -------------------------------------------------------------------------------
def _add_estimator_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--embedder",
        default="static",
        help="'static' (table distilled from the bundled MiniLM: the fast path, default), "
        "'static:FOLDER' (distilled from a local model), 'minilm' (the full all-MiniLM-L6-v2 "
        "transformer) or a local sentence-transformers FOLDER",
    )
    p.add_argument(
        "--head",
        default="logistic",
        choices=["logistic", "mlp", "knn", "hgb"],
        help="per-model estimator (default logistic)",
    )
    p.add_argument(
        "--no-text-features", action="store_true", help="embedding only, no cheap prompt features"
    )
    p.add_argument("--weak", default=None, help="the cheap model (default: from the trace)")
    p.add_argument("--strong", default=None, help="the strong model (default: from the trace)")
    p.add_argument("--seed", type=int, default=0, help="seed of folds and stochastic heads")
    p.add_argument("--cache-dir", default=None, help="embedding cache (default: ~/.cache/simkit)")


def _estimator(args: argparse.Namespace):
    from simkit.classify.embed import SentenceEmbedder, StaticEmbedder
    from simkit.classify.model import ComplexityClassifier

    if args.embedder == "static":
        embedder = StaticEmbedder(cache_dir=args.cache_dir)
    elif args.embedder.startswith("static:"):
        embedder = StaticEmbedder(args.embedder.removeprefix("static:"), cache_dir=args.cache_dir)
    elif args.embedder == "minilm":
        embedder = SentenceEmbedder(cache_dir=args.cache_dir)
    else:
        embedder = SentenceEmbedder(args.embedder, cache_dir=args.cache_dir)
    return ComplexityClassifier(
        embedder,
        text_features=not args.no_text_features,
        head=args.head,
        random_state=args.seed,
    )


def _add_classifier(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classifier",
        help="train, evaluate and export the complexity classifier",
        description="The complexity classifier: learn from a trace's per-model outcomes which "
        "requests need the strong model; evaluate it honestly; export a checksummed bundle.",
    )
    csub = p.add_subparsers(dest="classifier_command", metavar="CLASSIFIER_COMMAND")
    csub.required = True

    tr = csub.add_parser(
        "train",
        help="fit on a trace and write a bundle with thresholds for target strong shares",
        description="Fit the classifier on every request of TRACE and write a bundle to --out. "
        "Thresholds for each --share are calibrated on out-of-fold scores.",
    )
    tr.add_argument("trace", help="a simkit trace directory with prompts and outcomes")
    tr.add_argument("--out", required=True, help="bundle directory to write")
    tr.add_argument(
        "--shares",
        default="0.1,0.2,0.3,0.5",
        help="strong shares to calibrate thresholds for (default 0.1,0.2,0.3,0.5)",
    )
    tr.add_argument("--default-share", type=float, default=0.2, help="the router's default")
    _add_estimator_args(tr)
    tr.set_defaults(func=_run_classifier_train)

    ev = csub.add_parser(
        "evaluate",
        help="APGR, CPT(50%%), CPT(80%%) and AUC per benchmark: out-of-fold and transfer",
        description="Protocol cv: k-fold out-of-fold scores within each benchmark (source "
        "column), identical prompts in one fold. Protocol transfer: train on the other "
        "benchmarks, score this one. Printed next to the random router and RouteLLM's "
        "published routers (trained on other data: Arena battles plus augmentation).",
    )
    ev.add_argument("trace", help="a simkit trace directory with prompts and outcomes")
    ev.add_argument(
        "--protocol",
        action="append",
        choices=["cv", "transfer"],
        help="cv and/or transfer (repeatable; default both)",
    )
    ev.add_argument("--benchmark", action="append", help="only these sources (repeatable)")
    ev.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    ev.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="repeat the evaluation with fold seeds SEED, SEED+1, ... and report the mean and "
        "standard deviation over them (default 1; CPT on a benchmark of ~1,000 prompts moves "
        "a point or more between fold seeds)",
    )
    ev.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="resamples for the 95%% bootstrap intervals of APGR and CPT over requests "
        "(default 1000; 0 = none)",
    )
    ev.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_estimator_args(ev)
    ev.set_defaults(func=_run_classifier_evaluate)

    lc = csub.add_parser(
        "learning-curve",
        help="would more labelled traffic help? protocol cv trained on shares of each fold",
        description="Protocol cv with each fold's model trained on a fraction of its training "
        "prompts (the test folds stay whole): if APGR still rises and CPT still falls at the "
        "full training set, recording more outcomes of the same kind will improve the router.",
    )
    lc.add_argument("trace", help="a simkit trace directory with prompts and outcomes")
    lc.add_argument(
        "--fractions",
        default="0.25,0.5,0.75,1",
        help="shares of each training fold, comma separated (default 0.25,0.5,0.75,1)",
    )
    lc.add_argument("--benchmark", action="append", help="only these sources (repeatable)")
    lc.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    lc.add_argument(
        "--repeats", type=int, default=3, help="fold seeds SEED, SEED+1, ... (default 3)"
    )
    lc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_estimator_args(lc)
    lc.set_defaults(func=_run_classifier_learning_curve)

    ex = csub.add_parser(
        "export",
        help="re-export a bundle with thresholds calibrated on your traffic, metrics, a card",
        description="Copy BUNDLE to --out with new thresholds (calibrated on the prompts of "
        "--calibrate-on to a target strong share or a budget), metrics and/or card, and fresh "
        "checksums.",
    )
    ex.add_argument("bundle", help="a bundle directory")
    ex.add_argument("--out", required=True, help="the new bundle directory")
    ex.add_argument("--calibrate-on", default=None, help="trace whose prompts set the threshold")
    ex.add_argument("--share", type=float, default=None, help="target strong share, e.g. 0.2")
    ex.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        help="mean cost per request to stay within (needs --cheap-cost-usd, --strong-cost-usd)",
    )
    ex.add_argument("--cheap-cost-usd", type=float, default=None, help="cost of one cheap call")
    ex.add_argument("--strong-cost-usd", type=float, default=None, help="cost of one strong call")
    ex.add_argument("--metrics", default=None, help="JSON file to store as the bundle's metrics")
    ex.add_argument("--card", default=None, help="Markdown file to store as CARD.md")
    ex.set_defaults(func=_run_classifier_export)

    sc = csub.add_parser(
        "score",
        help="add the bundle's scores (p_hard, gain) to a trace directory",
        description="Score every prompt of TRACE with BUNDLE (cached) and write the trace "
        "with scores.parquet, for the simulator's threshold policies.",
    )
    sc.add_argument("trace", help="a simkit trace directory")
    sc.add_argument("--bundle", required=True, help="a bundle directory")
    sc.add_argument("--out", default=None, help="write here instead of updating TRACE in place")
    sc.add_argument("--cache-dir", default=None, help="score cache (default: ~/.cache/simkit)")
    sc.set_defaults(func=_run_classifier_score)


def _run_classifier_train(args: argparse.Namespace) -> int:
    from simkit.classify.train import train_bundle
    from simkit.trace import load_trace

    trace = load_trace(args.trace)
    result = train_bundle(
        trace,
        args.out,
        weak=args.weak,
        strong=args.strong,
        estimator=_estimator(args),
        shares=_numbers(args.shares, "--shares", float, "fractions"),
        default_share=args.default_share,
    )
    print(f"wrote {result.path} ({result.n_train} training requests", end="")
    print(f", {result.n_excluded} left out for a missing outcome)" if result.n_excluded else ")")
    for name, th in result.thresholds.items():
        print(f"  {name}: p_hard >= {th['p_hard']:.6f} (share {th['calibration_share']:.3f})")
    return 0


def _run_classifier_evaluate(args: argparse.Namespace) -> int:
    import json

    import pandas as pd

    from simkit.classify.train import two_models
    from simkit.errors import ClassifierError
    from simkit.evaluation import evaluate_classifier, seed_summary
    from simkit.trace import load_trace

    if args.repeats < 1:
        raise ClassifierError(f"--repeats must be >= 1, got {args.repeats}")
    if args.bootstrap != 0 and args.bootstrap < 2:
        raise ClassifierError(
            f"--bootstrap must be 0 (none) or >= 2 resamples, got {args.bootstrap}"
        )
    trace = load_trace(args.trace)
    weak, strong = two_models(trace, args.weak, args.strong)
    seeds = [args.seed + k for k in range(args.repeats)]
    results = []
    for seed in seeds:
        results.append(
            evaluate_classifier(
                trace,
                weak=weak,
                strong=strong,
                # the estimator's inner folds follow the fold seed
                estimator=_estimator(args).set_params(random_state=seed),
                protocols=args.protocol or ["cv", "transfer"],
                benchmarks=args.benchmark,
                n_splits=args.folds,
                seed=seed,
                n_bootstrap=args.bootstrap,
            )
        )
    summary = None
    if len(seeds) > 1:
        summary = seed_summary(
            pd.concat([r.metrics.assign(seed=s) for r, s in zip(results, seeds, strict=True)])
        )
    result = results[0]
    if args.json:
        payload = result.to_json()
        if summary is not None:
            payload["seeds"] = seeds
            payload["per_seed"] = {
                str(s): r.to_json()["metrics"] for r, s in zip(results, seeds, strict=True)
            }
            payload["over_seeds"] = summary.to_dict("records")
        print(json.dumps(payload, indent=2))
        return 0
    print(f"weak {weak}, strong {strong}; CPT = strong-call share needed for that PGR")
    if args.bootstrap:
        print("[lo, hi]: 95% bootstrap interval over requests (scores fixed)")
    print(f"{'benchmark':<10} {'protocol':<9} {'router':<11} {'seed':>4} {'APGR':>7} "
          f"{'[lo, hi]':>15} {'CPT50':>7} {'[lo, hi]':>15} {'CPT80':>7} {'AUC':>7} {'n':>6}")  # fmt: skip
    for res, seed in zip(results, seeds, strict=True):
        for r in res.metrics.itertuples(index=False):
            if r.router == "random" and seed != seeds[0]:
                continue
            ci_a = ci_c = ""
            lo = getattr(r, "apgr_lo", float("nan"))
            if r.router == "classifier" and lo == lo:
                ci_a = f"[{r.apgr_lo:.3f}, {r.apgr_hi:.3f}]"
                ci_c = f"[{r.cpt50_lo:.1%}, {r.cpt50_hi:.1%}]"
            print(f"{r.benchmark:<10} {r.protocol:<9} {r.router:<11} {seed:>4} {r.apgr:7.4f} "
                  f"{ci_a:>15} {r.cpt50:7.2%} {ci_c:>15} {r.cpt80:7.2%} {r.auc:7.2f} "
                  f"{r.n:6d}")  # fmt: skip
    if summary is not None:
        print(f"\nover {len(seeds)} fold seeds ({seeds[0]}..{seeds[-1]}): mean +- sd")
        for r in summary.itertuples(index=False):
            print(f"  {r.benchmark:<8} {r.protocol:<9} APGR {r.apgr_mean:.4f} +- {r.apgr_sd:.4f}"
                  f"  CPT50 {r.cpt50_mean:.2%} +- {r.cpt50_sd:.2%}"
                  f"  CPT80 {r.cpt80_mean:.2%} +- {r.cpt80_sd:.2%}")  # fmt: skip
    print("\nthresholds calibrated to a target strong share, realised share on held-out data:")
    for r in result.calibration.itertuples(index=False):
        print(f"  {r.benchmark:<8} {r.protocol:<9} target {r.target_share:.2f}: calibration "
              f"{r.calibration_share:.3f}, held-out {r.holdout_share:.3f}")  # fmt: skip
    print("\npublished (different protocol: trained on Arena battles + augmentation data):")
    for r in result.published.itertuples(index=False):
        c50 = "   -   " if r.cpt50 is None or r.cpt50 != r.cpt50 else f"{r.cpt50:7.2%}"
        print(f"  {r.benchmark:<8} {r.router:<48} APGR {r.apgr:.3f}  CPT50 {c50}")
    return 0


def _run_classifier_learning_curve(args: argparse.Namespace) -> int:
    import json

    from simkit.classify.train import two_models
    from simkit.evaluation import learning_curve, seed_summary
    from simkit.trace import load_trace

    fractions = _numbers(args.fractions, "--fractions", float, "shares in (0, 1]")
    trace = load_trace(args.trace)
    weak, strong = two_models(trace, args.weak, args.strong)
    curve = learning_curve(
        trace,
        weak=weak,
        strong=strong,
        estimator=_estimator(args),
        fractions=fractions,
        benchmarks=args.benchmark,
        n_splits=args.folds,
        seeds=[args.seed + k for k in range(args.repeats)],
    )
    agg = seed_summary(
        curve, by=("benchmark", "fraction"), columns=("n_train", "apgr", "cpt50", "cpt80")
    )
    if args.json:
        print(
            json.dumps(
                {"per_seed": curve.to_dict("records"), "mean": agg.to_dict("records")},
                indent=2,
                default=float,
            )
        )
        return 0
    n_seeds = args.repeats
    print(f"weak {weak}, strong {strong}; protocol cv, mean (sd) over {n_seeds} fold seeds")
    print(f"{'benchmark':<10} {'fraction':>8} {'n_train':>8} {'APGR':>7} {'(sd)':>8} "
          f"{'CPT50':>7} {'(sd)':>8} {'CPT80':>7}")  # fmt: skip
    for r in agg.itertuples(index=False):
        sd_a = "" if r.apgr_sd != r.apgr_sd else f"({r.apgr_sd:.4f})"
        sd_c = "" if r.cpt50_sd != r.cpt50_sd else f"({r.cpt50_sd:.2%})"
        print(f"{r.benchmark:<10} {r.fraction:>8.2f} {r.n_train_mean:>8.0f} {r.apgr_mean:7.4f} "
              f"{sd_a:>8} {r.cpt50_mean:7.2%} {sd_c:>8} {r.cpt80_mean:7.2%}")  # fmt: skip
    return 0


def _run_classifier_export(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from simkit.classify.bundle import load_bundle, rebundle
    from simkit.classify.calibrate import BudgetCalibrator, ShareCalibrator
    from simkit.errors import ClassifierError

    bundle = load_bundle(args.bundle)
    thresholds = None
    default = None
    if args.share is not None or args.budget_usd is not None:
        if args.calibrate_on is None:
            raise ClassifierError("--share/--budget-usd need --calibrate-on TRACE")
        from simkit.classify.scoring import score_trace
        from simkit.trace import load_trace

        scores = score_trace(load_trace(args.calibrate_on), bundle).scores["p_hard"].to_numpy()
        thresholds = dict(bundle.manifest["thresholds"])
        if args.share is not None:
            cal = ShareCalibrator(args.share).fit(scores)
            default = f"calibrated_share_{args.share:.2f}"
            thresholds[default] = {
                "p_hard": cal.threshold_,
                "target_share": args.share,
                "calibration_share": cal.share_,
                "calibrated_on": str(args.calibrate_on),
            }
        else:
            if args.cheap_cost_usd is None or args.strong_cost_usd is None:
                raise ClassifierError("--budget-usd needs --cheap-cost-usd and --strong-cost-usd")
            cal = BudgetCalibrator(args.budget_usd).fit(
                scores, args.cheap_cost_usd, args.strong_cost_usd
            )
            default = f"budget_{args.budget_usd:g}_usd"
            thresholds[default] = {
                "p_hard": cal.threshold_,
                "budget_usd": args.budget_usd,
                "calibration_share": cal.share_,
                "calibration_cost_usd": cal.cost_usd_,
                "calibrated_on": str(args.calibrate_on),
            }
    metrics = json.loads(Path(args.metrics).read_text("utf-8")) if args.metrics else None
    card = Path(args.card).read_text("utf-8") if args.card else None
    out = rebundle(
        bundle, args.out, thresholds=thresholds, default_threshold=default, metrics=metrics,
        card=card,
    )  # fmt: skip
    print(f"wrote {out}")
    if default:
        th = thresholds[default]
        print(f"  {default}: p_hard >= {th['p_hard']:.6f} (share {th['calibration_share']:.3f})")
    return 0


def _run_classifier_score(args: argparse.Namespace) -> int:
    from simkit.classify.scoring import score_trace
    from simkit.trace import load_trace, save_trace

    trace = load_trace(args.trace)
    scored = score_trace(trace, args.bundle, cache_dir=args.cache_dir)
    out = save_trace(scored, args.out or args.trace)
    p = scored.scores["p_hard"]
    print(f"wrote {out}: p_hard for {len(p)} requests (mean {p.mean():.4f})")
    return 0


# --- route ------------------------------------------------------------------------------------
def _add_route(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "route",
        help="score one prompt with a classifier bundle and print the tier",
        description="Route PROMPT (or an OpenAI-style messages JSON file) with a bundle.",
    )
    p.add_argument("prompt", nargs="?", default=None, help="the prompt text")
    p.add_argument("--bundle", required=True, help="a bundle directory")
    p.add_argument(
        "--messages", default=None, help="JSON file with an OpenAI-style messages list instead"
    )
    p.add_argument(
        "--threshold", default=None, help="a named threshold of the bundle or a p_hard value"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_run_route)


def _run_route(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from simkit.errors import ClassifierError
    from simkit.router import Router

    if (args.prompt is None) == (args.messages is None):
        raise ClassifierError("give either PROMPT or --messages FILE")
    threshold = args.threshold
    if threshold is not None:
        try:
            threshold = float(threshold)
        except ValueError:
            pass
    router = Router.load(args.bundle, threshold)
    query = (
        args.prompt
        if args.prompt is not None
        else json.loads(Path(args.messages).read_text("utf-8"))
    )
    d = router.decide(query)
    if args.json:
        print(json.dumps({"tier": d.tier, "model": d.model, "p_hard": d.p_hard,
                          "threshold": d.threshold}))  # fmt: skip
    else:
        print(f"{d.tier}\t{d.model}\tp_hard={d.p_hard:.4f}\tthreshold={d.threshold:.4f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
