"""Bad input on the command line: one clear line on stderr and exit status 2, never a traceback;
nothing that should be an error is accepted silently; ``--json`` is strict JSON.

Each test is one of the tries of issue 11 and checks the message a user reads.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from simkit import Trace, save_trace
from simkit.cli import main

REPO = Path(__file__).resolve().parents[2]
SLICE = REPO / "tests" / "fixtures" / "sim" / "routellm_azure_slice"
BUNDLE = REPO / "classifiers" / "routellm-static-minilm"
REPLAY = ["replay", "--trace", str(SLICE), "--n-requests", "40", "--no-progress"]


def strict_loads(text: str):
    """json.loads that refuses NaN and Infinity, as a strict parser does."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run_error(capsys, argv: list[str]) -> str:
    """Run the CLI expecting exit 2 and one line on stderr; return that line."""
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse reports option types itself, also with status 2
        rc = exc.code
    captured = capsys.readouterr()
    assert rc == 2, captured
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert "Traceback" not in captured.err
    return lines[-1]


# -- tracebacks or misleading errors ------------------------------------------------------------
def test_a_trace_directory_given_as_fleet_is_named_as_such(capsys):
    line = run_error(capsys, [*REPLAY, "--policy", "static:tier=frontier", "--fleet", str(SLICE)])
    assert line == (
        f"simkit replay: error: {SLICE}: is a directory; a fleet spec is a YAML file. e.g. "
        "--fleet simkit/data/fleets/default.yaml (a trace directory goes to --trace)"
    )


def test_a_negative_seed_is_refused_before_anything_runs(capsys):
    line = run_error(capsys, [*REPLAY, "--policy", "static:tier=frontier", "--seed", "-1"])
    assert line.endswith("argument --seed: expected a whole number >= 0, got -1")


def test_negative_sweep_seeds_are_refused(capsys):
    argv = ["sweep", "--trace", str(SLICE), "--policy", "static:tier=frontier", "--seeds", "0,-2"]
    line = run_error(capsys, argv)
    assert line == (
        "simkit sweep: error: --seeds: expected comma-separated whole numbers >= 0, got '0,-2'"
    )


def test_records_in_a_missing_directory_fail_before_the_simulation(capsys, tmp_path):
    out = tmp_path / "nonexistent" / "dir" / "r.parquet"
    line = run_error(capsys, [*REPLAY, "--policy", "static:tier=frontier", "--records", str(out)])
    assert line == (
        f"simkit replay: error: --records: cannot write {out}: its directory {out.parent} does "
        "not exist. create the directory first or choose another path"
    )


def test_sweep_out_with_an_unknown_suffix_fails_before_running(capsys, tmp_path):
    argv = ["sweep", "--trace", str(SLICE), "--policy", "static:tier=frontier"]
    line = run_error(capsys, [*argv, "--out", str(tmp_path / "t.xlsx")])
    assert line.endswith(
        f"--out: {tmp_path / 't.xlsx'}: expected a file ending in .csv or .parquet"
    )


def test_zero_sweep_workers_is_a_clear_error(capsys):
    argv = ["sweep", "--trace", str(SLICE), "--policy", "static:tier=frontier", "--n-jobs", "0"]
    line = run_error(capsys, argv)
    assert line.endswith(
        "argument --n-jobs: 0 workers cannot run anything; use 1 (serial), N workers, or -1 "
        "(all cores)"
    )


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            "spillover:max_queued=abc>static:tier=selfhosted",
            "policy 'spillover:max_queued=abc>static:tier=selfhosted' (spillover), key "
            "'max_queued': expected an integer or null, got 'abc'",
        ),
        (
            "spillover:max_queued=-1>static:tier=selfhosted",
            "policy 'spillover', key 'max_queued': expected a whole number of waiting requests "
            ">= 0, got -1",
        ),
        (
            "spillover:min_headroom=5>static:tier=selfhosted",
            "policy 'spillover', key 'min_headroom': expected a share of the rate limit in "
            "[0, 1], got 5",
        ),
    ],
)
def test_bad_policy_parameters_are_one_clear_line_before_the_run(capsys, policy, message):
    line = run_error(capsys, [*REPLAY, "--policy", policy])
    assert line == f"simkit replay: error: {message}"


