"""The demo's policy comparison on a slice of the bundled trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simkit import load_trace
from simkit.demo import (
    DEMO_POLICIES,
    DEMO_TRACE,
    THRESHOLD_LABEL,
    compare_policies,
    format_comparison,
)

BUNDLED = Path(__file__).resolve().parents[2] / "traces" / DEMO_TRACE


def test_demo_compares_every_policy_with_cost_quality_latency_and_shares():
    trace = load_trace(BUNDLED)
    assert "p_hard" in trace.score_names  # out-of-fold classifier scores ship with the trace
    table = compare_policies(trace, n_requests=400)
    assert list(table["policy"]) == [*DEMO_POLICIES, THRESHOLD_LABEL]
    assert len(DEMO_POLICIES) >= 6
    row = table.set_index("policy")
    assert row.loc["all-frontier", "share_frontier"] == 1.0
    assert row.loc["all-cheap (self-hosted)", "share_selfhosted"] == 1.0
    assert row.loc["privacy > cascade", "privacy_violations"] == 0
    assert row.loc["oracle", "mean_quality"] >= row["mean_quality"].max()
    assert (
        row.loc["all-frontier", "cost_per_1k_usd"]
        > row.loc["all-cheap (self-hosted)", "cost_per_1k_usd"]
    )
    assert (
        np.isnan(row.loc["task heuristic", "apgr"])
        and abs(row.loc["random mix 1:1:1", "apgr"] - 0.5) < 0.1
    )
    # the classifier threshold holds its 20 % frontier share and beats the random router
    assert abs(row.loc[THRESHOLD_LABEL, "share_frontier"] - 0.2) < 0.05
    assert row.loc[THRESHOLD_LABEL, "apgr"] > 0.55
    text = format_comparison(table, 400)
    assert "p95 TTFT" in text and "oracle" in text


def test_demo_without_the_traces_folder_says_how_to_get_it(monkeypatch, capsys):
    """An install that is not a source checkout has no traces/ next to the package."""
    import simkit.demo

    monkeypatch.setattr(simkit.demo, "bundled_traces", lambda: [])
    assert simkit.demo.run_demo() == 1
    err = capsys.readouterr().err
    assert "the demo runs on the traces/ folder of a source checkout" in err
    assert "`pip install -e .`" in err
