"""The demo's policy comparison on a slice of the bundled trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simkit import load_trace
from simkit.demo import (
    DEMO_POLICIES,
    DEMO_TRACE,
    THRESHOLD_LABEL,
    compare_policies,
    format_comparison,
)

BUNDLED = Path(__file__).resolve().parents[2] / "traces" / DEMO_TRACE


def test_demo_compares_every_policy_with_cost_quality_latency_and_shares():
    trace = load_trace(BUNDLED)
    assert "p_hard" in trace.score_names  # out-of-fold classifier scores ship with the trace
    table = compare_policies(trace, n_requests=400)
    assert list(table["policy"]) == [*DEMO_POLICIES, THRESHOLD_LABEL]
    assert len(DEMO_POLICIES) >= 6
    row = table.set_index("policy")
    assert row.loc["all frontier", "share_frontier"] == 1.0
    assert row.loc["all selfhosted", "share_selfhosted"] == 1.0
    assert row.loc["privacy > cascade", "privacy_violations"] == 0
    assert row.loc["oracle", "mean_quality"] >= row["mean_quality"].max()
    assert row.loc["all frontier", "cost_per_1k_usd"] > row.loc["all selfhosted", "cost_per_1k_usd"]
    assert (
        np.isnan(row.loc["task heuristic", "apgr"])
        and abs(row.loc["random mix 1:1:1", "apgr"] - 0.5) < 0.1
    )
    # the classifier threshold holds its 20 % frontier share and beats the random router
    assert abs(row.loc[THRESHOLD_LABEL, "share_frontier"] - 0.2) < 0.05
    assert row.loc[THRESHOLD_LABEL, "apgr"] > 0.55
    text = format_comparison(table, 400)
    assert "p95 TTFT" in text and "oracle" in text


def test_demo_without_the_traces_folder_says_how_to_get_it(monkeypatch, capsys):
    """An install that is not a source checkout has no traces/ next to the package."""
    import simkit.demo

    monkeypatch.setattr(simkit.demo, "bundled_traces", lambda: [])
    assert simkit.demo.run_demo() == 1
    err = capsys.readouterr().err
    assert "this simkit was installed without its sample traces" in err
    assert "`pip install -e .` or `pip install .`" in err


@pytest.mark.slow
def test_a_wheel_carries_the_sample_traces_with_their_licences(tmp_path):
    """`pip install .` (not editable) must give `simkit demo` its traces: the wheel holds a
    copy of traces/ (setup.py's build hook), provenance and licence texts included."""
    import os
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[2]  # the tests run from the source checkout
    # build from a copy: a build writes build/ and *.egg-info next to the sources
    build = tmp_path / "src"
    shutil.copytree(
        repo,
        build,
        ignore=shutil.ignore_patterns(
            ".*", "artifacts", "build", "dist", "*.egg-info", "__pycache__", "notebooks",
            "classifiers", "tests", "benchmarks",
        ),
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(build)],
        check=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("simkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    root = "simkit/bundled_traces/"
    for name in ("routellm_azure", "arena_bench_v1", "azure_conv_2023", "azure_code_2023"):
        assert f"{root}{name}/trace.json" in names
    assert f"{root}PROVENANCE.md" in names
    assert any(n.startswith(f"{root}LICENSES/") for n in names)
    assert not any(n.startswith("traces/") for n in names)
    # installed from the wheel (not editable), the demo finds them inside the package
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(wheel)],
        check=True,
    )  # fmt: skip
    probe = (
        "import simkit.demo as d; print(d._traces_root()); "
        "print(','.join(p.name for p in d.bundled_traces()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0] == str(target / "simkit" / "bundled_traces")
    assert out[1] == "arena_bench_v1,azure_code_2023,azure_conv_2023,routellm_azure"


def test_demo_prints_each_caption_once_and_one_name_per_policy(capsys):
    """The burst table has its own caption (not the first table's again), and the static
    baselines are named as everywhere else in simkit ('all <tier>')."""
    import simkit.demo

    assert simkit.demo.run_demo() == 0
    out = capsys.readouterr().out
    assert out.count("Policy comparison: first 4,000 requests") == 1
    lines = out.splitlines()
    burst = next(i for i, line in enumerate(lines) if line.startswith("Burst:"))
    assert lines[burst - 1] == "" and lines[burst + 1].startswith("policy ")
    policies = [line.split("  ")[0] for line in lines[burst + 3 :] if line]
    assert policies == ["all selfhosted", "spill-over (wait > 1 s)", "all hosted"]
    assert "all-cheap" not in out and "all-frontier" not in out
    # every tier's share, cheapest first (the fleet's order), in both tables
    headers = [line.split() for line in lines if line.startswith("policy ")]
    assert [h[-3:] for h in headers] == [["selfhosted", "hosted", "frontier"]] * 2
