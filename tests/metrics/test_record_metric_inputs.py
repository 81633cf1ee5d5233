"""SLO attainment, event counts, the Pareto front and RouterBench's oracle on the cases the
other tests leave out: two budgets at once, a zero budget, runs not in id order, bad counts,
tied points across the front's blocks, bad model matrices (issue 10: each case here was a
surviving mutant of ``scripts/mutation.py metrics``).

Records are ``test_record_metrics``'s hand-built tables; their latencies are listed there.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import (
    event_counts,
    latency_percentiles,
    oracle_router,
    pareto_front,
    prefix_cache_stats,
    quality_summary,
    slo_attainment,
    summarize_runs,
    tier_shares,
    utilisation,
)
from tests.metrics.test_record_metrics import REQUESTS, make_endpoints, make_records


def message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# --- slo_attainment -------------------------------------------------------------------------------
def test_both_budgets_must_hold_at_once():
    """Run 0's TTFTs are 0.5, 0.2, 1.0 and a failure; end-to-end 1.5, 1.2, 3.0. With TTFT
    <= 0.25 and e2e <= 2.0 only request b meets both (1/4); run 1 (TTFT 0.3) meets neither
    although every request is within the e2e budget."""
    met = slo_attainment(make_records(), ttft_s=0.25, e2e_s=2.0)
    assert met.to_dict() == {0: 0.25, 1: 0.0}
    assert slo_attainment(make_records(), e2e_s=2.0).to_dict() == {0: 0.5, 1: 1.0}


def test_a_zero_budget_is_a_budget_no_request_meets():
    assert slo_attainment(make_records(), ttft_s=0.0).to_dict() == {0: 0.0, 1: 0.0}


def test_attainment_is_listed_by_run_id_whatever_the_records_order():
    records = make_records()
    records["run_id"] = records["run_id"].map({0: 5, 1: 2})
    met = slo_attainment(records, ttft_s=0.4)
    assert met.index.tolist() == [2, 5]
    assert met.tolist() == [1.0, 0.25]


@pytest.mark.parametrize(
    ("budgets", "expected"),
    [
        ({}, "slo_attainment, key 'ttft_s': no budget given; pass ttft_s and/or e2e_s"),
        ({"e2e_s": -1}, "slo_attainment, key 'e2e_s': got -1.0; expected >= 0"),
        ({"ttft_s": float("nan")}, "slo_attainment, key 'ttft_s': got nan; expected >= 0"),
    ],
)
def test_slo_budgets_are_checked_by_name(budgets, expected):
    with pytest.raises(SpecError) as e:
        slo_attainment(make_records(), **budgets)
    assert message(e) == expected


# --- event_counts ---------------------------------------------------------------------------------
def test_event_counts_name_the_missing_column_and_the_bad_count():
    records = make_records()
    with pytest.raises(TraceError) as e:
        event_counts(records.drop(columns="retries"))
    assert message(e).startswith(
        "records, column 'retries': required column missing (1 missing: 'retries'); "
        "columns present: 'run_id', "
    )
    with pytest.raises(TraceError) as e:
        event_counts(records.assign(retries=[0, 1, np.nan, 0, 0, 0, 0]))
    assert message(e) == (
        "records, row 3, column 'retries': bad value in 1 rows (first: nan); "
        "expected a finite number >= 0"
    )
    with pytest.raises(TraceError) as e:
        event_counts(records.assign(n_429=[0, 1.5, 0, 0, 0, 0, 0]))
    assert message(e) == "records, row 2, column 'n_429': got 1.5; expected a whole count >= 0"


# --- pareto_front ---------------------------------------------------------------------------------
def test_copies_of_a_front_point_are_all_kept_across_blocks():
    """300 copies of the best point (more than one block of 256 rows) and two dominated
    points: every copy stays on the front, in three objectives as in two."""
    best = pd.DataFrame({"cost": [1.0] * 300, "latency": [1.0] * 300, "quality": [0.9] * 300})
    worse = pd.DataFrame({"cost": [2.0, 1.0], "latency": [1.0, 2.0], "quality": [0.9, 0.9]})
    df = pd.concat([worse, best], ignore_index=True)
    mask = pareto_front(df, minimize=["cost", "latency"], maximize=["quality"])
    assert mask.tolist() == [False, False] + [True] * 300


# --- oracle_router inputs -------------------------------------------------------------------------
QUALITY = pd.DataFrame({"m1": [1.0, 0.0], "m2": [1.0, 1.0]})
COST = pd.DataFrame({"m1": [1.0, 2.0], "m2": [3.0, 4.0]})


@pytest.mark.parametrize(
    ("quality", "cost", "expected"),
    [
        (
            QUALITY.to_numpy(),
            COST,
            "quality: expected a DataFrame (samples x models), got <class 'numpy.ndarray'>",
        ),
        (
            QUALITY,
            COST.to_numpy(),
            "cost: expected a DataFrame (samples x models), got <class 'numpy.ndarray'>",
        ),
        (
            QUALITY,
            COST.assign(m2=[3.0, np.nan]),
            "cost, row 2, column 'm2': missing or non-finite in 1 cells; expected a number. "
            "drop such samples first, as RouterBench does (e.g. .dropna())",
        ),
        (QUALITY, COST.assign(m2=[3.0, -1.0]), "cost, row 2, column 'm2': negative cost"),
        # a free model before it is not the negative one
        (QUALITY, COST.assign(m2=[0.0, -1.0]), "cost, row 2, column 'm2': negative cost"),
    ],
)
def test_oracle_names_the_bad_model_matrix(quality, cost, expected):
    with pytest.raises(TraceError) as e:
        oracle_router(quality, cost)
    assert message(e) == expected


def test_a_free_model_is_a_valid_oracle_pick():
    """Cost 0 is allowed (a self-hosted model's marginal cost): sample 2 goes to m2 for free."""
    out = oracle_router(QUALITY, COST.assign(m2=[3.0, 0.0]))
    assert out["model"].tolist() == ["m1", "m2"]
    assert out["cost"].tolist() == [1.0, 0.0]


def test_oracle_reads_nullable_integer_matrices():
    quality = QUALITY.astype("Int64")
    cost = COST.astype("Int64")
    out = oracle_router(quality, cost)
    assert out["quality"].tolist() == [1.0, 1.0]
    assert out["cost"].tolist() == [1.0, 4.0]
    with pytest.raises(TraceError) as e:
        oracle_router(quality, cost.astype("Int64").assign(m1=pd.array([1, None], dtype="Int64")))
    assert message(e).startswith("cost, row 2, column 'm1': missing or non-finite in 1 cells")


def test_requests_refused_over_a_context_window_are_counted_per_run_in_run_order():
    """Run 0's failure was refused over a context window; run 1 gets a failure with no
    recorded reason, which is not one. A completed request is never counted, whatever its
    reason column says. Runs are listed by id (5 after 2) with the index named run_id."""
    records = make_records()
    records.loc[3, "fail_reason"] = "context_exceeded"
    records.loc[5, "fail_reason"] = "context_exceeded"  # completed: not counted
    records.loc[6, ["status", "fail_reason"]] = ["failed", pd.NA]
    records["run_id"] = records["run_id"].map({0: 5, 1: 2})
    counts = event_counts(records)
    assert counts.index.name == "run_id" and counts.index.tolist() == [2, 5]
    assert counts["n_context_exceeded"].tolist() == [0, 1]
    assert counts["n_failed"].tolist() == [1, 1]
    assert (counts.dtypes == np.int64).all()


def test_tier_shares_name_the_missing_column_and_list_runs_by_id():
    records = make_records()
    with pytest.raises(TraceError) as e:
        tier_shares(records.drop(columns="tier"))
    assert message(e).startswith(
        "records, column 'tier': required column missing (1 missing: 'tier'); columns present: "
    )
    records["run_id"] = records["run_id"].map({0: 5, 1: 2})
    shares = tier_shares(records)
    assert shares.to_dict() == {(2, "api"): 1.0, (5, "api"): 0.25, (5, "gpu"): 0.5}


def test_shares_are_a_series_named_share():
    assert tier_shares(make_records()).name == "share"


# --- utilisation ----------------------------------------------------------------------------------
def test_utilisation_names_the_bad_option_and_the_bad_busy_time():
    endpoints = make_endpoints()
    assert utilisation(endpoints).name == "utilisation"
    with pytest.raises(SpecError) as e:
        utilisation(endpoints, by="bad")
    assert message(e) == "utilisation, key 'by': got 'bad'; valid choices: 'replica', 'tier'"
    with pytest.raises(TraceError) as e:
        utilisation(endpoints.assign(busy_s=[1.0, np.nan, 1.0, 1.0]))
    assert message(e) == (
        "endpoints, row 2, column 'busy_s': bad value in 1 rows (first: nan); "
        "expected a finite number >= 0"
    )
    with pytest.raises(TraceError) as e:
        utilisation(endpoints.assign(horizon_s=[10.0, 10.0, np.inf, 10.0]))
    assert message(e) == (
        "endpoints, row 3, column 'horizon_s': bad value in 1 rows (first: inf); "
        "expected a finite number >= 0"
    )


# --- sweep parameters in the headline table -------------------------------------------------------
def test_only_columns_with_one_value_per_run_are_carried_as_run_parameters():
    """``temperature`` is one value per run (a sweep parameter) and ``unset`` is missing in
    every row: both are carried. ``mixed`` is missing in one row of run 0 and 0.5 in the
    others, ``note`` takes two values in run 0: neither is one value per run."""
    records = make_records(
        temperature=[0.1] * 4 + [0.2] * 3,
        unset=[np.nan] * 7,
        mixed=[np.nan, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0],
        note=["a", "b", "a", "a", "c", "c", "c"],
    )
    summary = summarize_runs(records, make_endpoints())
    assert summary.columns[:3].tolist() == ["run_id", "temperature", "unset"]
    assert "mixed" not in summary.columns and "note" not in summary.columns
    assert summary["temperature"].tolist() == [0.1, 0.2]
    assert summary["unset"].isna().all()


def test_a_run_whose_requests_reached_no_tier_has_zero_shares_and_pays_its_idle_gpu():
    """A third run: both requests failed before reaching a tier (no shares, no token cost);
    its fleet has an idle GPU replica ($3.6/h for 10 s = $0.01) and an API endpoint. Run 1
    sent nothing to the GPU tier, which it does not have: share and cost 0, utilisation NaN.
    Defaults: a failure scores 0.0 in mean_quality_incl_failed."""
    nan = float("nan")
    extra = [
        (2, "a", "", 0.0, nan, nan, 0, 0.0, 0, 0, nan, "failed", "rate_limited", False),
        (2, "b", "", 1.0, nan, nan, 0, 0.0, 0, 0, nan, "failed", "rate_limited", False),
    ]
    records = make_records(REQUESTS + extra)
    endpoints = make_endpoints()
    more = endpoints.iloc[[0, 2]].assign(run_id=2, busy_s=0.0, n_requests=0)
    endpoints = pd.concat([endpoints, more], ignore_index=True)
    summary = summarize_runs(records, endpoints).set_index("run_id")
    assert summary.loc[2, ["share_api", "share_gpu"]].tolist() == [0.0, 0.0]
    assert summary.loc[2, "cost_usd_gpu"] == pytest.approx(0.01)
    assert summary.loc[2, "cost_usd_api"] == 0.0
    assert summary.loc[1, ["share_gpu", "cost_usd_gpu"]].tolist() == [0.0, 0.0]
    assert np.isnan(summary.loc[1, "utilisation_gpu"])
    assert summary.loc[0, "mean_quality_incl_failed"] == pytest.approx(1.5 / 3)
    assert summary.loc[2, "n_failed"] == 2


def test_summaries_name_what_is_wrong_with_the_records():
    records = make_records()
    with pytest.raises(TraceError) as e:
        summarize_runs(records.drop(columns="run_id"), make_endpoints())
    assert message(e).startswith("records, column 'run_id': required column missing")
    with pytest.raises(SpecError) as e:
        quality_summary(records, failed_quality=float("inf"))
    assert message(e) == (
        "quality_summary, key 'failed_quality': got inf; expected a finite number or None"
    )
    with pytest.raises(TraceError) as e:
        quality_summary(records.drop(columns="quality"))
    assert message(e).startswith("records, column 'quality': required column missing")
    with pytest.raises(TraceError) as e:
        quality_summary(records.assign(quality=[1.0, np.inf, 1.0, 1.0, 1.0, 1.0, 1.0]))
    assert message(e).startswith("records, row 2, column 'quality': ")


def test_quality_may_be_negative_in_the_callers_units():
    """A quality in the caller's units can be below 0 (e.g. a reward): run 1's qualities
    -1, 0, 1 average to 0."""
    records = make_records()
    records.loc[4, "quality"] = -1.0
    assert quality_summary(records)["mean_quality"].tolist() == pytest.approx([0.75, 0.0])


# --- pareto_front inputs --------------------------------------------------------------------------
def test_pareto_front_names_a_column_that_is_not_numbers():
    df = pd.DataFrame({"cost": ["cheap", "dear"], "quality": [0.5, 0.7]})
    with pytest.raises(TraceError) as e:
        pareto_front(df, minimize=["cost"], maximize=["quality"])
    # the parenthesis quotes pandas' own words, which pandas versions phrase differently
    assert message(e).startswith("df, column 'cost': expected numbers (")
    assert "cheap" in message(e)
    with pytest.raises(TraceError) as e:
        pareto_front(pd.DataFrame(), minimize=["cost"])
    assert message(e) == "df, column 'cost': objective column missing; columns: none"


def test_pareto_front_reads_nullable_numbers_and_returns_a_bool_mask():
    """Two objectives through the 2-D path and three through the n-D path agree."""
    df = pd.DataFrame(
        {
            "cost": pd.array([1, 2, 3], dtype="Int64"),
            "latency": [1.0, 1.0, 1.0],
            "quality": [0.5, 0.7, 0.6],
        }
    )
    two = pareto_front(df, minimize=["cost"], maximize=["quality"])
    three = pareto_front(df, minimize=["cost", "latency"], maximize=["quality"])
    assert two.dtype == bool and two.tolist() == [True, True, False]
    assert three.tolist() == two.tolist()


# --- prefix-cache counters and percentile checks --------------------------------------------------
def test_prefix_cache_hit_rate_per_tier_and_per_replica():
    """Run 0's GPU replicas looked up 10 and 4 blocks and hit 6 and 1 (96 and 16 prefill
    tokens saved): 7 / 14 for the tier, 0.6 and 0.25 per replica; API tiers never look up
    (NaN, not 0)."""
    endpoints = make_endpoints()
    endpoints["prefix_lookup_blocks"] = [10, 4, 0, 0]
    endpoints["prefix_hit_blocks"] = [6, 1, 0, 0]
    endpoints["prefix_saved_tokens"] = [96, 16, 0, 0]
    tiers = prefix_cache_stats(endpoints)
    assert tiers.index.names == ["run_id", "tier"]
    assert tiers.loc[(0, "gpu")].tolist() == [14, 7, 112, 0.5]
    assert np.isnan(tiers.loc[(1, "api"), "hit_rate"])
    assert tiers[["lookup_blocks", "hit_blocks", "saved_tokens"]].dtypes.tolist() == [np.int64] * 3
    replicas = prefix_cache_stats(endpoints, by="replica")
    assert replicas.index.names == ["run_id", "tier", "replica"]
    assert replicas["hit_rate"].loc[0, "gpu"].tolist() == [0.6, 0.25]
    assert replicas["saved_tokens"].loc[0, "gpu"].tolist() == [96, 16]
    with pytest.raises(SpecError) as e:
        prefix_cache_stats(endpoints, by="x")
    assert message(e) == "prefix_cache_stats, key 'by': got 'x'; valid choices: 'replica', 'tier'"
    with pytest.raises(TraceError) as e:
        prefix_cache_stats(endpoints.assign(prefix_hit_blocks=[6, np.nan, 0, 0]))
    assert message(e) == (
        "endpoints, row 2, column 'prefix_hit_blocks': bad value in 1 rows (first: nan); "
        "expected a finite number >= 0"
    )


@pytest.mark.parametrize("percentiles", [[50, 101], [], [-1]])
def test_percentiles_must_lie_in_0_to_100(percentiles):
    with pytest.raises(SpecError) as e:
        latency_percentiles(make_records(), percentiles=percentiles)
    assert message(e) == (
        f"latency_percentiles, key 'percentiles': got {percentiles!r}; "
        "expected one or more numbers in [0, 100]"
    )
    edges = latency_percentiles(make_records(), percentiles=[0, 100])
    assert edges.columns.tolist()[1:3] == ["p0_ttft_s", "p100_ttft_s"]
