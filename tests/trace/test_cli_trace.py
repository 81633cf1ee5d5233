"""`simkit trace convert` turns every supported input into a trace; `simkit demo` summarises
the bundled traces; errors exit 2 with the message."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from simkit.cli import main
from simkit.trace import load_trace

MAPPING_YAML = """\
request_id: call_id
arrival: started_at
prompt: user_prompt
model: model
outcome: {quality: correct, output_tokens: completion_words}
flags: {sensitive: pii}
"""


@pytest.mark.parametrize(
    ("source", "fmt", "extra", "n_requests", "n_models"),
    [
        ("routellm/mmlu", "routellm-mmlu", ["--arrivals", "poisson:rate=2"], 170, 2),
        ("routellm/gsm8k", "routellm-gsm8k", [], 194, 2),
        ("arena_bench_v1", "arena", ["--arrivals", "bursty:rate=1,cv=3", "--seed", "4"], 17, 4),
        ("azure2023/AzureLLMInferenceTrace_code.csv", "azure", [], 500, 0),
        ("azure2023/splitwise_code.csv", "azure-processed", [], 500, 0),
        ("logs/chat_log.jsonl", "openai-log", ["--sort", "--name", "gateway"], 40, 2),
    ],
)
def test_convert_public_formats(
    fixtures, tmp_path, capsys, source, fmt, extra, n_requests, n_models
):
    out = tmp_path / "out"
    assert (
        main(["trace", "convert", str(fixtures / source), str(out), "--format", fmt, *extra]) == 0
    )
    t = load_trace(out)
    assert (t.n_requests, len(t.models)) == (n_requests, n_models)
    assert f"wrote {out}" in capsys.readouterr().out
    if "--arrivals" in extra:
        assert t.duration_s > 0 and t.meta["composition"][0]["seed"] == (
            4 if "--seed" in extra else 0
        )


def test_convert_replays_azure_arrivals_onto_benchmark_prompts(fixtures, tmp_path):
    spec = f"replay:{fixtures / 'azure2023' / 'AzureLLMInferenceTrace_conv.csv'}"
    out = tmp_path / "gsm8k"
    args = ["trace", "convert", str(fixtures / "routellm" / "gsm8k"), str(out)]
    assert (
        main([*args, "--format", "routellm-gsm8k", "--arrivals", spec, "--rate-multiplier", "2"])
        == 0
    )
    t = load_trace(out)
    assert t.meta["composition"][0]["arrivals"]["rate_multiplier"] == 2.0
    azure = pd.read_csv(fixtures / "azure2023" / "splitwise_conv.csv")
    expect = azure["arrived_at"].to_numpy()[: t.n_requests] / 2
    assert abs(t.requests["arrival_s"].to_numpy() - expect).max() < 1e-9


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_convert_team_logs_with_a_mapping_file(fixtures, tmp_path, fmt):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING_YAML)
    src = fixtures / "logs" / "team_log.csv"
    if fmt != "csv":
        df = pd.read_csv(src, dtype=str, keep_default_na=False)
        src = tmp_path / f"team_log.{fmt}"
        df.to_json(src, orient="records", lines=True) if fmt == "jsonl" else df.to_parquet(src)
    out = tmp_path / "out"
    args = ["trace", "convert", str(src), str(out), "--format", fmt, "--mapping", str(mapping)]
    assert main([*args, "--time-unit", "datetime"]) == 0
    t = load_trace(out)
    assert (t.n_requests, t.has_tag("sensitive").sum()) == (40, 4)
    assert t.requests["prompt_tokens"].notna().all()  # counted with cl100k_base by default


def test_convert_reports_dropped_rows_on_stderr(tmp_path, capsys):
    src = tmp_path / "log.csv"
    src.write_text("t,q\n0,1\nsoon,1\n2,0.5\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("arrival: t\nmodels: {m: {quality: q}}\n")
    args = ["trace", "convert", str(src), str(tmp_path / "out"), "--format", "csv"]
    assert main([*args, "--mapping", str(mapping), "--drop-invalid"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {src}: dropped 1 of 3 rows: column 't': expected a number of s (1)" in err
    assert load_trace(tmp_path / "out").n_requests == 2


def test_convert_errors_exit_2_with_the_message(tmp_path, capsys):
    src = tmp_path / "log.csv"
    src.write_text("t,q\n0,1\n")
    assert main(["trace", "convert", str(src), str(tmp_path / "o"), "--format", "csv"]) == 2
    assert capsys.readouterr().err == (
        "simkit trace: error: <convert>, key 'mapping': format 'csv' needs a column mapping "
        "(--mapping mapping.yaml)\n"
    )
    assert main(["trace", "convert", str(src), str(tmp_path / "o"), "--format", "azure"]) == 2
    assert "column 'TIMESTAMP': required column missing" in capsys.readouterr().err


def test_convert_help_lists_formats_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["trace", "convert", "--help"])
    text = capsys.readouterr().out
    assert (
        "routellm-mmlu,routellm-gsm8k,arena,azure,azure-processed,csv,jsonl,parquet,openai-log"
        in text
    )
    assert "examples:" in text and "--arrivals replay:" in text


def test_inspect_json_of_a_converted_trace(fixtures, tmp_path, capsys):
    out = tmp_path / "arena"
    main(["trace", "convert", str(fixtures / "arena_bench_v1"), str(out), "--format", "arena"])
    capsys.readouterr()
    assert main(["trace", "inspect", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_requests"] == 17
    assert summary["models"]["claude-2.1"]["coverage"] == pytest.approx(16 / 17)


def test_demo_summarises_every_bundled_trace(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for name in ("routellm_azure", "arena_bench_v1", "azure_conv_2023", "azure_code_2023"):
        assert f"trace      {name}" in out
