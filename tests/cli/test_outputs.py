"""What the command line prints for a person: readable tables, progress on stderr, one SLO
default, headers, and a quiet end when the reader closes the pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simkit.cli import build_parser, main
from simkit.metrics import DEFAULT_SLO_TTFT_S

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim" / "routellm_azure_slice"


def test_replay_table_has_the_rows_of_json_with_readable_numbers(capsys):
    args = ["replay", "--trace", str(FIXTURE), "--policy", "static:tier=frontier"]
    args += ["--rate-multiplier", "3"]
    assert main([*args, "--json", "--no-progress"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    captured = capsys.readouterr()
    table = dict(line.split(None, 1) for line in captured.out.splitlines())
    assert list(table) == list(as_json)  # the same rows, in the same order
    assert "e+" not in captured.out  # no scientific notation anywhere
    assert table["requests_per_month"] == f"{as_json['requests_per_month']:,.0f}"
    assert table["n_requests"] == f"{int(as_json['n_requests']):,}" == "2,447"
    assert table["slo_attainment"] == f"{as_json['slo_attainment']:.1%}"
    assert table["share_frontier"] == "100.0%"
    # the progress bar went to stderr only
    assert "simulate" in captured.err and "req/s" in captured.err
    assert "req/s" not in captured.out


def test_every_command_with_an_slo_has_the_same_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    defaults = {}
    for name in ("replay", "sweep", "report"):
        (slo,) = [a for a in sub.choices[name]._actions if a.dest == "slo_ttft_s"]
        defaults[name] = slo.default
    from simkit.demo import DEMO_SLO_TTFT_S

    defaults["demo"] = DEMO_SLO_TTFT_S
    assert defaults == dict.fromkeys(("replay", "sweep", "report", "demo"), DEFAULT_SLO_TTFT_S)


def test_prices_table_has_column_headers_and_speaks_of_assumed_prices(capsys):
    assert main(["prices", "gpt-4o", "--check-defaults"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["model", "$/M", "in"]
    assert "assumed in/out" in lines[0] and set(lines[1]) == {"-"}
    assert lines[2].startswith("gpt-4o") and "openai/gpt-4o (match)" in lines[2]
    assert "issue" not in out
    help_text = subprocess.run(
        [sys.executable, "-m", "simkit.cli", "prices", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "issue" not in help_text


def test_a_closed_pipe_ends_the_command_quietly():
    """`simkit trace inspect ... | head -1`: no BrokenPipeError traceback."""
    cmd = [sys.executable, "-m", "simkit.cli", "prices", "gpt-4o", "claude-3-5-sonnet"]
    cmd += ["--check-defaults"]
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.readline()"], stdin=subprocess.PIPE
    )
    writer = subprocess.run(cmd, stdout=reader.stdin, stderr=subprocess.PIPE, text=True)
    reader.stdin.close()
    reader.wait(timeout=30)
    assert "Traceback" not in writer.stderr and "BrokenPipeError" not in writer.stderr
    assert writer.returncode in (0, 141)


@pytest.mark.parametrize("lines", [1, 3])
def test_trace_inspect_into_head_prints_no_traceback(lines):
    shell = (
        f"{sys.executable} -m simkit.cli trace inspect {FIXTURE} | head -n {lines}; "
        "exit ${PIPESTATUS[0]}"
    )
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert len(done.stdout.splitlines()) == lines
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


def test_the_library_defaults_are_the_command_line_default():
    """A notebook user who leaves the SLO out gets the budget the commands use."""
    import inspect

    from simkit.metrics.planning import ExplorerSettings
    from simkit.study import Study
    from simkit.study.report import report_results
    from simkit.viz import Explorer

    assert ExplorerSettings(mode="thresholds").slo_ttft_s == DEFAULT_SLO_TTFT_S
    for func in (Study.report_results, report_results, Explorer.__init__):
        default = inspect.signature(func).parameters["slo_ttft_s"].default
        assert default == DEFAULT_SLO_TTFT_S, func


def test_the_tiered_strategy_without_cutoffs_gives_every_tier_traffic():
    from simkit.study.report import tiered_shares

    tiers = ("selfhosted", "hosted", "frontier")
    assert tiered_shares(tiers, 0.2) == {"frontier": 0.2, "hosted": 0.2}
    assert tiered_shares(tiers, 0.7) == pytest.approx({"frontier": 0.7, "hosted": 0.15})
    assert tiered_shares(("cheap", "strong"), 0.3) == {"strong": 0.3}
    four = tiered_shares(("a", "b", "c", "d"), 0.5)
    assert four == pytest.approx({"d": 0.5, "b": 0.5 / 3, "c": 0.5 / 3})
    assert sum(four.values()) <= 1.0
