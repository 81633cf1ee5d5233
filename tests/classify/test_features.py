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
