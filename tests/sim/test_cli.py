"""`simkit replay`, `simkit sweep` and `simkit prices` from the command line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sim.helpers import FIXTURE
from simkit.cli import main


def test_replay_prints_json_headline_numbers_and_writes_records(tmp_path, capsys):
    out = tmp_path / "records.parquet"
    rc = main(
        [
            "replay",
            "--trace",
            str(FIXTURE),
            "--policy",
            "privacy>cascade:judge_error=0.1",
            "--seed",
            "3",
            "--json",
            "--no-progress",
            "--records",
            str(out),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert summary["policy_name"] == "privacy>cascade" and summary["privacy_violations"] == 0
    assert summary["n_requests"] == 2447 and 0 < summary["mean_quality"] < 1
    assert len(pd.read_parquet(out)) == 2447


def test_replay_with_a_missing_score_exits_2_naming_the_available_scores(capsys):
    rc = main(
        ["replay", "--trace", str(FIXTURE), "--policy", "threshold:p_hard=0.7", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert (
        "simkit replay: error: policy 'threshold', key 'score': the trace has no score column 'p_hard'; score columns: none"
        in err
    )


def test_sweep_expands_grids_over_the_policies_that_take_them(tmp_path, capsys):
    out = tmp_path / "sweep.csv"
    rc = main(
        [
            "sweep",
            "--trace",
            str(FIXTURE),
            "--policy",
            "static:tier=frontier",
            "--policy",
            "share:score=null",
            "--grid",
            "target_share=0.1,0.3",
            "--seeds",
            "0,1",
            "--n-jobs",
            "1",
            "--out",
            str(out),
            "--json",
        ]
    )
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [r["policy"] for r in rows] == ["static:tier=frontier"] * 2 + [
        "share:score=null,target_share=0.1"
    ] * 2 + ["share:score=null,target_share=0.3"] * 2
    assert len(pd.read_csv(out)) == 6


def test_prices_check_defaults_reports_matches_and_differences(capsys):
    rc = main(["prices", "--check-defaults", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [(r["label"], r["matches_assumed"]) for r in rows] == [
        ("GPT-4o", True),
        ("Claude 3.5 Sonnet", True),
        ("Llama 3 70B hosted", True),
        ("Llama 3 70B hosted (HF id)", False),
    ]


def test_prices_unknown_model_exits_2_with_close_matches(capsys):
    rc = main(["prices", "gpt-4oo"])
    assert rc == 2 and "unknown model 'gpt-4oo'; close matches: gpt-4o" in capsys.readouterr().err


def test_sweep_prints_a_table_with_headline_columns(capsys):
    """Without --json the sweep prints one line per run with cost, quality, p95 TTFT, SLO."""
    rc = main(
        [
            "sweep",
            "--trace",
            str(FIXTURE),
            "--policy",
            "static:tier=frontier",
            "--seeds",
            "0",
            "--n-jobs",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    header = out.splitlines()[0].split()
    assert header[:7] == [
        "policy",
        "seed",
        "cost_per_1k_usd",
        "monthly_cost_usd",
        "mean_quality",
        "p95_ttft_s",
        "slo_attainment",
    ]
    assert "static:tier=frontier" in out.splitlines()[1]


def test_replay_takes_the_first_requests_at_a_multiple_of_their_rate(tmp_path, capsys):
    args = ["replay", "--trace", str(FIXTURE), "--policy", "static:tier=selfhosted", "--json"]
    args += ["--no-progress", "--n-requests", "500", "--records"]
    rc = main([*args, str(tmp_path / "base.parquet")])
    base = json.loads(capsys.readouterr().out)
    rc += main([*args, str(tmp_path / "fast.parquet"), "--rate-multiplier", "4"])
    fast = json.loads(capsys.readouterr().out)
    arrivals = pd.read_parquet(tmp_path / "base.parquet")["arrival_s"]
    fast_arrivals = pd.read_parquet(tmp_path / "fast.parquet")["arrival_s"]
    assert rc == 0 and base["n_requests"] == fast["n_requests"] == 500
    assert (fast_arrivals * 4).tolist() == pytest.approx(arrivals.tolist(), rel=1e-12)
    assert fast["p95_ttft_s"] > base["p95_ttft_s"]  # the same GPU, four times the load
