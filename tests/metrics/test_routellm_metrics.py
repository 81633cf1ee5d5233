"""RouteLLM's PGR/APGR/CPT, oracle and random baseline against the METRICS.md §6 fixtures.

The real-data tests use ``tests/fixtures/metrics/routellm_correctness.csv`` (RouteLLM's
decontaminated MMLU and GSM8K correctness, built by ``scripts/build_metric_fixtures.py``); the
expected numbers are METRICS.md §6.2–6.5, computed independently with RouteLLM's procedure.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SimkitError, SpecError, TraceError
from simkit.metrics import (
    NonMonotoneCurveWarning,
    RoutingCurve,
    apgr,
    cpt,
    pgr,
    routellm_curve,
    routellm_oracle_curve,
    routellm_random_curve,
    threshold_curve,
)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "metrics"


@pytest.fixture(scope="module")
def correctness() -> dict[str, pd.DataFrame]:
    table = pd.read_csv(FIXTURE / "routellm_correctness.csv")
    return {name: part.reset_index(drop=True) for name, part in table.groupby("benchmark")}


def _percent(part: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """RouteLLM's units for MMLU/GSM8K: 100 * correctness, so quality is percent correct."""
    return 100.0 * part["weak"].to_numpy(float), 100.0 * part["strong"].to_numpy(float)


@pytest.fixture(scope="module")
def random_curves(correctness) -> dict[str, RoutingCurve]:
    return {name: routellm_random_curve(*_percent(part)) for name, part in correctness.items()}


# --- §6.2 sizes and base rates -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("benchmark", "n", "counts", "r_w", "r_s"),
    [
        ("mmlu", 14_037, (8_816, 2_496, 742, 1_983), 68.09147253686685, 80.58702001852248),
        ("gsm8k", 1_307, (739, 382, 94, 92), 63.733741392501905, 85.76893649579189),
    ],
)
def test_decontaminated_fixture_has_the_published_sizes_and_base_rates(
    correctness, random_curves, benchmark, n, counts, r_w, r_s
):
    """N, the both/B/weak-only/neither cross-tab and r_w, r_s (to 1e-12) of METRICS.md §6.2."""
    part = correctness[benchmark]
    w, s = part["weak"], part["strong"]
    crosstab = (
        int((w & s).sum()),
        int((~w.astype(bool) & s.astype(bool)).sum()),
        int((w.astype(bool) & ~s.astype(bool)).sum()),
        int((~w.astype(bool) & ~s.astype(bool)).sum()),
    )
    curve = random_curves[benchmark]
    assert (len(part), crosstab) == (n, counts)
    assert curve.r_weak == pytest.approx(r_w, abs=1e-12)
    assert curve.r_strong == pytest.approx(r_s, abs=1e-12)


# --- §6.4/6.5 random router ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("benchmark", "apgr_value", "cpts"),
    [
        ("mmlu", 0.5012450256688445, (19.8986180386443, 50.03769410293762, 79.32401770742601)),
        ("gsm8k", 0.5069028681033758, (18.962344134494053, 48.789721568450894, 80.16146479170517)),
    ],
)
def test_random_router_replay_matches_reference_apgr_and_cpt(
    random_curves, benchmark, apgr_value, cpts
):
    """Serial random.Random(0) replay: APGR and CPT(20/50/80 %) to 1e-9 (METRICS.md §6.5)."""
    curve = random_curves[benchmark]
    assert apgr(curve) == pytest.approx(apgr_value, abs=1e-9)
    np.testing.assert_allclose(100 * cpt(curve, [0.2, 0.5, 0.8]), cpts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        100 * cpt(curve, [0.2, 0.5, 0.8], method="min"), cpts, rtol=0, atol=1e-9
    )
    assert curve.is_monotone


