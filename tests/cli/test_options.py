"""The command line's one comma-list parser and one KEY=VALUE parser, and the errors they give."""

from __future__ import annotations

import pytest

from simkit.cli import main
from simkit.cli.options import parse_assignment, parse_list, parse_numbers, yaml_scalar
from simkit.errors import SpecError


def test_lists_skip_blank_items_and_convert_each():
    assert parse_numbers(" 3, 1,,2 ", "--seeds", int) == [3, 1, 2]
    assert parse_numbers("0.1,0.25", "--shares", float) == [0.1, 0.25]
    assert parse_list("0.5,null,frontier", "--grid x", yaml_scalar) == [0.5, None, "frontier"]


@pytest.mark.parametrize(
    ("text", "kind", "what", "message"),
    [
        ("1,x", int, None, "--opt: expected comma-separated integers, got '1,x'"),
        ("", int, None, "--opt: expected comma-separated integers, got ''"),
        (" , ", float, None, "--opt: expected comma-separated floats, got ' , '"),
        ("half", float, "shares in (0, 1]", "--opt: expected comma-separated shares in (0, 1]"),
    ],
)
def test_a_bad_or_empty_list_names_the_option_and_what_it_takes(text, kind, what, message):
    with pytest.raises(SpecError) as err:
        parse_numbers(text, "--opt", kind, what)
    assert message in str(err.value)


def test_assignments_split_at_the_first_equals_sign():
    assert parse_assignment(" frontier =0.8", "--cutoff", "TIER=SCORE", float) == (
        "frontier",
        0.8,
    )
    assert parse_assignment("weights.a=1,2", "--grid", "KEY=V1,V2,...", str) == (
        "weights.a",
        "1,2",
    )


@pytest.mark.parametrize("item", ["frontier", "=0.8", "frontier=", "frontier=high"])
def test_a_bad_assignment_names_the_option_the_item_and_the_form(item):
    with pytest.raises(SpecError) as err:
        parse_assignment(item, "--cutoff", "TIER=SCORE", float)
    assert str(err.value) == f"--cutoff, key '{item}': expected TIER=SCORE"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--seeds", "0,one"],
            "simkit sweep: error: --seeds: expected comma-separated whole numbers",
        ),
        (["--grid", "target_share"], "--grid, key 'target_share': expected KEY=V1,V2,..."),
        (["--grid", "x=[1"], "--grid x: expected comma-separated YAML values, got '[1'"),
    ],
)
def test_sweep_options_fail_before_any_work_with_the_message(args, message, tmp_path, capsys):
    """The trace does not exist: the option errors come first, exit 2, no traceback."""
    argv = ["sweep", "--trace", str(tmp_path / "none"), "--policy", "share", *args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--seeds", "0;1"],
            "simkit report: error: --seeds: expected comma-separated whole numbers",
        ),
        (["--frontier-shares", "a"], "--frontier-shares: expected comma-separated floats, got 'a'"),
        (["--cutoff", "frontier:0.8"], "--cutoff, key 'frontier:0.8': expected TIER=SCORE"),
    ],
)
def test_report_options_fail_before_any_work_with_the_message(args, message, tmp_path, capsys):
    argv = ["report", "--trace", str(tmp_path / "none"), "--out", str(tmp_path / "r.html"), *args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
