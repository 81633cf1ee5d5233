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
def _add_trace(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="inspect and convert traces")
    tsub = p.add_subparsers(dest="trace_command", metavar="TRACE_COMMAND")
    tsub.required = True
    ins = tsub.add_parser("inspect", help="summarise a trace (requests, timing, tokens, models)")
    ins.add_argument("path", help="a simkit trace directory")
    ins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ins.set_defaults(func=_run_trace_inspect)


def _run_trace_inspect(args: argparse.Namespace) -> int:
    import json

    from simkit.trace import load_trace
    from simkit.trace.summary import format_summary, summarize

    summary = summarize(load_trace(args.path))
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
