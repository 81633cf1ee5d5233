"""One "no score column" check: a policy, the vectorised curves and the Study say it alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simkit import load_trace, simulate
from simkit.errors import PolicyError, SpecError
from simkit.fleet import load_fleet
from simkit.policies import ThresholdPolicy
from simkit.policies.base import check_score_column

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sim" / "routellm_azure_slice"
PROBLEM = "key 'score': the trace has no score column 'p_hard'; score columns: p_weak, q_x"
HINT = "score the trace first: simkit classifier score TRACE --bundle"


@pytest.fixture(scope="module")
def trace():
    t = load_trace(FIXTURE)
    t = t.subset(np.arange(t.n_requests) < 50)
    return t.with_scores({"p_weak": np.linspace(0, 1, 50), "q_x": np.zeros(50)})


def _message(call) -> str:
    with pytest.raises(PolicyError) as err:
        call()
    return str(err.value)


def test_every_caller_gives_the_same_error_with_its_own_source(trace):
    from simkit.study import Study
    from simkit.sweep import threshold_curves

    fleet = load_fleet()
    policy = ThresholdPolicy({"frontier": 0.5})
    messages = {
        "policy 'threshold'": _message(lambda: simulate(trace, fleet, policy, seed=0)),
        "threshold_curves": _message(lambda: threshold_curves(trace, fleet, [0.5])),
        "study": _message(lambda: Study.prepare(trace, fleet)),
    }
    for source, message in messages.items():
        assert message.startswith(f"{source}, {PROBLEM}. {HINT}")
    # the Study's error is still the SpecError it documents
    with pytest.raises(SpecError):
        Study.prepare(trace, fleet)


def test_a_present_score_passes_and_no_scores_say_none():
    check_score_column("p_hard", ("gain", "p_hard"), source="x")
    with pytest.raises(
        PolicyError, match="^x, key 'score': .* score columns: none. score the trace"
    ):
        check_score_column("p_hard", (), source="x")
