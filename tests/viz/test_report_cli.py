"""`simkit report`: the standard report of a scored trace, written offline-ready, with PNGs."""

from __future__ import annotations

from dataclasses import fields
from types import SimpleNamespace

import pandas as pd
import pytest

from simkit.cli import main
from simkit.errors import SpecError
from simkit.metrics import summarize_runs
from simkit.policies import ThresholdPolicy
from simkit.study import ReportResults
from simkit.trace import save_trace
from simkit.viz import study_report_sections
from simkit.viz.sections import REPORT_KEYS


@pytest.fixture(scope="module")
def scored_dir(tmp_path_factory, scored_trace):
    path = tmp_path_factory.mktemp("trace") / "scored"
    save_trace(scored_trace, path)
    return path


@pytest.fixture(scope="module")
def results(study):
    return study.report_results(
        cutoffs={"frontier": 0.8, "hosted": 0.6}, seeds=(0, 1), load_requests=1000, slo_ttft_s=1.0
    )


def test_report_results_are_the_simulator_and_metrics_numbers(study, results):
    runs = results.runs
    assert runs["policy"].unique().tolist() == [
        "all selfhosted",
        "all hosted",
        "all frontier",
        "frontier 10% / selfhosted",
        "frontier 20% / selfhosted",
        "frontier 30% / selfhosted",
        "chosen",
        "oracle",
    ]
    assert runs["run_id"].tolist() == list(range(16))
    assert set(runs["cost_source"]) == {"catalog"}
    chosen = runs[runs["policy"] == "chosen"].drop(
        columns=["policy", "threshold", "family", "cost_source"]
    )
    records, endpoints = study.simulate(
        ThresholdPolicy({"frontier": 0.8, "hosted": 0.6}), seeds=(0, 1)
    )
    direct = summarize_runs(
        records, endpoints, slo_ttft_s=1.0, requests_per_month=results.requests_per_month
    )
    pd.testing.assert_frame_equal(
        chosen.drop(columns="run_id").reset_index(drop=True),
        direct[chosen.columns].drop(columns="run_id"),
    )
    share = runs.groupby("policy")["share_frontier"].mean()
    n = study.trace.n_requests
    for p in (0.1, 0.2, 0.3):
        assert abs(share[f"frontier {p:.0%} / selfhosted"] - p) <= 1 / n
    assert results.records_chosen["run_id"].unique().tolist() == [12, 13]
    assert results.capacity_rps > 0 and results.chosen == "chosen"


def test_the_views_read_every_field_of_the_report_results_and_nothing_else(results):
    """ReportResults is frozen and the sections' ReportInputs names exactly its fields."""
    assert tuple(f.name for f in fields(ReportResults)) == REPORT_KEYS
    with pytest.raises(AttributeError):
        results.chosen = "oracle"


def test_report_sections_draw_every_part_of_the_results(results):
    sections = study_report_sections(results)
    assert [s.slug for s in sections] == [
        "policies",
        "latency-cost",
        "tier-cost",
        "tradeoff",
        "routing",
        "latency",
        "capacity",
        "monthly-cost",
        "fleet",
    ]
    table = sections[0].table
    assert table["policy"].tolist() == results.runs["policy"].unique().tolist()
    assert table["$ / 1k requests"].tolist() == pytest.approx(
        results.runs.groupby("policy", sort=False)["cost_per_1k_usd"].mean().tolist()
    )
    spec = sections[3].chart.to_dict()
    points = pd.DataFrame(next(iter(spec["datasets"].values())))
    chosen = points[points["operating_point"]]
    assert chosen["policy"].tolist() == ["chosen"]
    assert chosen["p95_ttft_s"].item() == pytest.approx(
        results.runs.query("policy == 'chosen'")["p95_ttft_s"].mean()
    )
    routing = sections[4].table.set_index("curve")["APGR"]
    assert routing["random"] == pytest.approx(0.5, abs=0.02)  # RouteLLM: random APGR ~ 0.5
    assert routing["oracle"] > routing["p_hard router"]
    partial = SimpleNamespace(**{k: getattr(results, k) for k in REPORT_KEYS if k != "runs"})
    with pytest.raises(SpecError, match="key 'runs': missing from the results"):
        study_report_sections(partial)


