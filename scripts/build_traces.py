"""Build the sample traces shipped in ``traces/`` from the public data in ``../shared/data``.

    python scripts/build_traces.py [--data ../shared/data] [--out traces]

Deterministic: the same data gives byte-identical Parquet files. Writes

* ``traces/routellm_azure/``   RouteLLM MMLU + GSM8K outcomes (decontaminated: 14,037 + 1,307
  requests, 2 models) on the arrival times of the Azure 2023 conv trace, with a synthetic,
  seeded 10 % ``sensitive`` tag;
* ``traces/arena_bench_v1/``   Arena-Bench-v1: 300 prompts x 15 models, Poisson arrivals;
* ``traces/azure_conv_2023/`` and ``traces/azure_code_2023/``  timing and token counts only.

See ``traces/PROVENANCE.md`` for sources, licences and the required attribution.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simkit.trace import save_trace
from simkit.trace.arrivals import Poisson, Replay
from simkit.trace.compose import attach_arrivals, combine, tag_fraction
from simkit.trace.loaders.arena import load_arena_bench
from simkit.trace.loaders.azure import AZURE_CITATION, load_azure
from simkit.trace.loaders.routellm import load_routellm_gsm8k, load_routellm_mmlu

SEED = 0
SENSITIVE_FRACTION = 0.1
ARENA_RATE_PER_S = 0.5
BUILD = "python scripts/build_traces.py --data ../shared/data"
LICENCES = {
    "routellm": "Apache-2.0 (lm-sys/RouteLLM); GSM8K questions MIT (openai/grade-school-math)",
    "azure": f"CC-BY-4.0 (Azure/AzurePublicDataset); cite {AZURE_CITATION}",
    "arena": "Apache-2.0 (lmarena/arena-hard-auto); model answers also subject to providers' terms",
}


def build_routellm_azure(data: Path) -> object:
    mmlu = load_routellm_mmlu(data / "routellm" / "mmlu")
    gsm8k = load_routellm_gsm8k(data / "routellm" / "gsm8k")
    conv = load_azure(data / "traces" / "azure2023" / "raw" / "AzureLLMInferenceTrace_conv.csv")
    labelled = combine(
        [mmlu, gsm8k],
        name="routellm_azure",
        meta={
            "description": "RouteLLM's MMLU and GSM8K per-prompt correctness of "
            "gpt-4-1106-preview and Mixtral-8x7B-Instruct, decontaminated, arriving as the "
            "Azure LLM inference trace 2023 (conv) did",
            "strong_model": mmlu.meta["strong_model"],
            "weak_model": mmlu.meta["weak_model"],
            "rows_dropped_contaminated": {
                "mmlu": mmlu.meta["rows_dropped_contaminated"],
                "gsm8k": gsm8k.meta["rows_dropped_contaminated"],
            },
            "tokenizer": mmlu.meta["tokenizer"],
            "output_tokens": "GSM8K: per model, counted from the recorded answers; MMLU: no "
            "answers recorded, request-level output_tokens = the Azure conv row's "
            "GeneratedTokens of the same arrival slot",
        },
    )
    labelled = labelled.replace(
        meta={**labelled.meta, "sources": [*labelled.meta["sources"], *conv.meta["sources"]]}
    )
    timed = attach_arrivals(labelled, Replay.from_trace(conv), seed=SEED, order="shuffle")
    tagged = tag_fraction(timed, "sensitive", SENSITIVE_FRACTION, seed=SEED)
    return tagged.replace(
        meta={
            **tagged.meta,
            "licences": LICENCES["routellm"] + "; " + LICENCES["azure"],
            "build": BUILD,
            "attribution": AZURE_CITATION,
        }
    )


def build_arena(data: Path) -> object:
    arena = load_arena_bench(data / "arena_bench_v1")
    timed = attach_arrivals(arena, Poisson(ARENA_RATE_PER_S), seed=SEED, order="shuffle")
    return timed.replace(
        meta={**timed.meta, "name": "arena_bench_v1", "licences": LICENCES["arena"], "build": BUILD}
    )


def build_azure(data: Path, kind: str) -> object:
    trace = load_azure(data / "traces" / "azure2023" / "raw" / f"AzureLLMInferenceTrace_{kind}.csv")
    return trace.replace(
        meta={
            **trace.meta,
            "name": f"azure_{kind}_2023",
            "licences": LICENCES["azure"],
            "attribution": AZURE_CITATION,
            "build": BUILD,
            "description": f"Azure LLM inference trace 2023 ({kind}): arrival times and "
            "token counts only (no prompts, no outcomes), for latency studies",
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "traces"
    )
    args = parser.parse_args(argv)
    if not (args.data / "SOURCES.md").is_file():
        print(f"no shared data at {args.data} (expected SOURCES.md there)", file=sys.stderr)
        return 2
    built = {
        "routellm_azure": build_routellm_azure(args.data),
        "arena_bench_v1": build_arena(args.data),
        "azure_conv_2023": build_azure(args.data, "conv"),
        "azure_code_2023": build_azure(args.data, "code"),
    }
    total = 0
    for name, trace in built.items():
        out = save_trace(trace, args.out / name)
        size = sum(f.stat().st_size for f in out.iterdir())
        total += size
        print(
            f"{name:<18} {trace.n_requests:>6} requests {len(trace.models):>3} models "
            f"{size / 1e6:6.2f} MB"
        )
    print(f"{'total':<18} {total / 1e6:36.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
