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
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from simkit.errors import ClassifierError

__all__ = ["FEATURE_CLIP", "FEATURE_NAMES", "check_prompts", "prompt_features", "scale_features"]

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?")
_OPTION = re.compile(r"(?m)^\s*\(?[A-J][.)]\s")
_LATEX = re.compile(r"\\[a-zA-Z]+|\$[^$]+\$|\^\{|_\{")
_CODE = re.compile(r"```|\bdef |\breturn\b|\bint |;\s*$|[{}]|==|!=|\bprintf?\b|\bfor\s*\(", re.M)
_SENTENCE = re.compile(r"[.!?](?:\s|$)")
_MATH_OPS = re.compile(r"[=+*/^<>×÷%]")
_WORD = re.compile(r"\w+")
# word-problem structure (prompt text only)
_QUANTITY = re.compile(r"(?<![\w.])\$?\d+(?:,\d{3})*(?:\.\d+)?%?")


def _plurals(*words: str) -> tuple[str, ...]:
    return tuple(f for w in words for f in (w, w + "s"))


# The word lists, every form spelled out: the regular expressions below are built from them
# (the definition, used for any text) and so is the word-token fast path for ASCII text.
_NUMBER_WORDS = _plurals(
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "hundred", "thousand", "million",
    "dozen", "half", "third", "quarter", "fourth", "fifth", "twice", "double", "triple",
    "thrice", "pair",
)  # fmt: skip
_MULTIPLICATIVE_WORDS = (
    "twice", "double", "triple", "thrice", "half", "times", "quarter", "third", "percent",
    "ratio", "per", "each", "every", "average", "rate", "proportion",
)  # fmt: skip
_ADDITIVE_WORDS = (
    "more", "less", "fewer", "remaining", "left", "rest", "total", "altogether", "combined",
    "difference", "sum", "increase", "decrease", "discount", "profit", "spend", "spent", "save",
    "saved", "change",
)  # fmt: skip
_MEASURE_WORDS = (
    *_plurals("second", "minute", "hour", "day", "week", "month", "year"), "mph",
    *_plurals("mile"), "km", *_plurals("meter"), "feet", "foot", "inch", "inches",
    *_plurals("pound"), "kg", *_plurals("gram", "liter", "gallon", "ounce"),
)  # fmt: skip
_MONEY_WORDS = _plurals("dollar", "cent")
_CONDITION_WORDS = (
    "if", "when", "after", "before", "until", "then", "while", "instead", "otherwise",
)  # fmt: skip
_NEGATION_WORDS = ("not", "except", "least", "false", "incorrect", "never")
_FRACTION_WORDS = _plurals("half", "third", "quarter", "fourth", "fifth", "tenth")
#: _UNITS's words (matched case-sensitively)
_UNIT_WORDS = ("percent", *_plurals("hour", "minute", "dollar", "cent"))


def _any_word(words: Sequence[str]) -> str:
    return r"\b(?:" + "|".join(words) + r")\b"


