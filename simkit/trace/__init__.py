"""Traces: the trace format, its on-disk store, loaders for public and user formats,
arrival processes and composition. Knows nothing of fleets, policies or the simulator.

The names below are loaded on first use (PEP 562): importing one light module of this package
(``simkit.trace.messages``, say) does not load pandas and pyarrow.

=============================  ===============================================================
``Trace``                      requests + per-model outcomes, validated on construction
``load_trace`` / ``save_trace`` the on-disk format (``trace.json`` + Parquet)
``convert``                    any supported input -> Trace (``simkit trace convert``)
``load_*``                     RouteLLM, Arena-Bench-v1, Azure 2023, team logs, OpenAI logs
``Poisson`` ... ``Replay``     arrival processes (``simkit.trace.arrivals``)
``attach_arrivals``            put labelled prompts on a timeline (``simkit.trace.compose``)
``tag_fraction``, ``combine``  synthetic constraint tags; merge traces
``window``                     the first N requests, at a multiple of their rate
``prefix_heavy_trace``         synthetic prompts repeating a known share of prefix blocks
``count_tokens``               offline token counts (cl100k_base)
=============================  ===============================================================
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# eager: ``convert`` is also the name of its module, which would shadow a lazily loaded function
# (the module is light: it imports its loaders when called)
from simkit.trace.convert import convert

if TYPE_CHECKING:  # what static analysis and IDEs see; at run time __getattr__ loads them
    from simkit.trace.arrivals import Bursty, Diurnal, Poisson, Replay, parse_arrivals
    from simkit.trace.compose import (
        attach_arrivals,
        combine,
        prefix_heavy_trace,
        tag_fraction,
        window,
    )
    from simkit.trace.core import Trace
    from simkit.trace.loaders import (
        DroppedRowsWarning,
        load_arena_bench,
        load_azure,
        load_azure_processed,
        load_log,
        load_openai_log,
        load_routellm_gsm8k,
        load_routellm_mmlu,
    )
    from simkit.trace.store import is_trace_dir, load_trace, restamp_trace, save_trace
    from simkit.trace.tokens import count_tokens

__all__ = [
    "Bursty",
    "Diurnal",
    "DroppedRowsWarning",
    "Poisson",
    "Replay",
    "Trace",
    "attach_arrivals",
    "combine",
    "convert",
    "count_tokens",
    "is_trace_dir",
    "load_arena_bench",
    "load_azure",
    "load_azure_processed",
    "load_log",
    "load_openai_log",
    "load_routellm_gsm8k",
    "load_routellm_mmlu",
    "load_trace",
    "parse_arrivals",
    "prefix_heavy_trace",
    "restamp_trace",
    "save_trace",
    "tag_fraction",
    "window",
]

# name -> the module that defines it
_WHERE = {
    "attach_arrivals": "simkit.trace.compose",
    "Bursty": "simkit.trace.arrivals",
    "combine": "simkit.trace.compose",
    "prefix_heavy_trace": "simkit.trace.compose",
    "count_tokens": "simkit.trace.tokens",
    "Diurnal": "simkit.trace.arrivals",
    "DroppedRowsWarning": "simkit.trace.loaders",
    "is_trace_dir": "simkit.trace.store",
    "load_arena_bench": "simkit.trace.loaders",
    "load_azure": "simkit.trace.loaders",
    "load_azure_processed": "simkit.trace.loaders",
    "load_log": "simkit.trace.loaders",
    "load_openai_log": "simkit.trace.loaders",
    "load_routellm_gsm8k": "simkit.trace.loaders",
    "load_routellm_mmlu": "simkit.trace.loaders",
    "load_trace": "simkit.trace.store",
    "parse_arrivals": "simkit.trace.arrivals",
    "Poisson": "simkit.trace.arrivals",
    "Replay": "simkit.trace.arrivals",
    "restamp_trace": "simkit.trace.store",
    "save_trace": "simkit.trace.store",
    "tag_fraction": "simkit.trace.compose",
    "Trace": "simkit.trace.core",
    "window": "simkit.trace.compose",
}
# modules that ``import simkit.trace`` used to load eagerly: still reachable as attributes
_SUBMODULES = ("arrivals", "compose", "core", "loaders", "readers", "store", "tokens")


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"simkit.trace.{name}")
    raise AttributeError(f"module 'simkit.trace' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
