"""Argument helpers shared by several command groups."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

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


def add_cost_source_arg(p: argparse.ArgumentParser) -> None:
    """``--cost-source catalog|observed``, the one option every costing command shares."""
    from simkit.fleet.costs import COST_SOURCES

    p.add_argument(
        "--cost-source",
        choices=COST_SOURCES,
        default="catalog",
        help="where API tiers' token costs come from: 'catalog' prices times token counts "
        "(default), or 'observed', the cost_usd the trace recorded for each request on the "
        "tier's model (RouterBench-style data; a used request without one is an error). "
        "Self-hosted tiers cost the same under both. The output says which (cost_source)",
    )


#: Summary keys printed as percentages in tables (they are fractions in --json output).
PERCENT_PREFIXES = ("share_", "utilisation_", "prefix_hit_rate_")
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


def parse_list(
    text: str, option: str, convert: Callable[[str], T], what: str = "values"
) -> list[T]:
    """The comma-separated items of ``text`` (blanks between commas skipped), each converted.

    Parameters
    ----------
    text : str
        What the user gave, e.g. ``"0,1,2"``.
    option : str
        The option's name for the error, e.g. ``"--seeds"``.
    convert : callable
        Turns one item into a value; raises ``ValueError`` on a bad one.
    what : str
        What the items should be, for the error (``"integers"``, ``"shares in (0, 1]"``).

    Raises
    ------
    SpecError
        ``--seeds: expected comma-separated integers, got 'a,b'`` when an item does not
        convert or there is none.
    """
    from simkit.errors import SpecError

    try:
        values = [convert(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise SpecError(option, problem=f"expected comma-separated {what}, got {text!r}")
    return values


def parse_numbers(text: str, option: str, kind: type, what: str | None = None) -> list:
    """Comma-separated numbers of ``kind`` (``int`` or ``float``): :func:`parse_list`."""
    return parse_list(text, option, kind, what or ("integers" if kind is int else "floats"))


def parse_assignment(
    item: str, option: str, expected: str, convert: Callable[[str], T]
) -> tuple[str, T]:
    """``KEY=VALUE`` as ``(KEY, convert(VALUE))``.

    Raises
    ------
    SpecError
        ``--cutoff, key 'frontier': expected TIER=SCORE`` when the ``=``, the key or the value
        is missing or the value does not convert (``expected`` is what the user should write).
    """
    from simkit.errors import SpecError

    key, eq, value = item.partition("=")
    key = key.strip()
    try:
        if eq and key and value.strip():
            return key, convert(value)
    except ValueError:
        pass
    raise SpecError(option, key=item, problem=f"expected {expected}")


def yaml_scalar(text: str) -> Any:
    """One YAML value (``0.5``, ``null``, ``frontier``); ``ValueError`` if it does not parse."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ValueError(f"not a YAML value: {text!r}") from None


def seed_arg(text: str) -> int:
    """``--seed``: a whole number >= 0 (argparse reports anything else in one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def parse_seeds(text: str, option: str = "--seeds") -> list[int]:
    """Comma-separated seeds, each a whole number >= 0."""
    from simkit.errors import SpecError

    seeds = parse_numbers(text, option, int, "whole numbers >= 0")
    bad = [s for s in seeds if s < 0]
    if bad or not seeds:
        raise SpecError(
            option, problem=f"expected comma-separated whole numbers >= 0, got {text!r}"
        )
    return seeds


def n_jobs_arg(text: str) -> int:
    """``--n-jobs``: joblib workers, a whole number other than 0 (-1 = all cores)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "0 workers cannot run anything; use 1 (serial), N workers, or -1 (all cores)"
        )
    return value


def check_output_file(path: str | None, option: str, suffixes: tuple[str, ...] = ()) -> None:
    """Raise before any work if ``path`` cannot be written: its folder is missing or is a file,
    the path is a folder, or its suffix is not one of ``suffixes``.

    Raises
    ------
    SpecError
        Naming the option and the path.
    """
    import os
    from pathlib import Path

    from simkit.errors import SpecError

    if path is None:
        return
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise SpecError(
            option, problem=f"{path}: expected a file ending in {' or '.join(suffixes)}"
        )
    if p.is_dir():
        raise SpecError(option, problem=f"{path} is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise SpecError(
            option,
            problem=f"cannot write {path}: its directory {parent} {what}",
            hint="create the directory first or choose another path",
        )
    if not os.access(parent, os.W_OK):
        raise SpecError(option, problem=f"cannot write {path}: directory {parent} is read-only")


def check_output_dir(path: str | None, option: str) -> None:
    """Raise before any work if ``path`` exists and is not a directory, or lies under a file."""
    from pathlib import Path

    from simkit.errors import SpecError

    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise SpecError(option, problem=f"{path} exists and is not a directory")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SpecError(option, problem=f"cannot create {path}: {parent} is a file")
            break


def strict_json(value: object) -> object:
    """``value`` made strictly JSON-able: NaN, infinities and pandas' NA become null; numpy
    scalars and arrays become plain Python."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return [strict_json(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    return value


def dumps(value: object, **kwargs: object) -> str:
    """Strict JSON text (a parser that rejects NaN reads it): NaN/inf become null."""
    import json

    return json.dumps(strict_json(value), allow_nan=False, **kwargs)


def read_text_file(path: str, option: str) -> str:
    """The UTF-8 text of the file an option names, or a :class:`SpecError` saying why not."""
    from pathlib import Path

    from simkit.errors import SpecError

    try:
        return Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise SpecError(option, problem=f"{path}: file not found") from None
    except IsADirectoryError:
        raise SpecError(option, problem=f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(option, problem=f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(option, problem=f"{path}: cannot read ({exc.strerror or exc})") from None


def read_json_file(path: str, option: str, expected: str = "") -> object:
    """The strict JSON (no NaN) in the file an option names, or a :class:`SpecError`;
    ``expected`` (what the file should hold) ends the message of a file that is not JSON."""
    import json

    from simkit.errors import SpecError

    def refuse(constant: str) -> object:
        raise ValueError(f"{constant} is not JSON")

    hint = f"; expected {expected}" if expected else ""
    text = read_text_file(path, option)
    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise SpecError(
            option,
            problem=f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON "
            f"({exc.msg}){hint}",
        ) from None
    except ValueError as exc:
        raise SpecError(option, problem=f"{path}: not valid JSON ({exc}){hint}") from None
