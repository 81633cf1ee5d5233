"""Cost, quality, latency and fleet metrics of simulator records, many runs at once.

The tables are built by hand in the schema of ``simkit.schema`` and every expected number is
worked out from the definitions (SERVING.md §1 for latency; the cost conventions of
``simkit.metrics.cost``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import SpecError, TraceError
from simkit.metrics import (
    SECONDS_PER_MONTH,
    cost_summary,
    event_counts,
    gpu_cost_usd,
    latency_percentiles,
    quality_summary,
    request_latencies,
    slo_attainment,
    summarize_runs,
    throughput,
    tier_shares,
    token_cost_usd,
    utilisation,
)
from simkit.schema import ENDPOINT_COLUMNS, RECORD_COLUMNS

NAN = float("nan")

# run 0: a GPU tier (2 replicas, one idle) and an API tier; one request fails without a tier.
# run 1: everything on the API tier.
REQUESTS = [
    # run, id, tier, arrival, first token, end, n_out, cost, retries, 429s, quality, status, reason, privacy
    (0, "a", "gpu", 0.0, 0.5, 1.5, 11, 0.00, 0, 0, 1.0, "completed", "", False),
    (0, "b", "api", 1.0, 1.2, 2.2, 3, 0.01, 1, 1, 0.5, "completed", "", True),
    (0, "c", "gpu", 2.0, 3.0, 5.0, 1, 0.00, 0, 0, NAN, "completed", "", False),
    (0, "d", "", 3.0, NAN, NAN, 0, 0.00, 2, 2, NAN, "failed", "rate_limited", False),
    (1, "a", "api", 0.0, 0.3, 1.3, 11, 0.01, 0, 0, 1.0, "completed", "", False),
    (1, "b", "api", 2.0, 2.3, 3.3, 11, 0.01, 0, 0, 0.0, "completed", "", False),
    (1, "c", "api", 4.0, 4.3, 5.3, 11, 0.01, 0, 0, 1.0, "completed", "", False),
]
COLUMNS = [
    "run_id",
    "request_id",
    "tier",
    "arrival_s",
    "first_token_s",
    "end_s",
    "output_tokens",
    "cost_usd",
    "retries",
    "n_429",
    "quality",
    "status",
    "fail_reason",
    "privacy_violation",
]


def make_records(rows=REQUESTS, **extra) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["model"] = df["tier"].map({"gpu": "llama", "api": "gpt", "": ""})
    df["tiers_tried"] = df["tier"]
    df["dispatch_s"] = df["arrival_s"]
    df["prompt_tokens"] = 10
    for name, values in extra.items():
        df[name] = values
    order = list(RECORD_COLUMNS) + list(extra)
    return df[order].astype({c: t for c, t in RECORD_COLUMNS.items()})


def make_endpoints() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "run_id": [0, 0, 0, 1],
            "tier": ["gpu", "gpu", "api", "api"],
            "replica": ["gpu-0", "gpu-1", "api-0", "api-0"],
            "kind": ["gpu", "gpu", "api", "api"],
            "horizon_s": [10.0, 10.0, 10.0, 10.0],
            "busy_s": [5.0, 0.0, 2.0, 3.0],
            "usd_per_hour": [3.6, 3.6, 0.0, 0.0],
            "n_requests": [2, 0, 1, 3],
            "prompt_tokens": [20, 0, 10, 30],
            "output_tokens": [12, 0, 3, 33],
            "prefix_lookup_blocks": [0, 0, 0, 0],
            "prefix_hit_blocks": [0, 0, 0, 0],
            "prefix_saved_tokens": [0, 0, 0, 0],
        }
    )
    return df.astype(dict(ENDPOINT_COLUMNS))


# --- cost ----------------------------------------------------------------------------------------
def test_gpu_cost_charges_the_whole_horizon_of_every_replica_even_idle_ones():
    """2 replicas x $3.6/h x 10 s = $0.02, though gpu-1 never served a request."""
    cost = gpu_cost_usd(make_endpoints())
    assert cost.to_dict() == pytest.approx({0: 0.02, 1: 0.0})
    by_tier = gpu_cost_usd(make_endpoints(), by_tier=True)
    assert by_tier.to_dict() == pytest.approx({(0, "api"): 0.0, (0, "gpu"): 0.02, (1, "api"): 0.0})


def test_token_cost_is_summed_per_run_and_booked_to_the_final_tier():
    records = make_records()
    assert token_cost_usd(records).to_dict() == pytest.approx({0: 0.01, 1: 0.03})
    assert token_cost_usd(records, by_tier=True).to_dict() == pytest.approx(
        {(0, ""): 0.0, (0, "api"): 0.01, (0, "gpu"): 0.0, (1, "api"): 0.03}
    )


def test_cost_summary_extrapolates_to_a_30_day_month_at_the_trace_rate():
    """Run 0: 4 arrivals over 3 s -> 1 req/s -> 2,592,000 req/month at $0.0025 each = $6,480,
    plus 2 GPUs x $3.6/h x 720 h = $5,184. Run 1: 3 arrivals over 4 s -> 0.5 req/s."""
    summary = cost_summary(make_records(), make_endpoints())
    expected = pd.DataFrame(
        {
            "n_requests": [4, 3],
            "token_cost_usd": [0.01, 0.03],
            "gpu_cost_usd": [0.02, 0.0],
            "total_cost_usd": [0.03, 0.03],
            "cost_per_1k_usd": [7.5, 10.0],
            "arrival_rate_per_s": [1.0, 0.5],
            "requests_per_month": [2_592_000.0, 1_296_000.0],
            "monthly_token_cost_usd": [6_480.0, 12_960.0],
            "monthly_gpu_cost_usd": [5_184.0, 0.0],
            "monthly_cost_usd": [11_664.0, 12_960.0],
        },
        index=pd.Index([0, 1], name="run_id"),
    )
    pd.testing.assert_frame_equal(summary, expected, check_exact=False, rtol=1e-12)
    assert SECONDS_PER_MONTH == 2_592_000


def test_monthly_cost_needs_a_rate_or_a_given_volume():
    """All arrivals at t=0 (RouteLLM traces) have no rate: NaN unless the volume is given."""
    records = make_records()
    records["arrival_s"] = 0.0
    records["first_token_s"] = records["first_token_s"] - records["first_token_s"].min()
    summary = cost_summary(records, make_endpoints())
    assert summary["monthly_cost_usd"].isna().all()
    given = cost_summary(records, make_endpoints(), requests_per_month=1_000_000)
    assert given["monthly_token_cost_usd"].tolist() == pytest.approx([2_500.0, 10_000.0])
    assert given["monthly_gpu_cost_usd"].tolist() == pytest.approx([5_184.0, 0.0])


def test_a_run_missing_from_the_endpoints_table_is_named():
    with pytest.raises(TraceError) as err:
        cost_summary(make_records(), make_endpoints().query("run_id == 0"))
    assert str(err.value) == (
        "endpoints, column 'run_id': run 1 has records but no endpoint rows (1 such runs); "
        "expected one row per replica per run"
    )


# --- quality -------------------------------------------------------------------------------------
def test_failures_are_counted_apart_from_quality_and_both_conventions_are_reported():
    """Run 0: known quality 1.0 and 0.5 (c completed unscored, d failed): mean 0.75; with the
    failure scored 0: (1 + 0.5 + 0) / 3."""
    summary = quality_summary(make_records())
    expected = pd.DataFrame(
        {
            "n_requests": [4, 3],
            "n_completed": [3, 3],
            "n_failed": [1, 0],
            "failure_rate": [0.25, 0.0],
            "n_quality_known": [2, 3],
            "quality_coverage": [0.5, 1.0],
            "mean_quality": [0.75, 2 / 3],
            "mean_quality_incl_failed": [0.5, 2 / 3],
        },
        index=pd.Index([0, 1], name="run_id"),
    )
    pd.testing.assert_frame_equal(summary, expected, check_exact=False, rtol=1e-12)
    assert "mean_quality_incl_failed" not in quality_summary(make_records(), failed_quality=None)


def test_an_unknown_status_is_rejected_listing_the_valid_ones():
    records = make_records()
    records.loc[2, "status"] = "timeout"
    with pytest.raises(TraceError) as err:
        quality_summary(records)
    assert str(err.value) == (
        "records, row 3, column 'status': got 'timeout' (1 such rows); "
        "valid choices: 'completed', 'failed'"
    )


# --- latency -------------------------------------------------------------------------------------
def test_request_latencies_follow_the_serving_definitions():
    """TTFT = f - a; TPOT = (e - f)/(n_out - 1), undefined for one token; E2E = e - a."""
    lat = request_latencies(make_records()).query("run_id == 0")
    assert lat["request_id"].tolist() == ["a", "b", "c", "d"]
    np.testing.assert_allclose(
        lat[["ttft_s", "tpot_s", "e2e_s"]].to_numpy(),
        [[0.5, 0.1, 1.5], [0.2, 0.5, 1.2], [1.0, NAN, 3.0], [NAN, NAN, NAN]],
        rtol=1e-12,
    )


def test_percentiles_use_numpys_linear_interpolation_over_completed_requests():
    """Run 0 TTFTs 0.5, 0.2, 1.0 (sorted .2 .5 1): p50 = .5, p95 at index 1.9 = .5 + .9 * .5."""
    pct = latency_percentiles(make_records())
    assert pct.loc[0, ["p50_ttft_s", "p95_ttft_s", "p99_ttft_s"]].tolist() == pytest.approx(
        [0.5, 0.95, 0.99]
    )
    assert pct.loc[0, ["p50_e2e_s", "p95_e2e_s"]].tolist() == pytest.approx([1.5, 2.85])
    assert pct.loc[0, ["p50_tpot_s", "p99_tpot_s"]].tolist() == pytest.approx([0.3, 0.496])
    assert pct["n_completed"].tolist() == [3, 3]
    custom = latency_percentiles(make_records(), percentiles=[99.9])
    assert list(custom.columns) == ["n_completed", "p99_9_ttft_s", "p99_9_tpot_s", "p99_9_e2e_s"]


def test_percentiles_per_tier_keep_failed_untiered_requests_as_an_empty_group():
    pct = latency_percentiles(make_records(), by_tier=True)
    assert pct.index.tolist() == [(0, ""), (0, "api"), (0, "gpu"), (1, "api")]
    assert pct["n_completed"].tolist() == [0, 1, 2, 3]
    assert pct.loc[(0, "gpu"), "p50_ttft_s"] == pytest.approx(0.75)
    assert np.isnan(pct.loc[(0, ""), "p50_ttft_s"])


def test_slo_attainment_counts_failures_as_misses_and_budgets_are_inclusive():
    """TTFT <= 0.5: run 0 has a (0.5) and b (0.2) of 4 requests; run 1 all 3 (0.3)."""
    assert slo_attainment(make_records(), ttft_s=0.5).to_dict() == {0: 0.5, 1: 1.0}
    both = slo_attainment(make_records(), ttft_s=0.5, e2e_s=1.25)
    assert both.to_dict() == {0: 0.25, 1: 0.0}
    by_tier = slo_attainment(make_records(), e2e_s=3.0, by_tier=True)
    assert by_tier.to_dict() == {(0, ""): 0.0, (0, "api"): 1.0, (0, "gpu"): 1.0, (1, "api"): 1.0}
    with pytest.raises(SpecError, match="no budget given; pass ttft_s and/or e2e_s"):
        slo_attainment(make_records())


def test_throughput_is_measured_over_first_arrival_to_last_completion():
    out = throughput(make_records())
    np.testing.assert_allclose(
        out.to_numpy(), [[5.0, 0.6, 3.0], [5.3, 3 / 5.3, 33 / 5.3]], rtol=1e-12
    )
    assert out.columns.tolist() == ["makespan_s", "completed_per_s", "output_tokens_per_s"]


def test_first_token_before_arrival_is_rejected_with_row_and_column():
    records = make_records()
    records.loc[1, "first_token_s"] = 0.5
    with pytest.raises(TraceError) as err:
        request_latencies(records)
    assert str(err.value) == (
        "records, row 2, column 'first_token_s': 0.5 is before arrival_s 1.0 (1 rows); "
        "expected first_token_s >= arrival_s on completed requests"
    )


def test_a_completed_request_without_an_end_time_is_rejected():
    records = make_records()
    records.loc[4, "end_s"] = NAN
    with pytest.raises(TraceError) as err:
        request_latencies(records)
    assert str(err.value) == (
        "records, row 5, column 'end_s': bad value in 1 rows (checked on completed requests) "
        "(first: nan); expected a finite number >= 0"
    )


# --- fleet use -----------------------------------------------------------------------------------
def test_utilisation_is_busy_over_provisioned_time_per_replica_and_per_tier():
    per_replica = utilisation(make_endpoints(), by="replica")
    assert per_replica.to_dict() == {
        (0, "api", "api-0"): 0.2,
        (0, "gpu", "gpu-0"): 0.5,
        (0, "gpu", "gpu-1"): 0.0,
        (1, "api", "api-0"): 0.3,
    }
    assert utilisation(make_endpoints()).to_dict() == {
        (0, "api"): 0.2,
        (0, "gpu"): 0.25,
        (1, "api"): 0.3,
    }


def test_busy_time_beyond_the_horizon_is_rejected():
    endpoints = make_endpoints()
    endpoints.loc[3, "busy_s"] = 12.0
    with pytest.raises(TraceError) as err:
        utilisation(endpoints)
    assert str(err.value) == (
        "endpoints, row 4, column 'busy_s': 12.0 exceeds horizon_s 10.0 (1 rows); "
        "expected busy_s <= horizon_s"
    )


def test_tier_shares_count_every_request_and_leave_untiered_ones_out_of_every_share():
    assert tier_shares(make_records()).to_dict() == {
        (0, "api"): 0.25,
        (0, "gpu"): 0.5,
        (1, "api"): 1.0,
    }


def test_event_counts_total_retries_429s_failures_and_privacy_violations():
    counts = event_counts(make_records())
    assert counts.to_dict("index") == {
        0: {
            "n_requests": 4,
            "retries": 3,
            "requests_retried": 2,
            "n_429": 3,
            "requests_429": 2,
            "n_failed": 1,
            "n_context_exceeded": 0,
            "privacy_violations": 1,
        },
        1: {
            "n_requests": 3,
            "retries": 0,
            "requests_retried": 0,
            "n_429": 0,
            "requests_429": 0,
            "n_failed": 0,
            "n_context_exceeded": 0,
            "privacy_violations": 0,
        },
    }


# --- the headline table --------------------------------------------------------------------------
def test_summarize_runs_gives_one_row_per_run_with_every_headline_number():
    policy = ["threshold"] * 4 + ["all-api"] * 3
    table = summarize_runs(make_records(policy=policy), make_endpoints(), slo_ttft_s=0.5)
    assert table.columns.tolist() == [
        "run_id",
        "policy",
        "n_requests",
        "token_cost_usd",
        "gpu_cost_usd",
        "total_cost_usd",
        "cost_per_1k_usd",
        "arrival_rate_per_s",
        "requests_per_month",
        "monthly_token_cost_usd",
        "monthly_gpu_cost_usd",
        "monthly_cost_usd",
        "n_completed",
        "n_failed",
        "failure_rate",
        "n_quality_known",
        "quality_coverage",
        "mean_quality",
        "mean_quality_incl_failed",
        "p50_ttft_s",
        "p95_ttft_s",
        "p99_ttft_s",
        "p50_tpot_s",
        "p95_tpot_s",
        "p99_tpot_s",
        "p50_e2e_s",
        "p95_e2e_s",
        "p99_e2e_s",
        "slo_attainment",
        "makespan_s",
        "completed_per_s",
        "output_tokens_per_s",
        "share_api",
        "share_gpu",
        "cost_usd_api",
        "cost_usd_gpu",
        "utilisation_api",
        "utilisation_gpu",
        "retries",
        "requests_retried",
        "n_429",
        "requests_429",
        "n_context_exceeded",
        "privacy_violations",
    ]
    row0, row1 = table.to_dict("records")
    assert (row0["run_id"], row0["policy"], row1["policy"]) == (0, "threshold", "all-api")
    assert (row0["cost_per_1k_usd"], row0["mean_quality"], row0["p95_ttft_s"]) == pytest.approx(
        (7.5, 0.75, 0.95)
    )
    assert (row0["share_api"], row0["share_gpu"], row1["share_gpu"]) == (0.25, 0.5, 0.0)
    assert row0["utilisation_gpu"] == 0.25 and np.isnan(row1["utilisation_gpu"])
    assert (row0["cost_usd_api"], row0["cost_usd_gpu"], row1["cost_usd_api"]) == pytest.approx(
        (0.01, 0.02, 0.03)
    )
    assert (row0["slo_attainment"], row1["slo_attainment"]) == (0.5, 1.0)


def test_summarizing_runs_together_equals_summarizing_each_alone():
    """Grouping by run_id: a sweep's concatenated tables give the rows of separate calls."""
    records, endpoints = make_records(), make_endpoints()
    together = summarize_runs(records, endpoints, slo_e2e_s=2.0)
    alone = pd.concat(
        [
            summarize_runs(
                records.query(f"run_id == {r}"), endpoints.query(f"run_id == {r}"), slo_e2e_s=2.0
            )
            for r in (0, 1)
        ],
        ignore_index=True,
    )
    shared = [c for c in together.columns if c in alone.columns and not c.endswith("_gpu")]
    pd.testing.assert_frame_equal(together[shared], alone[shared])


