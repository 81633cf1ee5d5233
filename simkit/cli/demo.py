"""``simkit demo``: the main job on the bundled traces."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
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