def test_a_prompt_that_is_not_utf8_is_refused(capsys):
    prompt = b"What is \xff\xfe 2+2?".decode("utf-8", "surrogateescape")  # as argv delivers it
    line = run_error(capsys, ["route", prompt, "--bundle", str(BUNDLE)])
    assert line == (
        "simkit route: error: prompts, row 1: not valid UTF-8 text (undecodable bytes at "
        "character 8); give prompts as UTF-8"
    )


def test_a_broken_or_missing_messages_file_is_one_line(capsys, tmp_path):
    broken = tmp_path / "m.json"
    broken.write_text('[{"role": "user", "content": "hi"', "utf-8")
    line = run_error(capsys, ["route", "--messages", str(broken), "--bundle", str(BUNDLE)])
    assert line == (
        f"simkit route: error: --messages: {broken}, line 1, column 34: not valid JSON "
        '(Expecting \',\' delimiter); expected a list of {"role": ..., "content": ...} objects'
    )
    missing = tmp_path / "none.json"
    line = run_error(capsys, ["route", "--messages", str(missing), "--bundle", str(BUNDLE)])
    assert line == f"simkit route: error: --messages: {missing}: file not found"


def test_trace_convert_onto_an_existing_file_is_refused_before_converting(capsys, tmp_path):
    out = tmp_path / "taken"
    out.write_text("keep")
    src = REPO / "tests" / "fixtures" / "trace" / "azure2023" / "AzureLLMInferenceTrace_code.csv"
    argv = ["trace", "convert", str(src), str(out), "--format", "azure"]
    line = run_error(capsys, argv)
    assert line == (
        f"simkit trace: error: {out}: exists and is not a directory; a trace is written as a "
        "directory. Choose a new directory name"
    )
    assert out.read_text() == "keep"


def test_an_empty_trace_says_it_is_empty(capsys, tmp_path):
    empty = save_trace(
        Trace(pd.DataFrame({"request_id": pd.Series([], dtype="string"), "arrival_s": []})),
        tmp_path / "empty",
    )
    argv = ["replay", "--trace", str(empty), "--policy", "static:tier=frontier", "--no-progress"]
    line = run_error(capsys, argv)
    assert line.startswith(f"simkit replay: error: {empty}: the trace is empty (0 requests)")


def test_trace_json_with_a_list_as_meta_is_one_line(capsys, tmp_path):
    t = shutil.copytree(SLICE, tmp_path / "t")
    m = json.loads((t / "trace.json").read_text())
    m["meta"] = [1, 2]
    (t / "trace.json").write_text(json.dumps(m))
    replay = [*REPLAY[:2], str(t), "--policy", "static:tier=hosted"]
    for argv in (["trace", "inspect", str(t)], replay):
        line = run_error(capsys, argv)
        assert line.endswith(
            f"{t / 'trace.json'}, column 'meta': expected a JSON object (provenance: name, "
            "sources, ...), got list [1, 2]"
        )


# -- silently accepted ---------------------------------------------------------------------------
def test_an_unknown_grid_key_is_an_error_listing_the_parameters(capsys):
    argv = ["sweep", "--trace", str(SLICE), "--policy", "share:score=p_hard", "--n-requests", "20"]
    line = run_error(capsys, [*argv, "--grid", "target_share=0.2,0.5", "--grid", "nosuchkey=1,2"])
    assert line.startswith(
        "simkit sweep: error: --grid, key 'nosuchkey': not a parameter of any --policy; share: "
        "target_share, "
    )


@pytest.mark.parametrize("multiplier", ["1e-300", "1e308", "nan", "0"])
def test_a_rate_multiplier_outside_a_sane_range_is_refused(capsys, multiplier):
    line = run_error(
        capsys, [*REPLAY, "--policy", "static:tier=frontier", "--rate-multiplier", multiplier]
    )
    assert line.startswith(
        "simkit replay: error: <window>, key 'rate_multiplier': expected a number from 0.001 to "
        "1000 (times the trace's arrival rate), got "
    )