AVERAGED = {
    "mmlu": [
        (0.0000, 68.0915),
        (10.0021, 69.3895),
        (20.0043, 70.6034),
        (29.9993, 71.8202),
        (40.0014, 73.0462),
        (50.0036, 74.3350),
        (59.9986, 75.5867),
        (70.0007, 76.8519),
        (79.9957, 78.1770),
        (89.9979, 79.3994),
        (100.0000, 80.5870),
    ],
    "gsm8k": [
        (0.0000, 63.7337),
        (10.0230, 66.1209),
        (20.0459, 68.3856),
        (29.9923, 70.5279),
        (40.0153, 72.8156),
        (50.0383, 75.0268),
        (59.9847, 77.1844),
        (70.0077, 79.3803),
        (79.9541, 81.3160),
        (89.9770, 83.5348),
        (100.0000, 85.7689),
    ],
}


@pytest.mark.parametrize("benchmark", ["mmlu", "gsm8k"])
def test_random_router_averaged_points_match_the_reference_table(random_curves, benchmark):
    """The 11 averaged (strong %, quality %) points of METRICS.md §6.5, to 4 decimals."""
    curve = random_curves[benchmark]
    points = list(
        zip(np.round(100 * curve.strong_share, 4), np.round(curve.quality, 4), strict=True)
    )
    assert points == AVERAGED[benchmark]


@pytest.mark.parametrize(("benchmark", "literal"), [("mmlu", 0.5512), ("gsm8k", 0.5569)])
def test_paper_literal_apgr_is_about_005_above_the_trapezoid(random_curves, benchmark, literal):
    """Mean PGR over the 10 non-zero points (the paper's text) vs the code's trapezoid (§2.6)."""
    curve = random_curves[benchmark]
    paper = float(np.mean(pgr(curve.quality[1:], curve.r_weak, curve.r_strong)))
    assert round(paper, 4) == literal
    assert paper - apgr(curve) == pytest.approx(0.05, abs=2e-3)


@pytest.mark.parametrize(
    ("benchmark", "counts"),
    [
        (
            "mmlu",
            [0, 1_404, 2_808, 4_211, 5_615, 7_019, 8_422, 9_826, 11_229, 12_633, 14_037],
        ),
        ("gsm8k", [0, 131, 262, 392, 523, 654, 784, 915, 1_045, 1_176, 1_307]),
    ],
)
def test_sweep_without_ties_selects_n_minus_ceil_p_times_n_minus_1(correctness, benchmark, counts):
    """Strong counts of the 11-edge sweep are N - ceil(p_i (N-1)), then 0 (METRICS.md §2.2)."""
    w, s = _percent(correctness[benchmark])
    n = len(w)
    expected = sorted({0, *(n - int(np.ceil(p * (n - 1))) for p in np.linspace(0, 0.9, 10))})
    scores = np.random.default_rng(7).random(n)
    curve = routellm_curve(scores, w, s)
    assert list(np.rint(curve.strong_share * n).astype(int)) == counts == expected


def test_random_router_draws_one_uniform_per_row_from_random_random_seed():
    """random.Random(0)'s first draws are .844, .758, .421: row 0 ranks first, then row 1.

    With strong gains 1, 2, 4 on rows 0, 1, 2, the point with one strong call recovers 1/7 of
    the gap only if row 0 drew the largest score; two strong calls recover 3/7.
    """
    curve = routellm_random_curve([0.0, 0.0, 0.0], [1.0, 2.0, 4.0], seed=0, iters=1)
    assert list(curve.strong_share) == [0.0, 1 / 3, 2 / 3, 1.0]
    np.testing.assert_allclose(curve.quality, [0.0, 1 / 3, 1.0, 7 / 3], rtol=0, atol=1e-15)


def test_random_router_is_deterministic_per_seed(correctness):
    w, s = _percent(correctness["gsm8k"])
    a = routellm_random_curve(w, s, seed=3, iters=2)
    b = routellm_random_curve(w, s, seed=3, iters=2)
    c = routellm_random_curve(w, s, seed=4, iters=2)
    assert np.array_equal(a.quality, b.quality) and np.array_equal(a.strong_share, b.strong_share)
    assert not np.array_equal(a.quality, c.quality)


