"""Benchmark: wall time of every notebook run top to bottom, headless (goal <= 3 min each).

Each notebook in ``notebooks/`` is executed with nbclient in a fresh kernel, in a temporary
working folder, ``--repeats`` times (default 1: a run is minutes); the table and the JSON give
the median wall time per notebook, the goal (180 s on a 2-core CPU) and the machine.

Usage::

    python benchmarks/bench_notebooks.py [--repeats 1] [--only 03] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
GOAL_S = 180.0


def run_once(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": cwd}}
        )
        t0 = time.perf_counter()
        client.execute()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default=None, help="run only notebooks whose name contains this")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    args = ap.parse_args()
    paths = sorted((REPO / "notebooks").glob("*.ipynb"))
    if args.only:
        paths = [p for p in paths if args.only in p.name]
    rows = []
    for path in paths:
        times = [run_once(path) for _ in range(args.repeats)]
        rows.append(
            {
                "notebook": path.name,
                "median_s": statistics.median(times),
                "max_s": max(times),
                "runs": len(times),
                "goal_s": GOAL_S,
                "met": max(times) <= GOAL_S,
            }
        )
        print(f"{path.name:<48} {statistics.median(times):8.1f} s", flush=True)
    machine = {
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(
        f"goal: every notebook <= {GOAL_S:.0f} s: "
        f"{'met' if all(r['met'] for r in rows) else 'NOT met'} ({machine['cpus']} CPUs)"
    )
    report = {"rows": rows, "machine": machine}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
