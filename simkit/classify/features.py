"""Cheap prompt features computable from the text alone (no model): length, numbers, maths
and code markers, answer-option structure, reading passages, and the structure of a maths word
problem (how many quantities, operations and conditions it chains: a proxy for the number of
reasoning steps, which is what separates a weak model's failures from a strong one's).

They are what a gateway can compute in microseconds for any prompt, so they are legitimate
routing features; benchmark metadata such as the MMLU subject is not (a gateway would not know
it) and is not used here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from simkit.errors import ClassifierError

__all__ = ["FEATURE_CLIP", "FEATURE_NAMES", "check_prompts", "prompt_features", "scale_features"]

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?")
_OPTION = re.compile(r"(?m)^\s*\(?[A-J][.)]\s")
_LATEX = re.compile(r"\\[a-zA-Z]+|\$[^$]+\$|\^\{|_\{")
_CODE = re.compile(r"```|\bdef |\breturn\b|\bint |;\s*$|[{}]|==|!=|\bprintf?\b|\bfor\s*\(", re.M)
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_MATH_OPS = re.compile(r"[=+*/^<>×÷%]")
_UNITS = re.compile(r"\$\s?\d|%|\bpercent\b|\bhours?\b|\bminutes?\b|\bdollars?\b|\bcents?\b")
_NEGATION = re.compile(r"\b(?:not|except|least|false|incorrect|never)\b", re.I)
_WORD = re.compile(r"\w+")
# word-problem structure (prompt text only)
_QUANTITY = re.compile(r"(?<![\w.])\$?\d+(?:,\d{3})*(?:\.\d+)?%?")
_NUMBER_WORD = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|fifty|hundred|thousand|million|dozen|half|third|quarter|fourth|fifth|"
    r"twice|double|triple|thrice|pair)s?\b",
    re.I,
)
_MULTIPLICATIVE = re.compile(
    r"\b(?:twice|double|triple|thrice|half|times|quarter|third|percent|ratio|per|each|every|"
    r"average|rate|proportion)\b|%",
    re.I,
)
_ADDITIVE = re.compile(
    r"\b(?:more|less|fewer|remaining|left|rest|total|altogether|combined|difference|sum|"
    r"increase|decrease|discount|profit|spend|spent|save|saved|change)\b",
    re.I,
)
_MEASURE = re.compile(
    r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|mph|miles?|km|meters?|feet|"
    r"foot|inch(?:es)?|pounds?|kg|grams?|liters?|gallons?|ounces?)\b",
    re.I,
)
_MONEY = re.compile(r"\$|\bdollars?\b|\bcents?\b", re.I)
_CONDITION = re.compile(r"\b(?:if|when|after|before|until|then|while|instead|otherwise)\b", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_PERCENT = re.compile(r"%|\bpercent", re.I)
_FRACTION = re.compile(r"\d\s*/\s*\d|\b(?:half|third|quarter|fourth|fifth|tenth)s?\b", re.I)

#: Standardised prompt features are clipped to +-this many training standard deviations, so a
#: prompt unlike the training data (another benchmark) cannot saturate a classifier.
FEATURE_CLIP = 5.0

#: Names of the columns :func:`prompt_features` returns, in order.
FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "log_sentences",
    "mean_word_len",
    "n_numbers",
    "log_max_number",
    "digit_share",
    "has_decimal",
    "has_fraction",
    "n_math_ops",
    "n_units",
    "has_latex",
    "n_code_markers",
    "n_options",
    "option_chars_share",
    "has_passage",
    "n_questions",
    "has_negation",
    "upper_share",
    "n_distinct_numbers",
    "n_number_words",
    "n_multiplicative_words",
    "n_additive_words",
    "n_measure_units",
    "n_money",
    "n_conditions",
    "mean_sentence_words",
    "question_words",
    "n_percent",
    "n_fraction_marks",
    "n_decimals",
    "log_min_number",
    "log_number_range",
    "est_steps",
    "n_commas",
    "n_large_numbers",
)


def _one(text: str) -> list[float]:
    n_chars = len(text)
    words = _WORD.findall(text)
    n_words = len(words)
    numbers = _NUMBER.findall(text)
    values = []
    for s in numbers:
        try:
            values.append(abs(float(s.replace(",", ""))))
        except ValueError:
            continue
    lines = text.count("\n") + 1
    options = _OPTION.findall(text)
    opt_pos = [m.start() for m in _OPTION.finditer(text)]
    option_chars = (n_chars - opt_pos[0]) if opt_pos else 0
    stem = text[: opt_pos[0]] if opt_pos else text
    digits = sum(c.isdigit() for c in text)
    letters = [c for c in text if c.isalpha()]
    return [
        np.log1p(n_chars),
        np.log1p(n_words),
        np.log1p(lines),
        np.log1p(len(_SENTENCE.findall(text))),
        (sum(map(len, words)) / n_words) if n_words else 0.0,
        float(len(numbers)),
        np.log1p(max(values)) if values else 0.0,
        digits / n_chars if n_chars else 0.0,
        float(bool(re.search(r"\d\.\d", text))),
        float(bool(re.search(r"\d\s*/\s*\d", text))),
        float(len(_MATH_OPS.findall(text))),
        float(len(_UNITS.findall(text))),
        float(bool(_LATEX.search(text))),
        float(len(_CODE.findall(text))),
        float(len(options)),
        option_chars / n_chars if n_chars else 0.0,
        float(len(stem) > 600 or "refers to the following" in stem.lower()),
        float(stem.count("?")),
        float(bool(_NEGATION.search(stem))),
        (sum(c.isupper() for c in letters) / len(letters)) if letters else 0.0,
        *_word_problem(text, n_words),
    ]


def _word_problem(text: str, n_words: int) -> list[float]:
    """Quantities, operations and conditions of a maths word problem (GSM8K-style)."""
    quantities = _QUANTITY.findall(text)
    values = []
    for s in quantities:
        try:
            values.append(abs(float(s.strip("$%").replace(",", ""))))
        except ValueError:
            continue
    sentences = [s for s in _SENTENCE_SPLIT.split(text.strip()) if s]
    question = sentences[-1] if sentences else text
    n_number_words = len(_NUMBER_WORD.findall(text))
    n_mult = len(_MULTIPLICATIVE.findall(text))
    n_add = len(_ADDITIVE.findall(text))
    lo, hi = (np.log1p(min(values)), np.log1p(max(values))) if values else (0.0, 0.0)
    return [
        float(len(set(values))),
        float(n_number_words),
        float(n_mult),
        float(n_add),
        float(len(_MEASURE.findall(text))),
        float(len(_MONEY.findall(text))),
        float(len(_CONDITION.findall(text))),
        n_words / max(len(sentences), 1),
        float(len(_WORD.findall(question))),
        float(len(_PERCENT.findall(text))),
        float(len(_FRACTION.findall(text))),
        float(sum("." in s for s in quantities)),
        lo,
        hi - lo,
        len(quantities) + n_number_words + n_mult + 0.5 * n_add,
        float(text.count(",")),
        float(sum(v >= 1000 for v in values)),
    ]


def prompt_features(prompts: Sequence[str]) -> np.ndarray:
    """Feature matrix ``(n, len(FEATURE_NAMES))`` of float64 for ``prompts``."""
    return np.array([_one(p) for p in prompts], dtype=np.float64).reshape(
        len(prompts), len(FEATURE_NAMES)
    )


def scale_features(
    f: np.ndarray, mean: np.ndarray, scale: np.ndarray, weight: float, clip: float = FEATURE_CLIP
) -> np.ndarray:
    """Standardise feature rows with the training ``mean``/``scale``, clip to +-``clip`` and
    multiply by ``weight``: what the heads see, in training and in a bundle alike."""
    return np.clip((f - mean) / scale, -clip, clip) * weight


def check_prompts(prompts: Any, where: str = "prompts") -> list[str]:
    """Return ``prompts`` as a list of non-empty strings, or raise naming the first bad one.

    Raises
    ------
    ClassifierError
        If ``prompts`` is a single string, or an entry is not a string, is empty/blank or holds
        text that is not valid Unicode (the message gives its 1-based position and how many
        such entries there are).
    """
    if isinstance(prompts, (str, bytes)):
        raise ClassifierError(
            f"{where}: expected a sequence of prompts, got a single {type(prompts).__name__}; "
            "wrap it in a list"
        )
    try:
        items = list(prompts)
    except TypeError:
        raise ClassifierError(
            f"{where}: expected a sequence of prompt strings, got {type(prompts).__name__}"
        ) from None
    bad_type = [i for i, p in enumerate(items) if not isinstance(p, str)]
    if bad_type:
        i = bad_type[0]
        raise ClassifierError(
            f"{where}, row {i + 1}: expected a prompt string, got {type(items[i]).__name__} "
            f"{items[i]!r} ({len(bad_type)} non-string entries)"
        )
    empty = [i for i, p in enumerate(items) if not p.strip()]
    if empty:
        raise ClassifierError(
            f"{where}, row {empty[0] + 1}: empty prompt ({len(empty)} empty or blank prompts); "
            "a prompt needs some text to be scored"
        )
    for i, p in enumerate(items):
        try:
            p.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates: undecodable bytes from argv/files
            raise ClassifierError(
                f"{where}, row {i + 1}: not valid UTF-8 text (undecodable bytes at character "
                f"{exc.start}); give prompts as UTF-8"
            ) from None
    return items
