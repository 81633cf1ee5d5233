"""Production and simulation decide alike: the shipped bundle routes every prompt of the shipped
trace to the same tier through :class:`Router` as through :func:`simulate` on the scored trace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _fleet(tiers: tuple[str, ...]):
    """Two API tiers named as the bundle's, no errors, rate limits or outages: the tier a
    request is recorded on is the tier the policy chose."""
    from simkit.fleet import load_fleet

    api = {
        "kind": "api",
        "provider": "openai",
        "ttft_s": {"median": 0.4, "sigma": 0.2},
        "output_tokens_per_s": {"median": 100, "sigma": 0.2},
        "error_rate": 0.0,
    }
    cheap, strong = tiers
    return load_fleet(
        {
            "tiers": {
                cheap: {**api, "model": "gpt-4o-mini",
                        "quality_model": "mistralai/Mixtral-8x7B-Instruct-v0.1"},
                strong: {**api, "model": "gpt-4o", "quality_model": "gpt-4-1106-preview"},
            }
        }
    )  # fmt: skip


@pytest.mark.slow
def test_router_and_simulate_pick_the_same_tier_for_all_15344_prompts():
    """About 90 s on a busy 2-core machine: every prompt is scored twice (one by one, batched)."""
    from simkit.classify.scoring import score_trace
    from simkit.router import Router
    from simkit.sim import simulate
    from simkit.trace import load_trace

    trace = load_trace(REPO / "traces" / "routellm_azure")
    assert trace.n_requests == 15_344
    threshold = "share_0.20"  # the bundle's default, the README's
    router = Router.load(REPO / "classifiers" / "routellm-static-minilm", threshold=threshold)
    prompts = [str(p) for p in trace.requests["prompt"]]
    decisions = [router.decide(p) for p in prompts]

    # the user's path to a simulation: score the trace with the bundle, then simulate the
    # policy the bundle's threshold stands for
    scored = score_trace(trace, router.bundle, cache_dir=False)
    records = simulate(scored, _fleet(router.bundle.tiers), router.policy, seed=0).requests
    by_id = records.set_index("request_id")["tier"]
    simulated = by_id.loc[trace.requests["request_id"]].to_numpy()
    routed = np.array([d.tier for d in decisions])
    assert (records["status"] == "completed").all()
    mismatch = np.flatnonzero(routed != simulated)
    assert mismatch.size == 0, f"{mismatch.size} requests differ, first {prompts[mismatch[0]]!r}"
    # both tiers are used, at about the share the threshold was calibrated for
    share = float((routed == "strong").mean())
    assert abs(share - float(threshold.removeprefix("share_"))) < 0.02
    # the scores agree too: both float64; scoring one prompt or a batch differs only in the
    # last bits of the BLAS sums
    p_router = np.array([d.p_hard for d in decisions])
    np.testing.assert_allclose(scored.scores["p_hard"].to_numpy(), p_router, rtol=0, atol=1e-12)


def test_fleet_tier_map_maps_in_order_or_the_two_ends_and_names_both_lists_otherwise():
    from simkit.errors import ClassifierError
    from simkit.router import fleet_tier_map

    assert fleet_tier_map(["a", "b", "c"], ("small", "mid", "big")) == {
        "a": "small",
        "b": "mid",
        "c": "big",
    }
    assert fleet_tier_map(["weak", "strong"], ["selfhosted", "hosted", "frontier"]) == {
        "weak": "selfhosted",
        "strong": "frontier",
    }
    with pytest.raises(ClassifierError) as err:
        fleet_tier_map(["a", "b", "c"], ["x", "y", "z", "w"])
    msg = str(err.value)
    assert "3 tiers (a, b, c)" in msg and "4 (x, y, z, w)" in msg and "with 3 tiers" in msg
