"""Arena-Bench-v1 (lmarena/arena-hard-auto @4a705dd, Apache-2.0): 300 hard prompts, GPT-4
single-answer judgements (1-10) of 15 models.

Layout read (the folder as in the source repository)::

    arena_bench_v1/
      question.jsonl                  question_id, category, turns (1 turn)
      model_judgment/<file>.jsonl     question_id, model, user_prompt, judgment, score

* The model is the record's ``model`` field, never the file name (``gpt-4-turbo.jsonl`` holds
  ``gpt-4-1106-preview``; ``arena-bench-judgment_judge_any.jsonl`` holds ``llama-13b``).
* ``quality = score / 10`` (RouterBench's [0, 1] convention), ``raw_score = score`` on the
  declared scale 1..10. A ``null`` score (the judge's rating could not be parsed) is kept as an
  outcome with quality NaN and counted in ``meta['null_scores']``: explicit, never dropped.
* The model's answer is the text of ``user_prompt`` between ``[The Start of Assistant's Answer]``
  and ``[The End of Assistant's Answer]``; its token count (``tokenizer``) is the outcome's
  ``output_tokens``. The prompt text is ``turns[0]`` of ``question.jsonl``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from simkit.errors import TraceError
from simkit.trace.core import Trace
from simkit.trace.readers import read_jsonl
from simkit.trace.tokens import DEFAULT_TOKENIZER, count_tokens, tokenizer_info

__all__ = ["load_arena_bench"]

_SOURCE = {
    "name": "Arena-Bench-v1 (forerunner of Arena-Hard)",
    "url": "https://github.com/lmarena/arena-hard-auto",
    "commit": "4a705dd6963f777aba2ae79259e3013934e6e012",
    "license": "Apache-2.0",
    "note": "model answers are also subject to their providers' terms",
}
_START = "[The Start of Assistant's Answer]\n"
_END = "\n[The End of Assistant's Answer]"
SCALE = (1.0, 10.0)


def _questions(path: Path) -> pd.DataFrame:
    rows = []
    seen: dict[str, int] = {}
    for line, rec in read_jsonl(path):
        qid = rec.get("question_id")
        if not isinstance(qid, str) or not qid:
            raise TraceError(path, line=line, column="question_id", problem="expected a string id")
        if qid in seen:
            raise TraceError(
                path,
                line=line,
                column="question_id",
                problem=f"duplicate question {qid!r} (first on line {seen[qid]})",
            )
        seen[qid] = line
        turns = rec.get("turns")
        if not isinstance(turns, list) or not turns or not isinstance(turns[0], str):
            raise TraceError(
                path, line=line, column="turns", problem="expected a list of prompt strings"
            )
        category = rec.get("category")
        rows.append((qid, turns[0], category if isinstance(category, str) else None, len(turns)))
    return pd.DataFrame(rows, columns=["question_id", "prompt", "category", "n_turns"])


def _answer(user_prompt: object, path: Path, line: int) -> str:
    if not isinstance(user_prompt, str):
        raise TraceError(path, line=line, column="user_prompt", problem="expected a string")
    start = user_prompt.find(_START)
    end = user_prompt.rfind(_END)
    if start < 0 or end < start:
        raise TraceError(
            path,
            line=line,
            column="user_prompt",
            problem="cannot find the model's answer between \"[The Start of Assistant's Answer]\" "
            'and "[The End of Assistant\'s Answer]"',
        )
    return user_prompt[start + len(_START) : end]


def _judgments(path: Path, known: set[str]) -> pd.DataFrame:
    rows = []
    for line, rec in read_jsonl(path):
        qid, model, score = rec.get("question_id"), rec.get("model"), rec.get("score", "absent")
        if not isinstance(qid, str) or qid not in known:
            raise TraceError(
                path,
                line=line,
                column="question_id",
                problem=f"judgement for unknown question {qid!r}; every judgement must match a "
                "question in question.jsonl",
            )
        if not isinstance(model, str) or not model:
            raise TraceError(path, line=line, column="model", problem="expected a model name")
        if score is None:
            value = np.nan
        elif isinstance(score, (int, float)) and not isinstance(score, bool):
            value = float(score)
            if not SCALE[0] <= value <= SCALE[1]:
                raise TraceError(
                    path,
                    line=line,
                    column="score",
                    problem=f"{score!r} is outside the declared scale 1..10 "
                    "(null marks a judgement that could not be parsed)",
                )
        else:
            raise TraceError(
                path,
                line=line,
                column="score",
                problem=f"expected a number in 1..10 or null, got {score!r}",
            )
        rows.append((qid, model, value, _answer(rec.get("user_prompt"), path, line), line))
    return pd.DataFrame(
        rows, columns=["question_id", "model", "raw_score", "answer", "line"]
    ).assign(file=path.name)


def load_arena_bench(
    path: str | PathLike[str], *, tokenizer: str | None = DEFAULT_TOKENIZER
) -> Trace:
    """Load Arena-Bench-v1: ``path`` is the folder with ``question.jsonl`` and ``model_judgment/``.

    Parameters
    ----------
    path : path-like
        The ``arena_bench_v1`` folder.
    tokenizer : str or None
        Counts prompt tokens and each answer's output tokens (see :mod:`simkit.trace.tokens`);
        ``None`` leaves them ``<NA>``.

    Returns
    -------
    Trace
        One request per question (ids ``arena-bench-v1/<question_id>``, arrival 0: attach
        arrivals with :mod:`simkit.trace.compose`) and one outcome per judgement.

    Raises
    ------
    TraceError
        Unknown question, score outside 1..10, two judgements of the same question for the same
        model (naming both files and lines), no answer markers, bad JSON or a truncated line.
    """
    root = Path(path)
    qpath = root / "question.jsonl"
    jdir = root / "model_judgment"
    if not jdir.is_dir():
        raise TraceError(
            jdir, problem="folder not found; expected Arena-Bench-v1's model_judgment/"
        )
    questions = _questions(qpath)
    files = sorted(jdir.glob("*.jsonl"))
    if not files:
        raise TraceError(jdir, problem="no *.jsonl judgement files")
    known = set(questions["question_id"])
    judg = pd.concat([_judgments(f, known) for f in files], ignore_index=True)
    dup = judg.duplicated(["question_id", "model"]).to_numpy()
    if dup.any():
        second = judg.iloc[int(np.flatnonzero(dup)[0])]
        same = (judg["question_id"] == second["question_id"]) & (judg["model"] == second["model"])
        first = judg[same].iloc[0]
        raise TraceError(
            jdir / str(second["file"]),
            line=int(second["line"]),
            column="model",
            problem=f"second judgement of question {second['question_id']!r} for model "
            f"{second['model']!r} (first in {first['file']}, line {first['line']}); "
            f"{int(dup.sum())} duplicate judgements",
        )
    ids = "arena-bench-v1/" + questions["question_id"]
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": 0.0,
            "prompt": questions["prompt"],
            "category": questions["category"],
            "source": "arena-bench-v1",
        }
    )
    order = {q: i for i, q in enumerate(questions["question_id"])}
    judg = judg.assign(_o=judg["question_id"].map(order)).sort_values(
        ["_o", "model"], kind="stable"
    )
    outcomes = pd.DataFrame(
        {
            "request_id": "arena-bench-v1/" + judg["question_id"],
            "model": judg["model"],
            "quality": judg["raw_score"] / 10.0,
            "raw_score": judg["raw_score"],
            "scale_min": SCALE[0],
            "scale_max": SCALE[1],
        }
    ).reset_index(drop=True)
    meta: dict = {
        "name": "arena-bench-v1",
        "sources": [_SOURCE],
        "quality": "score / 10 (RouterBench convention); raw_score on the judge's 1..10 scale",
        "judge": "GPT-4 single-answer grading with a reference answer ([[rating]] 1-10)",
        "null_scores": {
            str(m): int(n)
            for m, n in judg.groupby("model", sort=True)["raw_score"]
            .apply(lambda s: int(s.isna().sum()))
            .items()
        },
        "files": {f.name: str(judg.loc[judg["file"] == f.name, "model"].iloc[0]) for f in files},
        "arrivals": "none (all 0); attach arrivals with simkit.trace.compose",
    }
    multi_turn = int((questions["n_turns"] > 1).sum())
    if multi_turn:
        meta["multi_turn_questions"] = f"{multi_turn} questions: only turn 1 is the prompt"
    if tokenizer is not None:
        requests["prompt_tokens"] = count_tokens(requests["prompt"], tokenizer=tokenizer)
        outcomes["output_tokens"] = count_tokens(
            judg["answer"].reset_index(drop=True), tokenizer=tokenizer
        )
        meta["tokenizer"] = tokenizer_info(tokenizer)
        meta["output_tokens"] = "tokens of the model's answer embedded in the judgement"
    return Trace(requests, outcomes, meta=meta, where=str(root))
