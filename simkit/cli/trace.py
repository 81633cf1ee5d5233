"""``simkit trace inspect|convert|repeat|restamp|prefix-heavy``: summarise a trace; convert a
dataset or log into one; repeat one to a production size; record new checksums; build a
synthetic prefix-heavy trace."""

from __future__ import annotations

import argparse
import sys

from simkit.cli.options import dumps, seed_arg
from simkit.trace.convert import FORMATS

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
  simkit trace convert logs/ out/logs --format parquet --mapping mapping.yaml   # every file
  simkit trace convert prompts.csv out/p --format csv --mapping no-arrival.yaml \\
      --arrivals poisson:rate=2 --seed 1    # a log without times: generated arrivals
  simkit trace convert gateway.jsonl out/gw --format openai-log --sort
  simkit trace convert decisions.jsonl out/gw --format gateway-log   # simkit gateway's log

a mapping file (csv, jsonl, parquet) maps trace fields to your columns, e.g.:
  request_id: id
  arrival: ts
  prompt: prompt_text
  model: model
  outcome: {quality: grade, latency_s: latency, cost_usd: cost}
  flags: {sensitive: has_pii}
(see simkit.trace.loaders.generic for every key). For csv, jsonl and parquet, INPUT may be a
directory: its files are read in name order as one log (one format, the same columns; each
row keeps its file in errors, default ids and meta). 'arrival' may be left out of the mapping
when --arrivals generates the times. An unnamed index column (pandas' to_csv(index=True),
'Unnamed: 0') is dropped with a note unless the mapping names it.

