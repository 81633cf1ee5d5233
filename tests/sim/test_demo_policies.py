"""The demo's policy comparison on a slice of the bundled trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simkit import load_trace
from simkit.demo import DEMO_POLICIES, DEMO_TRACE, compare_policies, format_comparison

BUNDLED = Path(__file__).resolve().parents[2] / "traces" / DEMO_TRACE


def test_demo_compares_every_policy_with_cost_quality_latency_and_shares():
    table = compare_policies(load_trace(BUNDLED), n_requests=400)
    assert list(table["policy"]) == list(DEMO_POLICIES)
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
    text = format_comparison(table, 400)
    assert "p95 TTFT" in text and "oracle" in text
