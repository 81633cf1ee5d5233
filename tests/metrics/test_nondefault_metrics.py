"""Record metrics with non-default arguments and traces that do not start at t = 0, and
RouterBench's hull, AIQ and cascade on the cases the reference tests leave out (issue 10:
each of these was a surviving mutant).

Records come from ``test_record_metrics``'s hand-built tables; expected numbers are worked out
in the docstrings from the definitions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.metrics import (
    aiq_code,
    aiq_paper,
    cascade_outcomes,
    cost_summary,
    ndch_paper,
    quality_summary,
    summarize_runs,
    throughput,
)
from tests.metrics.test_record_metrics import make_endpoints, make_records


def shifted(records: pd.DataFrame, by_s: float) -> pd.DataFrame:
    out = records.copy()
    for column in ("arrival_s", "dispatch_s", "first_token_s", "end_s"):
        out[column] = out[column] + by_s
    return out


# --- quality and the headline table with non-default arguments ----------------------------------
def test_failed_requests_count_with_the_given_failed_quality():
    """Run 0: known qualities 1.0 and 0.5, one failure scored 0.25: (1 + 0.5 + 0.25) / 3.
    Run 1 has no failures: its mean is unchanged (2/3)."""
    summary = quality_summary(make_records(), failed_quality=0.25)
    assert summary["mean_quality_incl_failed"].tolist() == pytest.approx([1.75 / 3, 2 / 3])
    assert summary["mean_quality"].tolist() == pytest.approx([0.75, 2 / 3])


def test_summarize_runs_passes_failed_quality_volume_and_percentiles_through():
    """failed_quality 0.25 as above; 1,000,000 requests a month at $0.0025 and $0.01 per
    request; percentiles 10 and 90 (numpy linear) of run 0's TTFTs 0.5, 0.2, 1.0:
    0.26 and 0.9."""
    table = summarize_runs(
        make_records(),
        make_endpoints(),
        failed_quality=0.25,
        requests_per_month=1_000_000,
        percentiles=(10, 90),
    )
    row0, row1 = table.to_dict("records")
    assert row0["mean_quality_incl_failed"] == pytest.approx(1.75 / 3)
    assert (row0["requests_per_month"], row1["requests_per_month"]) == (1e6, 1e6)
    assert (row0["monthly_token_cost_usd"], row1["monthly_token_cost_usd"]) == pytest.approx(
        (2_500.0, 10_000.0)
    )
    assert [c for c in table.columns if c.endswith("_ttft_s")] == ["p10_ttft_s", "p90_ttft_s"]
    assert (row0["p10_ttft_s"], row0["p90_ttft_s"]) == pytest.approx((0.26, 0.9))
    assert "p50_ttft_s" not in table.columns
    without = summarize_runs(make_records(), make_endpoints(), failed_quality=None)
    assert "mean_quality_incl_failed" not in without.columns


# --- time origin ---------------------------------------------------------------------------------
def test_arrival_rate_and_makespan_do_not_depend_on_when_the_trace_starts():
    """Shifting every time by 100 s: run 0 still has 4 arrivals over 3 s (1 req/s) and a
    makespan of 5 s (arrival 100 to last end 105); run 1 0.5 req/s and 5.3 s."""
    later = shifted(make_records(), 100.0)
    cost = cost_summary(later, make_endpoints())
    assert cost["arrival_rate_per_s"].tolist() == pytest.approx([1.0, 0.5])
    assert cost["requests_per_month"].tolist() == pytest.approx([2_592_000.0, 1_296_000.0])
    out = throughput(later)
    assert out["makespan_s"].tolist() == pytest.approx([5.0, 5.3])
    assert out["completed_per_s"].tolist() == pytest.approx([0.6, 3 / 5.3])
    pd.testing.assert_frame_equal(out, throughput(make_records()), rtol=1e-12)


# --- RouterBench hull and AIQ --------------------------------------------------------------------
def test_paper_hull_drops_collinear_points():
    """(1, .25) (2, .5) (3, .75) lie on one line (exact in binary): (2, .5) is not a vertex;
    (4, .875) bends down, so it is."""
    hx, hy = ndch_paper([1, 2, 3, 4], [0.25, 0.5, 0.75, 0.875])
    assert hx.tolist() == [1.0, 3.0, 4.0]
    assert hy.tolist() == [0.25, 0.75, 0.875]


def test_paper_hull_lifts_a_point_below_a_chord_and_keeps_one_above():
    hx, hy = ndch_paper([1, 2, 3, 4], [0.25, 0.25, 0.75, 0.5])
    assert list(zip(hx.tolist(), hy.tolist(), strict=True)) == [(1.0, 0.25), (3.0, 0.75)]
    hx, hy = ndch_paper([1, 2, 3], [0.25, 0.625, 0.75])
    assert hx.tolist() == [1.0, 2.0, 3.0]


def test_aiq_code_extends_a_hull_flat_past_its_last_vertex():
    """a: hull (1,.2)(2,.5)(3,.6) -- the chord at 2 is .4 < .5 -- extended flat at .6 to
    c_max = 6: (.35 + .55 + 3 * .6) / 6 = .45. b: the chord (1,.1)-(6,.9) lifts (2,.2) to
    .26: ((.1 + .26) / 2 + (.26 + .9) / 2 * 4) / 6 = 2.5 / 6."""
    points = pd.DataFrame(
        {
            "router": ["a"] * 3 + ["b"] * 3,
            "cost": [1, 2, 3, 1, 2, 6],
            "quality": [0.2, 0.5, 0.6, 0.1, 0.2, 0.9],
        }
    )
    np.testing.assert_allclose(aiq_code(points).to_numpy(), [0.45, 2.5 / 6], rtol=1e-12)


def test_aiq_paper_extends_a_hull_flat_past_its_last_vertex():
    """Over [1, 5]: a's hull (1,.25)(3,.75), flat at .75 after 3: (1.0 + 1.5) / 4."""
    points = pd.DataFrame(
        {"router": ["a", "a", "b", "b"], "cost": [1, 3, 1, 5], "quality": [0.25, 0.75, 0, 1]}
    )
    np.testing.assert_allclose(aiq_paper(points).to_numpy(), [2.5 / 4, 0.5], rtol=1e-12)


# --- cascade -------------------------------------------------------------------------------------
def test_cascade_stopped_by_the_budget_tries_no_later_model():
    """Budget 1.0. Sample 0: a (0.6) rejected; b (0.5 >= remaining 0.4) stops the walk, and
    c (0.1, which would fit) is never tried: a, cost 0.6, 1 tried. Sample 1: a (0.2) rejected,
    b (0.5) rejected, c (0.1) tried and accepted: c, cost 0.8, 3 tried."""
    q = pd.DataFrame({"a": [0.0, 0.0], "b": [0.0, 0.0], "c": [1.0, 1.0]})
    c = pd.DataFrame({"a": [0.6, 0.2], "b": [0.5, 0.5], "c": [0.1, 0.1]})
    out = cascade_outcomes(q, c, ["a", "b", "c"], 0.5, 0.0, 1.0, np.random.default_rng(0))
    assert out[["model", "n_tried"]].to_dict("list") == {"model": ["a", "c"], "n_tried": [1, 3]}
    np.testing.assert_allclose(out["cost"], [0.6, 0.8], rtol=1e-12)
    np.testing.assert_allclose(out["quality"], [0.0, 1.0])