_NUMBER_WORD = re.compile(_any_word(_NUMBER_WORDS), re.I)
_MULTIPLICATIVE = re.compile(_any_word(_MULTIPLICATIVE_WORDS) + "|%", re.I)
_ADDITIVE = re.compile(_any_word(_ADDITIVE_WORDS), re.I)
_MEASURE = re.compile(_any_word(_MEASURE_WORDS), re.I)
_MONEY = re.compile(r"\$|" + _any_word(_MONEY_WORDS), re.I)
_CONDITION = re.compile(_any_word(_CONDITION_WORDS), re.I)
_NEGATION = re.compile(_any_word(_NEGATION_WORDS), re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
_PERCENT = re.compile(r"%|\bpercent", re.I)
_FRACTION = re.compile(r"\d\s*/\s*\d|" + _any_word(_FRACTION_WORDS), re.I)
_UNITS = re.compile(r"\$\s?\d|%|" + _any_word(_UNIT_WORDS))

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


_DECIMAL = re.compile(r"\d\.\d")
_DIGIT_SLASH = re.compile(r"\d\s*/\s*\d")


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
    opt_pos = [m.start() for m in _OPTION.finditer(text)]
    option_chars = (n_chars - opt_pos[0]) if opt_pos else 0
    stem = text[: opt_pos[0]] if opt_pos else text
    lex = _lexical_tokens(text, words, stem)
    return [
        np.log1p(n_chars),
        np.log1p(n_words),
        np.log1p(lines),
        np.log1p(len(_SENTENCE.findall(text))),
        (sum(map(len, words)) / n_words) if n_words else 0.0,
        float(len(numbers)),
        np.log1p(max(values)) if values else 0.0,
        lex.digits / n_chars if n_chars else 0.0,
        float(bool(_DECIMAL.search(text))),
        float(bool(_DIGIT_SLASH.search(text))),
        float(len(_MATH_OPS.findall(text))),
        float(lex.units),
        float(bool(_LATEX.search(text))),
        float(lex.code),
        float(len(opt_pos)),
        option_chars / n_chars if n_chars else 0.0,
        float(len(stem) > 600 or "refers to the following" in stem.lower()),
        float(stem.count("?")),
        float(lex.negation),
        (lex.uppers / lex.letters) if lex.letters else 0.0,
        *_word_problem(text, n_words, lex),
    ]


class _Lexical(NamedTuple):
    """What the word lists and character classes count in one prompt."""

    digits: int  # characters with str.isdigit()
    letters: int  # characters with str.isalpha()
    uppers: int  # letters with str.isupper()
    units: int  # _UNITS matches
    code: int  # _CODE matches
    negation: bool  # _NEGATION found in the stem
    number_words: int  # _NUMBER_WORD matches
    multiplicative: int  # _MULTIPLICATIVE matches
    additive: int  # _ADDITIVE matches
    measure: int  # _MEASURE matches
    money: int  # _MONEY matches
    conditions: int  # _CONDITION matches
    percent: int  # _PERCENT matches
    fraction: int  # _FRACTION matches


def _lexical_regex(text: str, stem: str) -> _Lexical:
    """The definition of the counts: one regular-expression pass per word list. The features
    use :func:`_lexical_tokens`, which gives the same counts in a fraction of the time; the
    tests hold the two equal."""
    letters = [c for c in text if c.isalpha()]
    return _Lexical(
        sum(c.isdigit() for c in text),
        len(letters),
        sum(c.isupper() for c in letters),
        len(_UNITS.findall(text)),
        len(_CODE.findall(text)),
        bool(_NEGATION.search(stem)),
        len(_NUMBER_WORD.findall(text)),
        len(_MULTIPLICATIVE.findall(text)),
        len(_ADDITIVE.findall(text)),
        len(_MEASURE.findall(text)),
        len(_MONEY.findall(text)),
        len(_CONDITION.findall(text)),
        len(_PERCENT.findall(text)),
        len(_FRACTION.findall(text)),
    )


# bit flags of a lower-case word in the word lists (the fast path for ASCII text)
_NUMBER_WORD_BIT, _MULT_BIT, _ADD_BIT, _MEASURE_BIT, _CONDITION_BIT = 1, 2, 4, 8, 16
_NEGATION_BIT, _MONEY_BIT, _FRACTION_BIT = 32, 64, 128


def _word_flags() -> dict[str, int]:
    flags: dict[str, int] = {}
    for words, bit in (
        (_NUMBER_WORDS, _NUMBER_WORD_BIT),
        (_MULTIPLICATIVE_WORDS, _MULT_BIT),
        (_ADDITIVE_WORDS, _ADD_BIT),
        (_MEASURE_WORDS, _MEASURE_BIT),
        (_CONDITION_WORDS, _CONDITION_BIT),
        (_NEGATION_WORDS, _NEGATION_BIT),
        (_MONEY_WORDS, _MONEY_BIT),
        (_FRACTION_WORDS, _FRACTION_BIT),
    ):
        for word in words:
            flags[word] = flags.get(word, 0) | bit
    return flags


_WORD_FLAGS = MappingProxyType(_word_flags())
_TOKEN_PATTERNS = (
    (_NUMBER_WORD, _NUMBER_WORD_BIT),
    (_MULTIPLICATIVE, _MULT_BIT),
    (_ADDITIVE, _ADD_BIT),
    (_MEASURE, _MEASURE_BIT),
    (_CONDITION, _CONDITION_BIT),
    (_NEGATION, _NEGATION_BIT),
    (_MONEY, _MONEY_BIT),
    (_FRACTION, _FRACTION_BIT),
)
_PERCENT_WORD = re.compile("percent", re.I)
_UNIT_WORD_SET = frozenset(_UNIT_WORDS)
_CODE_WORDS = frozenset(("def", "return", "int", "print", "printf", "for"))
_CODE_WORD_PART = re.compile(r"\b(?:def |return\b|int |printf?\b|for\s*\()")
_EQUALITY = re.compile(r"==|!=")
_LINE_END_SEMICOLON = re.compile(r";\s*$", re.M)
_DOLLAR_DIGIT = re.compile(r"\$\s?\d")
_DIGITS = b"0123456789"
_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_UPPERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _token_flags(token: str) -> int:
    """The word lists a non-ASCII token belongs to, by the patterns themselves (a token that
    is not ASCII can still match under ``re.I``: the long s and the Kelvin sign fold to ASCII)."""
    out = 0
    for pattern, bit in _TOKEN_PATTERNS:
        if pattern.fullmatch(token):
            out |= bit
    return out


def _lexical_tokens(text: str, words: list[str], stem: str) -> _Lexical:
    """:func:`_lexical_regex`'s counts, from the word tokens ``words`` (``_WORD.findall``).

    Equal by construction (``tests/classify/test_features.py`` checks it on every shipped
    prompt and on generated text): a ``\\bWORD\\b`` alternative of letters only matches
    exactly the whole ``\\w+`` tokens that equal a listed word (case-folded under ``re.I``,
    which for an ASCII token is ``str.lower``; a non-ASCII token is matched by the pattern
    itself), and a pattern's other alternatives (``%``, ``$``, digits and symbols) never share
    a character with such a token, so the counts add up.
    """
    if text.isascii():
        raw = text.encode("ascii")
        n = len(raw)
        digits = n - len(raw.translate(None, _DIGITS))
        letters = n - len(raw.translate(None, _LETTERS))
        uppers = n - len(raw.translate(None, _UPPERS))
        lower = text.lower()  # ASCII: the same tokens, case-folded as re.I folds them
        lower_words = _WORD.findall(lower)
        flags = [f for f in map(_WORD_FLAGS.get, lower_words) if f]
        # "percent" at the start of a token (_PERCENT has no \b after it)
        percent = sum(w.startswith("percent") for w in lower_words) if "percent" in lower else 0
        if stem is text:
            negation = any(f & _NEGATION_BIT for f in flags)
        else:
            stem_flags = map(_WORD_FLAGS.get, _WORD.findall(lower[: len(stem)]))
            negation = any(f & _NEGATION_BIT for f in stem_flags if f)
    else:
        digits = sum(map(str.isdigit, text))
        alpha = list(filter(str.isalpha, text))
        letters, uppers = len(alpha), sum(map(str.isupper, alpha))
        flags = [
            f
            for f in (
                _WORD_FLAGS.get(w.lower(), 0) if w.isascii() else _token_flags(w) for w in words
            )
            if f
        ]
        percent = sum(1 for w in words if _PERCENT_WORD.match(w))
        stem_words = words if stem is text else _WORD.findall(stem)
        negation = any(
            (_WORD_FLAGS.get(w.lower(), 0) if w.isascii() else _token_flags(w)) & _NEGATION_BIT
            for w in stem_words
        )
    counts = dict.fromkeys(
        (_NUMBER_WORD_BIT, _MULT_BIT, _ADD_BIT, _MEASURE_BIT, _CONDITION_BIT, _MONEY_BIT,
         _FRACTION_BIT), 0,
    )  # fmt: skip
    for f in flags:
        for bit in counts:
            if f & bit:
                counts[bit] += 1
    unit_words = 0 if _UNIT_WORD_SET.isdisjoint(words) else sum(w in _UNIT_WORD_SET for w in words)
    n_pct = text.count("%")
    n_dollar = text.count("$")
    code = (
        text.count("```")
        + text.count("{")
        + text.count("}")
        + len(_EQUALITY.findall(text))
        + len(_LINE_END_SEMICOLON.findall(text))
        + (0 if _CODE_WORDS.isdisjoint(words) else len(_CODE_WORD_PART.findall(text)))
    )
    return _Lexical(
        digits,
        letters,
        uppers,
        (len(_DOLLAR_DIGIT.findall(text)) if n_dollar else 0) + n_pct + unit_words,
        code,
        negation,
        counts[_NUMBER_WORD_BIT],
        counts[_MULT_BIT] + n_pct,
        counts[_ADD_BIT],
        counts[_MEASURE_BIT],
        counts[_MONEY_BIT] + n_dollar,
        counts[_CONDITION_BIT],
        percent + n_pct,
        counts[_FRACTION_BIT] + len(_DIGIT_SLASH.findall(text)),
    )


def _word_problem(text: str, n_words: int, lex: _Lexical) -> list[float]:
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
    n_number_words = lex.number_words
    n_mult = lex.multiplicative
    n_add = lex.additive
    lo, hi = (np.log1p(min(values)), np.log1p(max(values))) if values else (0.0, 0.0)
    return [
        float(len(set(values))),
        float(n_number_words),
        float(n_mult),
        float(n_add),
        float(lex.measure),
        float(lex.money),
        float(lex.conditions),
        n_words / max(len(sentences), 1),
        float(len(_WORD.findall(question))),
        float(lex.percent),
        float(lex.fraction),
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
