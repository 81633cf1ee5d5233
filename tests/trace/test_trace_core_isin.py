"""``isin_strings``: pandas' ``isin`` through pyarrow for Arrow strings, the same answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import TraceError
from simkit.trace import Trace
from simkit.trace.core import equal_strings, isin_strings


def _s(values, dtype="string"):
    return pd.Series(pd.array(values, dtype=dtype))


@pytest.mark.parametrize(
    ("values", "allowed"),
    [
        (_s(["r1", "r2", "r9", "r1"]), _s(["r1", "r2", "r3"])),
        (_s(["r1", "r2"]), pd.Index(pd.array(["r2"], dtype="string"))),
        (_s(["r1", None, "r2"]), _s(["r1"])),  # a missing value: pandas decides
        (_s(["r1", "r2"]), _s(["r2", None])),
        (_s(["a", "b"], dtype=object), _s(["b"], dtype=object)),  # not Arrow: pandas
        (_s([]), _s(["r1"])),
    ],
)
def test_isin_strings_answers_as_pandas_isin(values, allowed):
    got = isin_strings(values, allowed)
    assert got.dtype == np.bool_
    assert got.tolist() == values.isin(allowed).to_numpy(dtype=bool).tolist()


def test_an_outcome_for_an_unknown_request_is_still_named():
    req = pd.DataFrame({"request_id": ["a", "b"], "arrival_s": [0.0, 1.0]})
    out = pd.DataFrame({"request_id": ["a", "c", "d"], "model": "m", "quality": 1.0})
    with pytest.raises(TraceError) as e:
        Trace(req, out)
    assert "row 2, column 'request_id': outcome for unknown request 'c' (2 such rows)" in str(
        e.value
    )


def _chunked(values):
    import pyarrow as pa

    half = len(values) // 2
    return pd.Series(
        pd.arrays.ArrowStringArray(pa.chunked_array([values[:half], values[half:]], pa.string()))
    )


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (_s(["r1", "r2", "r3"]), _s(["r1", "r2", "r3"]), True),
        (_s(["r1", "r2", "r3"]), _s(["r1", "r3", "r2"]), False),  # the order counts
        (_s(["r1", "r2"]), _s(["r1", "r2", "r3"]), False),
        (_s(["r1", "r2", "r3"]), _chunked(["r1", "r2", "r3"]), True),  # chunks, string vs large
        (_s(["r1", "r2", "r3"]), _chunked(["r1", "r2", "x"]), False),
        (_s(["r1", "r2"]), _s(["r1", "r2"], dtype=object), True),  # not Arrow: NumPy decides
        (_s(["r1", "r2"]), _s(["r1", "r9"], dtype=object), False),
        (_s(["r1", "r2"]).iloc[[1, 0]], _s(["r2", "r1"]), True),  # a selection, not a copy
        (_s([]), _s([]), True),
    ],
)
def test_equal_strings_compares_values_in_order(a, b, same):
    assert equal_strings(a, b) is same
    assert equal_strings(b, a) is same
