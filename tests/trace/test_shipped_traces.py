"""The sample traces in traces/: sizes, counts and what `simkit trace inspect --json` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simkit.trace import load_trace
from simkit.trace.loaders.routellm import STRONG_MODEL, WEAK_MODEL

TRACES = Path(__file__).resolve().parent.parent.parent / "traces"

SHIPPED = ["routellm_azure", "arena_bench_v1", "azure_conv_2023", "azure_code_2023"]


@pytest.fixture(scope="module")
def routellm_azure():
    return load_trace(TRACES / "routellm_azure")


def test_routellm_azure_holds_exactly_the_decontaminated_benchmarks(routellm_azure):
    """14,037 MMLU + 1,307 GSM8K requests; correct counts as METRICS.md §6.2."""
    t = routellm_azure
    assert t.requests["source"].value_counts().to_dict() == {"mmlu": 14037, "gsm8k": 1307}
    q = t.quality_matrix([WEAK_MODEL, STRONG_MODEL])
    for source, weak, strong in (("mmlu", 9558, 11312), ("gsm8k", 833, 1121)):
        rows = (t.requests["source"] == source).to_numpy()
        assert (int(q[WEAK_MODEL][rows].sum()), int(q[STRONG_MODEL][rows].sum())) == (weak, strong)
    assert t.has_tag("sensitive").sum() == 1534  # round(0.1 * 15,344), synthetic and seeded
    assert t.meta["synthetic_tags"]["sensitive"]["fraction"] == 0.1
    assert t.requests["prompt"].notna().all() and t.requests["prompt_tokens"].notna().all()
    gsm8k_tokens = t.output_tokens_matrix().loc[
        t.requests["request_id"][t.requests["source"] == "gsm8k"]
    ]
    assert gsm8k_tokens.notna().all().all()


def test_arena_bench_has_15_models_on_300_prompts_with_39_null_scores():
    t = load_trace(TRACES / "arena_bench_v1")
    assert (t.n_requests, len(t.models), len(t.outcomes)) == (300, 15, 4500)
    assert t.outcomes["quality"].isna().sum() == sum(t.meta["null_scores"].values()) == 39


def test_azure_traces_have_every_row():
    assert load_trace(TRACES / "azure_conv_2023").n_requests == 19366
    assert load_trace(TRACES / "azure_code_2023").n_requests == 8819


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_trace_carries_sources_licences_and_build_command(name):
    meta = json.loads((TRACES / name / "trace.json").read_text("utf-8"))["meta"]
    assert meta["sources"] and meta["licences"] and meta["build"].startswith("python scripts/")
    if "azure" in name or name == "routellm_azure":
        assert "Splitwise" in meta["attribution"]


def test_shipped_data_stays_under_25_mb():
    size = sum(f.stat().st_size for f in TRACES.rglob("*") if f.is_file())
    assert size <= 25e6


@pytest.mark.parametrize("name", SHIPPED)
def test_inspect_json_reports_requests_duration_models_and_prompt_tokens(name):
    out = subprocess.run(
        [sys.executable, "-m", "simkit.cli", "trace", "inspect", str(TRACES / name), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(out.stdout)
    trace = load_trace(TRACES / name)
    assert summary["n_requests"] == trace.n_requests
    assert summary["duration_s"] == trace.duration_s
    assert set(summary["models"]) == set(trace.models)
    for m in summary["models"].values():
        assert {"mean_quality", "coverage"} <= set(m)
    assert summary["prompt_tokens"]["count"] == int(trace.requests["prompt_tokens"].notna().sum())
