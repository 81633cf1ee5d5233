"""Scores: a probability score (p_*) outside [0, 1] is refused, other scores only need be finite."""

from __future__ import annotations

import pandas as pd
import pytest

from simkit import Trace, load_trace, save_trace
from simkit.errors import TraceError
from simkit.trace import restamp_trace


def _trace():
    return Trace(pd.DataFrame({"request_id": ["a", "b", "c"], "arrival_s": [0.5, 1.0, 2.0]}))


def test_a_p_hard_of_5_is_refused_naming_the_row():
    with pytest.raises(
        TraceError,
        match=r"\(scores\), row 2, column 'p_hard': 5.0 is outside \[0, 1\] \(1 such rows\); a "
        r"score named p_\* is a probability",
    ):
        _trace().with_scores({"p_hard": [0.2, 5.0, 0.9]})


def test_a_scores_file_with_p_hard_5_is_refused_on_load(tmp_path):
    path = save_trace(_trace().with_scores({"p_hard": [0.2, 0.4, 0.9]}), tmp_path / "t")
    scores = pd.read_parquet(path / "scores.parquet")
    scores.loc[2, "p_hard"] = 5.0
    scores.to_parquet(path / "scores.parquet", index=False)
    with pytest.raises(TraceError, match=r"row 3, column 'p_hard': 5.0 is outside \[0, 1\]"):
        restamp_trace(path)  # a deliberate edit that is still bad is not stamped
    with pytest.raises(TraceError, match=r"scores.parquet: does not match its SHA-256"):
        load_trace(path)


def test_other_scores_may_take_any_finite_value():
    t = _trace().with_scores({"p_hard": [0.0, 1.0, 0.5], "gain": [-0.3, 2.5, 0.0]})
    assert list(t.scores["gain"]) == [-0.3, 2.5, 0.0]
