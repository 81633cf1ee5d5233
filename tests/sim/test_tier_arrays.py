"""What the simulator and the vectorised curves know before a run (``tier_arrays``), computed
by hand for three tiers: each tier's outcomes in request order, shuffled, or partial; output
lengths from the tier's model, else the request, capped at ``max_tokens``, at least one
token; recorded costs; and the errors for what a run cannot do without (issue 10: survivors
of ``scripts/mutation.py sim --only simkit/sim/arrays.py ...``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.helpers import fixed_api
from simkit.errors import SimulationError, SpecError
from simkit.fleet import Fleet, Tier
from simkit.sim.arrays import tier_arrays
from simkit.trace import Trace

NA = None
nan = float("nan")


def _trace(prompt=(10, 20, 30, 40), out=(5, 6, 7, 9)) -> Trace:
    ids = ["r0", "r1", "r2", "r3"]
    req = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": [0.5, 1.0, 2.0, 3.0],
            "prompt_tokens": pd.array(list(prompt), dtype="Int64"),
            "output_tokens": pd.array(list(out), dtype="Int64"),
            "max_tokens": pd.array([NA, 3, NA, 0], dtype="Int64"),
        }
    )
    rows = [
        # weak: every request, in request order
        *[("weak", i, o, q, c) for i, o, q, c in zip(
            ids, [2, 4, NA, 6], [0.1, 0.2, 0.3, 0.4], [0.01, 0.02, nan, 0.04], strict=True)],
        # mid: every request, shuffled
        ("mid", "r3", 8, 0.9, 0.4), ("mid", "r1", NA, 0.8, 0.3), ("mid", "r0", 1, 0.7, 0.2),
        ("mid", "r2", 12, 0.6, 0.1),
        # strong: two requests only
        ("strong", "r2", 20, 1.0, nan), ("strong", "r0", NA, 0.5, 0.5),
    ]  # fmt: skip
    outcomes = pd.DataFrame(
        {
            "request_id": [r[1] for r in rows],
            "model": [r[0] for r in rows],
            "output_tokens": pd.array([r[2] for r in rows], dtype="Int64"),
            "quality": [r[3] for r in rows],
            "cost_usd": [r[4] for r in rows],
        }
    )
    return Trace(req, outcomes)


def _fleet(*models: str) -> Fleet:
    return Fleet(tuple(Tier(t, fixed_api(), m) for t, m in zip("abc", models, strict=True)))


def test_three_tiers_by_hand_in_order_shuffled_and_partial():
    arrays = tier_arrays(_trace(), _fleet("weak", "mid", "strong"))
    assert arrays.tiers == ("a", "b", "c")
    assert arrays.prompt_tokens.tolist() == [10, 20, 30, 40]
    assert arrays.output_tokens.dtype == np.int64
    # the model's length, else the request's; capped at max_tokens (r1: 3, r3: 0); at least 1
    assert arrays.output_tokens.tolist() == [[2, 1, 5], [3, 3, 3], [7, 12, 20], [1, 1, 1]]
    np.testing.assert_array_equal(
        arrays.quality,
        [[0.1, 0.7, 0.5], [0.2, 0.8, nan], [0.3, 0.6, 1.0], [0.4, 0.9, nan]],
    )
    np.testing.assert_array_equal(
        arrays.observed_cost_usd,
        [[0.01, 0.2, 0.5], [0.02, 0.3, nan], [nan, 0.1, nan], [0.04, 0.4, nan]],
    )
    assert arrays.quality.dtype == arrays.observed_cost_usd.dtype == np.float64


def test_two_tiers_of_one_model_share_its_arrays():
    arrays = tier_arrays(_trace(), _fleet("mid", "mid", "weak"))
    assert (
        arrays.output_tokens[:, 0].tolist() == arrays.output_tokens[:, 1].tolist() == [1, 3, 12, 1]
    )
    np.testing.assert_array_equal(arrays.quality[:, 1], [0.7, 0.8, 0.6, 0.9])


def test_a_model_without_outcomes_is_named_or_unknown_when_allowed():
    with pytest.raises(SpecError) as e:
        tier_arrays(_trace(), _fleet("weak", "ghost", "strong"))
    assert str(e.value) == (
        "<fleet spec>, key 'tiers.b.quality_model': the trace has no outcomes for model 'ghost'; "
        "models with outcomes: mid, strong, weak. set quality_model to one of them, or pass "
        "allow_missing_quality=True to simulate (`simkit replay --allow-missing-quality`; "
        "quality is then unknown for this tier)"
    )
    arrays = tier_arrays(_trace(), _fleet("weak", "ghost", "strong"), allow_missing_quality=True)
    assert arrays.output_tokens[:, 1].tolist() == [5, 3, 7, 1]  # the requests' own, capped
    assert np.isnan(arrays.quality[:, 1]).all() and np.isnan(arrays.observed_cost_usd[:, 1]).all()


def test_a_request_without_prompt_tokens_is_named():
    with pytest.raises(SimulationError) as e:
        tier_arrays(_trace(prompt=(10, NA, 30, 40)), _fleet("weak", "mid", "strong"))
    assert str(e.value) == (
        "<trace>: request 'r1' (row 2) has no prompt_tokens (1 requests without); the simulator "
        "needs prompt lengths. Count them from the prompt text (simkit.trace tokens) or attach "
        "lengths from a serving trace"
    )


@pytest.mark.parametrize(
    ("models", "tier", "model", "count"), [(("weak", "mid", "strong"), "b", "mid", 1),
                                            (("weak", "weak", "strong"), "c", "strong", 2)]
)  # fmt: skip
def test_a_request_without_any_output_length_for_a_tier_is_named(models, tier, model, count):
    """r1 has no output_tokens of its own; 'mid' recorded none for it either, and 'strong'
    has no outcome for r1 or r3 (which has none of its own either)."""
    with pytest.raises(SimulationError) as e:
        tier_arrays(_trace(out=(5, NA, 7, NA)), _fleet(*models))
    assert str(e.value) == (
        f"<trace>: request 'r1' (row 2) has no output length for tier '{tier}' (model "
        f"'{model}'): neither an outcome 'output_tokens' for that model nor the request's "
        f"'output_tokens' ({count} requests). Attach output lengths to the trace (e.g. from a "
        "serving trace)"
    )


def test_an_empty_trace_or_one_without_outcomes_is_refused_with_what_to_check():
    empty = Trace(_trace().requests.iloc[:0], _trace().outcomes.iloc[:0])
    with pytest.raises(SimulationError) as e:
        tier_arrays(empty, _fleet("weak", "mid", "strong"))
    assert str(e.value) == (
        "<trace>: the trace is empty (0 requests); there is nothing to simulate. Check the file "
        "it came from, or the --n-requests / filter that selected it"
    )
    bare = Trace(_trace().requests, _trace().outcomes.iloc[:0])
    with pytest.raises(SpecError) as e:
        tier_arrays(bare, _fleet("weak", "mid", "strong"))
    assert "the trace has no outcomes for model 'weak'; models with outcomes: none. " in str(
        e.value
    )
