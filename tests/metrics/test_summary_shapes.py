"""summarize_runs: every fleet tier has a share column (0 when unused) and counts are int64."""

from __future__ import annotations

from simkit import simulate
from simkit.fleet import load_fleet
from simkit.metrics import summarize_runs
from simkit.policies import StaticPolicy
from simkit.trace import load_trace, window
from tests.sim.helpers import FIXTURE


def test_every_tier_of_the_fleet_gets_a_share_and_counts_are_integers():
    trace = window(load_trace(FIXTURE), n_requests=25)
    fleet = load_fleet()
    rec = simulate(trace, fleet, StaticPolicy("hosted"), seed=4)
    row = summarize_runs(rec.requests, rec.endpoints, slo_ttft_s=2.0)
    shares = {c: row[c].iloc[0] for c in row.columns if c.startswith("share_")}
    assert shares == {"share_hosted": 1.0, "share_selfhosted": 0.0, "share_frontier": 0.0}
    for c in ("n_requests", "n_completed", "n_failed", "n_quality_known", "retries", "n_429"):
        assert str(row[c].dtype) == "int64", c
    assert row["n_requests"].iloc[0] == 25