@pytest.mark.browser
def test_simkit_report_writes_an_offline_page_and_pngs(
    tmp_path, scored_dir, browser, capsys, artifacts
):
    out = tmp_path / "report.html"
    code = main(
        [
            "report",
            "--trace",
            str(scored_dir),
            "--cutoff",
            "frontier=0.8",
            "--n-requests",
            "1500",
            "--out",
            str(out),
            "--png-dir",
            str(tmp_path / "png"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed.count("wrote") == 9
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "capacity.png",
        "latency-cost.png",
        "latency.png",
        "monthly-cost.png",
        "policies.png",
        "routing.png",
        "tier-cost.png",
        "tradeoff.png",
    ]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    remote = []
    page.route(
        "**/*",
        lambda r: (
            r.continue_()
            if r.request.url.startswith("file://")
            else (remote.append(r.request.url), r.abort())
        ),
    )
    page.goto(out.as_uri())
    assert page.evaluate("window.simkitRendered.then(v => v.length)") == 8
    drawn = page.evaluate(
        "[...document.querySelectorAll('div.chart')].map(d => d.querySelectorAll('svg.marks').length)"
    )
    page.screenshot(path=str(artifacts / "simkit_report.png"), full_page=True)
    page.close()
    assert drawn == [1] * 8 and remote == []
    text = out.read_text()
    assert "Generated by simkit" in text
    assert text.count('class="csv" download=') == 8  # each chart's data as a CSV
    # the citation is printed once, though the licences already carry it
    assert text.count("Patel et al.") == 1


def test_simkit_report_without_the_score_says_which_scores_exist(tmp_path, scored_dir, capsys):
    code = main(
        ["report", "--trace", str(scored_dir), "--score", "p_x", "--out", str(tmp_path / "r.html")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "simkit report: error: study, key 'score': the trace has no score column 'p_x'" in err
    assert "score columns: p_hard" in err
    code = main(["report", "--trace", str(scored_dir), "--cutoff", "frontier", "--out", "x.html"])
    assert code == 2
    assert "--cutoff, key 'frontier': expected TIER=SCORE" in capsys.readouterr().err
    code = main(
        [
            "report",
            "--trace",
            str(scored_dir),
            "--cutoff",
            "gpu=0.5",
            "--n-requests",
            "300",
            "--out",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 2
    assert "key 'cutoffs.gpu': not a tier above the cheapest" in capsys.readouterr().err


def test_report_sections_say_a_curve_dips_instead_of_warning_into_simkit_code(results):
    """RouteLLM's interpolated CPT on a non-monotone curve: the table says so; no
    NonMonotoneCurveWarning reaches the user pointing at simkit/viz/sections.py."""
    import dataclasses
    import warnings

    from simkit.metrics import NonMonotoneCurveWarning, RoutingCurve

    dipping = RoutingCurve([0.0, 0.3, 0.6, 1.0], [0.60, 0.75, 0.70, 0.80], 0.60, 0.80)
    results = dataclasses.replace(results, routing={**results.routing, "p_hard router": dipping})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonMonotoneCurveWarning)
        sections = study_report_sections(results)
    table = sections[4].table.set_index("curve")
    column = table["quality never falls as the share grows"]
    expected = {
        name: "yes" if curve.is_monotone else "no: CPT interpolated as RouteLLM does"
        for name, curve in results.routing.items()
    }
    assert column.to_dict() == expected
    assert "no: CPT interpolated as RouteLLM does" in expected.values()  # the case arises


def test_report_tables_read_as_a_person_reads_them(results):
    """Human headers (no snake_case column names), fractions as percentages, thousands
    separators from 1,000 on, a fleet table one column per tier, each chart with its data."""
    from simkit.viz.report import readable_number, report_html

    sections = {s.slug: s for s in study_report_sections(results)}
    for s in sections.values():
        if s.table is not None:
            assert not [c for c in s.table.columns if "_" in str(c)], (s.slug, s.table.columns)
        if s.chart is not None:
            assert s.data is not None and len(s.data), s.slug
    policies = sections["policies"].table
    assert policies["TTFT within SLO"].str.endswith("%").all()
    assert policies["frontier share"].str.endswith("%").all()
    assert [readable_number(v) for v in (4586.98, 37534.5, 0.38117, 12.0)] == [
        "4,587",
        "37,534",
        "0.3812",
        "12",
    ]
    fleet = sections["fleet"].table
    assert list(fleet.columns) == ["", "selfhosted", "hosted", "frontier"]
    assert "$ / GPU-hour" in fleet[""].tolist() and "tier" not in fleet[""].tolist()
    assert sections["capacity"].table.columns[0] == "offered rate (requests/s)"
    page = report_html(list(sections.values()), title="t")
    assert 'download="latency-cost.csv"' in page and 'download="tier-cost.csv"' in page
    assert "threshold null" not in page


def test_the_latency_cost_view_carries_seed_intervals_and_the_tier_cost_adds_up(results):
    import numpy as np

    sections = {s.slug: s for s in study_report_sections(results)}
    intervals = sections["latency-cost"].data.set_index("policy")
    runs = results.runs
    chosen = runs[runs["policy"] == "chosen"]["p95_ttft_s"]
    assert intervals.loc["chosen", "n_runs"] == 2
    assert intervals.loc["chosen", "p95_ttft_s"] == pytest.approx(chosen.mean())
    half = 12.706 * chosen.std(ddof=1) / np.sqrt(2)  # t(0.975, 1 degree of freedom)
    assert intervals.loc["chosen", "p95_ttft_s_hi"] == pytest.approx(chosen.mean() + half, rel=1e-3)
    cost = sections["tier-cost"].data.groupby("policy", sort=False)["cost_per_1k_usd"].sum()
    total = (runs["total_cost_usd"] / runs["n_requests"] * 1000).groupby(runs["policy"]).mean()
    assert cost.to_dict() == pytest.approx(total[cost.index].to_dict())
    # the chosen policy routes to all three tiers, so the latency CDFs show all three
    assert sorted(set(sections["latency"].data["tier"])) == ["frontier", "hosted", "selfhosted"]
    text = sections["monthly-cost"].text
    assert "'tiered': frontier score >= 0.800, hosted score >= 0.600" in text


def test_simkit_report_by_default_sends_traffic_to_every_tier(study):
    from simkit.cli.report import default_cutoffs

    cutoffs = default_cutoffs(study)
    point = study.evaluate(cutoffs).iloc[0]
    n = study.trace.n_requests
    assert abs(point["share_frontier"] - 0.2) <= 1 / n
    assert abs(point["share_hosted"] - 0.2) <= 2 / n
    assert point["share_selfhosted"] > 0.5


def test_the_report_simulates_in_parallel_with_the_serial_results(scored_trace):
    """n_jobs=2 runs the report's simulations (the load curve's too) through joblib workers:
    every frame is the serial one, bit for bit, and progress counts every policy run
    (policies x seeds) in order."""
    import numpy as np

    from simkit import load_fleet
    from simkit.study import Study

    small = Study.prepare(
        scored_trace.subset(np.arange(scored_trace.n_requests) < 700), load_fleet()
    )
    kwargs = dict(
        cutoffs={"frontier": 0.7}, frontier_shares=(0.2,), seeds=(4, 5), load_requests=300
    )
    calls = []
    serial = small.report_results(**kwargs)
    parallel = small.report_results(
        **kwargs, n_jobs=2, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(i, 12) for i in range(1, 13)]  # 3 tiers + 20 % + chosen + oracle, x2
    for name in ("runs", "records_chosen", "tradeoff", "load_curve", "monthly_costs", "crossovers"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(parallel, name))
    assert serial.capacity_rps == parallel.capacity_rps
    assert parallel.records_chosen["run_id"].unique().tolist() == [8, 9]


def test_simkit_report_writes_the_same_page_with_parallel_simulations(tmp_path, scored_dir, capsys):
    """--n-jobs 2 (joblib workers) and --n-jobs 1 write the same HTML, byte for byte; the
    progress line on stderr counts every simulation."""
    pages = []
    for n_jobs in ("1", "2"):
        out = tmp_path / f"report-{n_jobs}.html"
        args = ["report", "--trace", str(scored_dir), "--n-requests", "400", "--seeds", "0,1"]
        code = main([*args, "--n-jobs", n_jobs, "--out", str(out)])
        assert code == 0
        assert "simulating: 16/16 runs" in capsys.readouterr().err
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]
