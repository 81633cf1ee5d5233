"""One entry point from any supported input to a :class:`~simkit.trace.Trace`
(what ``simkit trace convert`` calls)."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from simkit.errors import SpecError

if TYPE_CHECKING:  # the loaders (pandas, pyarrow) are imported when convert() runs
    from simkit.trace.core import Trace

__all__ = ["FORMATS", "convert"]

#: input formats accepted by :func:`convert`
FORMATS = (
    "routellm-mmlu",
    "routellm-gsm8k",
    "arena",
    "azure",
    "azure-processed",
    "csv",
    "jsonl",
    "parquet",
    "openai-log",
    "gateway-log",
)


def convert(
    path: str | PathLike[str],
    format: str,
    *,
    mapping: Any = None,
    time_unit: str = "s",
    time_format: str | None = None,
    sort: bool = False,
    drop_invalid: bool = False,
    tokenizer: str | None = "cl100k_base",
    arrivals: str | Any | None = None,
    seed: int = 0,
    rate_multiplier: float = 1.0,
    order: str = "shuffle",
    replay_start: str = "first",
    name: str | None = None,
) -> Trace:
    """Load ``path`` as ``format`` and optionally attach arrivals.

    Parameters
    ----------
    path : path-like
        The input file or folder (for ``csv``, ``jsonl`` and ``parquet``: a log file, or a
        directory of them read in sorted name order, :func:`~simkit.trace.loaders.load_log`).
    format : str
        One of :data:`FORMATS`.
    mapping : mapping or path-like, optional
        Column mapping; required for ``csv``, ``jsonl`` and ``parquet``. Its ``arrival`` may
        be left out when ``arrivals`` generates the times.
    arrivals : str or ArrivalProcess, optional
        A spec for :func:`~simkit.trace.arrivals.parse_arrivals` or a process object; attached
        with :func:`~simkit.trace.compose.attach_arrivals` using ``seed``, ``rate_multiplier``,
        ``order`` and ``replay_start``.
    Other parameters are passed to the loader that takes them.

    Raises
    ------
    SpecError
        ``rate_multiplier`` other than 1 without ``arrivals`` (it scales attached arrivals
        only; nothing would change).
    """
    if arrivals is None and rate_multiplier != 1.0:
        raise SpecError(
            "trace convert",
            key="rate_multiplier",
            problem=f"{rate_multiplier:g} has no effect without arrivals: it scales the arrival "
            "process attached with --arrivals",
            hint="add --arrivals (e.g. --arrivals replay:traces/azure_conv_2023), or keep the "
            "source's times and scale them when replaying (simkit replay --rate-multiplier)",
        )
    from simkit.trace.loaders import (
        load_arena_bench,
        load_azure,
        load_azure_processed,
        load_gateway_log,
        load_log,
        load_openai_log,
        load_routellm_gsm8k,
        load_routellm_mmlu,
    )

    if format not in FORMATS:
        raise SpecError(
            "<convert>",
            key="format",
            problem=f"unknown format {format!r}; valid: {', '.join(FORMATS)}",
        )
    if format in ("csv", "jsonl", "parquet"):
        if mapping is None:
            raise SpecError(
                "<convert>",
                key="mapping",
                problem=f"format {format!r} needs a column mapping (--mapping mapping.yaml)",
            )
        trace = load_log(
            path,
            mapping,
            format=format,
            time_unit=time_unit,
            time_format=time_format,
            sort=sort,
            drop_invalid=drop_invalid,
            tokenizer=tokenizer,
            name=name,
            arrival_optional=arrivals is not None,
        )
    elif format == "gateway-log":
        trace = load_gateway_log(path, name=name)
    elif format == "openai-log":
        trace = load_openai_log(path, sort=sort, tokenizer=tokenizer, name=name)
    elif format == "routellm-mmlu":
        trace = load_routellm_mmlu(path, tokenizer=tokenizer)
    elif format == "routellm-gsm8k":
        trace = load_routellm_gsm8k(path, tokenizer=tokenizer)
    elif format == "arena":
        trace = load_arena_bench(path, tokenizer=tokenizer)
    elif format == "azure":
        trace = load_azure(path)
    else:
        trace = load_azure_processed(path)
    if arrivals is not None:
        from simkit.trace.arrivals import parse_arrivals
        from simkit.trace.compose import attach_arrivals

        process = parse_arrivals(arrivals) if isinstance(arrivals, str) else arrivals
        trace = attach_arrivals(
            trace,
            process,
            seed=seed,
            rate_multiplier=rate_multiplier,
            order=order,
            replay_start=replay_start,
        )
    if name is not None and trace.meta.get("name") != name:
        trace = trace.replace(meta={**trace.meta, "name": name})
    return trace
