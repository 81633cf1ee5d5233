"""Arena-Bench-v1 judgements: model from the record, null scores explicit, score / 10."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from simkit.errors import TraceError
from simkit.trace.loaders.arena import load_arena_bench


@pytest.fixture
def arena_copy(fixtures, tmp_path):
    dst = tmp_path / "arena"
    shutil.copytree(fixtures / "arena_bench_v1", dst)
    return dst


def test_models_come_from_the_records_and_null_scores_stay_as_nan(fixtures, expected):
    t = load_arena_bench(fixtures / "arena_bench_v1")
    e = expected["arena"]
    assert t.n_requests == e["questions"]
    assert t.models == tuple(sorted(e["files"].values()))
    assert t.meta["files"] == e["files"]
    assert t.meta["null_scores"] == e["null_scores"]
    assert len(t.outcomes) == e["questions"] * len(e["files"])  # one outcome per judgement
    nulls = t.outcomes.groupby("model")["quality"].apply(lambda q: int(q.isna().sum()))
    assert nulls.to_dict() == e["null_scores"]
    sums = t.outcomes.groupby("model")["raw_score"].sum()
    assert {m: float(v) for m, v in sums.items()} == {
        m: float(v) for m, v in e["score_sums"].items()
    }
    scored = t.outcomes["raw_score"].notna()
    assert np.allclose(t.outcomes.loc[scored, "quality"], t.outcomes.loc[scored, "raw_score"] / 10)
    assert (t.outcomes[["scale_min", "scale_max"]].drop_duplicates().values.tolist()) == [[1, 10]]


def test_prompt_is_turn_one_and_answers_have_token_counts(fixtures):
    t = load_arena_bench(fixtures / "arena_bench_v1")
    first = json.loads((fixtures / "arena_bench_v1" / "question.jsonl").read_text().split("\n")[0])
    assert t.requests["prompt"].iloc[0] == first["turns"][0]
    assert t.requests["request_id"].iloc[0] == f"arena-bench-v1/{first['question_id']}"
    assert t.output_tokens_matrix().notna().all().all()
    assert (t.requests["prompt_tokens"] > 0).all()


def _edit_line(path, index, **changes):
    lines = path.read_text("utf-8").splitlines(keepends=True)
    rec = json.loads(lines[index])
    rec.update(changes)
    lines[index] = json.dumps(rec) + "\n"
    path.write_text("".join(lines), "utf-8")


def test_score_outside_1_to_10_names_file_line_and_key(arena_copy):
    f = arena_copy / "model_judgment" / "claude-2.1.jsonl"
    _edit_line(f, 2, score=11)
    with pytest.raises(TraceError) as err:
        load_arena_bench(arena_copy, tokenizer=None)
    assert str(err.value) == (
        f"{f}, line 3, column 'score': 11 is outside the declared scale 1..10 "
        "(null marks a judgement that could not be parsed)"
    )


def test_text_score_is_rejected(arena_copy):
    f = arena_copy / "model_judgment" / "claude-2.1.jsonl"
    _edit_line(f, 0, score="8")
    with pytest.raises(
        TraceError,
        match=r"line 1, column 'score': expected a number in 1..10 or "
        r"null, got '8'",
    ):
        load_arena_bench(arena_copy, tokenizer=None)


def test_judgement_of_unknown_question_is_an_error(arena_copy):
    f = arena_copy / "model_judgment" / "gpt-4-turbo.jsonl"
    _edit_line(f, 4, question_id="nope")
    with pytest.raises(
        TraceError,
        match=r"gpt-4-turbo.jsonl, line 5, column 'question_id': "
        r"judgement for unknown question 'nope'",
    ):
        load_arena_bench(arena_copy, tokenizer=None)


def test_two_files_with_the_same_model_name_both_places(arena_copy):
    src = arena_copy / "model_judgment" / "claude-2.1.jsonl"
    shutil.copyfile(src, arena_copy / "model_judgment" / "zz-copy.jsonl")
    with pytest.raises(TraceError) as err:
        load_arena_bench(arena_copy, tokenizer=None)
    assert "zz-copy.jsonl, line 1, column 'model': second judgement of question" in str(err.value)
    assert "for model 'claude-2.1' (first in claude-2.1.jsonl, line 1)" in str(err.value)


def test_answer_without_markers_is_an_error(arena_copy):
    f = arena_copy / "model_judgment" / "claude-2.1.jsonl"
    _edit_line(f, 1, user_prompt="[Question]\nwhat?\n")
    with pytest.raises(
        TraceError,
        match=r"line 2, column 'user_prompt': cannot find the model's "
        "answer",
    ):
        load_arena_bench(arena_copy, tokenizer=None)


def test_truncated_last_line_is_named(arena_copy):
    f = arena_copy / "model_judgment" / "claude-2.1.jsonl"
    text = f.read_text("utf-8")
    f.write_text(text[: len(text) - 200], "utf-8")
    n = text.count("\n")
    with pytest.raises(TraceError) as err:
        load_arena_bench(arena_copy, tokenizer=None)
    assert str(err.value).startswith(f"{f}, line {n}: truncated JSON (")
    assert str(err.value).endswith(
        "The last line is cut off: was the log still being written? "
        "Remove the partial line or copy the file again"
    )


def test_duplicate_question_id_names_both_lines(arena_copy):
    f = arena_copy / "question.jsonl"
    lines = f.read_text("utf-8").splitlines(keepends=True)
    f.write_text("".join([*lines, lines[0]]), "utf-8")
    with pytest.raises(
        TraceError,
        match=rf"question.jsonl, line {len(lines) + 1}, column "
        r"'question_id': duplicate question '.*' \(first on line 1\)",
    ):
        load_arena_bench(arena_copy, tokenizer=None)
