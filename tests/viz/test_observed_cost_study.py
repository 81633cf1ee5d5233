"""cost_source="observed" through the Study, the report and the CLI: every what-if, simulation,
chart and ``--json`` row prices API tiers at the costs the trace recorded (not the catalog) and
says so; a used request without a recorded cost is the one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simkit import load_trace, save_trace
from simkit.cli import main
from simkit.errors import SpecError, TraceError
from simkit.fleet import load_fleet
from simkit.policies import ThresholdPolicy
from simkit.study import Study
from simkit.viz import study_report_sections

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "sim" / "routellm_azure_slice"
GPT4 = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
N = 60
ROWS = np.arange(1, N + 1)
CUTOFFS = {"frontier": 0.7, "hosted": 0.4}


def _with_costs(trace, drop: tuple[str, str] | None = None):
    """Recorded costs no catalog gives: GPT-4 1 mUSD x row, Mixtral 7 uUSD x row (1-based)."""
    out = trace.outcomes.copy()
    row = pd.Index(trace.requests["request_id"]).get_indexer(out["request_id"]) + 1
    out["cost_usd"] = np.where(out["model"] == GPT4, 1e-3 * row, 7e-6 * row)
    if drop is not None:
        hit = (out["request_id"] == drop[0]) & (out["model"] == drop[1])
        assert hit.sum() == 1
        out.loc[hit, "cost_usd"] = np.nan
    return trace.replace(outcomes=out)


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    t = t.subset(np.arange(t.n_requests) < N)
    # arrivals start late: the study shifts them to 0 before simulating
    t = t.replace(requests=t.requests.assign(arrival_s=t.requests["arrival_s"] + 40.0))
    return _with_costs(t.with_scores({"p_hard": np.random.default_rng(7).random(N)}))


@pytest.fixture(scope="module")
def studies(trace):
    fleet = load_fleet()  # selfhosted, hosted (Mixtral), frontier (GPT-4)
    return (
        Study.prepare(trace, fleet, cost_source="observed"),
        Study.prepare(trace, fleet),
    )


def _tiers(trace) -> np.ndarray:
    p = trace.scores["p_hard"].to_numpy()
    return np.where(p >= 0.7, "frontier", np.where(p >= 0.4, "hosted", "selfhosted"))


def test_the_study_prices_api_tiers_at_the_recorded_costs(trace, studies):
    observed, catalog = studies
    assert (observed.cost_source, catalog.cost_source) == ("observed", "catalog")
    costs = observed.token_cost_usd()
    assert costs.attrs["cost_source"] == "observed"
    np.testing.assert_allclose(costs["frontier"], 1e-3 * ROWS, rtol=0, atol=1e-15)
    np.testing.assert_allclose(costs["hosted"], 7e-6 * ROWS, rtol=0, atol=1e-15)
    listed = catalog.token_cost_usd()
    assert listed.attrs["cost_source"] == "catalog"
    assert (listed["frontier"].to_numpy() != costs["frontier"].to_numpy()).all()
    # a self-hosted tier costs its own marginal price under both
    pd.testing.assert_series_equal(costs["selfhosted"], listed["selfhosted"])

    point = observed.evaluate(CUTOFFS)
    tiers = _tiers(trace)
    expected = np.select(
        [tiers == "frontier", tiers == "hosted"],
        [1e-3 * ROWS, 7e-6 * ROWS],
        default=listed["selfhosted"].to_numpy(),
    )
    assert point.loc[0, "cost_source"] == "observed"
    assert point.loc[0, "token_cost_per_1k_usd"] == pytest.approx(1000 * expected.mean(), 1e-12)
    assert point.loc[0, "share_frontier"] == pytest.approx((tiers == "frontier").mean())
    assert catalog.evaluate(CUTOFFS).loc[0, "cost_source"] == "catalog"

    curves = observed.tradeoff(n_thresholds=5)
    assert set(curves["cost_source"]) == {"observed"}
    every = curves.set_index("policy")
    assert every.loc["all frontier", "token_cost_per_1k_usd"] == pytest.approx(
        1000 * 1e-3 * (N + 1) / 2, rel=1e-12
    )
    assert every.loc["all hosted", "token_cost_per_1k_usd"] == pytest.approx(
        1000 * 7e-6 * (N + 1) / 2, rel=1e-12
    )


def test_a_catalog_price_edit_moves_only_catalog_costs(studies):
    """Under "observed" the API bill is the recorded one: a price what-if changes nothing there."""
    observed, catalog = studies
    dearer = observed.fleet_with(prices={"frontier": (20.0, 60.0), "hosted": (5.0, 5.0)})
    obs = observed.evaluate(CUTOFFS, fleet=dearer)["token_cost_per_1k_usd"].iloc[0]
    assert obs == observed.evaluate(CUTOFFS)["token_cost_per_1k_usd"].iloc[0]
    cat = catalog.evaluate(CUTOFFS, fleet=dearer)["token_cost_per_1k_usd"].iloc[0]
    assert cat > catalog.evaluate(CUTOFFS)["token_cost_per_1k_usd"].iloc[0]


def test_the_study_simulates_with_its_cost_source(trace, studies):
    observed, catalog = studies
    policy = ThresholdPolicy(CUTOFFS)
    records, _ = observed.simulate(policy, seeds=(2,))
    tiers = _tiers(trace)
    assert (records["tier"].to_numpy() == tiers).all()
    costs = records["cost_usd"].to_numpy()
    np.testing.assert_allclose(costs[tiers == "frontier"], 1e-3 * ROWS[tiers == "frontier"])
    np.testing.assert_allclose(costs[tiers == "hosted"], 7e-6 * ROWS[tiers == "hosted"])
    listed, _ = catalog.simulate(policy, seeds=(2,))
    api = tiers != "selfhosted"
    assert (listed["cost_usd"].to_numpy()[api] != costs[api]).all()
    # the simulated run lands on the vectorised point under the same source
    point = observed.evaluate(CUTOFFS)
    assert 1000 * costs.mean() == pytest.approx(point.loc[0, "token_cost_per_1k_usd"], 1e-12)


def test_a_missing_recorded_cost_is_the_clear_error_when_the_study_is_prepared(trace):
    ids = trace.requests["request_id"].to_numpy()
    gap = _with_costs(trace, drop=(ids[4], GPT4))
    with pytest.raises(TraceError) as err:
        Study.prepare(gap, load_fleet(), cost_source="observed")
    msg = str(err.value)
    assert "row 5" in msg and "column 'cost_usd'" in msg
    assert f"request {ids[4]!r} has no observed cost for model {GPT4!r}" in msg
    assert "tier 'frontier'; 1 such requests" in msg
    Study.prepare(gap, load_fleet())  # the catalog never reads it
    with pytest.raises(SpecError, match=r"study, key 'cost_source': got 'bill'"):
        Study.prepare(trace, load_fleet(), cost_source="bill")


def test_the_report_says_which_costs_every_cost_figure_used(studies):
    observed, catalog = studies
    results = observed.report_results(cutoffs=CUTOFFS, load_requests=200)
    assert results.cost_source == "observed"
    assert set(results.runs["cost_source"]) == {"observed"}
    assert results.monthly_costs.attrs["cost_source"] == "observed"
    all_frontier = results.runs.set_index("policy").loc["all frontier"]
    assert all_frontier["token_cost_usd"] == pytest.approx(1e-3 * N * (N + 1) / 2, rel=1e-12)
    sections = {s.title: s for s in study_report_sections(results)}
    assert "recorded for each request (observed cost" in sections["Policies simulated"].text
    assert sections["Monthly cost vs request volume"].text.startswith(
        "This trace's recorded (observed) token cost per request"
    )
    for title in ("Latency vs cost", "Cost per tier", "Cost vs quality"):
        spec = json.dumps(sections[title].chart.to_dict())
        assert "cost per 1k requests (USD; observed token costs)" in spec, title
    spec = json.dumps(sections["Monthly cost vs request volume"].chart.to_dict())
    assert "monthly cost (USD; observed token costs)" in spec
    assert sections["Fleet"].text.endswith(
        "charged API tiers the costs the trace recorded instead (observed cost)."
    )

    plain = catalog.report_results(cutoffs=CUTOFFS, load_requests=200)
    assert set(plain.runs["cost_source"]) == {"catalog"}
    sections = {s.title: s for s in study_report_sections(plain)}
    assert "catalog prices times the token counts" in sections["Policies simulated"].text
    assert "observed" not in sections["Fleet"].text
    for title in ("Latency vs cost", "Cost vs quality", "Monthly cost vs request volume"):
        assert "observed token costs" not in json.dumps(sections[title].chart.to_dict())


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory, trace):
    path = tmp_path_factory.mktemp("observed") / "trace"
    save_trace(trace, path)
    return path


POLICY = "threshold:cutoffs.frontier=0.7,cutoffs.hosted=0.4"


def test_replay_json_says_and_uses_the_cost_source(capsys, trace_dir, trace):
    base = ["replay", "--trace", str(trace_dir), "--policy", POLICY, "--no-progress", "--json"]
    assert main([*base, "--cost-source", "observed"]) == 0
    observed = json.loads(capsys.readouterr().out)
    assert main(base) == 0
    catalog = json.loads(capsys.readouterr().out)
    assert observed["cost_source"] == "observed" and catalog["cost_source"] == "catalog"
    tiers = _tiers(trace)
    self_hosted = (
        Study.prepare(trace, load_fleet())
        .token_cost_usd()["selfhosted"]
        .to_numpy()[tiers == "selfhosted"]
    )
    expected = (
        1e-3 * ROWS[tiers == "frontier"].sum()
        + 7e-6 * ROWS[tiers == "hosted"].sum()
        + self_hosted.sum()
    )
    assert observed["token_cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert catalog["token_cost_usd"] != pytest.approx(expected, rel=1e-6)


def test_sweep_rows_and_table_say_the_cost_source(capsys, trace_dir):
    base = ["sweep", "--trace", str(trace_dir), "--policy", POLICY, "--n-jobs", "1"]
    base += ["--no-progress", "--policy", "static:tier=frontier"]
    assert main([*base, "--cost-source", "observed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["cost_source"] for r in rows] == ["observed", "observed"]
    assert rows[1]["token_cost_usd"] == pytest.approx(1e-3 * N * (N + 1) / 2, rel=1e-12)
    assert main(base) == 0
    table = capsys.readouterr().out
    assert table.rstrip().endswith("costs: catalog token prices (cost_source catalog)")


def test_report_cli_writes_an_observed_cost_report(capsys, trace_dir, tmp_path):
    out = tmp_path / "r.html"
    argv = ["report", "--trace", str(trace_dir), "--out", str(out), "--n-jobs", "1"]
    assert main([*argv, "--cost-source", "observed", "--frontier-shares", "0.2"]) == 0
    html = out.read_text()
    assert "API tiers at the costs the trace recorded per request (observed)." in html
    assert "observed token costs" in html


def test_a_missing_recorded_cost_on_the_command_line_is_one_clear_line(capsys, tmp_path, trace):
    ids = trace.requests["request_id"].to_numpy()
    tiers = _tiers(trace)
    sent = int(np.flatnonzero(tiers == "hosted")[0])
    path = tmp_path / "gap"
    save_trace(_with_costs(trace, drop=(ids[sent], MIXTRAL)), path)
    argv = ["replay", "--trace", str(path), "--policy", POLICY, "--no-progress"]
    assert main([*argv, "--cost-source", "observed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("simkit replay: error: ")
    assert f"row {sent + 1}, column 'cost_usd'" in err
    assert f"request {ids[sent]!r} has no observed cost for model {MIXTRAL!r}" in err
    assert "or use cost_source='catalog'" in err
    with pytest.raises(SystemExit):
        main([*argv, "--cost-source", "bill"])
    assert "invalid choice: 'bill'" in capsys.readouterr().err
