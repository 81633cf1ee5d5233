"""The vectorised threshold path agrees with a brute-force loop over thresholds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import tiered_curve, two_tier_curve


def _naive_two_tier(scores, weak, strong, weak_cost, strong_cost, thresholds, exclude=False):
    rows = []
    for t in thresholds:
        to_strong = scores >= t
        q = np.where(to_strong, strong, weak)
        c = np.where(to_strong, strong_cost, weak_cost)
        known = ~np.isnan(q)
        rows.append(
            {
                "threshold": t,
                "n_strong": int(to_strong.sum()),
                "strong_share": to_strong.mean(),
                "mean_quality": q[known].mean() if known.any() else np.nan,
                "mean_cost": c.mean(),
                "quality_coverage": known.mean(),
            }
        )
    return pd.DataFrame(rows)


def _naive_tiered(scores, quality, cost, cutoffs):
    n, k = quality.shape
    rows = []
    for cut in cutoffs:
        tier = np.full(n, k - 1)
        for j in range(k - 2, -1, -1):  # first match wins: assign the strongest last
            tier = np.where(scores >= cut[j], j, tier)
        picked = quality[np.arange(n), tier]
        known = ~np.isnan(picked)
        row = {f"share_t{j}": float(np.mean(tier == j)) for j in range(k)}
        row["mean_quality"] = picked[known].mean() if known.any() else np.nan
        row["mean_cost"] = cost[np.arange(n), tier].mean()
        row["quality_coverage"] = known.mean()
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def data():
    rng = np.random.default_rng(2024)
    n = 2_000
    return {
        "scores": rng.integers(0, 50, n) / 50,  # many ties
        "weak": rng.random(n),
        "strong": rng.random(n),
        "weak_cost": rng.random(n) * 1e-4,
        "strong_cost": rng.random(n) * 1e-2,
    }


def test_two_tier_curve_equals_a_loop_over_thresholds_including_ties_and_infinities(data):
    thresholds = np.r_[np.inf, np.linspace(-0.2, 1.2, 71), data["scores"][:20], -np.inf]
    fast = two_tier_curve(
        data["scores"],
        data["weak"],
        data["strong"],
        data["weak_cost"],
        data["strong_cost"],
        thresholds,
    )
    slow = _naive_two_tier(
        data["scores"],
        data["weak"],
        data["strong"],
        data["weak_cost"],
        data["strong_cost"],
        thresholds,
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12, atol=1e-15)
    assert fast["n_strong"].iloc[[0, -1]].tolist() == [0, 2_000]


def test_scalar_costs_apply_to_every_request(data):
    fast = two_tier_curve(data["scores"], data["weak"], data["strong"], 1.0, 3.0, [0.5])
    share = float(np.mean(data["scores"] >= 0.5))
    assert fast["mean_cost"].iloc[0] == pytest.approx(1.0 + 2.0 * share, rel=1e-12)


def test_tiered_curve_equals_a_loop_for_unordered_cutoff_vectors():
    rng = np.random.default_rng(9)
    n, k = 1_500, 4
    scores = rng.random(n)
    quality = rng.random((n, k))
    cost = rng.random((n, k))
    cutoffs = np.vstack([rng.random((40, k - 1)), [[np.inf, np.inf, -np.inf], [0.2, 0.5, 0.9]]])
    fast = tiered_curve(scores, quality, cost, cutoffs, tiers=["t0", "t1", "t2", "t3"])
    slow = _naive_tiered(scores, quality, cost, cutoffs)
    np.testing.assert_array_equal(fast[["cutoff_t0", "cutoff_t1", "cutoff_t2"]], cutoffs)
    pd.testing.assert_frame_equal(
        fast.drop(columns=["cutoff_t0", "cutoff_t1", "cutoff_t2"]),
        slow,
        check_exact=False,
        rtol=1e-12,
        atol=1e-15,
    )
    assert fast.iloc[-2][["share_t0", "share_t1", "share_t2"]].tolist() == [0.0, 0.0, 1.0]


def test_tier_names_come_from_quality_columns_and_cost_may_be_one_per_tier():
    quality = pd.DataFrame({"frontier": [1.0, 1.0, 0.0], "open": [0.0, 1.0, 0.0]})
    out = tiered_curve([0.9, 0.5, 0.1], quality, [10.0, 1.0], [[0.5]])
    assert out.to_dict("list") == {
        "cutoff_frontier": [0.5],
        "share_frontier": [2 / 3],
        "share_open": [1 / 3],
        "mean_quality": [2 / 3],
        "mean_cost": [7.0],
        "quality_coverage": [1.0],
    }


def test_missing_quality_raises_by_default_naming_the_row(data):
    weak = data["weak"].copy()
    weak[[4, 9]] = np.nan
    with pytest.raises(TraceError) as err:
        two_tier_curve(data["scores"], weak, data["strong"], 0.0, 1.0, [0.5])
    assert str(err.value) == (
        "weak_quality, row 5: missing or non-finite in 2 rows (first: nan); "
        "expected a finite number"
    )


def test_excluded_missing_quality_leaves_the_mean_and_lowers_the_coverage(data):
    weak, strong = data["weak"].copy(), data["strong"].copy()
    weak[::7] = np.nan
    strong[::5] = np.nan
    thresholds = np.linspace(0, 1, 13)
    fast = two_tier_curve(data["scores"], weak, strong, 0.0, 1.0, thresholds, missing="exclude")
    slow = _naive_two_tier(
        data["scores"], weak, strong, np.zeros_like(weak), np.ones_like(weak), thresholds
    )
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12, atol=1e-15)
    assert (fast["quality_coverage"] < 1).all()


def test_mean_quality_is_nan_when_no_routed_quality_is_known():
    out = two_tier_curve(
        [0.1, 0.9], [np.nan, np.nan], [1.0, 1.0], 0.0, 1.0, [2.0, 0.5], missing="exclude"
    )
    assert np.isnan(out["mean_quality"].iloc[0]) and out["quality_coverage"].iloc[0] == 0.0
    assert out["mean_quality"].iloc[1] == 1.0 and out["quality_coverage"].iloc[1] == 0.5


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda: two_tier_curve([0.1], [1.0], [1.0], 0.0, 1.0, [0.5], missing="zero"),
            SpecError,
            "two_tier_curve, key 'missing': got 'zero'; valid choices: 'raise', 'exclude'",
        ),
        (
            lambda: tiered_curve([0.1, 0.2], np.ones((2, 3)), np.ones(3), [[0.5]]),
            TraceError,
            "cutoffs: expected shape (n_curves, 2) (one cut-off per tier but the last), got (1, 1)",
        ),
        (
            lambda: two_tier_curve([0.1, 0.2], [1.0, 1.0], [1.0, 1.0], [0.0, -1.0], 1.0, [0.5]),
            TraceError,
            "cost, row 2: negative in 1 cells (first in tier column 1: -1.0); expected a cost >= 0",
        ),
        (
            lambda: two_tier_curve([0.1], [1.0, 1.0], [1.0, 1.0], 0.0, 1.0, [0.5]),
            TraceError,
            "scores: has 1 rows but quality has 2",
        ),
    ],
)
def test_bad_curve_input_is_named(call, error, message):
    with pytest.raises(error) as err:
        call()
    assert str(err.value) == message
