"""The explorer redraws from the vectorised path on every control change and simulates on the
button; driven here through its widgets, as a user in JupyterLab would."""

from __future__ import annotations

from functools import partial

import pandas as pd
import pytest

from simkit.errors import SpecError
from simkit.study import capacity_rps
from simkit.viz import Explorer, ExplorerSettings


@pytest.fixture(scope="module")
def load_curve(study):
    return study.gpu_load_curve(n_requests=1500, rates_per_s=[4.0, 8.0, 12.0, 16.0, 20.0])


@pytest.fixture()
def explorer(study, load_curve):
    return Explorer(
        partial(study.explore, load_curve=load_curve),
        partial(study.simulate_settings, seeds=(0, 1)),
        tiers=study.tiers,
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        cutoffs={"frontier": 0.8, "hosted": 0.5},
        requests_per_month=5e6,
        gpu_usd_per_hour=1.37,
        gpu_replicas=1,
        slo_ttft_s=1.0,
    )


def _chart_rows(explorer: Explorer, name: str) -> pd.DataFrame:
    spec = explorer.charts[name].chart.to_dict()
    return pd.DataFrame(next(iter(spec["datasets"].values())))


def test_moving_a_cutoff_redraws_the_operating_point_from_the_vectorised_path(explorer, study):
    explorer.controls["cutoff_frontier"].value = 0.9
    rows = _chart_rows(explorer, "tradeoff")
    chosen = rows[rows["operating_point"]]
    assert chosen["policy"].tolist() == ["chosen"]
    expected = study.evaluate(
        {"frontier": 0.9, "hosted": 0.5},
        fleet=study.fleet_with(
            prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)}, gpu_usd_per_hour=1.37
        ),
        requests_per_month=5e6,
    ).iloc[0]
    for column in ("frontier_share", "mean_quality", "cost_per_1k_usd"):
        assert chosen[column].item() == pytest.approx(expected[column], rel=1e-12)
    assert chosen["threshold"].item() == 0.9
    shares = _chart_rows(explorer, "shares").query("policy == 'chosen'")
    assert shares["share"].tolist() == pytest.approx(
        [expected["share_selfhosted"], expected["share_hosted"], expected["share_frontier"]]
    )
    assert "Your point" in explorer.point_info.value and explorer.status.value == ""


def test_target_share_mode_routes_the_asked_share_to_the_frontier(explorer, study):
    explorer.controls["mode"].value = "shares"
    explorer.controls["share_frontier"].value = 0.25
    explorer.controls["share_hosted"].value = 0.0
    point = explorer.frames["point"].iloc[0]
    assert abs(point["share_frontier"] - 0.25) <= 1 / study.trace.n_requests
    assert point["share_hosted"] == 0.0
    assert explorer.controls["cutoff_frontier"].layout.display == "none"
    assert explorer.controls["share_frontier"].layout.display is None


def test_prices_volume_and_gpus_reach_the_monthly_cost_chart(explorer, study):
    explorer.controls["price_out_frontier"].value = 15.0
    explorer.controls["price_in_frontier"].value = 3.0
    explorer.controls["requests_per_month"].value = 1e7
    explorer.controls["gpu_replicas"].value = 2
    rows = _chart_rows(explorer, "monthly_costs")
    frontier = rows[rows["strategy"] == "all frontier"]
    per_request = study.token_cost_usd(study.fleet_with(prices={"frontier": (3.0, 15.0)}))[
        "frontier"
    ].mean()
    assert (
        frontier["monthly_cost_usd"] / frontier["requests_per_month"]
    ).tolist() == pytest.approx([per_request] * len(frontier))
    gpu = rows[rows["strategy"] == "all selfhosted"]
    replica_month = 1.37 * 4 * 720
    assert gpu["monthly_cost_usd"].min() >= 2 * replica_month  # at least the 2 replicas set
    spec = explorer.charts["monthly_costs"].chart.to_dict()
    rule = next(layer for layer in spec["layer"] if layer.get("name") == "volume")
    volume = spec["datasets"][rule["data"]["name"]][0]["requests_per_month"]
    assert volume == pytest.approx(1e7, rel=1e-9)
    cap = capacity_rps(explorer_load(explorer), 1.0)
    point = explorer.frames["point"].iloc[0]
    share_gpu = point["share_selfhosted"]
    assert point["gpu_load"] == pytest.approx(1e7 * share_gpu / (2 * cap * 30 * 86400), rel=1e-9)


def explorer_load(explorer: Explorer) -> pd.DataFrame:
    return explorer._update_fn.keywords["load_curve"]


def test_the_button_simulates_with_progress_and_adds_the_simulated_point(explorer):
    assert "latency" not in explorer.charts
    result = explorer.run_simulation()
    assert (explorer.progress.value, explorer.progress.max) == (2, 2)
    assert result["summary"]["run_id"].tolist() == [0, 1]
    latency = explorer.charts["latency"].chart.to_dict()
    names = [layer["name"] for panel in latency["hconcat"] for layer in panel["layer"]]
    assert [n.rsplit("_", 1)[0] for n in names] == ["cdf_ttft", "slo_ttft", "cdf_e2e"]
    rows = _chart_rows(explorer, "tradeoff")
    simulated = rows[rows["policy"] == "simulated"]
    assert len(simulated) == 1 and simulated["operating_point"].item()
    assert simulated["p95_ttft_s"].item() == pytest.approx(result["summary"]["p95_ttft_s"].mean())
    vectorised = rows[rows["policy"] == "chosen"]
    assert simulated["mean_quality"].item() == pytest.approx(vectorised["mean_quality"].item())
    assert "Simulated</b> (2 seed(s))" in explorer.sim_info.value
    # a control moves: the simulated point no longer describes the settings and is dropped
    explorer.controls["cutoff_frontier"].value = 0.6
    assert "simulated" not in set(_chart_rows(explorer, "tradeoff")["policy"])
    assert "for earlier settings" in explorer.sim_info.value


