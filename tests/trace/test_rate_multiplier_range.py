"""A rate multiplier is bounded to volumes whose numbers mean something."""

from __future__ import annotations

import pandas as pd
import pytest

from simkit import Trace
from simkit.errors import SpecError
from simkit.trace import Poisson, attach_arrivals, window


def _trace():
    return Trace(pd.DataFrame({"request_id": ["a", "b", "c"], "arrival_s": [10.0, 11.0, 13.0]}))


@pytest.mark.parametrize("m", [1e-300, 1e308, 0.0, -1.0, float("nan"), float("inf"), 1e-4, 2e3])
def test_window_refuses_a_multiplier_outside_one_thousandth_to_a_thousand(m):
    with pytest.raises(
        SpecError,
        match=r"<window>, key 'rate_multiplier': expected a number from 0.001 to 1000 \(times "
        r"the trace's arrival rate\), got ",
    ):
        window(_trace(), rate_multiplier=m)


def test_window_accepts_the_edges_and_scales_the_times():
    assert list(window(_trace(), rate_multiplier=1000).requests["arrival_s"]) == [
        0.01,
        0.011,
        0.013,
    ]
    assert list(window(_trace(), rate_multiplier=0.001).requests["arrival_s"]) == [
        10000.0,
        11000.0,
        13000.0,
    ]


def test_attach_arrivals_refuses_a_huge_multiplier():
    with pytest.raises(SpecError, match=r"<attach_arrivals>, key 'rate_multiplier'"):
        attach_arrivals(_trace(), Poisson(1.0), seed=0, rate_multiplier=1e308)
