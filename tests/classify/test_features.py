"""Prompt features: the word-problem block counts what a maths problem chains together."""

from __future__ import annotations

import numpy as np

from simkit.classify.features import FEATURE_NAMES, prompt_features

WORD_PROBLEM = FEATURE_NAMES[FEATURE_NAMES.index("n_distinct_numbers") :]

# two real GSM8K test prompts (openai/grade-school-math, MIT; as in RouteLLM's eval data)
SHEEP = (
    "Toulouse has twice as many sheep as Charleston. Charleston has 4 times as many sheep as "
    "Seattle. How many sheep do Toulouse, Charleston, and Seattle have together if Seattle "
    "has 20 sheep?"
)
SALARY = (
    "Jill gets paid $20 per hour to teach and $30 to be a cheerleading coach. If she works 50 "
    "weeks a year, 35 hours a week as a teacher and 15 hours a week as a coach, what's her "
    "annual salary?"
)


def _block(prompt: str) -> dict[str, float]:
    row = prompt_features([prompt])[0]
    return dict(zip(WORD_PROBLEM, row[-len(WORD_PROBLEM) :].tolist(), strict=True))


def test_word_problem_features_count_quantities_operations_and_conditions():
    """'twice' is a number word and a multiplier, 'times' a multiplier, 'if' a condition;
    4 and 20 are the quantities; 32 words in 3 sentences, 15 in the question."""
    expected = {
        "n_distinct_numbers": 2.0,
        "n_number_words": 1.0,
        "n_multiplicative_words": 2.0,
        "n_additive_words": 0.0,
        "n_measure_units": 0.0,
        "n_money": 0.0,
        "n_conditions": 1.0,
        "mean_sentence_words": 32 / 3,
        "question_words": 15.0,
        "n_percent": 0.0,
        "n_fraction_marks": 0.0,
        "n_decimals": 0.0,
        "log_min_number": float(np.log1p(4)),
        "log_number_range": float(np.log1p(20) - np.log1p(4)),
        "est_steps": 5.0,  # 2 quantities + 1 number word + 2 multipliers
        "n_commas": 2.0,
        "n_large_numbers": 0.0,
    }
    assert _block(SHEEP) == expected


def test_word_problem_features_see_money_units_and_rates():
    """Five dollar or plain quantities, two '$', seven time units, one 'per', one 'if'."""
    expected = {
        "n_distinct_numbers": 5.0,
        "n_number_words": 0.0,
        "n_multiplicative_words": 1.0,
        "n_additive_words": 0.0,
        "n_measure_units": 7.0,
        "n_money": 2.0,
        "n_conditions": 1.0,
        "mean_sentence_words": 21.0,
        "question_words": 27.0,
        "n_percent": 0.0,
        "n_fraction_marks": 0.0,
        "n_decimals": 0.0,
        "log_min_number": float(np.log1p(15)),
        "log_number_range": float(np.log1p(50) - np.log1p(15)),
        "est_steps": 6.0,  # 5 quantities + 1 multiplier
        "n_commas": 2.0,
        "n_large_numbers": 0.0,
    }
    assert _block(SALARY) == expected


def test_percentages_fractions_decimals_and_large_numbers_are_counted():
    """'25%' is a quantity and a percent; '1/2' and 'half' fractions; 1,500.75 one large decimal."""
    got = _block("She paid $1,500.75 for 25% of the land and half of 1/2 of the rest.")
    assert (got["n_percent"], got["n_fraction_marks"], got["n_decimals"]) == (1.0, 2.0, 1.0)
    assert got["n_large_numbers"] == 1.0
    assert got["n_distinct_numbers"] == 4.0  # 1500.75, 25, 1, 2


def test_feature_matrix_has_one_named_column_per_feature_and_handles_text_without_numbers():
    """A prompt without numbers gets zeros for the number features, not NaN."""
    f = prompt_features(["What is the capital of France?", SHEEP])
    assert f.shape == (2, len(FEATURE_NAMES))
    assert np.isfinite(f).all()
    no_numbers = _block("What is the capital of France?")
    assert (no_numbers["n_distinct_numbers"], no_numbers["log_min_number"]) == (0.0, 0.0)


