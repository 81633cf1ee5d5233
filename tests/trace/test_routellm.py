"""RouteLLM MMLU / GSM8K: decontamination by exact string match, on slices of the real files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from simkit.errors import TraceError
from simkit.trace.loaders.routellm import (
    MMLU_DOMAINS,
    STRONG_MODEL,
    WEAK_MODEL,
    load_routellm_gsm8k,
    load_routellm_mmlu,
)


def test_mmlu_fixture_decontaminates_and_counts_as_the_standard_library_does(fixtures, expected):
    t = load_routellm_mmlu(fixtures / "routellm" / "mmlu", tokenizer=None)
    e = expected["mmlu"]
    assert (t.n_requests, t.meta["rows_read"], t.meta["rows_dropped_contaminated"]) == (
        e["kept"],
        e["rows"],
        e["dropped"],
    )
    q = t.quality_matrix([WEAK_MODEL, STRONG_MODEL])
    assert (int(q[WEAK_MODEL].sum()), int(q[STRONG_MODEL].sum())) == (
        e["weak_correct"],
        e["strong_correct"],
    )
    # every request has exactly one outcome per model, quality 0/1 on the declared 0..1 scale
    assert len(t.outcomes) == 2 * t.n_requests
    assert set(t.outcomes["quality"]) == {0.0, 1.0}
    assert (t.outcomes[["scale_min", "scale_max"]].drop_duplicates().values.tolist()) == [[0, 1]]
    # domain order is RouteLLM's, ids name the domain and the file row
    assert t.requests["request_id"].iloc[0] == "mmlu/high_school_european_history/1"
    assert list(dict.fromkeys(t.requests["category"])) == list(MMLU_DOMAINS)


def test_full_real_data_leaves_14037_and_1307_requests(expected):
    """The counts over the full real files (computed when the fixtures were built)."""
    assert expected["mmlu"]["full_data"] == {"rows": 14042, "dropped": 5, "kept": 14037}
    assert expected["gsm8k"]["full_data"] == {"rows": 1319, "dropped": 12, "kept": 1307}


def test_gsm8k_fixture_drops_the_12_contaminated_rows_and_counts_answer_tokens(fixtures, expected):
    t = load_routellm_gsm8k(fixtures / "routellm" / "gsm8k")
    e = expected["gsm8k"]
    assert (t.n_requests, t.meta["rows_dropped_contaminated"]) == (e["kept"], 12)
    q = t.quality_matrix()
    assert (int(q[WEAK_MODEL].sum()), int(q[STRONG_MODEL].sum())) == (
        e["weak_correct"],
        e["strong_correct"],
    )
    tokens = t.output_tokens_matrix()
    assert tokens.notna().all().all() and (tokens.to_numpy() > 0).all()
    assert t.requests["prompt_tokens"].notna().all()
    assert t.meta["tokenizer"]["name"] == "cl100k_base"


def _copy_mmlu(fixtures, tmp_path):
    dst = tmp_path / "mmlu"
    shutil.copytree(fixtures / "routellm" / "mmlu", dst)
    return dst


def test_every_copy_of_a_contaminated_prompt_is_dropped_but_a_whitespace_variant_stays(
    fixtures, tmp_path
):
    """Exact-match rule (METRICS.md §3): duplicates of a match go, near-variants survive."""
    root = _copy_mmlu(fixtures, tmp_path)
    f = root / "responses" / "mmlu_machine_learning.csv"
    lines = f.read_text("utf-8").splitlines(keepends=True)
    base = load_routellm_mmlu(root, tokenizer=None)
    import csv
    import io

    rows = list(csv.reader(io.StringIO("".join(lines))))
    contaminated = rows[1]  # the first data row of machine_learning is contaminated
    variant = [contaminated[0] + " ", *contaminated[1:]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([*rows, contaminated, variant])
    f.write_text(buf.getvalue(), "utf-8")
    t = load_routellm_mmlu(root, tokenizer=None)
    assert t.meta["rows_dropped_contaminated"] == base.meta["rows_dropped_contaminated"] + 1
    assert t.n_requests == base.n_requests + 1
    n = len(rows) - 1
    assert t.requests["request_id"].str.startswith("mmlu/machine_learning/").sum() == n - 1 + 1
    assert f"mmlu/machine_learning/{n + 2}" in set(t.requests["request_id"])


def test_without_decontamination_every_row_is_kept(fixtures, expected):
    t = load_routellm_mmlu(fixtures / "routellm" / "mmlu", decontaminate=False, tokenizer=None)
    assert t.n_requests == expected["mmlu"]["rows"]
    assert t.meta["rows_dropped_contaminated"] == 0


def test_missing_domain_file_is_named(fixtures, tmp_path):
    root = _copy_mmlu(fixtures, tmp_path)
    (root / "responses" / "mmlu_virology.csv").unlink()
    with pytest.raises(TraceError) as err:
        load_routellm_mmlu(root)
    assert str(err.value) == (
        f"{root / 'responses' / 'mmlu_virology.csv'}: file not found (1 of 57 domain files missing)"
    )


def test_correctness_other_than_true_false_names_row_and_column(fixtures, tmp_path):
    root = _copy_mmlu(fixtures, tmp_path)
    f = root / "responses" / "mmlu_anatomy.csv"
    f.write_text(f.read_text("utf-8").replace(",True,", ",yes,", 1), "utf-8")
    with pytest.raises(
        TraceError,
        match=r"mmlu_anatomy.csv, row \d+, column '.*': expected "
        r"'True' or 'False', got 'yes' \(1 such rows\)",
    ):
        load_routellm_mmlu(root, tokenizer=None)


def test_misnamed_model_column_lists_the_columns_present(fixtures, tmp_path):
    root = _copy_mmlu(fixtures, tmp_path)
    f = root / "responses" / "mmlu_anatomy.csv"
    f.write_text(f.read_text("utf-8").replace("gpt-4-1106-preview", "gpt4", 1), "utf-8")
    with pytest.raises(TraceError) as err:
        load_routellm_mmlu(root, tokenizer=None)
    assert str(err.value) == (
        f"{f}, column 'gpt-4-1106-preview': required column missing (1 missing: "
        "'gpt-4-1106-preview'); columns present: 'prompt', "
        "'mistralai/Mixtral-8x7B-Instruct-v0.1', 'gpt4'"
    )


def test_truncated_contaminated_list_names_the_line(fixtures, tmp_path):
    root = _copy_mmlu(fixtures, tmp_path)
    f = root / "contaminated_prompts.jsonl"
    text = f.read_text("utf-8").rstrip("\n")
    f.write_text(text[: len(text) - 20], "utf-8")
    with pytest.raises(TraceError, match=r"contaminated_prompts.jsonl, line 5: not valid JSON"):
        load_routellm_mmlu(root, tokenizer=None)


def test_loader_is_deterministic(fixtures):
    a = load_routellm_gsm8k(fixtures / "routellm" / "gsm8k")
    b = load_routellm_gsm8k(fixtures / "routellm" / "gsm8k")
    assert a.requests.equals(b.requests) and a.outcomes.equals(b.outcomes)
    assert np.array_equal(a.quality_matrix().to_numpy(), b.quality_matrix().to_numpy())
