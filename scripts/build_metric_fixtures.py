"""Build the routing-metric test fixtures from RouteLLM's public MMLU and GSM8K outcome files.

Writes ``tests/fixtures/metrics/routellm_correctness.csv``: one row per decontaminated eval item,
in RouteLLM's row order (MMLU domains in ``ALL_MMLU_DOMAINS`` order, then file order; GSM8K in
file order), with the columns

* ``benchmark`` — ``mmlu`` or ``gsm8k``;
* ``request_id`` — simkit's id (``mmlu/<domain>/<row>``, ``gsm8k/<row>``; row = 1-based data row of
  the source CSV);
* ``weak`` — 1 if ``mistralai/Mixtral-8x7B-Instruct-v0.1`` answered correctly, else 0;
* ``strong`` — 1 if ``gpt-4-1106-preview`` answered correctly, else 0.

The files are read and decontaminated by simkit's own loaders
(:mod:`simkit.trace.loaders.routellm`), exactly as METRICS.md §6.1 prescribes. The row order
matters: the random-router fixture of METRICS.md §6.4 draws one uniform number per row in order.

Usage::

    python scripts/build_metric_fixtures.py [DATA_DIR] [--out DIR]

``DATA_DIR`` defaults to ``../shared/data`` (the folder that holds ``routellm/``).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from simkit.trace.loaders.routellm import (
    STRONG_MODEL,
    WEAK_MODEL,
    load_routellm_gsm8k,
    load_routellm_mmlu,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "tests" / "fixtures" / "metrics"


def correctness_table(trace, benchmark: str) -> pd.DataFrame:
    """Weak and strong 0/1 correctness per request, in the trace's request order."""
    q = trace.quality_matrix([WEAK_MODEL, STRONG_MODEL])
    if q.isna().any().any():
        raise SystemExit(f"{benchmark}: a request lacks an outcome; the source files changed")
    return pd.DataFrame(
        {
            "benchmark": benchmark,
            "request_id": q.index.astype(str),
            "weak": q[WEAK_MODEL].to_numpy().astype(np.int64),
            "strong": q[STRONG_MODEL].to_numpy().astype(np.int64),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", default="../shared/data", type=Path)
    parser.add_argument("--out", default=DEFAULT_OUT, type=Path)
    args = parser.parse_args()
    root = args.data_dir / "routellm"
    mmlu = load_routellm_mmlu(root / "mmlu")
    gsm8k = load_routellm_gsm8k(root / "gsm8k")
    table = pd.concat(
        [correctness_table(mmlu, "mmlu"), correctness_table(gsm8k, "gsm8k")], ignore_index=True
    )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "routellm_correctness.csv"
    table.to_csv(path, index=False, lineterminator="\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for name, trace in (("mmlu", mmlu), ("gsm8k", gsm8k)):
        meta = trace.meta
        part = table[table["benchmark"] == name]
        print(
            f"{name}: read {meta['rows_read']}, dropped {meta['rows_dropped_contaminated']} "
            f"contaminated, kept {len(part)}; weak correct {int(part['weak'].sum())}, "
            f"strong correct {int(part['strong'].sum())}"
        )
    print(f"wrote {path} ({len(table)} rows, sha256 {digest})")


if __name__ == "__main__":
    main()
