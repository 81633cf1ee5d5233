"""Loaders from public formats and teams' own logs into :class:`~simkit.trace.Trace`."""

from simkit.trace.loaders.arena import load_arena_bench
from simkit.trace.loaders.azure import load_azure, load_azure_processed
from simkit.trace.loaders.gateway_log import load_gateway_log
from simkit.trace.loaders.generic import DroppedRowsWarning, load_log, read_mapping
from simkit.trace.loaders.openai_logs import load_openai_log
from simkit.trace.loaders.routellm import load_routellm_gsm8k, load_routellm_mmlu

__all__ = [
    "DroppedRowsWarning",
    "load_arena_bench",
    "load_azure",
    "load_azure_processed",
    "load_gateway_log",
    "load_log",
    "load_openai_log",
    "load_routellm_gsm8k",
    "load_routellm_mmlu",
    "read_mapping",
]
