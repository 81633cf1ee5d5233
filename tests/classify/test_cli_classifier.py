"""`simkit classifier train | evaluate | export | score` and `simkit route`, end to end."""

from __future__ import annotations

import json

import pytest

from simkit.classify.bundle import load_bundle
from simkit.cli import main
from simkit.trace import load_trace

from .conftest import FIXTURES


@pytest.fixture(scope="module")
def cli_bundle(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("cli") / "bundle"
    code = main(
        ["classifier", "train", str(FIXTURES / "routellm_small"), "--out", str(out),
         "--embedder", f"static:{tiny_model}", "--shares", "0.2,0.5", "--default-share", "0.5"]
    )  # fmt: skip
    assert code == 0
    return out


def test_train_writes_a_bundle_with_the_requested_shares(cli_bundle, capsys):
    b = load_bundle(cli_bundle)
    assert sorted(b.manifest["thresholds"]) == ["share_0.20", "share_0.50"]
    assert b.manifest["default_threshold"] == "share_0.50"


def test_evaluate_json_has_apgr_cpt_auc_per_benchmark_and_protocol(tiny_model, capsys):
    code = main(
        ["classifier", "evaluate", str(FIXTURES / "routellm_small"), "--json", "--folds", "3",
         "--embedder", f"static:{tiny_model}", "--protocol", "cv"]
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for bench in ("mmlu", "gsm8k"):
        assert set(out["metrics"][bench]) == {"cv"}
        assert {"apgr", "cpt50", "cpt80", "auc"} <= set(out["metrics"][bench]["cv"])


def test_evaluate_prints_a_table_next_to_random_and_published(tiny_model, capsys):
    code = main(
        ["classifier", "evaluate", str(FIXTURES / "routellm_small"), "--folds", "3",
         "--embedder", f"static:{tiny_model}", "--protocol", "transfer", "--benchmark", "gsm8k"]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "gsm8k      transfer  classifier" in text and "gsm8k      transfer  random" in text
    assert "RouteLLM Causal LLM (D_arena + D_judge)" in text
    assert "Arena battles + augmentation" in text


def test_route_prints_tier_model_and_score(cli_bundle, capsys, tmp_path):
    assert main(["route", "What is 2 + 2?", "--bundle", str(cli_bundle), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # the tier of the fleet it routes for (the shipped fleet), not the bundle's own names
    assert (d["bundle_tier"], d["tier"]) in (("cheap", "selfhosted"), ("strong", "frontier"))
    assert d["model"] in ("meta-llama/Meta-Llama-3-70B-Instruct", "gpt-4o")
    assert 0 <= d["p_hard"] <= 1
    msgs = tmp_path / "m.json"
    msgs.write_text(json.dumps([{"role": "user", "content": "What is 2 + 2?"}]))
    assert main(["route", "--messages", str(msgs), "--bundle", str(cli_bundle), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == d


def test_export_calibrates_a_share_on_another_trace_and_keeps_checksums_valid(
    cli_bundle, tmp_path, capsys
):
    out = tmp_path / "exported"
    code = main(
        ["classifier", "export", str(cli_bundle), "--out", str(out), "--calibrate-on",
         str(FIXTURES / "routellm_small"), "--share", "0.3"]
    )  # fmt: skip
    assert code == 0
    b = load_bundle(out)
    th = b.manifest["thresholds"][b.manifest["default_threshold"]]
    assert b.manifest["default_threshold"] == "share_0.30"  # as training names it
    assert abs(th["calibration_share"] - 0.3) < 0.01
    assert th["calibrated_on"] == str(FIXTURES / "routellm_small")
    assert sorted(b.manifest["thresholds"]) == ["share_0.20", "share_0.30", "share_0.50"]
    assert f"share_0.30: p_hard >= {th['p_hard']:.6f} (share" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--share", "0.2"], "--share/--budget-usd need --calibrate-on TRACE"),
        (["--share", "0.2", "--budget-usd", "0.01", "--calibrate-on", "t"],
         "give --share or --budget-usd, not both"),
        (["--budget-usd", "0.01", "--calibrate-on", "t"],
         "--budget-usd needs --cheap-cost-usd and --strong-cost-usd"),
    ],
)  # fmt: skip
def test_export_refuses_incomplete_calibration_requests(
    cli_bundle, tmp_path, capsys, flags, message
):
    code = main(["classifier", "export", str(cli_bundle), "--out", str(tmp_path / "o"), *flags])
    assert code == 2
    assert f"simkit classifier: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_route_names_the_tiers_of_the_fleet_given(cli_bundle, capsys, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "name: two\ntiers:\n"
        "  small: {kind: api, model: gpt-4o-mini, ttft_s: 0.3, output_tokens_per_s: 80,"
        " quality_model: m}\n"
        "  big: {kind: api, model: gpt-4o, ttft_s: 0.4, output_tokens_per_s: 90,"
        " quality_model: m}\n"
    )
    args = ["route", "What is 2 + 2?", "--bundle", str(cli_bundle), "--fleet", str(fleet)]
    assert main([*args, "--threshold", "0"]) == 0
    line = capsys.readouterr().out
    assert (
        line.startswith("big\tgpt-4o\t") and "(fleet two: small, big; bundle tier 'strong')" in line
    )
    assert main([*args, "--threshold", "1"]) == 0
    assert capsys.readouterr().out.startswith("small\tgpt-4o-mini\t")


def test_score_without_out_or_in_place_leaves_the_trace_alone(cli_bundle, tmp_path, capsys):
    import shutil

    trace = tmp_path / "trace"
    shutil.copytree(FIXTURES / "routellm_small", trace)
    before = {p.name: p.read_bytes() for p in trace.iterdir()}
    code = main(["classifier", "score", str(trace), "--bundle", str(cli_bundle)])
    assert code == 2
    assert "give --out DIR (a new trace directory) or --in-place" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in trace.iterdir()} == before
    code = main(["classifier", "score", str(trace), "--bundle", str(cli_bundle), "--in-place",
                 "--cache-dir", str(tmp_path / "c")])  # fmt: skip
    assert code == 0 and load_trace(trace).score_names[0] == "p_hard"


def test_evaluate_shows_progress_on_stderr_and_auc_with_its_unit(tiny_model, capsys):
    code = main(
        ["classifier", "evaluate", str(FIXTURES / "routellm_small"), "--folds", "3",
         "--embedder", f"static:{tiny_model}", "--protocol", "cv", "--benchmark", "gsm8k",
         "--repeats", "2", "--bootstrap", "20"]
    )  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    for bar in ("fold seeds", "evaluate (cv: 3 folds each)", "bootstrap"):
        assert bar in captured.err
    assert "resample" in captured.err and "resample" not in captured.out  # bars: stderr only
    assert "AUC %" in captured.out and "in percent correct" in captured.out


def test_score_writes_p_hard_into_a_trace_directory(cli_bundle, tmp_path):
    out = tmp_path / "scored"
    code = main(["classifier", "score", str(FIXTURES / "routellm_small"), "--bundle",
                 str(cli_bundle), "--out", str(out), "--cache-dir", str(tmp_path / "c")])  # fmt: skip
    assert code == 0
    assert load_trace(out).score_names == ("p_hard", "gain", "q_cheap", "q_strong")


def test_errors_exit_2_with_the_message(cli_bundle, tmp_path, capsys):
    (cli_bundle.parent / "broken").mkdir()
    assert main(["route", "hi", "--bundle", str(cli_bundle.parent / "broken")]) == 2
    assert "no SHA256SUMS" in capsys.readouterr().err
    assert main(["route", "--bundle", str(cli_bundle)]) == 2
    assert "give either PROMPT or --messages FILE" in capsys.readouterr().err


def test_evaluate_repeats_over_fold_seeds_with_bootstrap_intervals(tiny_model, capsys):
    args = ["classifier", "evaluate", str(FIXTURES / "routellm_small"), "--folds", "3",
            "--embedder", f"static:{tiny_model}", "--protocol", "cv", "--benchmark", "gsm8k",
            "--repeats", "2", "--bootstrap", "50"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [0, 1] and set(out["per_seed"]) == {"0", "1"}
    (summary,) = out["over_seeds"]
    per_seed = [out["per_seed"][k]["gsm8k"]["cv"]["apgr"] for k in ("0", "1")]
    assert summary["apgr_mean"] == pytest.approx(sum(per_seed) / 2)
    lo, hi = out["metrics"]["gsm8k"]["cv"]["apgr_ci"]
    assert lo <= out["metrics"]["gsm8k"]["cv"]["apgr"] <= hi
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "over 2 fold seeds (0..1): mean +- sd" in text and "95% bootstrap interval" in text


@pytest.mark.parametrize(
    ("flag", "message"),
    [(["--repeats", "0"], "--repeats must be >= 1, got 0"),
     (["--bootstrap", "1"], "--bootstrap must be 0 (none) or >= 2 resamples, got 1")],
)  # fmt: skip
def test_evaluate_rejects_bad_repeats_and_bootstrap(flag, message, capsys):
    code = main(["classifier", "evaluate", str(FIXTURES / "routellm_small"), *flag])
    assert code != 0
    assert message in capsys.readouterr().err


def test_learning_curve_prints_a_table_and_json(tiny_model, capsys):
    args = ["classifier", "learning-curve", str(FIXTURES / "routellm_small"), "--folds", "3",
            "--embedder", f"static:{tiny_model}", "--benchmark", "gsm8k",
            "--fractions", "0.5,1", "--repeats", "2"]  # fmt: skip
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["fraction"] for r in out["mean"]] == [0.5, 1.0]
    assert len(out["per_seed"]) == 4
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "mean (sd) over 2 fold seeds" in text and "gsm8k" in text


def test_learning_curve_rejects_unparsable_fractions(capsys):
    code = main(["classifier", "learning-curve", str(FIXTURES / "routellm_small"),
                 "--fractions", "half"])  # fmt: skip
    assert code != 0
    assert "--fractions: expected comma-separated shares in (0, 1], got 'half'" in (
        capsys.readouterr().err
    )
