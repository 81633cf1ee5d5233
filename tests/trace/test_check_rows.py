"""The one "first bad row" check every table validator reports through."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.errors import TraceError
from simkit.schema import check_rows


def test_nothing_flagged_raises_nothing():
    check_rows(np.zeros(3, bool), where="t.csv", column="x", problem="bad")
    check_rows(np.zeros(0, bool), where="t.csv", column="x", problem="bad")


def test_the_first_offender_and_the_count_are_named():
    with pytest.raises(TraceError) as err:
        check_rows([False, True, False, True], where="t.csv", column="x", problem="negative")
    assert str(err.value) == "t.csv, row 2, column 'x': negative (2 such rows)"
    assert (err.value.row, err.value.column) == (2, "x")


def test_a_callable_problem_sees_the_position_and_count_and_rows_map_to_the_file():
    values = np.array([3.0, -1.0, -2.0])
    with pytest.raises(TraceError) as err:
        check_rows(
            values < 0,
            where="log.jsonl",
            column="latency_ms",
            rows=np.array([4, 9, 12]),
            unit="line",
            problem=lambda i, n: f"{values[i]:g} is negative, {n} in all",
            hint="Fix the log",
        )
    assert str(err.value) == (
        "log.jsonl, line 9, column 'latency_ms': -1 is negative, 2 in all. Fix the log"
    )
    assert err.value.line == 9 and err.value.row is None


def test_a_string_problem_counts_lines_in_line_mode():
    with pytest.raises(TraceError, match=r"^f, line 1, column 'c': gone \(1 such lines\)$"):
        check_rows([True], where="f", column="c", problem="gone", unit="line")