def test_replay_json_is_strict_with_integer_counts_and_every_tier_share(capsys):
    assert main([*REPLAY, "--policy", "static:tier=frontier", "--json"]) == 0
    out = strict_loads(capsys.readouterr().out)
    for key in ("n_requests", "n_completed", "n_failed", "n_quality_known", "privacy_violations"):
        assert type(out[key]) is int, key
    assert out["n_requests"] == 40
    assert (out["share_frontier"], out["share_hosted"], out["share_selfhosted"]) == (1.0, 0, 0)


def test_replay_json_of_one_request_has_null_monthly_cost_and_says_why(capsys):
    argv = [*REPLAY[:3], "--n-requests", "1", "--no-progress", "--policy", "static:tier=hosted"]
    argv.append("--json")
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = strict_loads(captured.out)
    assert out["monthly_cost_usd"] is None and out["requests_per_month"] is None
    assert math.isfinite(out["cost_per_1k_usd"])
    assert "monthly cost is undefined: the replayed requests all arrive at one instant" in (
        captured.err
    )


def test_route_json_is_strict(capsys):
    assert main(["route", "Prove Fermat's little theorem.", "--bundle", str(BUNDLE), "--json"]) == 0
    out = strict_loads(capsys.readouterr().out)
    assert out["bundle_tier"] in ("cheap", "strong") and 0 <= out["p_hard"] <= 1


def test_sweep_json_is_strict_and_an_unused_tier_has_share_0(capsys):
    argv = ["sweep", "--trace", str(SLICE), "--policy", "static:tier=frontier", "--n-jobs", "1"]
    assert main([*argv, "--n-requests", "20", "--json"]) == 0
    rows = strict_loads(capsys.readouterr().out)
    assert [(r["share_frontier"], r["share_hosted"], r["share_selfhosted"]) for r in rows] == [
        (1.0, 0.0, 0.0)
    ]
    assert type(rows[0]["n_requests"]) is int


@pytest.mark.parametrize("threshold", ["nan", "1.7"])
def test_route_threshold_outside_0_1_is_refused(capsys, threshold):
    line = run_error(
        capsys, ["route", "hi there", "--bundle", str(BUNDLE), "--threshold", threshold]
    )
    assert line.startswith(
        "simkit route: error: threshold must be a p_hard value in [0, 1] or one of the bundle's "
        "named thresholds (share_0.10, share_0.20"
    )


def test_route_bundle_sha256_pins_the_bundle(capsys):
    digest = (BUNDLE / "SHA256SUMS").read_bytes()
    import hashlib

    good = hashlib.sha256(digest).hexdigest()
    assert main(["route", "hi there", "--bundle", str(BUNDLE), "--bundle-sha256", good]) == 0
    capsys.readouterr()
    line = run_error(capsys, ["route", "hi", "--bundle", str(BUNDLE), "--bundle-sha256", "0" * 64])
    assert f"bundle digest {good} is not the expected {'0' * 64}" in line


def test_trace_convert_rate_multiplier_without_arrivals_is_refused(capsys, tmp_path):
    src = REPO / "tests" / "fixtures" / "trace" / "azure2023" / "AzureLLMInferenceTrace_code.csv"
    argv = ["trace", "convert", str(src), str(tmp_path / "o"), "--format", "azure"]
    line = run_error(capsys, [*argv, "--rate-multiplier", "2"])
    assert line == (
        "simkit trace: error: trace convert, key 'rate_multiplier': 2 has no effect without "
        "arrivals: it scales the arrival process attached with --arrivals. add --arrivals (e.g. "
        "--arrivals replay:traces/azure_conv_2023), or keep the source's times and scale them "
        "when replaying (simkit replay --rate-multiplier)"
    )
    assert not (tmp_path / "o").exists()


