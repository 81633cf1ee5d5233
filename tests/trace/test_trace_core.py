"""The Trace validates on construction and says where the problem is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit import Trace, load_trace, save_trace
from simkit.errors import SimkitError, TraceError


def _requests(**cols):
    base = {"request_id": ["a", "b", "c"], "arrival_s": [0.0, 1.0, 2.5]}
    base.update(cols)
    return pd.DataFrame(base)


def _outcomes(**cols):
    base = {"request_id": ["a", "b", "a"], "model": ["m1", "m1", "m2"], "quality": [1.0, 0.0, 0.5]}
    base.update(cols)
    return pd.DataFrame(base)


def test_missing_outcome_is_nan_not_zero():
    """A (request, model) without a row is NaN in the quality matrix, never 0."""
    t = Trace(_requests(), _outcomes())
    q = t.quality_matrix()
    assert q.loc["a", "m2"] == 0.5
    assert np.isnan(q.loc["b", "m2"]) and np.isnan(q.loc["c", "m1"])
    assert list(q.index) == ["a", "b", "c"]


def test_optional_columns_are_added_as_na_and_extras_are_kept():
    t = Trace(_requests(team=["x", "y", "z"]))
    assert t.requests["prompt"].isna().all()
    assert list(t.requests["team"]) == ["x", "y", "z"]
    assert list(t.requests["tags"]) == ["", "", ""]


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        (_requests().drop(columns="arrival_s"), "column 'arrival_s': required column missing"),
        (
            _requests(arrival_s=[0.0, 2.0, 1.0]),
            "row 3, column 'arrival_s': arrival times must be non-decreasing: 1.0 comes after 2.0",
        ),
        (
            _requests(arrival_s=[0.0, np.nan, 1.0]),
            "row 2, column 'arrival_s': missing, non-finite or negative arrival time nan (1 such rows)",
        ),
        (
            _requests(arrival_s=[-1.0, 0.0, 1.0]),
            "row 1, column 'arrival_s': missing, non-finite or negative",
        ),
        (
            _requests(arrival_s=[0.0, "soon", 1.0]),
            "row 2, column 'arrival_s': expected a number, got 'soon'",
        ),
        (
            _requests(request_id=["a", "b", "a"]),
            "row 3, column 'request_id': duplicate id 'a' (first seen in row 1)",
        ),
        (
            _requests(request_id=["a", "", "c"]),
            "row 2, column 'request_id': missing or empty in 1 rows",
        ),
        (_requests(prompt_tokens=[1, -2, 3]), "row 2, column 'prompt_tokens': negative in 1 rows"),
        (
            _requests(prompt_tokens=[1, 2.5, 3]),
            "row 2, column 'prompt_tokens': expected a whole number, got 2.5",
        ),
    ],
)
def test_bad_requests_name_row_and_column(requests, message):
    with pytest.raises(TraceError) as err:
        Trace(requests, where="prod.csv")
    assert message in str(err.value)
    assert str(err.value).startswith("prod.csv (requests)")


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (
            _outcomes(request_id=["a", "zz", "a"]),
            "row 2, column 'request_id': outcome for unknown request 'zz'",
        ),
        (
            _outcomes(model=["m1", "m1", "m1"], request_id=["a", "b", "a"]),
            "row 3, column 'model': second outcome for request 'a' and model 'm1'",
        ),
        (_outcomes(quality=[1.0, 7.0, 0.5]), "row 2, column 'quality': 7.0 is outside [0, 1]"),
        (
            _outcomes(raw_score=[11, 5, 5], scale_min=1, scale_max=10),
            "row 1, column 'raw_score': 11 is outside its declared scale [1, 10]",
        ),
        (
            _outcomes(output_tokens=[1, -1, 2]),
            "row 2, column 'output_tokens': negative or infinite",
        ),
    ],
)
def test_bad_outcomes_name_row_and_column(outcomes, message):
    with pytest.raises(TraceError) as err:
        Trace(_requests(), outcomes, where="evals.parquet")
    assert message in str(err.value)


def test_every_trace_error_is_a_simkit_error():
    with pytest.raises(SimkitError):
        Trace(_requests(arrival_s=[3.0, 2.0, 1.0]))


def test_quality_matrix_of_unknown_model_lists_known_ones():
    with pytest.raises(
        TraceError, match="no outcomes for model 'gpt-9'; models with outcomes: m1, m2"
    ):
        Trace(_requests(), _outcomes()).quality_matrix(["gpt-9"])


def test_saved_trace_loads_back_identical_and_files_are_byte_stable(tmp_path):
    t = Trace(
        _requests(prompt=["x", None, "z"], tags=["sensitive", "", "a,sensitive"]),
        _outcomes(),
        meta={"name": "t"},
    )
    t = t.with_scores({"p_hard": [0.1, 0.2, 0.3]})
    save_trace(t, tmp_path / "one")
    save_trace(t, tmp_path / "two")
    for name in ("requests.parquet", "outcomes.parquet", "scores.parquet", "trace.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    back = load_trace(tmp_path / "one")
    pd.testing.assert_frame_equal(back.requests, t.requests)
    pd.testing.assert_frame_equal(back.outcomes, t.outcomes)
    pd.testing.assert_frame_equal(back.scores, t.scores)
    assert back.meta["name"] == "t"
    assert list(back.has_tag("sensitive")) == [True, False, True]


def test_loading_a_plain_file_says_to_convert_it(tmp_path):
    f = tmp_path / "log.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(TraceError, match="not a simkit trace directory.*simkit trace convert"):
        load_trace(f)


def test_scores_align_by_request_id():
    t = Trace(_requests()).with_scores(
        pd.DataFrame({"request_id": ["c", "a", "b"], "p": [3.0, 1.0, 2.0]})
    )
    assert list(t.scores["p"]) == [1.0, 2.0, 3.0]
    with pytest.raises(TraceError, match="no score for request 'c'"):
        Trace(_requests()).with_scores(pd.DataFrame({"request_id": ["a", "b"], "p": [1.0, 2.0]}))