# --- §6.3 oracle ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("benchmark", "early", "flat", "b", "n"),
    [
        ("mmlu", [68.09147253686685, 78.09147253686685], 12_054 / 14_037 * 100, 2_496, 14_037),
        (
            "gsm8k",
            [63.733741392501905, 73.73374139250191, 83.73374139250191],
            1_215 / 1_307 * 100,
            382,
            1_307,
        ),
    ],
)
def test_oracle_rises_one_point_per_share_point_then_saturates_at_b_over_n(
    correctness, benchmark, early, flat, b, n
):
    """RouteLLM's optimal curve: r_w + min(100 p, 100 B/N), flat from p = B/N (§6.3)."""
    w, s = _percent(correctness[benchmark])
    grid = routellm_oracle_curve(w, s)
    k = len(early)
    np.testing.assert_allclose(grid.quality[:k], early, rtol=0, atol=1e-9)
    np.testing.assert_allclose(grid.quality[k:], flat, rtol=0, atol=1e-9)
    at = routellm_oracle_curve(w, s, [0.0, (b - 1) / n, b / n, 1.0])
    np.testing.assert_allclose(
        at.quality, [grid.r_weak, flat - 100 / n, flat, flat], rtol=0, atol=1e-9
    )
    assert flat == pytest.approx({"mmlu": 85.87304979696516, "gsm8k": 92.96097934200459}[benchmark])


def test_oracle_fills_a_fractional_budget_with_the_largest_gains_for_graded_quality():
    """Gains 0.5, 0.3, 0.1 (one negative ignored): budget 1.5 queries of 4 buys 0.5 + 0.15."""
    weak = [0.2, 0.5, 0.6, 0.9]
    strong = [0.7, 0.4, 0.9, 1.0]
    curve = routellm_oracle_curve(weak, strong, [0.0, 0.375, 0.75, 1.0])
    base = sum(weak)
    np.testing.assert_allclose(
        curve.quality,
        [base / 4, (base + 0.65) / 4, (base + 0.9) / 4, (base + 0.9) / 4],
        rtol=0,
        atol=1e-15,
    )


# --- the sweep and its edge cases ----------------------------------------------------------------
def _reference_sweep(scores, weak, strong):
    """RouteLLM's loop over pd.qcut edges, with duplicates='drop' so ties do not raise."""
    _, edges = pd.qcut(scores, 10, retbins=True, duplicates="drop")
    points = {}
    for i, edge in enumerate(edges):
        selected = scores > edge if i == len(edges) - 1 else scores >= edge
        points.setdefault(int(selected.sum()), np.mean(np.where(selected, strong, weak)))
    return sorted(points.items())


@pytest.mark.parametrize("tied", [False, True])
def test_sweep_matches_a_pandas_qcut_reference_with_and_without_tied_scores(tied):
    """Decile edges and >=/> rule as RouteLLM's code; tied edges de-duplicated, not raising."""
    rng = np.random.default_rng(11)
    n = 503
    scores = rng.integers(0, 4, n) / 4 if tied else rng.random(n)
    weak, strong = rng.random(n), rng.random(n)
    if tied:
        with pytest.raises(ValueError, match="Bin edges must be unique"):
            pd.qcut(scores, 10, retbins=True)  # what RouteLLM's code does on ties
    curve = routellm_curve(scores, weak, strong)
    expected = _reference_sweep(scores, weak, strong)
    assert list(np.rint(curve.strong_share * n).astype(int)) == [c for c, _ in expected]
    np.testing.assert_allclose(curve.quality, [q for _, q in expected], rtol=0, atol=1e-15)


def test_threshold_curve_agrees_with_the_decile_sweep_on_its_edges(correctness):
    """Any-threshold sweep (sort + cumulative sums) = RouteLLM's per-edge means at its edges."""
    w, s = _percent(correctness["mmlu"])
    scores = np.random.default_rng(5).random(len(w))
    edges = np.quantile(scores, np.linspace(0, 1, 11))
    thresholds = np.r_[edges[:10], np.inf]  # the last edge uses '>': nothing is strong
    deciles = routellm_curve(scores, w, s)
    swept = threshold_curve(scores, w, s, thresholds[::-1])
    np.testing.assert_array_equal(swept.strong_share, deciles.strong_share)
    np.testing.assert_allclose(swept.quality, deciles.quality, rtol=0, atol=1e-9)
    assert apgr(swept) == pytest.approx(apgr(deciles), abs=1e-12)


