"""Graders: turn a model's answer into a score on a declared scale, or a *missing* grade.

Each grader is a small class with one method. A grade that cannot be given (no reference
answer, an answer with no letter or number in it, a judge reply without a rating, a failed
judge call) is *missing* (``raw_score is None`` with a reason), never 0. The recorded trace
keeps the raw score and its scale; ``quality`` is the score mapped onto [0, 1].

* :class:`ExactLetter` — multiple choice (MMLU style): the answer's chosen letter equals the key.
* :class:`FinalNumber` — GSM8K style: the answer's final number equals the key's.
* :class:`JudgeGrader` — LLM-as-judge, single-answer grading on 1-10 in the style of MT-Bench
  (its ``single-v1`` prompt); the recorder makes the call, so its cost counts in the budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from simkit.live.answers import Reference

__all__ = [
    "JUDGE_SYSTEM",
    "JUDGE_TEMPLATE",
    "ExactLetter",
    "FinalNumber",
    "Grade",
    "JudgeGrader",
    "KeyGrader",
    "grade_with_key",
]


@dataclass(frozen=True, slots=True)
class Grade:
    """One grade: a raw score on ``[scale_min, scale_max]``, or missing with the reason."""

    grader: str
    raw_score: float | None
    scale_min: float
    scale_max: float
    reason: str = ""

    @property
    def quality(self) -> float:
        """The score mapped onto [0, 1]; NaN when the grade is missing."""
        if self.raw_score is None:
            return math.nan
        return (self.raw_score - self.scale_min) / (self.scale_max - self.scale_min)


_LETTER_PATTERNS = (
    re.compile(r"(?i:answer)\s*(?:(?i:is)|:)?\s*(?:(?i:option)\s*)?\(?\**([A-J])\b\)?"),
    re.compile(r"^\s*\(?([A-J])[).:]", re.MULTILINE),
    re.compile(r"^\s*\(?([A-J])\)?\s*$"),
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class ExactLetter:
    """Multiple choice: the last ``answer is X`` / ``Answer: X`` (else a leading ``X.`` or a lone
    letter) must equal the reference letter. Scale 0..1."""

    name: str = "exact_letter"

    @staticmethod
    def extract(answer: str) -> str | None:
        """The letter the answer chose, or None when it names none."""
        for pattern in _LETTER_PATTERNS:
            found = pattern.findall(answer)
            if found:
                return found[-1].upper()
        return None

    def grade(self, answer: str, reference: Reference | None) -> Grade:
        """Grade one answer against a ``letter`` reference."""
        if reference is None or reference.kind != "letter":
            return Grade(self.name, None, 0.0, 1.0, "no letter reference for this question")
        chosen = self.extract(answer)
        if chosen is None:
            return Grade(self.name, None, 0.0, 1.0, "no answer letter found in the answer")
        return Grade(self.name, float(chosen == reference.answer), 0.0, 1.0)


@dataclass(frozen=True)
class FinalNumber:
    """GSM8K style: the first number after the last ``####``, else the last number in the answer,
    must equal the reference (commas ignored, ``rel_tol`` 1e-6). Scale 0..1."""

    name: str = "final_number"
    rel_tol: float = 1e-6

    @staticmethod
    def extract(answer: str) -> float | None:
        """The answer's final number, or None when it has none."""
        if "####" in answer:
            found = _NUMBER.findall(answer.rsplit("####", 1)[1])[:1]
        else:
            found = _NUMBER.findall(answer)[-1:]
        if not found:
            return None
        try:
            return float(found[0].replace(",", ""))
        except ValueError:
            return None

    def grade(self, answer: str, reference: Reference | None) -> Grade:
        """Grade one answer against a ``number`` reference."""
        if reference is None or reference.kind != "number":
            return Grade(self.name, None, 0.0, 1.0, "no number reference for this question")
        got = self.extract(answer)
        if got is None:
            return Grade(self.name, None, 0.0, 1.0, "no number found in the answer")
        right = math.isclose(got, float(reference.answer), rel_tol=self.rel_tol, abs_tol=1e-9)
        return Grade(self.name, float(right), 0.0, 1.0)


@dataclass(frozen=True)
class KeyGrader:
    """The recorder's default: by the reference's kind, letters exactly, numbers by final number.

    Any object with ``grade(answer, reference) -> Grade`` can take its place
    (``record(..., grader=...)``): it sees every answer, with or without a reference.
    """

    name: str = "key"

    def grade(self, answer: str, reference: Reference | None) -> Grade:
        """Grade one answer; without a reference the grade is missing."""
        if reference is not None and reference.kind == "number":
            return FinalNumber().grade(answer, reference)
        return ExactLetter().grade(answer, reference)


def grade_with_key(answer: str, reference: Reference | None) -> Grade:
    """Grade by the reference's kind: letters exactly, numbers by final number."""
    return KeyGrader().grade(answer, reference)


#: MT-Bench's single-answer judge prompt (FastChat ``judge_prompts.jsonl``, ``single-v1``).
JUDGE_SYSTEM = "You are a helpful assistant."
JUDGE_TEMPLATE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response "
    "provided by an AI assistant to the user question displayed below. Your evaluation should "
    "consider factors such as the helpfulness, relevance, accuracy, depth, creativity, and level "
    "of detail of the response. Begin your evaluation by providing a short explanation. Be as "
    "objective as possible. After providing your explanation, you must rate the response on a "
    'scale of 1 to 10 by strictly following this format: "[[rating]]", for example: '
    '"Rating: [[5]]".\n\n[Question]\n{question}\n\n[The Start of Assistant\'s Answer]\n{answer}\n'
    "[The End of Assistant's Answer]"
)
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")


@dataclass(frozen=True)
class JudgeGrader:
    """LLM-as-judge on 1-10 (MT-Bench single-answer grading).

    Parameters
    ----------
    endpoint : str
        Name of the judge's endpoint in the endpoints file.
    max_output_tokens : int
        ``max_tokens`` of the judge call (reserved in full in the budget).
    """

    endpoint: str
    max_output_tokens: int = 512
    name: str = "llm_judge"
    scale_min: float = 1.0
    scale_max: float = 10.0

    def messages(self, question: str, answer: str) -> list[dict[str, str]]:
        """The judge's chat messages for one question and answer."""
        prompt = JUDGE_TEMPLATE.format(question=question, answer=answer)
        return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt}]

    def parse(self, reply: str) -> Grade:
        """The rating in ``[[x]]`` (else ``[x]``, as MT-Bench's parser); outside 1-10 or absent is missing."""
        found = _RATING.findall(reply) or _RATING_BACKUP.findall(reply)
        if not found:
            return Grade(
                self.name,
                None,
                self.scale_min,
                self.scale_max,
                "no [[rating]] in the judge's reply",
            )
        score = float(found[-1])
        if not self.scale_min <= score <= self.scale_max:
            return Grade(
                self.name, None, self.scale_min, self.scale_max, f"rating {score:g} outside 1-10"
            )
        return Grade(self.name, score, self.scale_min, self.scale_max)

    def failed(self, reason: str) -> Grade:
        """A missing grade for a judge call that did not return a reply."""
        return Grade(self.name, None, self.scale_min, self.scale_max, reason)
