"""Argument helpers shared by several command groups."""

from __future__ import annotations

import argparse

POLICY_HELP = (
    "policy spec: NAME or NAME:key=value,...; OUTER>INNER wraps (e.g. "
    "'privacy>fallback>threshold:p_hard=0.8/0.5'); a.b=v sets nested keys, x/y is a list; or a "
    "YAML file. Names: static, random, task, threshold, share, budget, cascade, spillover, "
    "fallback, privacy, oracle. Examples: static:tier=frontier, threshold:p_hard=0.7, "
    "random:weights.selfhosted=3,weights.frontier=1, cascade:judge_error=0.1, "
    "share:target_share=0.2,score=null, spillover:max_queued=64>static:tier=selfhosted"
)


def add_slo_arg(p: argparse.ArgumentParser) -> None:
    """``--slo-ttft-s``, with the one default every command shares."""
    from simkit.metrics import DEFAULT_SLO_TTFT_S

    p.add_argument(
        "--slo-ttft-s",
        type=float,
        default=DEFAULT_SLO_TTFT_S,
        help=f"TTFT SLO in seconds (default {DEFAULT_SLO_TTFT_S:g})",
    )


#: Summary keys printed as percentages in tables (they are fractions in --json output).
PERCENT_PREFIXES = ("share_", "utilisation_")
PERCENT_KEYS = ("slo_attainment", "failure_rate", "quality_coverage")


def readable(key: str, value: object) -> str:
    """One value of a summary as a person reads it: fractions as percentages, counts and
    large amounts with thousands separators, others with 4 significant digits."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if key in PERCENT_KEYS or key.startswith(PERCENT_PREFIXES):
        return f"{v:.1%}"
    if isinstance(value, numbers.Integral) or abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def add_window_args(p: argparse.ArgumentParser) -> None:
    """``--n-requests`` and ``--rate-multiplier`` (see :func:`simkit.trace.window`)."""
    p.add_argument("--n-requests", type=int, default=None, help="replay only the first N requests")
    p.add_argument(
        "--rate-multiplier",
        type=float,
        default=1.0,
        help="the same requests arriving X times as fast (arrival times / X): your volume",
    )


def load_window(args: argparse.Namespace):  # noqa: ANN202
    from simkit.trace import load_trace, window

    return window(
        load_trace(args.trace), n_requests=args.n_requests, rate_multiplier=args.rate_multiplier
    )


def parse_numbers(text: str, option: str, kind: type, what: str | None = None) -> list:
    """Comma-separated numbers of ``kind``; a clear error naming ``option`` otherwise."""
    from simkit.errors import SpecError

    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        what = what or f"{kind.__name__}s"
        raise SpecError(option, problem=f"expected comma-separated {what}, got {text!r}") from None