def test_prices_at_a_date_before_the_catalog_history_is_refused(capsys):
    line = run_error(capsys, ["prices", "gpt-4o", "--at", "1990-01-01"])
    assert line == (
        "simkit prices: error: genai-prices data.json (shipped snapshot), key 'at': 1990-01-01 "
        "is before the catalog's price history, which starts on 2025-06-10; the price then is "
        "not known. omit --at / at= for the latest price, or give the price in the fleet YAML "
        "(price: {input_usd_per_mtok, output_usd_per_mtok})"
    )


def test_replay_without_quality_outcomes_reports_quality_unavailable(capsys):
    azure = REPO / "traces" / "azure_code_2023"
    argv = ["replay", "--trace", str(azure), "--n-requests", "30", "--no-progress"]
    line = run_error(capsys, [*argv, "--policy", "static:tier=selfhosted"])
    assert "`simkit replay --allow-missing-quality`" in line
    assert (
        main([*argv, "--policy", "static:tier=selfhosted", "--allow-missing-quality", "--json"])
        == 0
    )
    captured = capsys.readouterr()
    out = strict_loads(captured.out)
    assert out["mean_quality"] is None and out["mean_quality_incl_failed"] is None
    assert out["quality_unavailable_for"] == ["selfhosted"]
    assert out["n_completed"] == 30 and out["cost_per_1k_usd"] > 0
    assert "quality is reported as unavailable" in captured.err


def test_trace_restamp_records_a_deliberate_edit(capsys, tmp_path):
    t = shutil.copytree(SLICE, tmp_path / "t")
    req = pd.read_parquet(t / "requests.parquet")
    req.loc[0, "prompt"] = "edited on purpose"
    req.to_parquet(t / "requests.parquet", index=False)
    line = run_error(capsys, ["trace", "inspect", str(t)])
    assert "requests.parquet: does not match its SHA-256 in trace.json" in line
    assert f"simkit trace restamp {t}" in line
    assert main(["trace", "restamp", str(t), "--note", "typo"]) == 0
    assert "edits recorded: 1" in capsys.readouterr().out
    assert main(["trace", "inspect", str(t), "--json"]) == 0
    strict_loads(capsys.readouterr().out)


def test_a_multi_line_parser_report_is_printed_as_one_line(capsys, tmp_path):
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("tiers:\n  frontier: {kind: api\n  hosted: [\n", "utf-8")
    assert main([*REPLAY, "--policy", "static:tier=frontier", "--fleet", str(fleet)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"simkit replay: error: {fleet}: not valid YAML")


def test_export_metrics_and_card_files_are_read_with_clear_errors(capsys, tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text("{", "utf-8")
    argv = ["classifier", "export", str(BUNDLE), "--out", str(tmp_path / "b")]
    line = run_error(capsys, [*argv, "--metrics", str(bad)])
    assert line == (
        f"simkit classifier: error: --metrics: {bad}, line 1, column 2: not valid JSON "
        "(Expecting property name enclosed in double quotes)"
    )
    line = run_error(capsys, [*argv, "--card", str(tmp_path / "none.md")])
    assert line == f"simkit classifier: error: --card: {tmp_path / 'none.md'}: file not found"
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--trace", str(SLICE), "--out", "{missing}/r.html"],
        ["report", "--trace", str(SLICE), "--out", "{tmp}/r.html", "--png-dir", "{file}"],
        ["classifier", "train", str(SLICE), "--out", "{file}"],
        ["classifier", "score", str(SLICE), "--bundle", str(BUNDLE), "--out", "{file}"],
    ],
)
def test_output_paths_are_checked_before_any_work(capsys, tmp_path, argv):
    taken = tmp_path / "taken.txt"
    taken.write_text("keep")
    subs = {"{missing}": str(tmp_path / "missing"), "{tmp}": str(tmp_path), "{file}": str(taken)}
    for old, new in subs.items():
        argv = [a.replace(old, new) for a in argv]
    line = run_error(capsys, argv)
    assert (
        f"{taken} exists and is not a directory" in line
        or f"its directory {tmp_path / 'missing'} does not exist" in line
    ), line
