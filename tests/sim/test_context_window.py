"""Context windows: per-tier windows from the spec, the GPU preset or the price catalog; a
request whose prompt plus answer is over the window is refused (``context_exceeded``) or
truncated, by the tier's ``over_context``; counted in the summary and in ``meta``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from simkit import Trace, simulate
from simkit.errors import SpecError
from simkit.fleet import load_fleet
from simkit.fleet.costs import request_token_cost_usd
from simkit.metrics import summarize_runs
from simkit.policies import FallbackPolicy, StaticPolicy
from simkit.policies.composite import FAILURE_REASONS
from simkit.sweep import sweep

PROMPTS = [100, 8000, 8100, 9000, 50, 7992]
MODELS = ("mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview")


def _trace() -> Trace:
    n = len(PROMPTS)
    ids = [f"r{i}" for i in range(n)]
    requests = pd.DataFrame(
        {
            "request_id": ids,
            "arrival_s": 30.0 + 5.0 * np.arange(n),  # far apart: no queueing
            "prompt_tokens": PROMPTS,
            "output_tokens": [200] * n,
        }
    )
    outcomes = pd.DataFrame(
        [{"request_id": r, "model": m, "quality": 0.5} for r in ids for m in MODELS]
    )
    return Trace(requests, outcomes)


def _fleet(over: str, window: int | None = 8192):
    fleet = load_fleet()
    hosted = replace(fleet.tier("hosted"), context_window=window, over_context=over)
    return replace(fleet, tiers=(fleet.tiers[0], hosted, fleet.tiers[2]))


def test_windows_come_from_the_spec_the_preset_or_the_catalog():
    fleet = load_fleet()
    got = {t.name: (t.context_window, t.over_context) for t in fleet.tiers}
    # Llama 3 preset: 8,192; gpt-4o from the catalog: 128,000; groq's llama3-70b-8192 has no
    # context_window in the catalog, so none unless the spec gives one
    assert got == {
        "selfhosted": (8192, "serve"),
        "hosted": (None, "serve"),
        "frontier": (128000, "serve"),
    }
    spec = {
        "tiers": {
            "api": {
                "kind": "api",
                "model": "llama3-70b-8192",
                "provider": "groq",
                "quality_model": "m",
                "context_window": 8192,
                "over_context": "truncate",
            },
            "gpu": {
                "kind": "gpu",
                "preset": "llama3-8b-a100-tp1",
                "usd_per_gpu_hour": 1.0,
                "quality_model": "m",
                "over_context": "fail",
            },
        }
    }
    f = load_fleet(spec)
    assert (f.tier("api").context_window, f.tier("api").over_context) == (8192, "truncate")
    assert (f.tier("gpu").context_window, f.tier("gpu").over_context) == (8192, "fail")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"over_context": "drop"},
            "key 'tiers.api.over_context': got 'drop'; expected one of serve, fail, truncate",
        ),
        (
            {"context_window": 1},
            "key 'tiers.api.context_window': expected a whole number of tokens >= 2",
        ),
        (
            {"context_window": "8k"},
            "key 'tiers.api.context_window': expected a whole number of tokens >= 2 (or "
            "none), got '8k'",
        ),
        (
            {"over_context": "fail"},
            "key 'tiers.api.over_context': 'fail' needs a context_window; none is given and "
            "none is known for model 'llama3-70b-8192'",
        ),
    ],
)
def test_bad_context_settings_name_the_key(change, message):
    body = {"kind": "api", "model": "llama3-70b-8192", "provider": "groq", "quality_model": "m"}
    with pytest.raises(SpecError) as err:
        load_fleet({"tiers": {"api": body | change}})
    assert message in str(err.value)


def test_fail_refuses_exactly_the_requests_over_the_window_at_no_cost():
    trace = _trace()
    rec = simulate(trace, _fleet("fail"), StaticPolicy("hosted"), seed=4)
    r = rec.requests.set_index("request_id")
    # prompt + 200 > 8192 for r1 (8200), r2, r3; r5 fits exactly (7992 + 200 = 8192)
    over = ["r1", "r2", "r3"]
    assert r.index[r["status"] == "failed"].tolist() == over
    assert (r.loc[over, "fail_reason"] == "context_exceeded").all()
    assert (r.loc[over, "cost_usd"] == 0).all() and (r.loc[over, "retries"] == 0).all()
    assert (r.loc[over, "end_s"] == r.loc[over, "arrival_s"]).all()  # refused at once
    assert (r.loc[["r0", "r4", "r5"], "status"] == "completed").all()
    assert rec.meta["context"]["hosted"] == {
        "exceeded": 3,
        "truncated": 0,
        "truncated_prompt_tokens": 0,
    }
    summary = summarize_runs(rec.requests, rec.endpoints)
    assert summary.loc[0, "n_context_exceeded"] == 3 and summary.loc[0, "n_failed"] == 3


def test_a_fallback_sends_a_refused_request_to_the_next_tier():
    policy = FallbackPolicy(StaticPolicy("hosted"), on=FAILURE_REASONS)
    rec = simulate(_trace(), _fleet("fail"), policy, seed=4).requests.set_index("request_id")
    assert (rec["status"] == "completed").all()
    assert rec.loc[["r1", "r2", "r3"], "tier"].tolist() == ["frontier"] * 3
    assert rec.loc[["r1", "r2", "r3"], "tiers_tried"].tolist() == ["hosted,frontier"] * 3
    assert rec.loc[["r0", "r4", "r5"], "tier"].tolist() == ["hosted"] * 3
    # by default a fallback leaves context refusals failed (it takes them only when asked)
    plain = simulate(_trace(), _fleet("fail"), FallbackPolicy(StaticPolicy("hosted")), seed=4)
    assert plain.requests["fail_reason"].tolist().count("context_exceeded") == 3


def test_truncate_serves_the_newest_tokens_that_fit_and_charges_them():
    fleet = _fleet("truncate")
    rec = simulate(_trace(), fleet, StaticPolicy("hosted"), seed=4)
    r = rec.requests.set_index("request_id")
    assert (r["status"] == "completed").all()
    api = fleet.tier("hosted").endpoint
    for rid, prompt in zip(r.index, PROMPTS, strict=True):
        served = min(prompt, 8192 - 200)
        assert r.loc[rid, "cost_usd"] == pytest.approx(request_token_cost_usd(api, served, 200))
    assert rec.meta["context"]["hosted"] == {
        "exceeded": 0,
        "truncated": 3,
        "truncated_prompt_tokens": (8000 - 7992) + (8100 - 7992) + (9000 - 7992),
    }
    # the record keeps the trace's prompt length; the endpoint served the truncated one
    assert r["prompt_tokens"].tolist() == PROMPTS
    ep = rec.endpoints.set_index("tier")
    assert ep.loc["hosted", "prompt_tokens"] == 100 + 50 + 4 * 7992
    runs = sweep(_trace(), fleet, {"h": StaticPolicy("hosted")}, seeds=(4,))
    assert runs.loc[0, "n_context_truncated"] == 3 and runs.loc[0, "n_context_exceeded"] == 0


def test_an_answer_longer_than_the_window_is_cut_to_window_minus_one():
    fleet = _fleet("truncate", window=150)
    rec = simulate(_trace(), fleet, StaticPolicy("hosted"), seed=4).requests
    assert (rec["output_tokens"] == 149).all()  # one prompt token kept


def test_serve_and_an_unknown_window_replay_exactly_as_before():
    trace = _trace()
    policy = StaticPolicy("hosted")
    base = simulate(trace, _fleet("serve", window=None), policy, seed=4)
    for fleet in (_fleet("serve"), load_fleet()):
        rec = simulate(trace, fleet, policy, seed=4)
        pd.testing.assert_frame_equal(rec.requests, base.requests)
        pd.testing.assert_frame_equal(rec.endpoints, base.endpoints)
        assert rec.meta["config_hash"] == base.meta["config_hash"]
    assert (base.requests["status"] == "completed").all()
    enforced = {
        simulate(trace, _fleet(over), policy, seed=4).meta["config_hash"]
        for over in ("fail", "truncate")
    }
    assert len(enforced) == 2 and base.meta["config_hash"] not in enforced
