"""``simkit live``: the loopback stub server (and, below it, recording live outcomes)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "live",
        help="call real (or the loopback stub's) model endpoints and record their outcomes",
        description="Live calls through the openai client: record other models' answers to a "
        "trace's prompts under a budget, or run the loopback OpenAI-compatible stub.",
    )
    live_sub = p.add_subparsers(dest="live_command", metavar="LIVE_COMMAND")
    live_sub.required = True
    s = live_sub.add_parser(
        "stub",
        help="run the loopback OpenAI-compatible stub server on 127.0.0.1",
        description="Serve /v1/chat/completions (streaming and not) and /v1/models on "
        "127.0.0.1 with configured latency, faults and seeded answers, for dry runs before "
        "spending money. Stop it with Ctrl-C.",
        epilog="examples:\n  simkit live stub --port 8000\n  simkit live stub --config stub.yaml "
        "--port 0   # any free port; the URL is printed",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0 = any free port)")
    s.add_argument("--config", default=None, help="stub YAML: models, latency, faults, answers")
    s.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    s.add_argument(
        "--no-request-log",
        action="store_true",
        help="keep no /stub/log entries (for load tests: nothing grows with the requests)",
    )
    s.set_defaults(func=_run_stub)

    r = live_sub.add_parser(
        "record",
        help="record other models' answers, latencies and costs for a sample of a trace",
        description="Send a sample of TRACE's prompts to each endpoint named in --models "
        "(streaming, bounded concurrency, client-side rate limits, retry-after), grade the "
        "answers, and write OUT: records.jsonl (one fsync'd line per request and model), "
        "run.json, and a simkit trace with the live outcomes next to the trace's own. Spend "
        "never exceeds --budget-usd. Ctrl-C stops sending, waits for requests in flight and "
        "prints the command that resumes.",
        epilog="examples:\n  simkit live stub --port 8000 &   # a dry run against the loopback stub\n"
        "  simkit live record traces/routellm_azure --endpoints endpoints.yaml --models "
        "llama-local,gpt-4o \\\n      --sample 200 --budget-usd 2 --out recorded/\n"
        "  simkit live record traces/routellm_azure --endpoints endpoints.yaml --models "
        "llama-local,gpt-4o \\\n      --sample 200 --budget-usd 2 --out recorded/ --resume",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument("trace", help="a simkit trace directory (requests with prompt text)")
    r.add_argument("--endpoints", required=True, help="endpoints YAML (see simkit.live.endpoints)")
    r.add_argument("--models", required=True, help="comma-separated endpoint names to record")
    r.add_argument("--sample", type=int, default=None, help="requests to draw (default: all)")
    r.add_argument("--budget-usd", type=float, required=True, help="hard cap on spend, USD")
    r.add_argument("--out", required=True, help="output directory (records, run settings, trace)")
    r.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    r.add_argument("--resume", action="store_true", help="continue the recording in --out")
    r.add_argument("--no-text", action="store_true", help="do not keep the answers' text")
    r.add_argument(
        "--judge",
        default=None,
        help="endpoint name of an LLM judge (1-10) for prompts without a reference answer",
    )
    r.add_argument(
        "--answers",
        default=None,
        help="JSONL answer key on top of the shipped "
        "GSM8K key (request_id or prompt, kind letter|number, answer)",
    )
    r.add_argument(
        "--transport",
        choices=("aiohttp", "httpx"),
        default="aiohttp",
        help="the openai client's HTTP transport (default aiohttp, the faster here)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=_run_record)


def _run_stub(args: argparse.Namespace) -> int:
    from simkit.live.stub import StubConfig, load_stub_config, serve_forever

    config = load_stub_config(args.config) if args.config else StubConfig()
    serve_forever(
        config, port=args.port, log_level=args.log_level, keep_log=not args.no_request_log
    )
    return 0


def _run_record(args: argparse.Namespace) -> int:
    import json
    import sys

    from simkit.live.answers import load_answer_key
    from simkit.live.endpoints import load_endpoints, select_endpoints
    from simkit.live.graders import JudgeGrader
    from simkit.live.record import record, resume_command
    from simkit.trace import load_trace

    endpoints = load_endpoints(args.endpoints)
    chosen = select_endpoints(endpoints, [m.strip() for m in args.models.split(",") if m.strip()])
    judge = judge_ep = None
    if args.judge:
        judge_ep = select_endpoints(endpoints, [args.judge], source="--judge")[0]
        judge = JudgeGrader(endpoint=judge_ep.name, max_output_tokens=judge_ep.max_output_tokens)
    result = record(
        load_trace(args.trace),
        chosen,
        out=args.out,
        budget_usd=args.budget_usd,
        sample=args.sample,
        seed=args.seed,
        resume=args.resume,
        keep_text=not args.no_text,
        judge=judge,
        judge_endpoint=judge_ep,
        answers=load_answer_key(args.answers) if args.answers else None,
        transport=args.transport,
        progress=not args.no_progress,
    )
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        statuses = ", ".join(f"{k} {v}" for k, v in summary["by_status"].items() if v)
        print(
            f"recorded {summary['recorded']} of {summary['pairs']} (request, model) pairs "
            f"({statuses or 'none'}); spent ${summary['spent_usd']:.6f} of "
            f"${summary['budget_usd']:g}; trace in {summary['out']}"
        )
    if result.stopped != "done":
        why = "interrupted" if result.stopped == "interrupted" else "stopped at the budget"
        argv = [a for a in sys.argv[1:]] or ["live", "record", "..."]
        hint = " (raise --budget-usd)" if result.stopped == "budget" else ""
        print(f"{why}; resume with{hint}: {resume_command(argv)}", file=sys.stderr)
        return 130 if result.stopped == "interrupted" else 0
    return 0
