"""Build the small trace the simulator tests use, from the real data in ``shared/data``.

    python scripts/build_sim_fixtures.py [SHARED_DATA]   # default: ../shared/data

Output: ``tests/fixtures/sim/routellm_azure_slice/`` (a simkit trace directory) and its
``PROVENANCE.md``. What it holds:

* requests and outcomes: all 1,307 decontaminated GSM8K rows plus the first 20 rows of each of
  the 57 MMLU domains (1,140 rows, decontaminated), from RouteLLM's eval data (Apache-2.0), with
  the per-model correctness of ``gpt-4-1106-preview`` and ``Mixtral-8x7B-Instruct-v0.1``;
* arrivals and lengths: row ``k`` takes ``arrived_at``, ``num_prefill_tokens`` and
  ``num_decode_tokens`` of row ``k`` of the Azure 2023 conversation trace as reformatted by
  Vidur (CC-BY-4.0, Patel et al., ISCA 2024) as ``arrival_s``, ``prompt_tokens`` and
  ``output_tokens``; ``max_tokens`` is 1,024 (at least the output length);
* tags: every 10th request is tagged ``sensitive`` (synthetic, for the privacy tests);
* prompt text is dropped (the tests do not need it; it keeps the fixture small).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simkit import Trace, save_trace
from simkit.trace.loaders.routellm import MMLU_DOMAINS, load_routellm_gsm8k, load_routellm_mmlu

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "sim" / "routellm_azure_slice"


def build(shared: Path) -> Trace:
    gsm8k = load_routellm_gsm8k(shared / "routellm" / "gsm8k")
    mmlu = load_routellm_mmlu(shared / "routellm" / "mmlu")
    first20 = mmlu.requests.groupby("category", sort=False).head(20).index.to_numpy()
    mask = np.zeros(mmlu.n_requests, dtype=bool)
    mask[first20] = True
    mmlu = mmlu.subset(mask)
    assert set(mmlu.requests["category"]) == set(MMLU_DOMAINS)
    requests = pd.concat([gsm8k.requests, mmlu.requests], ignore_index=True)
    outcomes = pd.concat([gsm8k.outcomes, mmlu.outcomes], ignore_index=True)
    azure = pd.read_csv(shared / "traces" / "azure2023" / "vidur_processed" / "splitwise_conv.csv")
    n = len(requests)
    requests["arrival_s"] = azure["arrived_at"].to_numpy()[:n]
    requests["prompt_tokens"] = azure["num_prefill_tokens"].to_numpy()[:n]
    requests["output_tokens"] = azure["num_decode_tokens"].to_numpy()[:n]
    requests["max_tokens"] = np.maximum(1024, requests["output_tokens"].to_numpy())
    requests["tags"] = np.where(np.arange(n) % 10 == 9, "sensitive", "")
    requests["prompt"] = pd.NA
    meta = {
        "name": "routellm-azure-slice",
        "built_by": "scripts/build_sim_fixtures.py",
        "sources": [
            {
                "name": "RouteLLM eval data",
                "commit": "0b64fdafe049e596a3f5657c219329f24af24198",
                "license": "Apache-2.0",
            },
            {
                "name": "Azure LLM inference trace 2023 (conv), Vidur-processed",
                "commit": "microsoft/vidur@7d47513363ec447a741ac5e47241580b47724fbf",
                "license": "CC-BY-4.0 (Patel et al., Splitwise, ISCA 2024)",
            },
        ],
    }
    return Trace(requests, outcomes, meta=meta, where="routellm_azure_slice")


def main(argv: list[str]) -> int:
    shared = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data"
    trace = build(shared)
    save_trace(trace, OUT)
    (OUT / "PROVENANCE.md").write_text(
        "# routellm_azure_slice\n\n"
        "Built by `scripts/build_sim_fixtures.py` from `shared/data` (see its docstring).\n\n"
        f"- {trace.n_requests} requests: 1,307 GSM8K + 1,140 MMLU (first 20 rows per domain),\n"
        "  decontaminated as RouteLLM does; outcomes for `gpt-4-1106-preview` and\n"
        "  `mistralai/Mixtral-8x7B-Instruct-v0.1`. Source: lm-sys/RouteLLM @ 0b64fdafe049,\n"
        "  `routellm/evals/{gsm8k,mmlu}`; licence Apache-2.0.\n"
        "- Arrivals, prompt and output lengths: rows 1..N of `splitwise_conv.csv`\n"
        "  (microsoft/vidur @ 7d47513363, `data/processed_traces/`), the Azure LLM inference\n"
        "  trace 2023 (Azure/AzurePublicDataset), licence CC-BY-4.0; cite Patel et al.,\n"
        '  "Splitwise: Efficient generative LLM inference using phase splitting", ISCA 2024.\n'
        "- Synthetic: `max_tokens` = max(1024, output), every 10th request tagged `sensitive`.\n",
        "utf-8",
    )
    print(f"wrote {OUT} ({trace.n_requests} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