def test_routing_curve_points_are_read_only_and_validated():
    curve = RoutingCurve([0.0, 0.5, 1.0], [1.0, 2.0, 3.0], r_weak=1.0, r_strong=3.0)
    with pytest.raises(ValueError, match="read-only"):
        curve.quality[0] = 9.0
    assert curve.to_frame().to_dict("list") == {
        "strong_share": [0.0, 0.5, 1.0],
        "quality": [1.0, 2.0, 3.0],
        "pgr": [0.0, 0.5, 1.0],
    }


@pytest.mark.parametrize(
    ("share", "quality", "message"),
    [
        ([0.0, 0.5, 0.5], [1, 2, 3], "strong_share, row 3: 0.5 follows 0.5; expected strictly"),
        ([0.0, 1.5], [1, 2], "strong_share, row 2: 1.5 is outside [0, 1]; expected a fraction"),
        ([0.0, 1.0], [1, np.nan], "quality, row 2: missing or non-finite in 1 rows (first: nan)"),
        ([0.0, 1.0], [1, 2, 3], "quality: has 3 rows but strong_share has 2"),
    ],
)
def test_routing_curve_rejects_bad_points_naming_the_row(share, quality, message):
    with pytest.raises(TraceError) as err:
        RoutingCurve(share, quality, r_weak=0.0, r_strong=1.0)
    assert message in str(err.value)


def test_missing_quality_is_an_error_naming_the_argument_and_row():
    with pytest.raises(TraceError) as err:
        routellm_curve([0.1, 0.2, 0.3], [1.0, 0.0, np.nan], [1.0, 1.0, 1.0])
    assert str(err.value) == (
        "weak_quality, row 3: missing or non-finite in 1 rows (first: nan); "
        "expected a finite number"
    )


# --- CPT on non-monotone curves ------------------------------------------------------------------
def test_cpt_interp_warns_on_a_non_monotone_curve_and_min_finds_the_first_crossing():
    """Quality 0, 0.6, 0.4, 1 at shares 0, .2, .4, 1: PGR 0.5 is first reached at share 1/6."""
    curve = RoutingCurve([0.0, 0.2, 0.4, 1.0], [0.0, 0.6, 0.4, 1.0], r_weak=0.0, r_strong=1.0)
    assert not curve.is_monotone
    with pytest.warns(NonMonotoneCurveWarning, match="method='min'"):
        interp = cpt(curve, 0.5)
    assert interp == pytest.approx(np.interp(0.5, curve.quality, curve.strong_share))
    assert cpt(curve, 0.5, method="min") == pytest.approx(0.2 * 0.5 / 0.6)
    assert cpt(curve, [0.0, 0.7], method="min") == pytest.approx([0.0, 0.4 + 0.6 * 0.5])


def test_cpt_min_is_nan_when_the_target_is_never_reached_and_interp_clamps():
    curve = RoutingCurve([0.0, 0.5, 1.0], [0.0, 0.5, 0.8], r_weak=0.0, r_strong=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a monotone curve raises no warning
        assert cpt(curve, 0.9) == 1.0
    assert np.isnan(cpt(curve, 0.9, method="min"))


def test_cpt_rejects_an_unknown_method_listing_the_valid_ones():
    curve = RoutingCurve([0.0, 1.0], [0.0, 1.0], r_weak=0.0, r_strong=1.0)
    with pytest.raises(SpecError) as err:
        cpt(curve, 0.5, method="first")
    assert str(err.value) == "cpt, key 'method': got 'first'; valid choices: 'interp', 'min'"


def test_pgr_needs_two_models_of_different_quality():
    assert pgr(0.75, 0.5, 1.0) == 0.5
    with pytest.raises(SimkitError, match="PGR needs two models of different quality"):
        pgr(0.75, 0.5, 0.5)
