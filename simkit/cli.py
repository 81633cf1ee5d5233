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
        description="Inspect the bundled sample traces and print their summary.",
    )
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from simkit.demo import run_demo

    return run_demo()


# --- trace ------------------------------------------------------------------------------------
_CONVERT_EXAMPLES = """examples:
  simkit trace convert ../shared/data/routellm/mmlu out/mmlu --format routellm-mmlu \\
      --arrivals replay:../shared/data/traces/azure2023/raw/AzureLLMInferenceTrace_conv.csv
  simkit trace convert ../shared/data/arena_bench_v1 out/arena --format arena \\
      --arrivals poisson:rate=0.5 --seed 1
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
