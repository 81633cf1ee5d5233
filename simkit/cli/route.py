"""``simkit route``: score one prompt with a classifier bundle and print the tier."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
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
