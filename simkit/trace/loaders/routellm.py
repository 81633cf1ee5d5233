"""RouteLLM's MMLU and GSM8K outcome files (lm-sys/RouteLLM, Apache-2.0).

Per-prompt correctness of ``gpt-4-1106-preview`` (strong) and
``mistralai/Mixtral-8x7B-Instruct-v0.1`` (weak), decontaminated exactly as RouteLLM does:
every row whose prompt *equals* an ``eval_prompt`` of ``contaminated_prompts.jsonl`` is
dropped (MMLU 14,042 -> 14,037 rows, GSM8K 1,319 -> 1,307). The drop is reported in the
trace's ``meta`` (never silent). Arrival times are all 0: attach arrivals with
:mod:`simkit.trace.compose`.

Correctness ``True``/``False`` becomes quality 1/0 (raw score on the scale 0..1). With a
``tokenizer`` (default ``cl100k_base``, see :mod:`simkit.trace.tokens`) the prompt tokens are
counted, and for GSM8K, whose CSV holds each model's full answer (``<model>_response``), so are
each model's output tokens. MMLU has no responses: its outputs stay ``<NA>``.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import pandas as pd

from simkit.errors import TraceError
from simkit.schema import check_rows, require_columns
from simkit.trace.core import Trace, isin_strings
from simkit.trace.readers import read_csv_strings, read_text
from simkit.trace.tokens import DEFAULT_TOKENIZER, count_tokens, tokenizer_info

__all__ = [
    "MMLU_DOMAINS",
    "STRONG_MODEL",
    "WEAK_MODEL",
    "load_routellm_gsm8k",
    "load_routellm_mmlu",
]

STRONG_MODEL = "gpt-4-1106-preview"
WEAK_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"

#: RouteLLM's ``ALL_MMLU_DOMAINS`` order (routellm/evals/mmlu/domains.py), not alphabetical.
MMLU_DOMAINS = (
    "high_school_european_history",
    "business_ethics",
    "clinical_knowledge",
    "medical_genetics",
    "high_school_us_history",
    "high_school_physics",
    "high_school_world_history",
    "virology",
    "high_school_microeconomics",
    "econometrics",
    "college_computer_science",
    "high_school_biology",
    "abstract_algebra",
    "professional_accounting",
    "philosophy",
    "professional_medicine",
    "nutrition",
    "global_facts",
    "machine_learning",
    "security_studies",
    "public_relations",
    "professional_psychology",
    "prehistory",
    "anatomy",
    "human_sexuality",
    "college_medicine",
    "high_school_government_and_politics",
    "college_chemistry",
    "logical_fallacies",
    "high_school_geography",
    "elementary_mathematics",
    "human_aging",
    "college_mathematics",
    "high_school_psychology",
    "formal_logic",
    "high_school_statistics",
    "international_law",
    "high_school_mathematics",
    "high_school_computer_science",
    "conceptual_physics",
    "miscellaneous",
    "high_school_chemistry",
    "marketing",
    "professional_law",
    "management",
    "college_physics",
    "jurisprudence",
    "world_religions",
    "sociology",
    "us_foreign_policy",
    "high_school_macroeconomics",
    "computer_security",
    "moral_scenarios",
    "moral_disputes",
    "electrical_engineering",
    "astronomy",
    "college_biology",
)

_SOURCE = {
    "name": "RouteLLM eval data",
    "url": "https://github.com/lm-sys/RouteLLM",
    "commit": "0b64fdafe049e596a3f5657c219329f24af24198",
    "license": "Apache-2.0",
}


def _contaminated_prompts(path: Path) -> set[str]:
    prompts: set[str] = set()
    for line_no, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(path, line=line_no, problem=f"not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("eval_prompt"), str):
            raise TraceError(path, line=line_no, column="eval_prompt", problem="expected a string")
        prompts.add(record["eval_prompt"])
    return prompts


def _correctness(df: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = df[column]
    check_rows(
        ~values.isin(["True", "False"]).to_numpy(),
        where=path,
        column=column,
        problem=lambda i, n: f"expected 'True' or 'False', got {values.iloc[i]!r} ({n} such rows)",
    )
    return (values == "True").astype("float64")


def _frame(
    path: Path, source: str, category: str | None, id_prefix: str, tokenizer: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requests and outcomes of one RouteLLM responses CSV (rows numbered as in the file)."""
    df = read_csv_strings(path)
    require_columns(df, ["prompt", WEAK_MODEL, STRONG_MODEL], where=path)
    n = len(df)
    ids = [f"{id_prefix}{i}" for i in range(1, n + 1)]  # 1-based data row in the source file
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": 0.0,
            "prompt": df["prompt"],
            "source": source,
            "category": category if category is not None else source,
        }
    )
    if tokenizer is not None:
        requests["prompt_tokens"] = count_tokens(df["prompt"], tokenizer=tokenizer)
    parts = []
    for model in (WEAK_MODEL, STRONG_MODEL):
        q = _correctness(df, model, path)
        part = pd.DataFrame(
            {
                "request_id": ids,
                "model": model,
                "quality": q,
                "raw_score": q,
                "scale_min": 0.0,
                "scale_max": 1.0,
            }
        )
        response = f"{model}_response"
        if tokenizer is not None and response in df.columns:
            part["output_tokens"] = count_tokens(df[response], tokenizer=tokenizer)
        parts.append(part)
    return requests, pd.concat(parts, ignore_index=True)


