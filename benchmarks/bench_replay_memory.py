"""Peak memory of a replay: streaming (``simulate_stream``) against in memory (``simulate``),
side by side in one run (not collected by pytest).

    python benchmarks/bench_replay_memory.py [--stream-n 1000000,10000000] [--memory-n 1000000]
        [--rate-multiplier 2] [--chunk-rows 16384] [--workdir DIR] [--json out.json] [--quick]

Each trace is built into a temporary directory (``--workdir``, removed afterwards unless
``--keep``) from the shipped RouteLLM prompts and the shipped Azure 2023 conversation arrivals
with the documented command::

    simkit trace repeat traces/routellm_azure DIR --n-requests N \\
        --arrivals replay:traces/azure_conv_2023 --rate-multiplier 2 --drop-text

Each replay then runs in a fresh Python process on the shipped default 3-tier fleet (self-hosted
Llama-3-70B continuous batching, hosted Llama-3-70B API, GPT-4o API) with a random 1:1:1 mix,
writes its records to Parquet and computes the summary (``summarize_runs``), and reports its
own peak resident set (VmHWM of ``/proc/self/status``; not ``ru_maxrss``, which Linux carries
across fork + exec). Streaming: ``simulate_stream(..., records=PATH)``; in memory: ``load_trace``
+ ``simulate`` + ``records.requests.to_parquet`` (what ``simkit replay --in-memory`` does).

Prints a table (peak MB, bytes per request, wall seconds, chunks held at most) and JSON. Goal
(issue 15): 10M requests streamed in <= 4 GB, <= 400 bytes per request. Memory does not depend
on machine load; the wall times do (the machine is noted in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICY = "random:weights.selfhosted=1,weights.hosted=1,weights.frontier=1"
GOAL_BYTES_PER_REQUEST = 400
GOAL_10M_MB = 4 * 1024


def _peak_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _child(mode: str, trace: str, records: str, chunk_rows: int) -> None:
    """One replay in this fresh process; prints one JSON line."""
    from simkit.fleet import load_fleet
    from simkit.metrics import summarize_runs
    from simkit.policies import build_policy

    base_kib = _peak_kib()
    fleet = load_fleet(None)
    policy = build_policy(POLICY, fleet=fleet)
    t = time.perf_counter()
    extra = {}
    if mode == "stream":
        from simkit.sim import simulate_stream

        run = simulate_stream(trace, fleet, policy, seed=0, records=records, chunk_rows=chunk_rows)
        requests, endpoints = run.requests, run.endpoints
        extra = {
            "max_open_chunks": run.meta["max_open_chunks"],
            "outcomes_in_request_order": run.meta["outcomes_in_request_order"],
        }
    else:
        from simkit.sim import simulate
        from simkit.trace import load_trace

        rec = simulate(load_trace(trace), fleet, policy, seed=0)
        rec.requests.to_parquet(records, index=False)
        requests, endpoints = rec.requests, rec.endpoints
    summary = summarize_runs(requests, endpoints, slo_ttft_s=2.0).iloc[0]
    wall = time.perf_counter() - t
    print(
        json.dumps(
            {
                "mode": mode,
                "n": int(summary["n_requests"]),
                "peak_mb": _peak_kib() / 1024,
                "import_peak_mb": base_kib / 1024,
                "wall_s": wall,
                "p99_e2e_s": float(summary["p99_e2e_s"]),
                "total_cost_usd": float(summary["total_cost_usd"]),
                "records_mb": os.path.getsize(records) / 2**20,
                **extra,
            }
        )
    )


def _build(n: int, out: Path, rate_multiplier: float) -> float:
    cmd = [
        sys.executable,
        "-m",
        "simkit.cli",
        "trace",
        "repeat",
        str(REPO / "traces" / "routellm_azure"),
        str(out),
        "--n-requests",
        str(n),
        "--arrivals",
        f"replay:{REPO / 'traces' / 'azure_conv_2023'}",
        "--rate-multiplier",
        str(rate_multiplier),
        "--drop-text",
        "--no-progress",
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _measure(mode: str, trace: Path, records: Path, chunk_rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--_child", mode, str(trace), str(records), str(chunk_rows)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise SystemExit(f"{mode} replay of {trace} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stream-n", default="1000000,10000000", help="streamed trace sizes")
    ap.add_argument("--memory-n", default="1000000", help="in-memory trace sizes ('' for none)")
    ap.add_argument("--rate-multiplier", type=float, default=2.0)
    ap.add_argument("--chunk-rows", type=int, default=16_384)
    ap.add_argument("--workdir", default=None, help="where traces and records go (default: tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the built traces and records")
    ap.add_argument("--quick", action="store_true", help="100k streamed and in memory only")
    ap.add_argument("--json", default=None, help="also write the JSON here")
    ap.add_argument("--_child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        mode, trace, records, chunk_rows = args._child
        _child(mode, trace, records, int(chunk_rows))
        return 0
    stream_n = [100_000] if args.quick else _sizes(args.stream_n)
    memory_n = [100_000] if args.quick else _sizes(args.memory_n)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="simkit-replay-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    builds = {}
    try:
        for n in sorted(set(stream_n) | set(memory_n)):
            trace = work / f"trace_{n}"
            if not (trace / "trace.json").is_file():
                builds[n] = _build(n, trace, args.rate_multiplier)
                print(f"built {n:,} requests in {builds[n]:.0f} s", file=sys.stderr, flush=True)
            for mode in ("stream", "memory"):
                if n not in (stream_n if mode == "stream" else memory_n):
                    continue
                m = _measure(mode, trace, work / f"records_{mode}_{n}.parquet", args.chunk_rows)
                m["bytes_per_request"] = m["peak_mb"] * 2**20 / n
                rows.append(m)
                print(json.dumps(m), file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    same = {}
    for n in set(stream_n) & set(memory_n):
        s = next(r for r in rows if r["mode"] == "stream" and r["n"] == n)
        m = next(r for r in rows if r["mode"] == "memory" and r["n"] == n)
        same[str(n)] = {
            "summary_equal": s["p99_e2e_s"] == m["p99_e2e_s"]
            and s["total_cost_usd"] == m["total_cost_usd"],
            "peak_ratio_stream_over_memory": s["peak_mb"] / m["peak_mb"],
        }
    result = {
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg_at_end": os.getloadavg(),
        },
        "policy": POLICY,
        "fleet": "simkit/data/fleets/default.yaml",
        "rate_multiplier": args.rate_multiplier,
        "chunk_rows": args.chunk_rows,
        "build_s": {str(k): v for k, v in builds.items()},
        "runs": rows,
        "stream_vs_memory": same,
        "goal_bytes_per_request": GOAL_BYTES_PER_REQUEST,
        "goal_10m_peak_mb": GOAL_10M_MB,
    }
    print(f"{'replay':<28} {'peak MB':>9} {'bytes/req':>10} {'wall s':>8} {'open chunks':>12}")
    for r in rows:
        name = f"{r['mode']}, {r['n']:,} requests"
        print(
            f"{name:<28} {r['peak_mb']:>9,.0f} {r['bytes_per_request']:>10,.0f} "
            f"{r['wall_s']:>8,.0f} {r.get('max_open_chunks', ''):>12}"
        )
    for r in rows:
        if r["mode"] == "stream":
            print(
                f"stream {r['n']:,}: {r['bytes_per_request']:.0f} bytes/request = "
                f"{r['bytes_per_request'] / GOAL_BYTES_PER_REQUEST:.2f} x goal "
                f"{GOAL_BYTES_PER_REQUEST}"
                + (
                    f"; {r['peak_mb'] / GOAL_10M_MB:.2f} x goal 4 GB"
                    if r["n"] >= 10_000_000
                    else ""
                )
            )
    for n, c in same.items():
        print(
            f"{int(n):,} requests: summary equal {c['summary_equal']}, streaming peak = "
            f"{c['peak_ratio_stream_over_memory']:.2f} x in memory"
        )
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
