"""`simkit fleet calibrate`: lognormal fits in the fleet spec's shapes, a fleet YAML that
loads, and the simulated-vs-observed table. (How close the two are is measured in
benchmarks/bench_live.py, not here: tests do not time anything.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simkit.cli import main
from simkit.errors import LiveError, TraceError
from simkit.fleet import load_fleet
from simkit.live.calibrate import calibrate, fit_jitter
from simkit.live.record import record


def test_fit_jitter_recovers_a_lognormal_median_and_sigma():
    rng = np.random.default_rng(0)
    x = 0.4 * np.exp(0.3 * rng.standard_normal(20_000))
    up = fit_jitter(x, what="ttft")
    low = fit_jitter(x, what="speed", tail="lower")
    assert up["median"] == pytest.approx(0.4, rel=0.02)
    assert up["sigma"] == pytest.approx(0.3, rel=0.05) and low["sigma"] == pytest.approx(
        0.3, rel=0.05
    )
    assert fit_jitter([0.5], what="one")["sigma"] == 0.0


def test_fit_jitter_without_positive_values_names_the_quantity():
    with pytest.raises(LiveError, match="no positive output speed of 'm' to fit"):
        fit_jitter([0.0, -1.0, float("nan")], what="output speed of 'm'")


@pytest.fixture(scope="module")
def recorded(small_trace, stub, tmp_path_factory):
    from simkit.live.endpoints import endpoints_from_dict

    from .conftest import stub_endpoints

    out = tmp_path_factory.mktemp("cal") / "rec"
    body = stub_endpoints(stub.base_url, oracle={"rpm": 6000})
    eps = endpoints_from_dict(body)
    record(
        small_trace,
        [eps["oracle"], eps["gpt-4o"], eps["cut"]],
        out=out,
        budget_usd=1,
        progress=False,
    )
    return out


def test_calibrate_needs_a_successful_record_per_endpoint(recorded):
    with pytest.raises(LiveError, match="endpoint 'cut' has no successful record"):
        calibrate(recorded)


def test_calibrated_fleet_has_one_api_tier_per_endpoint_and_loads(small_trace, stub, tmp_path):
    from simkit.live.endpoints import endpoints_from_dict

    from .conftest import stub_endpoints

    eps = endpoints_from_dict(stub_endpoints(stub.base_url, oracle={"rpm": 6000, "tpm": 90000}))
    out = tmp_path / "rec"
    record(small_trace, [eps["oracle"], eps["gpt-4o"]], out=out, budget_usd=1, progress=False)
    cal = calibrate(out)
    assert list(cal.spec["tiers"]) == ["oracle", "gpt-4o"]
    oracle = cal.spec["tiers"]["oracle"]
    assert oracle["kind"] == "api" and oracle["quality_model"] == "oracle"
    assert oracle["rate_limit"] == {"style": "openai", "rpm": 6000.0, "tpm": 90000.0}
    assert oracle["price"] == {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0}
    assert oracle["rtt_s"]["sigma"] == 0.0 and oracle["error_rate"] == 0.0
    assert cal.fits["n_ok"].tolist() == [40, 40]
    (tmp_path / "fleet.yaml").write_text(cal.to_yaml())
    fleet = load_fleet(tmp_path / "fleet.yaml")
    assert fleet.tier_names == ("oracle", "gpt-4o")
    assert (
        fleet.tier("gpt-4o").endpoint.ttft_s.median
        == cal.spec["tiers"]["gpt-4o"]["ttft_s"]["median"]
    )


def test_cli_calibrate_writes_the_yaml_and_prints_sim_vs_observed(
    small_trace, stub, tmp_path, capsys
):
    from simkit.live.endpoints import endpoints_from_dict

    from .conftest import stub_endpoints

    eps = endpoints_from_dict(stub_endpoints(stub.base_url))
    out = tmp_path / "rec"
    record(small_trace, [eps["oracle"], eps["dunce"]], out=out, budget_usd=1, progress=False)
    code = main(["fleet", "calibrate", str(out), "--out", str(tmp_path / "f.yaml"), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(c))
    rows = {(r["model"], r["metric"]): r for r in doc["comparison"]}
    assert set(rows) == {(m, k) for m in ("oracle", "dunce") for k in ("ttft_s", "e2e_s")}
    assert all(r["n_observed"] == r["n_simulated"] == 40 for r in rows.values())
    assert load_fleet(tmp_path / "f.yaml").tier_names == ("oracle", "dunce")
    assert main(["fleet", "calibrate", str(out), "--out", str(tmp_path / "g.yaml")]) == 0
    text = capsys.readouterr().out
    assert "simulated vs observed" in text and "diff_p95" in text


def test_calibrate_refuses_a_directory_that_is_no_recording(small_trace, tmp_path):
    from simkit.trace import save_trace

    d = save_trace(small_trace, tmp_path / "plain")
    with pytest.raises(
        TraceError, match="not a live recording \\(expected run.json and records.jsonl\\)"
    ):
        calibrate(d)


def test_replay_takes_the_recording_with_its_calibrated_fleet(
    small_trace, stub, mmlu_key, tmp_path, capsys
):
    """The recorded directory is a trace: `simkit replay` routes over the live models' tiers
    with an oracle policy (which reads the live quality), and over the shipped fleet (whose
    quality models are the trace's own outcomes, kept next to the live ones)."""
    from simkit.live.endpoints import endpoints_from_dict

    from .conftest import stub_endpoints

    eps = endpoints_from_dict(stub_endpoints(stub.base_url))
    out = tmp_path / "rec"
    record(
        small_trace,
        [eps["dunce"], eps["oracle"]],
        out=out,
        budget_usd=1,
        progress=False,
        answers=mmlu_key,
    )
    assert main(["fleet", "calibrate", str(out), "--out", str(tmp_path / "f.yaml"), "--json"]) == 0
    capsys.readouterr()
    args = [
        "replay",
        "--trace",
        str(out),
        "--fleet",
        str(tmp_path / "f.yaml"),
        "--json",
        "--no-progress",
    ]
    assert main([*args, "--policy", "static:tier=oracle"]) == 0
    oracle = json.loads(capsys.readouterr().out)
    assert main([*args, "--policy", "static:tier=dunce"]) == 0
    dunce = json.loads(capsys.readouterr().out)
    assert (oracle["mean_quality"], oracle["n_quality_known"], oracle["share_oracle"]) == (
        1.0,
        40,
        1.0,
    )
    assert (dunce["mean_quality"], dunce["n_quality_known"], dunce["share_dunce"]) == (0.0, 40, 1.0)
    assert (
        main(
            [
                "replay",
                "--trace",
                str(out),
                "--policy",
                "static:tier=frontier",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )


@pytest.mark.slow
def test_classifier_train_takes_the_recording_mixing_trace_and_live_outcomes(
    small_trace, stub, mmlu_key, tmp_path, capsys
):
    """The trace's own Mixtral outcomes as the weak model, a live endpoint as the strong one."""
    from simkit.live.endpoints import endpoints_from_dict

    from .conftest import stub_endpoints

    eps = endpoints_from_dict(stub_endpoints(stub.base_url))
    out = tmp_path / "rec"
    record(small_trace, [eps["gpt-4o"]], out=out, budget_usd=1, progress=False, answers=mmlu_key)
    args = [
        "classifier",
        "train",
        str(out),
        "--out",
        str(tmp_path / "bundle"),
        "--shares",
        "0.5",
        "--default-share",
        "0.5",
        "--weak",
        "mistralai/Mixtral-8x7B-Instruct-v0.1",
        "--strong",
        "gpt-4o",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "bundle").is_dir() and any((tmp_path / "bundle").iterdir())
