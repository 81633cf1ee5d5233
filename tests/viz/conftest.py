"""Helpers for the view tests: what a chart draws, read from vl-convert's scenegraph."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("altair", reason="the views need the 'viz' extra")


def _walk(node: Any, out: Counter) -> None:
    if isinstance(node, dict):
        name = node.get("name")
        if node.get("marktype") and name and name.endswith("_marks"):
            # concatenated views get a "_<i>" suffix: cdf_ttft_0 -> cdf_ttft
            out[re.sub(r"_\d+$", "", name.removesuffix("_marks"))] += len(node.get("items", []))
        for value in node.values():
            _walk(value, out)
    elif isinstance(node, list):
        for value in node:
            _walk(value, out)


def _drawn(chart) -> dict[str, int]:
    """Named mark -> number of items Vega drew for it (lines count one item per series)."""
    import vl_convert as vlc

    from simkit.viz.report import vega_lite_version

    counts: Counter = Counter()
    _walk(vlc.vegalite_to_scenegraph(chart.to_dict(), vl_version=vega_lite_version()), counts)
    return dict(counts)


@pytest.fixture(scope="session")
def drawn():
    """``drawn(chart)``: named mark -> number of items Vega drew (one per data point)."""
    return _drawn


REPO = Path(__file__).resolve().parents[2]


# --- a real trace and fleet for the study and explorer tests -----------------------------------
@pytest.fixture(scope="session")
def scored_trace():
    """The first 3,000 requests of the bundled routellm_azure trace (real MMLU/GSM8K outcomes
    of GPT-4 and Mixtral, Azure 2023 arrivals), scored by a transparent length heuristic:
    ``p_hard`` = rank of the prompt length in [0, 1) (ties broken by position). The classifier
    is not needed to test the views' arithmetic."""
    import numpy as np

    from simkit import load_trace

    trace = load_trace(REPO / "traces" / "routellm_azure")
    trace = trace.subset(np.arange(trace.n_requests) < 3000)
    tokens = trace.requests["prompt_tokens"].to_numpy(dtype="float64")
    rank = np.argsort(np.argsort(tokens, kind="stable"), kind="stable")
    return trace.with_scores({"p_hard": rank / len(rank)})


@pytest.fixture(scope="session")
def study(scored_trace):
    from simkit import load_fleet
    from simkit.study import Study

    return Study.prepare(scored_trace, load_fleet())