arrival processes (--arrivals): poisson:rate=R | bursty:rate=R,cv=C |
  diurnal:rate=R,amplitude=A,period=P,phase=F | replay:PATH (a trace directory or an Azure
  2023 CSV); --rate-multiplier scales any of them; --seed makes them (and the order) repeatable.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    conv.add_argument(
        "input",
        help="input file or folder (see --format); for csv, jsonl and parquet a directory of "
        "log files is read in sorted name order",
    )
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
    conv.add_argument(
        "--arrivals",
        help="attach arrivals from a process or a timing trace (then the mapping needs no "
        "'arrival' column); rates from 1e-06 to 1e+06 per second",
    )
    conv.add_argument(
        "--seed", type=seed_arg, default=0, help="seed for --arrivals, >= 0 (default 0)"
    )
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

    rep = tsub.add_parser(
        "repeat",
        help="repeat a trace's requests to any count on an arrival process (a production-sized "
        "trace, written in chunks)",
        description="Write a trace of N requests made of copies of SRC's requests (ids "
        "suffixed #copy, each copy in its own seeded order), request k arriving at the k-th "
        "time of --arrivals (default: SRC's own arrival times, cycled), with their outcomes and "
        "scores. Written chunk by chunk with outcomes in request order, so `simkit replay` "
        "streams it in bounded memory. Only one chunk is in memory at a time.",
        epilog="example (10 million requests from the shipped RouteLLM prompts on the Azure "
        "conversation arrivals at 50x their rate):\n"
        "  simkit trace repeat traces/routellm_azure /tmp/azure_10m --n-requests 10000000 \\\n"
        "      --arrivals replay:traces/azure_conv_2023 --rate-multiplier 50 --drop-text\n"
        "  simkit replay --trace /tmp/azure_10m --policy threshold:p_hard=0.7 "
        "--records /tmp/records.parquet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("src", help="a simkit trace directory (the labelled requests to repeat)")
    rep.add_argument("out_dir", help="output trace directory (created)")
    rep.add_argument("--n-requests", type=int, required=True, help="requests to write (>= 1)")
    rep.add_argument(
        "--arrivals",
        help="arrival process (poisson:rate=R, bursty:..., diurnal:..., replay:PATH); "
        "default: SRC's own arrival times, replayed and cycled",
    )
    rep.add_argument("--rate-multiplier", type=float, default=1.0, help="scale the arrival rate")
    rep.add_argument(
        "--seed", type=seed_arg, default=0, help="seed for the order and arrivals (default 0)"
    )
    rep.add_argument(
        "--drop-text",
        action="store_true",
        help="leave the prompt text out (token counts are kept; a replay needs only those)",
    )
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    rep.set_defaults(func=_run_trace_repeat)

    rs = tsub.add_parser(
        "restamp",
        help="record new table checksums after editing a trace's Parquet tables on purpose",
        description="A trace's trace.json holds the SHA-256 of each Parquet table and loading "
        "refuses a table that does not match (a flipped byte, an edit behind its back). After "
        "an edit you made on purpose, restamp validates the tables, records their new "
        "checksums and notes in meta['restamped'] which tables changed (and --note why). It "
        "also upgrades a format-1 trace, which had no checksums.",
    )
    rs.add_argument("path", help="a simkit trace directory")
    rs.add_argument("--note", default=None, help="why the tables were edited (kept in meta)")
    rs.set_defaults(func=_run_trace_restamp)

    ph = tsub.add_parser(
        "prefix-heavy",
        help="build a synthetic trace whose prompts repeat a known share of prefix blocks",
        description="Write a synthetic trace to OUT_DIR whose prompts are BLOCKS_PER_PROMPT "
        "blocks of BLOCK_SIZE tokens; the first REPEAT_SHARE of each prompt's blocks are one "
        "of PREFIXES shared prefixes (drawn uniformly), the rest unique, so that (once each "
        "prefix has been seen) exactly REPEAT_SHARE of all blocks repeat an earlier one. "
        "Arrivals are Poisson. Replay it over a fleet whose GPU tier has prefix_cache: true "
        "to see the prefill the cache skips (benchmarks/bench_prefix_cache.py).",
    )
    ph.add_argument("out_dir", help="the trace directory to write")
    ph.add_argument("--n", type=int, default=10_000, help="requests (default 10000)")
    ph.add_argument(
        "--repeat-share", type=float, default=0.5, help="share of blocks shared (default 0.5)"
    )
    ph.add_argument("--block-size", type=int, default=512, help="tokens per block (default 512)")
    ph.add_argument("--blocks-per-prompt", type=int, default=8, help="blocks per prompt (8)")
    ph.add_argument("--output-tokens", type=int, default=64, help="output tokens (default 64)")
    ph.add_argument("--rate", type=float, default=1.0, help="arrivals per second (default 1)")
    ph.add_argument("--prefixes", type=int, default=16, help="distinct shared prefixes (16)")
    ph.add_argument("--model", default="model", help="the outcomes' model name")
    ph.add_argument("--seed", type=seed_arg, default=0, help="root seed, >= 0 (default 0)")
    ph.set_defaults(func=_run_trace_prefix_heavy)


def _run_trace_inspect(args: argparse.Namespace) -> int:

    from simkit.trace import load_trace
    from simkit.trace.summary import format_summary, summarize

    summary = summarize(load_trace(args.path))
    print(dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _run_trace_prefix_heavy(args: argparse.Namespace) -> int:
    from simkit.trace import prefix_heavy_trace, save_trace
    from simkit.trace.store import check_output_dir

    check_output_dir(args.out_dir)
    trace = prefix_heavy_trace(
        args.n,
        repeat_share=args.repeat_share,
        block_size=args.block_size,
        blocks_per_prompt=args.blocks_per_prompt,
        output_tokens=args.output_tokens,
        rate_per_s=args.rate,
        n_prefixes=args.prefixes,
        model=args.model,
        seed=args.seed,
    )
    out = save_trace(trace, args.out_dir)
    print(f"wrote {out}: {trace!r}; repeated block share {trace.meta['repeat_share']:.4f}")
    return 0


def _run_trace_repeat(args: argparse.Namespace) -> int:
    from simkit.trace import load_trace
    from simkit.trace.arrivals import parse_arrivals
    from simkit.trace.repeat import repeat_trace
    from simkit.trace.store import check_output_dir

    check_output_dir(args.out_dir)
    process = parse_arrivals(args.arrivals) if args.arrivals else None
    out = repeat_trace(
        load_trace(args.src),
        args.out_dir,
        n_requests=args.n_requests,
        arrivals=process,
        seed=args.seed,
        rate_multiplier=args.rate_multiplier,
        keep_text=not args.drop_text,
        progress=not args.no_progress,
    )
    print(f"wrote {out}: {args.n_requests:,} requests")
    return 0


def _run_trace_restamp(args: argparse.Namespace) -> int:
    from simkit.trace import load_trace, restamp_trace

    out = restamp_trace(args.path, note=args.note)
    t = load_trace(out)
    changes = t.meta.get("restamped", [])
    print(f"restamped {out}: {t!r}" + (f"; edits recorded: {len(changes)}" if changes else ""))
    return 0


def _run_trace_convert(args: argparse.Namespace) -> int:
    import warnings

    from simkit.trace import save_trace
    from simkit.trace.convert import convert
    from simkit.trace.store import check_output_dir

    check_output_dir(args.out_dir)  # before the (possibly long) conversion
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
    for d in trace.meta.get("dropped_index_columns", []):
        print(
            f"simkit trace convert: note: dropped the column {d['column']!r} of {d['file']}: "
            f"{d['why']} (map it to keep it)",
            file=sys.stderr,
        )
    if trace.meta.get("skipped_files"):
        print(
            "simkit trace convert: note: skipped hidden file(s) "
            + ", ".join(trace.meta["skipped_files"]),
            file=sys.stderr,
        )
    out = save_trace(trace, args.out_dir)
    print(f"wrote {out}: {trace!r}")
    return 0
