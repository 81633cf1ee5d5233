"""Traces: the trace format, its on-disk store, loaders for public and user formats,
arrival processes and composition. Knows nothing of fleets, policies or the simulator."""

from simkit.trace.core import Trace
from simkit.trace.store import is_trace_dir, load_trace, save_trace

__all__ = ["Trace", "is_trace_dir", "load_trace", "save_trace"]
