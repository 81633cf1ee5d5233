"""The Azure LLM inference trace 2023 (Azure/AzurePublicDataset, CC-BY-4.0).

Arrival times and token counts of one hour of Azure OpenAI traffic (``conv`` and ``code``),
released with Patel et al., "Splitwise: Efficient generative LLM inference using phase
splitting", ISCA 2024 — cite it whenever the data is used. No prompt text, no outcomes.

Two forms are read:

* **raw** ``AzureLLMInferenceTrace_{conv,code}.csv``: ``TIMESTAMP`` (naive wall clock with
  7 fractional digits, 100 ns), ``ContextTokens``, ``GeneratedTokens``. The timestamps are
  parsed exactly (integer nanoseconds) and made relative to the first request, so the 100 ns
  resolution survives; the first timestamp is kept in ``meta['start_time']``.
* **processed** (Vidur's ``splitwise_{conv,code}.csv``): ``arrived_at`` (seconds from the first
  request), ``num_prefill_tokens``, ``num_decode_tokens``.

Each row becomes a request with ``prompt_tokens`` = context tokens and ``output_tokens`` =
generated tokens; ids are ``<stem>/<row>`` (1-based data row).
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from simkit.schema import check_rows, require_columns
from simkit.trace.core import Trace
from simkit.trace.readers import check_arrivals, parse_counts, parse_numbers, read_csv_strings

__all__ = ["AZURE_CITATION", "load_azure", "load_azure_processed"]

AZURE_CITATION = (
    'Patel et al., "Splitwise: Efficient generative LLM inference using phase splitting", ISCA 2024'
)
_RAW_SOURCE = {
    "name": "Azure LLM inference trace 2023",
    "url": "https://github.com/Azure/AzurePublicDataset",
    "commit": "b469a113cedca53ddc3bdea71a143dc4b7d8700c",
    "license": "CC-BY-4.0",
    "cite": AZURE_CITATION,
}
_PROCESSED_SOURCE = {
    "name": "Azure LLM inference trace 2023, as processed by Vidur",
    "url": "https://github.com/microsoft/vidur",
    "commit": "7d47513363ec447a741ac5e47241580b47724fbf",
    "license": "MIT (Vidur); data CC-BY-4.0 (Azure)",
    "cite": AZURE_CITATION,
}
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})?$")


def _category(stem: str) -> str | None:
    for kind in ("conv", "code"):
        if stem.lower().endswith(kind):
            return kind
    return None


def _parse_timestamps(values: pd.Series, path: Path) -> np.ndarray:
    """Naive ``YYYY-MM-DD HH:MM:SS.fffffff`` timestamps -> int64 nanoseconds, exactly."""
    text = values.fillna("").str.strip()
    ok = text.str.fullmatch(_TIMESTAMP).fillna(False).to_numpy(dtype=bool)
    check_rows(
        ~ok,
        where=path,
        column="TIMESTAMP",
        problem=lambda i, n: (
            f"expected a time like '2023-11-16 18:15:46.6805900', got "
            f"{values.iloc[i]!r} ({n} such rows)"
        ),
    )
    parsed = pd.to_datetime(text, format="%Y-%m-%d %H:%M:%S.%f", errors="coerce")
    no_frac = parsed.isna() & ~text.str.contains(".", regex=False)
    if no_frac.any():  # whole seconds without a fraction
        parsed[no_frac] = pd.to_datetime(text[no_frac], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    check_rows(
        parsed.isna().to_numpy(),
        where=path,
        column="TIMESTAMP",
        problem=lambda i, n: f"not a valid date/time: {values.iloc[i]!r}",
    )
    return parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _trace(path: Path, arrival_s: np.ndarray, prompt, output, meta: dict) -> Trace:
    stem = path.stem
    n = len(arrival_s)
    requests = pd.DataFrame(
        {
            "request_id": [f"{stem}/{i}" for i in range(1, n + 1)],
            "arrival_s": arrival_s,
            "prompt_tokens": prompt,
            "output_tokens": output,
            "category": _category(stem),
            "source": "azure2023",
        }
    )
    return Trace(requests, meta=meta, where=str(path))


def load_azure(path: str | PathLike[str]) -> Trace:
    """Load a raw Azure 2023 trace CSV (``TIMESTAMP``, ``ContextTokens``, ``GeneratedTokens``).

    ``arrival_s`` is the exact offset from the first row's timestamp: integer nanoseconds
    converted once to float seconds (error < 1e-12 s over the hour).

    Raises
    ------
    TraceError
        Missing columns, a timestamp in another format, negative or non-integer token counts,
        or timestamps that go backwards (naming the file, row and column).
    """
    p = Path(path)
    df = read_csv_strings(p)
    require_columns(df, ["TIMESTAMP", "ContextTokens", "GeneratedTokens"], where=p)
    ns = _parse_timestamps(df["TIMESTAMP"], p)
    check_rows(  # the later row of each backwards pair, timestamps as written
        np.concatenate([[False], np.diff(ns) < 0]),
        where=p,
        column="TIMESTAMP",
        problem=lambda i, n: (
            f"arrival times must be non-decreasing: {df['TIMESTAMP'].iloc[i]} "
            f"comes after {df['TIMESTAMP'].iloc[i - 1]} ({n} such rows)"
        ),
    )
    arrival_s = (ns - ns[0]) / 1e9
    meta = {
        "name": f"azure2023-{_category(p.stem) or p.stem}",
        "sources": [{**_RAW_SOURCE, "file": f"data/{p.name}"}],
        "start_time": str(df["TIMESTAMP"].iloc[0]).strip(),
        "timestamps": "naive wall clock of the first request; arrival_s is relative to it",
    }
    prompt = parse_counts(df["ContextTokens"], column="ContextTokens", where=p)
    output = parse_counts(df["GeneratedTokens"], column="GeneratedTokens", where=p)
    return _trace(p, arrival_s, prompt, output, meta)


def load_azure_processed(path: str | PathLike[str]) -> Trace:
    """Load Vidur's processed Azure 2023 CSV (``arrived_at`` seconds, prefill/decode tokens)."""
    p = Path(path)
    df = read_csv_strings(p)
    require_columns(df, ["arrived_at", "num_prefill_tokens", "num_decode_tokens"], where=p)
    arrival_s = parse_numbers(df["arrived_at"], column="arrived_at", where=p)
    check_arrivals(arrival_s, column="arrived_at", where=p)
    meta = {
        "name": f"azure2023-{_category(p.stem) or p.stem}",
        "sources": [{**_PROCESSED_SOURCE, "file": f"data/processed_traces/{p.name}"}],
    }
    prompt = parse_counts(df["num_prefill_tokens"], column="num_prefill_tokens", where=p)
    output = parse_counts(df["num_decode_tokens"], column="num_decode_tokens", where=p)
    return _trace(p, arrival_s, prompt, output, meta)
