"""Cheap prompt features computable from the text alone (no model): length, numbers, maths
and code markers, answer-option structure, reading passages.

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

__all__ = ["FEATURE_CLIP", "FEATURE_NAMES", "check_prompts", "prompt_features"]

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?")
_OPTION = re.compile(r"(?m)^\s*\(?[A-J][.)]\s")
_LATEX = re.compile(r"\\[a-zA-Z]+|\$[^$]+\$|\^\{|_\{")
_CODE = re.compile(r"```|\bdef |\breturn\b|\bint |;\s*$|[{}]|==|!=|\bprintf?\b|\bfor\s*\(", re.M)
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_MATH_OPS = re.compile(r"[=+*/^<>×÷%]")
_UNITS = re.compile(r"\$\s?\d|%|\bpercent\b|\bhours?\b|\bminutes?\b|\bdollars?\b|\bcents?\b")
_NEGATION = re.compile(r"\b(?:not|except|least|false|incorrect|never)\b", re.I)
_WORD = re.compile(r"\w+")

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
    ]


def prompt_features(prompts: Sequence[str]) -> np.ndarray:
    """Feature matrix ``(n, len(FEATURE_NAMES))`` of float64 for ``prompts``."""
    return np.array([_one(p) for p in prompts], dtype=np.float64).reshape(
        len(prompts), len(FEATURE_NAMES)
    )


def check_prompts(prompts: Any, where: str = "prompts") -> list[str]:
    """Return ``prompts`` as a list of non-empty strings, or raise naming the first bad one.

    Raises
    ------
    ClassifierError
        If ``prompts`` is a single string, or an entry is not a string or is empty/blank
        (the message gives its 1-based position and how many such entries there are).
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
    return items
