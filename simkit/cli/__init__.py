"""The ``simkit`` command line: argument parsing and printing; the work is done by library functions.

One module per command group (``demo``, ``trace``, ``replay``, ``sweep``, ``prices``,
``classifier``, ``route``, ``report``, ``live``, ``gateway``, ``fleet``), each with ``add_parser(sub)``; shared argument helpers
live in :mod:`simkit.cli.options`. A failing command prints the
:class:`~simkit.errors.SimkitError` message (which says where and what to do) and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from simkit import __version__
from simkit.cli import (
    classifier,
    demo,
    fleet,
    gateway,
    live,
    prices,
    replay,
    report,
    route,
    sweep,
    trace,
)
from simkit.errors import SimkitError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``simkit`` parser with every sub-command.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each sub-command stores its handler as ``func``.
    """
    parser = argparse.ArgumentParser(
        prog="simkit",
        description="Benchmark and simulate LLM model routers: replay request traces through "
        "routing policies over a simulated fleet and measure cost, quality and latency together.",
        epilog="Start with `simkit demo`. Each command has its own --help.",
    )
    parser.add_argument("--version", action="version", version=f"simkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in (
        demo,
        trace,
        replay,
        sweep,
        prices,
        classifier,
        route,
        report,
        live,
        gateway,
        fleet,
    ):
        group.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simkit`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 when a :class:`~simkit.errors.SimkitError` was raised,
        141 when the reader of stdout closed the pipe (``simkit trace inspect ... | head``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SimkitError as exc:
        # one line, whatever the message quotes (a YAML parser's report spans several)
        message = " ".join(str(exc).split())
        print(f"simkit {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (`simkit ... | head`): stop quietly, as cat and grep do; stdout
        # is pointed at devnull so the interpreter's final flush does not raise again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by the pipe