def test_a_parameter_that_varies_within_a_run_is_not_carried():
    table = summarize_runs(make_records(note=list("abcdefg")), make_endpoints())
    assert "note" not in table.columns


def test_missing_record_column_is_named_with_what_is_present():
    records = make_records().drop(columns="cost_usd")
    with pytest.raises(TraceError) as err:
        summarize_runs(records, make_endpoints())
    assert str(err.value).startswith(
        "records, column 'cost_usd': required column missing (1 missing: 'cost_usd'); "
        "columns present: 'run_id', 'request_id'"
    )


def _with(frame: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    frame = frame.astype({column: object})  # any value fits, as in a hand-made table
    frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("records", "endpoints", "message"),
    [
        (
            _with(make_records(), 2, "cost_usd", -0.5),
            make_endpoints(),
            "records, row 3, column 'cost_usd': bad value in 1 rows (first: -0.5); "
            "expected a finite number >= 0",
        ),
        (
            _with(make_records(), 0, "retries", 1.5),
            make_endpoints(),
            "records, row 1, column 'retries': got 1.5; expected a whole count >= 0",
        ),
        (
            _with(make_records(), 5, "privacy_violation", "yes"),
            make_endpoints(),
            "records, row 6, column 'privacy_violation': got 'yes' (1 rows); "
            "expected True or False",
        ),
        (
            make_records(),
            _with(make_endpoints(), 1, "replica", "gpu-0"),
            "endpoints, row 2, column 'replica': replica 'gpu-0' of tier 'gpu' appears twice "
            "in run 0; expected one row per replica",
        ),
        (
            make_records(),
            _with(make_endpoints(), 2, "tier", None),
            "endpoints, row 3, column 'tier': missing in 1 rows; every replica names its tier",
        ),
        (
            make_records(),
            _with(make_endpoints(), 0, "horizon_s", 0.0),
            "endpoints, row 1, column 'horizon_s': is 0; expected > 0",
        ),
        (
            make_records().query("run_id == 0"),
            make_endpoints(),
            "records, column 'run_id': run 1 has endpoint rows but no records (1 such runs); "
            "expected one row per request per run",
        ),
    ],
)
def test_bad_records_and_endpoints_are_named_by_row_and_column(records, endpoints, message):
    with pytest.raises(TraceError) as err:
        summarize_runs(records, endpoints)
    assert str(err.value) == message
