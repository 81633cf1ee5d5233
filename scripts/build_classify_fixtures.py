"""Build the classifier test fixture: a small real trace of MMLU and GSM8K prompts with the
per-model outcomes of RouteLLM's pair.

Writes ``tests/fixtures/classify/routellm_small/`` (a simkit trace directory): 160 MMLU and
100 GSM8K requests drawn with a fixed seed from the decontaminated RouteLLM data, plus two
requests that repeat an earlier MMLU prompt verbatim under another id (as the 105 duplicated
MMLU prompt strings do), so that tests can check identical prompts share a fold.

and ``tests/fixtures/classify/arena_small/``: 60 Arena-Bench-v1 prompts (seed 5) drawn from the
shipped ``traces/arena_bench_v1`` with all 15 models' judge scores, for the multi-trace
(leave-one-domain-out) and N-model tests.

Usage::

    python scripts/build_classify_fixtures.py [DATA_DIR] [--out DIR]

``DATA_DIR`` defaults to ``../shared/data`` (the folder that holds ``routellm/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from simkit.trace import Trace, save_trace
from simkit.trace.loaders.routellm import load_routellm_gsm8k, load_routellm_mmlu

REPO = Path(__file__).resolve().parent.parent


def _sample(trace: Trace, n: int, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    mask = np.zeros(trace.n_requests, dtype=bool)
    mask[rng.choice(trace.n_requests, size=n, replace=False)] = True
    return trace.subset(mask)


def build(data: Path, out: Path) -> Trace:
    mmlu = _sample(load_routellm_mmlu(data / "routellm" / "mmlu"), 160, seed=4)
    gsm8k = _sample(load_routellm_gsm8k(data / "routellm" / "gsm8k"), 100, seed=8)
    requests = pd.concat([mmlu.requests, gsm8k.requests], ignore_index=True)
    outcomes = pd.concat([mmlu.outcomes, gsm8k.outcomes], ignore_index=True)
    # two verbatim repeats of earlier MMLU prompts, under new ids, with the same outcomes
    dups = requests.iloc[[3, 7]].copy()
    dups["request_id"] = [f"{r}/repeat" for r in dups["request_id"]]
    dup_out = outcomes[outcomes["request_id"].isin(requests["request_id"].iloc[[3, 7]])].copy()
    dup_out["request_id"] = dup_out["request_id"] + "/repeat"
    requests = pd.concat([requests, dups], ignore_index=True)
    outcomes = pd.concat([outcomes, dup_out], ignore_index=True)
    meta = {
        "name": "routellm_small",
        "weak_model": "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "strong_model": "gpt-4-1106-preview",
        "built_by": "python scripts/build_classify_fixtures.py ../shared/data",
        "sources": ["lm-sys/RouteLLM @ 0b64fdafe049e596a3f5657c219329f24af24198 (Apache-2.0)"],
    }
    trace = Trace(requests, outcomes, meta=meta, where="routellm_small")
    save_trace(trace, out)
    return trace


def build_arena(trace_dir: Path, out: Path) -> Trace:
    """60 seeded prompts of the shipped Arena-Bench-v1 trace, every model's outcomes kept."""
    from simkit.trace import load_trace

    small = _sample(load_trace(trace_dir), 60, seed=5)
    meta = {
        "name": "arena_small",
        "built_by": "python scripts/build_classify_fixtures.py (from traces/arena_bench_v1)",
        "sources": list(small.meta.get("sources", [])),
    }
    trace = small.replace(meta=meta, where="arena_small")
    save_trace(trace, out)
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument(
        "--out", default=str(REPO / "tests" / "fixtures" / "classify" / "routellm_small")
    )
    args = parser.parse_args()
    trace = build(Path(args.data), Path(args.out))
    print(f"wrote {args.out}: {trace.n_requests} requests, models {trace.models}")
    arena_out = Path(args.out).parent / "arena_small"
    arena = build_arena(REPO / "traces" / "arena_bench_v1", arena_out)
    print(f"wrote {arena_out}: {arena.n_requests} requests, {len(arena.models)} models")


if __name__ == "__main__":
    main()
