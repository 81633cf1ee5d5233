"""Loaders from public formats and teams' own logs into :class:`~simkit.trace.Trace`."""

from simkit.trace.loaders.routellm import load_routellm_gsm8k, load_routellm_mmlu

__all__ = ["load_routellm_gsm8k", "load_routellm_mmlu"]
