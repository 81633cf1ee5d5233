"""Built-in policies decide as documented; specs from strings and YAML; errors list choices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.errors import PolicyError
from simkit.fleet import load_fleet
from simkit.policies import (
    POLICIES,
    AttemptView,
    BudgetPolicy,
    CascadePolicy,
    FallbackPolicy,
    FleetView,
    OraclePolicy,
    PrivacyPolicy,
    RandomMixPolicy,
    RequestView,
    SpillOverPolicy,
    StaticPolicy,
    TargetSharePolicy,
    TaskHeuristicPolicy,
    ThresholdPolicy,
    build_policy,
    policy_name,
)

TIERS = ("gpu", "hosted", "frontier")


def req(category="", source="", tags=(), **scores):
    return RequestView("r", 0.0, 100, 256, category, source, frozenset(tags), scores)


def view(**kw):
    return FleetView.snapshot(TIERS, private_tiers={"gpu"}, **kw)


def test_registry_maps_each_name_to_its_class_and_lists_them_in_errors():
    assert list(POLICIES) == [
        "static",
        "random",
        "task",
        "threshold",
        "share",
        "budget",
        "cascade",
        "spillover",
        "fallback",
        "privacy",
        "affinity",
        "oracle",
    ]
    with pytest.raises(
        PolicyError,
        match=r"unknown policy 'thresh'; known policies: static, random, task, threshold",
    ):
        build_policy("thresh:p_hard=0.7")


def test_threshold_sends_each_score_to_the_strongest_tier_whose_cutoff_it_reaches():
    p = ThresholdPolicy({"frontier": 0.7, "hosted": 0.4})
    got = [p.route(req(p_hard=s), view(), None) for s in (0.9, 0.7, 0.5, 0.4, 0.1)]
    assert got == ["frontier", "frontier", "hosted", "hosted", "gpu"]


def test_threshold_checks_order_tiers_and_the_score_column():
    with pytest.raises(
        PolicyError,
        match=r"key 'cutoffs.hosted': thresholds out of order: 'hosted' has 0.8 but the stronger tier 'frontier' before it has 0.7",
    ):
        ThresholdPolicy({"frontier": 0.7, "hosted": 0.8}).check(TIERS, ("p_hard",))
    with pytest.raises(
        PolicyError, match=r"the trace has no score column 'p_hard'; score columns: p_weak"
    ):
        ThresholdPolicy({"frontier": 0.7}).check(TIERS, ("p_weak",))
    with pytest.raises(
        PolicyError, match=r"unknown tier 'gpt4'; tiers of this fleet: gpu, hosted, frontier"
    ):
        ThresholdPolicy({"gpt4": 0.7}).check(TIERS, ("p_hard",))


def test_random_mix_realises_its_weights():
    p = RandomMixPolicy({"gpu": 3.0, "frontier": 1.0})
    rng = np.random.default_rng(0)
    picks = pd.Series([p.route(req(), view(), rng) for _ in range(20_000)]).value_counts(
        normalize=True
    )
    assert picks["gpu"] == pytest.approx(0.75, abs=0.01) and "hosted" not in picks


def test_task_heuristic_maps_task_types_to_tier_sizes():
    p = TaskHeuristicPolicy()
    cases = {
        ("gsm8k", "gsm8k"): "frontier",
        ("college_computer_science", "mmlu"): "frontier",
        ("prehistory", "mmlu"): "hosted",
        ("summarisation", ""): "hosted",
        ("sentiment classification", ""): "gpu",
        ("entity extraction", ""): "gpu",
    }
    assert {k: p.route(req(*k), view(), None) for k in cases} == cases
    assert (
        TaskHeuristicPolicy(tasks={"prehistory": "classification"}).route(
            req("prehistory", "mmlu"), view(), None
        )
        == "gpu"
    )


def test_share_targeting_holds_the_frontier_share_on_skewed_scores():
    """Scores concentrated near 0.8 (not uniform): the controller still converges to 20 %."""
    p = TargetSharePolicy(0.2, score="p_hard")
    rng = np.random.default_rng(1)
    routed = dict.fromkeys(TIERS, 0)
    scores = rng.beta(8, 2, 20_000)
    for k, s in enumerate(scores):
        tier = p.route(
            req(p_hard=float(s)), FleetView.snapshot(TIERS, routed=routed, decided=k), rng
        )
        routed[tier] += 1
    assert routed["frontier"] / len(scores) == pytest.approx(0.2, abs=0.005)
    assert routed["hosted"] == 0


def test_budget_policy_raises_its_threshold_when_overspending():
    p = BudgetPolicy(usd_per_hour=60.0, score="p_hard")  # 1 USD per minute
    on_budget = p.threshold(view(now_s=600.0, spend_usd=10.0))
    over = p.threshold(view(now_s=600.0, spend_usd=12.0))
    assert on_budget == pytest.approx(0.5) and over == pytest.approx(0.5 + 0.05 * 2)


def test_cascade_escalates_while_the_verifier_rejects():
    p = CascadePolicy(judge_error=0.0)
    rng = np.random.default_rng(0)
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    right = AttemptView("gpu", True, "", ("gpu",), 0, 1.0)
    failed = AttemptView("hosted", False, "error", ("gpu", "hosted"), 0, float("nan"))
    last = AttemptView("frontier", True, "", TIERS, 0, 0.0)
    assert p.route(req(), view(), rng) == "gpu"
    assert [p.next_tier(req(), a, view(), rng) for a in (wrong, right, failed, last)] == [
        "hosted",
        None,
        "frontier",
        None,
    ]


def test_cascade_judge_errs_at_its_configured_rate():
    rng = np.random.default_rng(2)
    right = AttemptView("gpu", True, "", ("gpu",), 0, 1.0)
    rejected = np.mean([not right.verify(0.5, 0.2, rng) for _ in range(20_000)])
    assert rejected == pytest.approx(0.2, abs=0.01)


def test_spillover_leaves_an_overloaded_tier_for_the_next_one():
    p = SpillOverPolicy(StaticPolicy("gpu"), max_queued=10, min_headroom=0.1)
    assert p.route(req(), view(queued={"gpu": 5}), None) == "gpu"
    assert p.route(req(), view(queued={"gpu": 11}), None) == "hosted"
    assert p.route(req(), view(queued={"gpu": 11}, headroom={"hosted": 0.05}), None) == "frontier"
    with pytest.raises(
        PolicyError, match="set at least one of max_queued, max_wait_s, min_headroom"
    ):
        SpillOverPolicy(StaticPolicy("gpu")).check(TIERS, ())


def test_fallback_tries_untried_tiers_above_then_below():
    p = FallbackPolicy(StaticPolicy("hosted"))
    a = AttemptView("hosted", False, "rate_limited", ("hosted",), 3, float("nan"))
    b = AttemptView("frontier", False, "outage", ("hosted", "frontier"), 0, float("nan"))
    ok = AttemptView("hosted", True, "", ("hosted",), 0, 1.0)
    assert [p.next_tier(req(), x, view(), None) for x in (a, b, ok)] == ["frontier", "gpu", None]


def test_privacy_keeps_sensitive_requests_on_private_tiers_even_on_escalation():
    p = PrivacyPolicy(CascadePolicy(chain=("hosted", "frontier"), judge_error=0.0))
    secret = req(tags=("sensitive",))
    assert p.route(secret, view(), None) == "gpu" and p.route(req(), view(), None) == "hosted"
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    assert p.next_tier(secret, wrong, view(), None) is None
    with pytest.raises(PolicyError, match="the fleet has no private tier"):
        p.route(secret, FleetView.snapshot(TIERS), None)


def test_oracle_picks_the_cheapest_tier_reaching_the_best_quality():
    q = pd.DataFrame(
        {
            "gpu": [1.0, 0.0, 0.0, np.nan],
            "hosted": [1.0, 1.0, 0.0, np.nan],
            "frontier": [1.0, 1.0, 0.5, np.nan],
        },
        index=["a", "b", "c", "d"],
    )
    p = OraclePolicy(q)
    got = [
        p.route(RequestView(i, 0.0, 1, 1, "", "", frozenset(), {}), view(), None) for i in "abcde"
    ]
    assert got == ["gpu", "hosted", "frontier", "gpu", "gpu"]


def test_policies_build_from_strings_with_nesting_lists_and_shorthands():
    fleet = load_fleet()
    p = build_policy("privacy>fallback>threshold:p_hard=0.8/0.5", fleet=fleet)
    assert policy_name(p) == "privacy>fallback>threshold"
    assert p.base.base == ThresholdPolicy({"frontier": 0.8, "hosted": 0.5}, score="p_hard")
    assert build_policy("cascade:chain=selfhosted/frontier,judge_error=0.05") == CascadePolicy(
        chain=["selfhosted", "frontier"], judge_error=0.05
    )
    assert build_policy("random:weights.selfhosted=2,weights.frontier=1") == RandomMixPolicy(
        {"selfhosted": 2, "frontier": 1}
    )
    with pytest.raises(
        PolicyError,
        match=r"\(cascade\), key 'judge': unknown parameter. valid parameters: chain, accept_at, judge_error",
    ):
        build_policy("cascade:judge=0.1")
    with pytest.raises(PolicyError, match=r"key 'p_hard': 3 cut-offs for 3 tiers; at most 2"):
        build_policy("threshold:p_hard=0.9/0.5/0.2", fleet=fleet)


def test_policies_build_from_yaml_files(tmp_path):
    f = tmp_path / "policy.yaml"
    f.write_text("policy: spillover\nmax_queued: 32\nbase: {policy: static, tier: selfhosted}\n")
    assert build_policy(str(f)) == SpillOverPolicy(StaticPolicy("selfhosted"), max_queued=32)
    f.write_text("policy: spillover\nbase: {policy: nope}\n")
    with pytest.raises(PolicyError, match=r"policy.yaml, key 'policy': unknown policy 'nope'"):
        build_policy(str(f))
