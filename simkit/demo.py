"""``simkit demo``: the main job on the bundled data."""

from __future__ import annotations

from pathlib import Path

from simkit.trace import Trace, load_trace
from simkit.trace.summary import format_summary, summarize

__all__ = ["attribution", "bundled_traces", "run_demo"]


def bundled_traces() -> list[Path]:
    """The sample traces shipped in the repository's ``traces/`` folder."""
    root = Path(__file__).resolve().parent.parent / "traces"
    return (
        sorted(p for p in root.iterdir() if (p / "trace.json").is_file()) if root.is_dir() else []
    )


def run_demo() -> int:
    """Print a summary of every bundled trace."""
    paths = bundled_traces()
    if not paths:
        print("no bundled traces found in traces/; build them with scripts/build_traces.py")
        return 1
    for path in paths:
        trace = load_trace(path)
        print(format_summary(summarize(trace)))
        print(attribution(trace))
        print()
    return 0


def attribution(trace: Trace) -> str:
    """One line naming where a trace's data comes from, its licences and required citation."""
    meta = trace.meta
    line = f"data       {meta.get('licences', 'licence not recorded')}"
    if meta.get("attribution") and str(meta["attribution"]) not in line:
        line += f"; cite {meta['attribution']}"
    return line
