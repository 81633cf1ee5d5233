"""Traces: the trace format, its on-disk store, loaders for public and user formats,
arrival processes and composition. Knows nothing of fleets, policies or the simulator.

=============================  ===============================================================
``Trace``                      requests + per-model outcomes, validated on construction
``load_trace`` / ``save_trace`` the on-disk format (``trace.json`` + Parquet)
``convert``                    any supported input -> Trace (``simkit trace convert``)
``load_*``                     RouteLLM, Arena-Bench-v1, Azure 2023, team logs, OpenAI logs
``Poisson`` ... ``Replay``     arrival processes (``simkit.trace.arrivals``)
``attach_arrivals``            put labelled prompts on a timeline (``simkit.trace.compose``)
``tag_fraction``, ``combine``  synthetic constraint tags; merge traces
``window``                     the first N requests, at a multiple of their rate
``count_tokens``               offline token counts (cl100k_base)
=============================  ===============================================================
"""

from simkit.trace.arrivals import Bursty, Diurnal, Poisson, Replay, parse_arrivals
from simkit.trace.compose import attach_arrivals, combine, tag_fraction, window
from simkit.trace.convert import convert
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
    "restamp_trace",
    "save_trace",
    "tag_fraction",
    "window",
]
