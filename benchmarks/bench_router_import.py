"""What ``import simkit.router`` costs a fresh process, next to its floor ``import numpy, tokenizers``.

The router runtime needs numpy and ``tokenizers`` only (a static-embedding bundle); this prints
how much more importing it costs than importing those two, and, for context, ``import simkit``
(its public names load on first use), the simulator's API (``simkit.simulate``: pandas,
pyarrow, SimPy) and a cold start up to the first routing decision with the shipped bundle. Each statement runs in N fresh interpreters (the statements
interleaved round by round, so that a busy machine slows all of them alike); a child times its
statement with ``perf_counter`` (interpreter start-up excluded) and counts the modules it added
to ``sys.modules``. Prints a table and JSON: medians over the N runs.

Usage::

    python benchmarks/bench_router_import.py [--n 21] [--bundle classifiers/routellm-static-minilm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("pandas", "pyarrow", "simpy", "torch", "sklearn", "altair", "scipy", "tokenizers")

CHILD = """
import json, sys, time
before = set(sys.modules)
t0 = time.perf_counter()
exec(compile({statement!r}, "<bench>", "exec"))
dt = time.perf_counter() - t0
added = set(sys.modules) - before
print(json.dumps({{"s": dt, "modules": len(added),
                  "heavy": sorted(m for m in {heavy!r} if m in added)}}))
"""


def statements(bundle: Path) -> dict[str, str]:
    """Label -> the statement a fresh interpreter times."""
    return {
        "import numpy, tokenizers": "import numpy, tokenizers",
        "import simkit.router": "import simkit.router",
        "import simkit (names load on first use)": "import simkit",
        "import simkit; simkit.simulate (the simulator)": "import simkit\nsimkit.simulate",
        "router cold start (load bundle, route one prompt)": (
            "from simkit.router import Router\n"
            f"Router.load({str(bundle)!r}).route('What is 17 times 23?')"
        ),
    }


def run_once(statement: str, env: dict[str, str]) -> dict:
    code = CHILD.format(statement=statement, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=21, help="fresh interpreters per statement")
    parser.add_argument(
        "--bundle", type=Path, default=REPO / "classifiers" / "routellm-static-minilm"
    )
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    todo = statements(args.bundle)
    runs: dict[str, list[dict]] = {label: [] for label in todo}
    for statement in todo.values():  # warm the file cache once, untimed
        run_once(statement, env)
    for _ in range(args.n):
        for label, statement in todo.items():
            runs[label].append(run_once(statement, env))
    rows = []
    for label, rs in runs.items():
        times_ms = [r["s"] * 1e3 for r in rs]
        rows.append(
            {
                "statement": label,
                "median_ms": statistics.median(times_ms),
                "min_ms": min(times_ms),
                "max_ms": max(times_ms),
                "modules_added": statistics.median(r["modules"] for r in rs),
                "heavy_loaded": rs[0]["heavy"],
            }
        )
    floor = rows[0]["median_ms"]
    print(f"{'statement':<52} {'median ms':>9} {'min ms':>7} {'x floor':>7} {'modules':>7}  heavy")
    for r in rows:
        print(
            f"{r['statement']:<52} {r['median_ms']:9.1f} {r['min_ms']:7.1f} "
            f"{r['median_ms'] / floor:7.2f} {r['modules_added']:7.0f}  "
            f"{','.join(r['heavy_loaded']) or '-'}"
        )
    print(
        json.dumps(
            {
                "benchmark": "router_import",
                "n_processes": args.n,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpu_count": os.cpu_count(),
                "rows": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
