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
    s.set_defaults(func=_run_stub)


def _run_stub(args: argparse.Namespace) -> int:
    from simkit.live.stub import StubConfig, load_stub_config, serve_forever

    config = load_stub_config(args.config) if args.config else StubConfig()
    serve_forever(config, port=args.port, log_level=args.log_level)
    return 0
