"""Answer keys: the reference answer of a prompt, looked up by request id or by prompt text.

A key maps a question to ``(kind, answer)`` where ``kind`` is ``'letter'`` (a multiple-choice
letter, MMLU-style) or ``'number'`` (a final number, GSM8K-style). The key shipped with simkit
(:func:`shipped_answer_key`) holds the GSM8K gold answers of the ``routellm_azure`` trace
(``simkit/data/answers/gsm8k.jsonl``, built by ``scripts/build_answer_key.py``). The shared data
holds no MMLU gold letters, so MMLU prompts need a key of your own (a JSONL file of
``{"request_id" or "prompt", "kind", "answer"}`` lines, read by :func:`load_answer_key`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from simkit.errors import SpecError
from simkit.live.text import prompt_sha256

__all__ = ["KINDS", "AnswerKey", "Reference", "load_answer_key", "shipped_answer_key"]

#: Kinds of reference answer and what the answer looks like.
KINDS = {"letter": "one letter A-J", "number": "a number such as 18 or -2.5"}


@dataclass(frozen=True, slots=True)
class Reference:
    """The reference answer of one question."""

    kind: str  # 'letter' or 'number'
    answer: str


@dataclass(frozen=True)
class AnswerKey:
    """Reference answers by request id and by the SHA-256 of the question text.

    Parameters
    ----------
    by_id : mapping of str to Reference
        Request id -> reference.
    by_sha : mapping of str to Reference
        SHA-256 of the question text (:func:`~simkit.live.text.prompt_sha256`) -> reference.
    """

    by_id: Mapping[str, Reference] = field(default_factory=dict)
    by_sha: Mapping[str, Reference] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", MappingProxyType(dict(self.by_id)))
        object.__setattr__(self, "by_sha", MappingProxyType(dict(self.by_sha)))

    def __len__(self) -> int:
        return len(self.by_sha) or len(self.by_id)

    def lookup(self, *, request_id: str | None = None, text: str | None = None) -> Reference | None:
        """The reference for a request id or a question text (the id wins), or None."""
        if request_id is not None and request_id in self.by_id:
            return self.by_id[request_id]
        if text is not None:
            return self.by_sha.get(prompt_sha256(text))
        return None

    def merged(self, other: AnswerKey) -> AnswerKey:
        """A key holding both; ``other`` wins where both know a question."""
        return AnswerKey({**self.by_id, **other.by_id}, {**self.by_sha, **other.by_sha})

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], *, source: str) -> AnswerKey:
        """Build a key from ``{"request_id"?, "prompt" or "prompt_sha256"?, "kind", "answer"}``.

        Raises
        ------
        SpecError
            Naming the source and the record (1-based) and key at fault.
        """
        by_id: dict[str, Reference] = {}
        by_sha: dict[str, Reference] = {}
        for i, rec in enumerate(records, start=1):
            where = f"record {i}"
            if not isinstance(rec, Mapping):
                raise SpecError(source, key=where, problem=f"expected an object, got {rec!r:.60}")
            kind = rec.get("kind")
            if kind not in KINDS:
                raise SpecError(
                    source,
                    key=f"{where}.kind",
                    problem=f"unknown kind {kind!r}; valid kinds: {', '.join(sorted(KINDS))}",
                )
            answer = rec.get("answer")
            if not isinstance(answer, (str, int, float)) or isinstance(answer, bool):
                raise SpecError(
                    source, key=f"{where}.answer", problem=f"expected {KINDS[kind]}, got {answer!r}"
                )
            ref = Reference(kind, _check_answer(kind, str(answer).strip(), source, where))
            sha = rec.get("prompt_sha256")
            if sha is None and isinstance(rec.get("prompt"), str):
                sha = prompt_sha256(rec["prompt"])
            rid = rec.get("request_id")
            if sha is None and rid is None:
                raise SpecError(
                    source,
                    key=where,
                    problem="names no question: expected 'request_id', 'prompt' or 'prompt_sha256'",
                )
            if rid is not None:
                by_id[str(rid)] = ref
            if sha is not None:
                by_sha[str(sha)] = ref
        return cls(by_id, by_sha)


def _check_answer(kind: str, answer: str, source: str, where: str) -> str:
    if kind == "letter":
        ok = len(answer) == 1 and "A" <= answer.upper() <= "J"
        answer = answer.upper()
    else:
        try:
            float(answer.replace(",", ""))
            ok = True
            answer = answer.replace(",", "")
        except ValueError:
            ok = False
    if not ok:
        raise SpecError(
            source, key=f"{where}.answer", problem=f"expected {KINDS[kind]}, got {answer!r}"
        )
    return answer


def load_answer_key(path: str | PathLike[str]) -> AnswerKey:
    """Read an answer key from a JSONL file (one reference per line).

    Raises
    ------
    SpecError
        If the file is missing, a line is not JSON, or a record is malformed (line named).
    """
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise SpecError(p, problem=f"cannot read the answer key ({exc.strerror})") from None
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SpecError(
                p, key=f"line {line_no}", problem=f"not valid JSON ({exc.msg})"
            ) from None
    return AnswerKey.from_records(records, source=str(p))


def shipped_answer_key() -> AnswerKey:
    """The GSM8K gold answers of the shipped ``routellm_azure`` trace (1,319 questions)."""
    ref = resources.files("simkit") / "data" / "answers" / "gsm8k.jsonl"
    with resources.as_file(ref) as path:
        return load_answer_key(path)