def test_a_bad_setting_shows_the_error_and_keeps_the_last_charts(explorer):
    before = explorer.charts["tradeoff"].chart
    explorer.controls["mode"].value = "shares"
    explorer.controls["share_frontier"].value = 0.7
    explorer.controls["share_hosted"].value = 0.6
    assert "shares add up to 1.3 &gt; 1" in explorer.status.value
    explorer.controls["share_hosted"].value = 0.1
    assert explorer.status.value == "" and explorer.charts["tradeoff"].chart is not before


def test_settings_collect_every_control(explorer):
    s = explorer.settings()
    assert s == ExplorerSettings(
        mode="thresholds",
        cutoffs={"frontier": 0.8, "hosted": 0.5},
        shares={"frontier": 0.2, "hosted": 0.0},
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        requests_per_month=pytest.approx(5e6, rel=1e-9),
        gpu_usd_per_hour=1.37,
        gpu_replicas=1,
        slo_ttft_s=pytest.approx(1.0),
    )
    assert explorer.widget() is not None


def test_cutoff_sliders_span_the_scores_actual_range(study, load_curve):
    scores = 0.03 + 0.46 * study.scores  # a classifier whose scores run from 0.03 to 0.49
    explorer = Explorer(
        partial(study.explore, load_curve=load_curve),
        tiers=study.tiers,
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        cutoffs={"frontier": 0.4, "hosted": 0.3},
        scores=scores,
    )
    for tier in ("frontier", "hosted"):
        slider = explorer.controls[f"cutoff_{tier}"]
        assert (slider.min, slider.max) == pytest.approx((scores.min(), scores.max()))
    assert explorer.controls["cutoff_frontier"].value == pytest.approx(0.4, abs=1e-3)
    with pytest.raises(SpecError, match="key 'score_range': got \\(0.5, 0.2\\); expected lo"):
        Explorer(
            partial(study.explore, load_curve=load_curve),
            tiers=study.tiers,
            prices={},
            cutoffs={},
            score_range=(0.5, 0.2),
        )


def test_simulated_cost_per_1k_is_the_month_over_the_volume_and_seeds_are_named(study):
    """At 1e9 requests a month the GPU backlog drains for minutes: the run's own cost per
    request pays those GPU minutes, a month at this volume does not. The summary shows the
    per-1k figure that matches its monthly figure, and says when all seeds agree."""
    from simkit.viz.explorer import _summary_html

    settings = ExplorerSettings(
        mode="thresholds",
        cutoffs={"frontier": 0.8, "hosted": 0.6},
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        requests_per_month=1e9,
        gpu_usd_per_hour=1.37,
        slo_ttft_s=1.0,
    )
    summary = study.simulate_settings(settings, seeds=(0, 1, 2))["summary"]
    html = _summary_html(summary, study.tiers, settings)
    monthly = summary["monthly_cost_usd"].mean()
    assert f"${monthly / 1e9 * 1000:.3f} per 1k requests, ${monthly:,.0f} per month" in html
    assert summary["cost_per_1k_usd"].mean() > monthly / 1e9 * 1000 * 1.05  # the drain
    p95 = summary["p95_ttft_s"]
    if p95.max() - p95.min() < 5e-4:
        assert "(the same in all 3 seeds)" in html
    else:
        assert f"(3 seeds: {p95.min():.3f}–{p95.max():.3f} s)" in html
    one = _summary_html(summary.iloc[:1], study.tiers, settings)
    assert "(one seed)" in one


def test_the_explorer_and_the_study_share_one_typed_settings_class(study):
    """The widgets build the very frozen dataclass Study.explore is typed with; a bad mode
    is named in the error."""
    import dataclasses

    import simkit.study

    assert ExplorerSettings is simkit.study.ExplorerSettings
    settings = ExplorerSettings(mode="shares", shares={"frontier": 0.25}, requests_per_month=2e6)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.mode = "thresholds"
    point = study.explore(settings)["point"].iloc[0]
    assert point["share_frontier"] == pytest.approx(0.25, abs=1 / study.trace.n_requests)
    assert point["requests_per_month"] == 2e6
    with pytest.raises(SpecError, match="key 'mode': got 'random'; expected 'thresholds' or"):
        study.explore(dataclasses.replace(settings, mode="random"))


def test_a_tier_without_a_starting_cutoff_still_gets_traffic(study, load_curve):
    """Left out, the hosted tier starts at the cut-off that sends it 20 % of the requests
    (it used to start at the top of the slider, so it never got any)."""
    explorer = Explorer(
        partial(study.explore, load_curve=load_curve),
        tiers=study.tiers,
        prices={"hosted": (0.59, 0.79), "frontier": (2.5, 10.0)},
        cutoffs={},
        scores=study.scores,
    )
    point = explorer.frames["point"].iloc[0]
    n = study.trace.n_requests
    assert abs(point["share_frontier"] - 0.2) <= 2 / n
    assert abs(point["share_hosted"] - 0.2) <= 2 / n
    without_scores = Explorer(
        partial(study.explore, load_curve=load_curve),
        tiers=study.tiers,
        prices={},
        cutoffs={"frontier": 0.8},
    )
    shares = without_scores.frames["point"].iloc[0]
    assert without_scores.controls["cutoff_hosted"].value == pytest.approx(1 / 3, abs=0.005)
    assert shares["share_hosted"] > 0 and shares["share_selfhosted"] > 0