# -- the word-token counts equal the regular expressions that define them -----------------

# fragments that sit on the edges of the rules: case (re.I lists vs the case-sensitive units),
# plurals, tokens glued by "_" or digits, characters that re.I folds to ASCII (long s, Kelvin
# sign, dotless i), Unicode digits and letters, the symbols of the code and money patterns
_FRAGMENTS = (
    "half", "HALF", "Halfs", "halves", "thirds", "percent", "Percentage", "xpercent", "PERCENT",
    "hours", "Hours", "hour", "minute", "dollars", "Dollar", "cents", "inch", "inches", "feet",
    "Km", "not", "NOT", "Never", "if", "IF", "then", "more", "less", "leß", "ſpent", "\u212aG",
    "kg", "ı", "İf", "ratio", "per", "each", "twice", "pairs", "dozen", "one_two", "5hours",
    "5", "12", "3.5", "1,000", "\u0663", "²", "/", " / ", "$", "$ 4", "%", "!=", "==", "!==",
    "{", "}", ";", ";  \n", "```", "def ", "def", "int ", "for (", "for", "return", "printf",
    "print", "é", "ä", "Ωmega", "日本語", "\n", "\n(A) ", "\nB. ", "?", ".", "!", "\t", "-",
)  # fmt: skip


def _generated_texts():
    rng = np.random.default_rng(20261206)
    for _ in range(3000):
        picks = rng.choice(len(_FRAGMENTS), size=int(rng.integers(1, 40)))
        sep = ("", " ", "\n")[int(rng.integers(0, 3))]
        yield sep.join(_FRAGMENTS[i] for i in picks)


def _stem(text: str) -> str:
    from simkit.classify import features as f

    m = f._OPTION.search(text)
    return text[: m.start()] if m else text


def test_token_counts_equal_the_regular_expressions_on_generated_edge_cases():
    from simkit.classify import features as f

    texts = list(_generated_texts())
    assert sum(not t.isascii() for t in texts) > 500  # both paths are exercised
    for text in texts:
        words = f._WORD.findall(text)
        stem = _stem(text)
        assert f._lexical_tokens(text, words, stem) == f._lexical_regex(text, stem), text


def test_token_counts_equal_the_regular_expressions_on_every_shipped_prompt():
    from pathlib import Path

    from simkit.classify import features as f
    from simkit.trace import load_trace

    root = Path(__file__).resolve().parents[2] / "traces"
    texts = []
    for folder in sorted(p for p in root.iterdir() if (p / "trace.json").is_file()):
        req = load_trace(folder).requests
        if "prompt" in req:
            texts += [str(p) for p in req["prompt"].dropna()]
    assert len(texts) > 15_000
    for text in texts:
        words = f._WORD.findall(text)
        stem = _stem(text)
        assert f._lexical_tokens(text, words, stem) == f._lexical_regex(text, stem), text[:200]


def test_folded_and_glued_tokens_count_as_the_patterns_say():
    """Pinned by hand: the Kelvin sign folds to 'k' under re.I ('ſpent' is 'spent'), 'Hours'
    is not a unit word (case-sensitive) but is a measure, 'half_time' and '5hours' are one
    token each and match nothing, '!==' is one '!=' marker, 'percentage' counts as a percent
    and '$ 4' as money and as the one unit."""
    from simkit.classify import features as f

    text = "\u212aG ſpent Hours half_time 5hours !== percentage $ 4"
    lex = f._lexical_tokens(text, f._WORD.findall(text), text)
    assert (lex.measure, lex.additive, lex.units, lex.fraction) == (2, 1, 1, 0)
    assert (lex.code, lex.percent, lex.money, lex.digits) == (1, 1, 1, 2)