def _decontaminate(
    requests: pd.DataFrame, outcomes: pd.DataFrame, contaminated: set[str]
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    drop = requests["prompt"].isin(contaminated)
    kept = requests[~drop].reset_index(drop=True)
    out = outcomes[isin_strings(outcomes["request_id"], kept["request_id"])].reset_index(drop=True)
    return kept, out, int(drop.sum())


def _build(
    requests, outcomes, *, name, decontaminate, contaminated_path, where, files, tokenizer
) -> Trace:
    n_raw = len(requests)
    dropped = 0
    if decontaminate:
        requests, outcomes, dropped = _decontaminate(
            requests, outcomes, _contaminated_prompts(contaminated_path)
        )
    # order outcomes request by request (weak then strong) for readability
    order = {rid: i for i, rid in enumerate(requests["request_id"])}
    outcomes = (
        outcomes.assign(_o=outcomes["request_id"].map(order))
        .sort_values(["_o", "model"], kind="stable")
        .drop(columns="_o")
    )
    meta = {
        "name": name,
        "sources": [_SOURCE],
        "strong_model": STRONG_MODEL,
        "weak_model": WEAK_MODEL,
        "rows_read": n_raw,
        "rows_dropped_contaminated": dropped,
        "decontaminated": bool(decontaminate),
        "arrivals": "none (all 0); attach arrivals with simkit.trace.compose",
        "files": files,
    }
    if tokenizer is not None:
        meta["tokenizer"] = tokenizer_info(tokenizer)
    return Trace(requests, outcomes.reset_index(drop=True), meta=meta, where=where)


def load_routellm_mmlu(
    path: str | PathLike[str],
    *,
    decontaminate: bool = True,
    tokenizer: str | None = DEFAULT_TOKENIZER,
) -> Trace:
    """Load RouteLLM's MMLU outcomes: ``path`` is the ``mmlu`` folder (with ``responses/``).

    The 57 ``responses/mmlu_<domain>.csv`` files are concatenated in RouteLLM's domain order;
    request ids are ``mmlu/<domain>/<row>`` (row = 1-based data row of that file) and the
    category is the domain. With ``decontaminate`` (the default) the 5 contaminated prompt
    strings are dropped, leaving 14,037 requests.
    """
    root = Path(path)
    responses = root / "responses" if (root / "responses").is_dir() else root
    if not responses.is_dir():
        raise TraceError(root, problem="not a directory; expected RouteLLM's mmlu folder")
    missing = [d for d in MMLU_DOMAINS if not (responses / f"mmlu_{d}.csv").is_file()]
    if missing:
        raise TraceError(
            responses / f"mmlu_{missing[0]}.csv",
            problem=f"file not found ({len(missing)} of {len(MMLU_DOMAINS)} domain files missing)",
        )
    frames = [
        _frame(responses / f"mmlu_{d}.csv", "mmlu", d, f"mmlu/{d}/", None) for d in MMLU_DOMAINS
    ]
    requests = pd.concat([f[0] for f in frames], ignore_index=True)
    outcomes = pd.concat([f[1] for f in frames], ignore_index=True)
    if tokenizer is not None:  # one batch for all files
        requests["prompt_tokens"] = count_tokens(requests["prompt"], tokenizer=tokenizer)
    contaminated = responses.parent / "contaminated_prompts.jsonl"
    return _build(
        requests,
        outcomes,
        name="routellm-mmlu",
        decontaminate=decontaminate,
        contaminated_path=contaminated,
        where=str(responses),
        files=[f"mmlu/responses/mmlu_{d}.csv" for d in MMLU_DOMAINS],
        tokenizer=tokenizer,
    )


def load_routellm_gsm8k(
    path: str | PathLike[str],
    *,
    decontaminate: bool = True,
    tokenizer: str | None = DEFAULT_TOKENIZER,
) -> Trace:
    """Load RouteLLM's GSM8K outcomes: ``path`` is the ``gsm8k`` folder or its responses CSV.

    Request ids are ``gsm8k/<row>``; with ``decontaminate`` 12 prompts are dropped, leaving
    1,307 requests.
    """
    p = Path(path)
    csv_path = p / "gsm8k_responses.csv" if p.is_dir() else p
    requests, outcomes = _frame(csv_path, "gsm8k", None, "gsm8k/", tokenizer)
    return _build(
        requests,
        outcomes,
        name="routellm-gsm8k",
        decontaminate=decontaminate,
        contaminated_path=csv_path.parent / "contaminated_prompts.jsonl",
        where=str(csv_path),
        files=["gsm8k/gsm8k_responses.csv"],
        tokenizer=tokenizer,
    )
