"""Time to load the full RouteLLM MMLU + GSM8K outcomes (goal: < 2 s), and the other loaders.

    .venv/bin/python benchmarks/bench_trace_load.py [--data ../shared/data] [--repeats 5]

Each loader runs once to warm up (imports, the tokenizer's BPE file), then ``--repeats``
times; the median and min wall time (``time.perf_counter``, ``gc.collect()`` before each) are
printed as a table and as JSON. Measured side by side in one process, with and without
counting tokens.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path


def _time(fn, repeats: int) -> list[float]:
    fn()
    out = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    from simkit.trace.loaders import (
        load_arena_bench,
        load_azure,
        load_azure_processed,
        load_routellm_gsm8k,
        load_routellm_mmlu,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    d = args.data
    azure = d / "traces" / "azure2023"
    cases = {
        "mmlu+gsm8k (no token counts)": lambda: (
            load_routellm_mmlu(d / "routellm" / "mmlu", tokenizer=None),
            load_routellm_gsm8k(d / "routellm" / "gsm8k", tokenizer=None),
        ),
        "mmlu+gsm8k (cl100k counts)": lambda: (
            load_routellm_mmlu(d / "routellm" / "mmlu"),
            load_routellm_gsm8k(d / "routellm" / "gsm8k"),
        ),
        "arena-bench-v1 (cl100k counts)": lambda: load_arena_bench(d / "arena_bench_v1"),
        "azure conv raw (19,366 rows)": lambda: load_azure(
            azure / "raw" / "AzureLLMInferenceTrace_conv.csv"
        ),
        "azure conv processed": lambda: load_azure_processed(
            azure / "vidur_processed" / "splitwise_conv.csv"
        ),
    }
    results = []
    print(f"{'loader':<32} {'median_s':>9} {'min_s':>7}")
    for name, fn in cases.items():
        times = _time(fn, args.repeats)
        row = {
            "loader": name,
            "median_s": statistics.median(times),
            "min_s": min(times),
            "repeats": args.repeats,
        }
        results.append(row)
        print(f"{name:<32} {row['median_s']:>9.3f} {row['min_s']:>7.3f}")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
