"""Which requests each policy picks, on three tiers with non-default parameters, and every
policy's ``check()`` error naming the key and the valid choices.

These pin behaviour that mutation testing found unpinned (issue 10): a policy that ignored its
score, a controller whose units were off, fallbacks in the wrong direction, a privacy wrapper
over a base that never escalates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from simkit.errors import PolicyError
from simkit.fleet import Fleet, load_fleet
from simkit.policies import (
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
)
from simkit.policies.baselines import task_of
from simkit.trace import Trace

TIERS = ("gpu", "hosted", "frontier")
NAN = float("nan")


def req(rid="r", tags=(), **scores):
    return RequestView(rid, 0.0, 100, 256, "", "", frozenset(tags), scores)


def view(**kw):
    return FleetView.snapshot(TIERS, **kw)


def failed(tier, tried, reason="error"):
    return AttemptView(tier, False, reason, tuple(tried), 0, NAN)


def check_error(policy, tiers=TIERS, scores=("p_hard",)) -> str:
    with pytest.raises(PolicyError) as err:
        policy.check(tiers, scores)
    return str(err.value)


class NeverDraws:
    """An rng that fails the test if a policy with a score column draws a random number."""

    def random(self):  # noqa: ANN201
        raise AssertionError("a policy with a score column drew a random number")


# --- thresholds: which requests are promoted -----------------------------------------------------
def test_share_policy_promotes_exactly_the_requests_scoring_at_or_above_its_threshold():
    """start 0.6, gain 0.1, target 0.25: after 8 decisions with 3 strong the threshold is
    0.6 + 0.1 * (3 - 0.25 * 8) = 0.7. Scores 0.71 and 0.7 go to 'hosted' (strong), 0.69 and
    0.2 to 'gpu' (weak); the frontier tier is never used; the score is read, never drawn."""
    p = TargetSharePolicy(0.25, score="p_hard", strong="hosted", weak="gpu", gain=0.1, start=0.6)
    fleet = view(routed={"hosted": 3, "gpu": 5}, decided=8)
    assert p.threshold(fleet) == pytest.approx(0.7)
    scores = {"a": 0.71, "b": 0.7 + 1e-12, "c": 0.69, "d": 0.2}
    got = {k: p.route(req(k, p_hard=s), fleet, NeverDraws()) for k, s in scores.items()}
    assert got == {"a": "hosted", "b": "hosted", "c": "gpu", "d": "gpu"}


def test_share_policy_defaults_to_the_extreme_tiers_and_starts_at_one_minus_the_share():
    """No strong/weak given: frontier and gpu; start = 1 - 0.3 = 0.7 before any decision."""
    p = TargetSharePolicy(0.3, score="p_hard")
    assert p.threshold(view()) == pytest.approx(0.7)
    got = [p.route(req(p_hard=s), view(), NeverDraws()) for s in (0.75, 0.65)]
    assert got == ["frontier", "gpu"]


def test_share_policy_without_a_score_draws_one_per_request():
    """score=None: the uniform draw is the score, so the same seed routes identically and the
    draw, not the request's scores, decides."""
    p = TargetSharePolicy(0.5, score=None, gain=1e-9)
    draws = np.random.default_rng(7).random(6)
    rng = np.random.default_rng(7)
    got = [p.route(req(p_hard=0.0), view(), rng) for _ in range(6)]
    assert got == ["frontier" if u >= 0.5 else "gpu" for u in draws]


def test_budget_policy_measures_overspend_in_minutes_of_budget():
    """$120/h is $2 per minute. At t=300 s the budget so far is $10; spending $13 is $3 over,
    1.5 minutes of budget: threshold 0.4 + 0.2 * 1.5 = 0.7. Underspending $2 lowers it to
    0.4 - 0.2 * 1 = 0.2."""
    p = BudgetPolicy(usd_per_hour=120.0, score="p_hard", gain=0.2, start=0.4)
    assert p.threshold(view(now_s=300.0, spend_usd=13.0)) == pytest.approx(0.7)
    assert p.threshold(view(now_s=300.0, spend_usd=8.0)) == pytest.approx(0.2)


def test_budget_policy_routes_by_score_against_its_threshold():
    """Threshold 0.7 (as above): 0.7 and 0.9 go to the strong tier, 0.69 to the weak one; with
    explicit tiers the frontier is never used."""
    fleet = view(now_s=300.0, spend_usd=13.0)
    p = BudgetPolicy(usd_per_hour=120.0, score="p_hard", gain=0.2, start=0.4)
    got = [p.route(req(p_hard=s), fleet, NeverDraws()) for s in (0.9, 0.7 + 1e-12, 0.69)]
    assert got == ["frontier", "frontier", "gpu"]
    named = BudgetPolicy(120.0, score="p_hard", strong="hosted", weak="gpu", gain=0.2, start=0.4)
    assert [named.route(req(p_hard=s), fleet, None) for s in (0.9, 0.1)] == ["hosted", "gpu"]


def test_budget_policy_without_a_score_draws_one():
    p = BudgetPolicy(usd_per_hour=60.0, score=None, start=0.5)
    draws = np.random.default_rng(3).random(6)
    rng = np.random.default_rng(3)
    got = [p.route(req(), view(), rng) for _ in range(6)]
    assert got == ["frontier" if u >= 0.5 else "gpu" for u in draws]


def test_threshold_falls_back_to_the_cheapest_tier_of_the_fleet():
    p = ThresholdPolicy({"frontier": 0.8}, score="difficulty")
    got = [p.route(req(difficulty=s), view(), None) for s in (0.8, 0.79)]
    assert got == ["frontier", "gpu"]


# --- spill-over ----------------------------------------------------------------------------------
def test_spillover_limits_are_strict_at_their_boundaries():
    """Queued == max_queued, wait == max_wait_s and headroom == min_headroom are not overload."""
    p = SpillOverPolicy(StaticPolicy("gpu"), max_queued=4, max_wait_s=2.0, min_headroom=0.25)
    at = view(queued={"gpu": 4}, est_wait_s={"gpu": 2.0}, headroom={"gpu": 0.25})
    assert not p.overloaded("gpu", at)
    assert p.route(req(), at, None) == "gpu"
    assert p.overloaded("gpu", view(queued={"gpu": 5}))
    assert p.overloaded("gpu", view(est_wait_s={"gpu": 2.001}))
    assert p.overloaded("gpu", view(headroom={"gpu": 0.249}))


def test_spillover_on_estimated_wait_moves_to_the_next_tier_that_is_not_waiting():
    p = SpillOverPolicy(StaticPolicy("gpu"), max_wait_s=1.0)
    assert p.route(req(), view(est_wait_s={"gpu": 0.5}), None) == "gpu"
    assert p.route(req(), view(est_wait_s={"gpu": 3.0}), None) == "hosted"
    busy = view(est_wait_s={"gpu": 3.0, "hosted": 1.5})
    assert p.route(req(), busy, None) == "frontier"


def test_spillover_wraps_around_from_the_most_expensive_tier():
    """The frontier is overloaded: the next tier after it, wrapping, is gpu."""
    p = SpillOverPolicy(StaticPolicy("frontier"), max_queued=0)
    assert p.route(req(), view(queued={"frontier": 1}), None) == "gpu"
    assert p.route(req(), view(queued={"frontier": 1, "gpu": 2}), None) == "hosted"


def test_spillover_follows_a_custom_order_and_stays_when_everything_is_overloaded():
    """Order hosted, gpu, frontier: after an overloaded gpu comes the frontier (fleet order
    would say hosted), then, wrapping, hosted."""
    p = SpillOverPolicy(StaticPolicy("gpu"), max_queued=0, order=("hosted", "gpu", "frontier"))
    assert p.route(req(), view(queued={"gpu": 1}), None) == "frontier"
    assert p.route(req(), view(queued={"gpu": 1, "frontier": 1}), None) == "hosted"
    everything = view(queued={"gpu": 1, "hosted": 1, "frontier": 1})
    assert p.route(req(), everything, None) == "gpu"


def test_spillover_from_a_tier_outside_its_order_starts_at_the_orders_head():
    fleet = FleetView.snapshot(("gpu", "a", "b", "c"), queued={"gpu": 1})
    p = SpillOverPolicy(StaticPolicy("gpu"), max_queued=0, order=("a", "b", "c"))
    assert p.route(req(), fleet, None) == "a"


def test_spillover_passes_attempts_to_its_base():
    p = SpillOverPolicy(CascadePolicy(judge_error=0.0), max_queued=3)
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    right = AttemptView("gpu", True, "", ("gpu",), 0, 1.0)
    assert p.next_tier(req(), wrong, view(), None) == "hosted"
    assert p.next_tier(req(), right, view(), None) is None
    assert SpillOverPolicy(StaticPolicy("gpu"), 3).next_tier(req(), wrong, view(), None) is None


# --- fallback ------------------------------------------------------------------------------------
def test_fallback_from_the_top_tier_tries_the_nearest_lower_tier_first():
    """Four tiers: the frontier fails -> mid2 (nearest below), then mid1, then gpu."""
    tiers = ("gpu", "mid1", "mid2", "frontier")
    fleet = FleetView.snapshot(tiers)
    p = FallbackPolicy(StaticPolicy("frontier"))
    walk, tried = [], ["frontier"]
    while (nxt := p.next_tier(req(), failed(tried[-1], tried), fleet, None)) is not None:
        walk.append(nxt)
        tried.append(nxt)
    assert walk == ["mid2", "mid1", "gpu"]


def test_fallback_from_a_middle_tier_goes_up_first_then_down_nearest_first():
    tiers = ("a", "b", "c", "d", "e")
    fleet = FleetView.snapshot(tiers)
    p = FallbackPolicy(StaticPolicy("c"))
    walk, tried = [], ["c"]
    while (nxt := p.next_tier(req(), failed(tried[-1], tried), fleet, None)) is not None:
        walk.append(nxt)
        tried.append(nxt)
    assert walk == ["d", "e", "b", "a"]


def test_fallback_follows_a_custom_order_and_only_the_chosen_failure_reasons():
    p = FallbackPolicy(StaticPolicy("hosted"), order=("gpu", "frontier"), on=("rate_limited",))
    assert p.next_tier(req(), failed("hosted", ["hosted"], "rate_limited"), view(), None) == "gpu"
    both = failed("gpu", ["hosted", "gpu"], "rate_limited")
    assert p.next_tier(req(), both, view(), None) == "frontier"
    assert p.next_tier(req(), failed("hosted", ["hosted"], "timeout"), view(), None) is None
    done = failed("frontier", ["hosted", "gpu", "frontier"], "rate_limited")
    assert p.next_tier(req(), done, view(), None) is None
    assert p.route(req(), view(), None) == "hosted"


def test_fallback_hands_completed_and_unlisted_failures_to_its_base():
    p = FallbackPolicy(CascadePolicy(judge_error=0.0), on=("outage",))
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    assert p.next_tier(req(), wrong, view(), None) == "hosted"
    assert p.next_tier(req(), failed("gpu", ["gpu"], "error"), view(), None) == "hosted"
    assert p.next_tier(req(), failed("gpu", ["gpu"], "outage"), view(), None) == "hosted"
    assert p.route(req(), view(), None) == "gpu"


def test_fallback_from_a_tier_the_fleet_does_not_list_walks_up_from_the_cheapest():
    p = FallbackPolicy(StaticPolicy("gpu"))
    assert p.next_tier(req(), failed("elsewhere", ["elsewhere"]), view(), None) == "hosted"


# --- privacy -------------------------------------------------------------------------------------
def test_privacy_lets_a_sensitive_request_escalate_to_a_private_tier():
    """gpu and hosted are private: the cascade's escalation gpu -> hosted is allowed."""
    p = PrivacyPolicy(CascadePolicy(judge_error=0.0))
    fleet = view(private_tiers={"gpu", "hosted"})
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    assert p.next_tier(req(tags=("sensitive",)), wrong, fleet, None) == "hosted"


def test_privacy_replaces_a_public_escalation_with_an_untried_private_tier():
    """gpu and frontier are private: the cascade wants hosted (public) for a sensitive request;
    it goes to the frontier instead. An untagged request escalates to hosted."""
    p = PrivacyPolicy(CascadePolicy(judge_error=0.0))
    fleet = view(private_tiers={"gpu", "frontier"})
    wrong = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    assert p.next_tier(req(tags=("sensitive",)), wrong, fleet, None) == "frontier"
    assert p.next_tier(req(), wrong, fleet, None) == "hosted"
    both = AttemptView("frontier", True, "", ("gpu", "frontier"), 0, 0.0)
    assert p.next_tier(req(tags=("sensitive",)), both, fleet, None) is None


def test_privacy_uses_its_own_tag_and_the_cheapest_private_tier():
    p = PrivacyPolicy(StaticPolicy("frontier"), tag="pii")
    fleet = view(private_tiers={"hosted", "frontier"})
    assert p.route(req(tags=("pii",)), fleet, None) == "frontier"
    assert p.route(req(tags=("pii",)), view(private_tiers={"hosted"}), None) == "hosted"
    assert p.route(req(tags=("sensitive",)), view(private_tiers={"hosted"}), None) == "frontier"
    assert str(pytest.raises(PolicyError, p.route, req(tags=("pii",)), view(), None).value) == (
        "policy 'privacy', key 'base': the fleet has no private tier for requests tagged 'pii'. "
        "mark a tier 'private: true' or add a self-hosted GPU tier"
    )


# --- cascade -------------------------------------------------------------------------------------
def test_cascade_walks_its_own_chain_and_stops_outside_it():
    p = CascadePolicy(chain=("hosted", "frontier"), accept_at=0.8, judge_error=0.0)
    assert p.route(req(), view(), None) == "hosted"
    weak = AttemptView("hosted", True, "", ("hosted",), 0, 0.79)
    good = AttemptView("hosted", True, "", ("hosted",), 0, 0.8)
    outside = AttemptView("gpu", True, "", ("gpu",), 0, 0.0)
    assert p.next_tier(req(), weak, view(), None) == "frontier"
    assert p.next_tier(req(), good, view(), None) is None
    assert p.next_tier(req(), outside, view(), None) is None


# --- random mix and task heuristic ---------------------------------------------------------------
def test_random_mix_maps_each_draw_to_its_weight_interval():
    """Weights 1, 0, 3 of a total 4: draws below 0.25 -> gpu, the rest -> frontier."""
    p = RandomMixPolicy({"gpu": 1.0, "hosted": 0.0, "frontier": 3.0})
    draws = np.random.default_rng(5).random(12)
    rng = np.random.default_rng(5)
    got = [p.route(req(), view(), rng) for _ in range(12)]
    assert got == ["gpu" if u < 0.25 else "frontier" for u in draws]


def test_task_heuristic_uses_named_tiers_and_the_middle_tier_by_default():
    """Sizes go to the named tiers (here in reverse); without names a mid-size task goes to
    the middle of five tiers."""
    named = TaskHeuristicPolicy(small="hosted", mid="frontier", frontier="gpu")
    cats = ("sentiment classification", "summarisation", "gsm8k")
    task = [RequestView("r", 0.0, 1, 1, c, "", frozenset(), {}) for c in cats]
    assert [named.route(r, view(), None) for r in task] == ["hosted", "frontier", "gpu"]
    five = FleetView.snapshot(("a", "b", "c", "d", "e"))
    assert [TaskHeuristicPolicy().route(r, five, None) for r in task] == ["a", "c", "e"]


# --- oracle --------------------------------------------------------------------------------------
def test_oracle_from_trace_gives_each_tier_its_quality_models_outcomes():
    """Tiers gpu and hosted share model 'small'; the frontier uses 'big'. Request 'a': small 1,
    big 1 -> gpu (cheapest reaching the best); 'b': small 0, big 1 -> frontier; 'c': only
    big recorded (0.5) -> frontier; an unknown request -> the cheapest tier."""
    requests = pd.DataFrame(
        {"request_id": ["a", "b", "c"], "arrival_s": [0.0, 1.0, 2.0], "prompt_tokens": [5, 5, 5]}
    )
    outcomes = pd.DataFrame(
        {
            "request_id": ["a", "a", "b", "b", "c"],
            "model": ["small", "big", "small", "big", "big"],
            "quality": [1.0, 1.0, 0.0, 1.0, 0.5],
            "output_tokens": [3, 3, 3, 3, 3],
        }
    )
    trace = Trace(requests, outcomes)
    fleet = _three_tier_fleet(quality_models=("small", "small", "big"))
    p = OraclePolicy.from_trace(trace, fleet)
    assert p.tiers == fleet.tier_names
    assert p.quality.columns.tolist() == list(fleet.tier_names)
    assert p.quality.loc["c"].isna().tolist() == [True, True, False]
    got = [p.route(req(rid), view(), None) for rid in ("a", "b", "c", "zz")]
    assert got == ["gpu", "frontier", "frontier", "gpu"]
    p.check(fleet.tier_names, ())


def test_oracle_without_tiers_uses_the_column_order():
    q = pd.DataFrame({"hosted": [0.0, 1.0], "gpu": [1.0, 1.0]}, index=["x", "y"])
    p = OraclePolicy(q)
    assert [p.route(req(r), view(), None) for r in ("x", "y", "unknown")] == [
        "gpu",
        "hosted",
        "hosted",
    ]


def _three_tier_fleet(quality_models=("small", "small", "big")):
    fleet = load_fleet()
    tiers = tuple(
        dataclasses.replace(tier, name=name, quality_model=model)
        for tier, name, model in zip(fleet.tiers, TIERS, quality_models, strict=True)
    )
    return Fleet(tiers, name="three-tier")


# --- check(): every policy names the key and the valid choices ----------------------------------
UNKNOWN = "unknown tier 'gpt4'; tiers of this fleet: gpu, hosted, frontier"
NO_P_EASY = (
    "the trace has no score column 'p_easy'; score columns: p_hard. score the trace first: "
    "simkit classifier score TRACE --bundle classifiers/routellm-static-minilm --out SCORED "
    "(or simkit.classify.score_trace, Trace.with_scores)"
)


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (StaticPolicy("gpt4"), f"policy 'static', key 'tier': {UNKNOWN}"),
        (RandomMixPolicy({}), "policy 'random', key 'weights': expected tier -> weight"),
        (RandomMixPolicy({"gpt4": 1.0}), f"policy 'random', key 'weights.gpt4': {UNKNOWN}"),
        (
            RandomMixPolicy({"gpu": -1.0}),
            "policy 'random', key 'weights.gpu': must be >= 0, got -1.0",
        ),
        (
            RandomMixPolicy({"gpu": True}),
            "policy 'random', key 'weights.gpu': must be >= 0, got True",
        ),
        (
            RandomMixPolicy({"gpu": float("inf")}),
            "policy 'random', key 'weights.gpu': must be >= 0, got inf",
        ),
        (
            RandomMixPolicy({"gpu": 0.0, "hosted": 0}),
            "policy 'random', key 'weights': all weights are zero",
        ),
        (TaskHeuristicPolicy(mid="gpt4"), f"policy 'task', key 'mid': {UNKNOWN}"),
        (TaskHeuristicPolicy(frontier="gpt4"), f"policy 'task', key 'frontier': {UNKNOWN}"),
        (
            TaskHeuristicPolicy(tasks={"poetry": "rhyming"}),
            "policy 'task', key 'tasks.poetry': unknown task 'rhyming'; tasks: classification, "
            "extraction, generation, summarisation, qa, reasoning, code",
        ),
        (
            TargetSharePolicy(1.5),
            "policy 'share', key 'target_share': must be in [0, 1], got 1.5",
        ),
        (
            TargetSharePolicy(True),
            "policy 'share', key 'target_share': must be in [0, 1], got True",
        ),
        (TargetSharePolicy(0.2, gain=0.0), "policy 'share', key 'gain': must be > 0, got 0.0"),
        (TargetSharePolicy(0.2, strong="gpt4"), f"policy 'share', key 'strong': {UNKNOWN}"),
        (TargetSharePolicy(0.2, weak="gpt4"), f"policy 'share', key 'weak': {UNKNOWN}"),
        (
            TargetSharePolicy(0.2, score="p_easy"),
            f"policy 'share', key 'score': {NO_P_EASY}",
        ),
        (BudgetPolicy(0.0), "policy 'budget', key 'usd_per_hour': must be > 0, got 0.0"),
        (BudgetPolicy(True), "policy 'budget', key 'usd_per_hour': must be > 0, got True"),
        (BudgetPolicy(1.0, strong="gpt4"), f"policy 'budget', key 'strong': {UNKNOWN}"),
        (BudgetPolicy(1.0, weak="gpt4"), f"policy 'budget', key 'weak': {UNKNOWN}"),
        (
            BudgetPolicy(1.0, score="p_easy"),
            f"policy 'budget', key 'score': {NO_P_EASY}",
        ),
        (CascadePolicy(chain=("gpu", "gpt4")), f"policy 'cascade', key 'chain': {UNKNOWN}"),
        (CascadePolicy(chain=()), "policy 'cascade', key 'chain': needs at least one tier"),
        (
            CascadePolicy(judge_error=1.5),
            "policy 'cascade', key 'judge_error': must be in [0, 1], got 1.5",
        ),
        (
            CascadePolicy(judge_error=True),
            "policy 'cascade', key 'judge_error': must be in [0, 1], got True",
        ),
        (
            SpillOverPolicy(StaticPolicy("gpu"), max_wait_s=1.0, order=("gpt4",)),
            f"policy 'spillover', key 'order': {UNKNOWN}",
        ),
        (
            SpillOverPolicy(StaticPolicy("gpt4"), max_wait_s=1.0),
            f"policy 'static', key 'tier': {UNKNOWN}",
        ),
        (
            FallbackPolicy(StaticPolicy("gpu"), order=("gpt4",)),
            f"policy 'fallback', key 'order': {UNKNOWN}",
        ),
        (
            FallbackPolicy(StaticPolicy("gpu"), on=("error", "slow")),
            "policy 'fallback', key 'on': unknown failure reason 'slow'; valid reasons: "
            "rate_limited, error, outage, timeout, too_large, context_exceeded",
        ),
        (FallbackPolicy(StaticPolicy("gpt4")), f"policy 'static', key 'tier': {UNKNOWN}"),
        (PrivacyPolicy(StaticPolicy("gpt4")), f"policy 'static', key 'tier': {UNKNOWN}"),
        (
            PrivacyPolicy("frontier"),
            "policy, key 'base': expected a policy with route(), got 'frontier'",
        ),
        (
            OraclePolicy(pd.DataFrame({"gpt4": [1.0]})),
            f"policy 'oracle', key 'quality.columns': {UNKNOWN}",
        ),
        (
            OraclePolicy(pd.DataFrame({"gpu": [1.0], "hosted": [1.0]}), tiers=("gpu", "gpt4")),
            f"policy 'oracle', key 'quality.columns': {UNKNOWN}",
        ),
        (OraclePolicy({"gpu": [1.0]}), "policy 'oracle', key 'quality': expected a DataFrame"),
    ],
)
def test_check_names_the_key_and_what_was_expected(policy, message):
    assert check_error(policy) == message


@pytest.mark.parametrize(
    "policy",
    [
        StaticPolicy("hosted"),
        RandomMixPolicy({"gpu": 0.0, "frontier": 2}),
        RandomMixPolicy({"gpu": 0.25, "frontier": 0.25}),
        TaskHeuristicPolicy(small="gpu", mid="hosted", frontier="frontier", tasks={"x": "code"}),
        TargetSharePolicy(0.0, strong="hosted", weak="gpu"),
        TargetSharePolicy(1.0, score=None),
        BudgetPolicy(0.01, strong="hosted", weak="gpu"),
        BudgetPolicy(5, score=None),
        CascadePolicy(chain=("frontier",), judge_error=1.0),
        CascadePolicy(judge_error=0),
        SpillOverPolicy(StaticPolicy("gpu"), min_headroom=0.1, order=TIERS),
        SpillOverPolicy(StaticPolicy("gpu"), max_queued=0),
        FallbackPolicy(StaticPolicy("gpu"), order=("frontier",), on=("timeout", "too_large")),
        PrivacyPolicy(ThresholdPolicy({"frontier": 0.5}), tag="pii"),
        OraclePolicy(pd.DataFrame({"gpu": [1.0], "frontier": [0.0]})),
    ],
)
def test_check_accepts_valid_parameters(policy):
    assert policy.check(TIERS, ("p_hard",)) is None


# --- wrappers hand the request, the fleet view and the rng to their base -------------------------
@dataclass(frozen=True)
class Recorder:
    """A base policy that notes what it was given and answers from the request's score."""

    calls: list = field(default_factory=list, compare=False)

    def route(self, request, fleet, rng):  # noqa: ANN001, ANN201
        self.calls.append(("route", request, fleet, rng))
        return "frontier" if request.scores["p_hard"] >= 0.5 else "hosted"

    def next_tier(self, request, attempt, fleet, rng):  # noqa: ANN001, ANN201
        self.calls.append(("next_tier", request, fleet, rng))
        return "gpu"


@pytest.mark.parametrize(
    "wrap",
    [
        lambda base: SpillOverPolicy(base, max_queued=5),
        lambda base: FallbackPolicy(base),
        lambda base: PrivacyPolicy(base),
    ],
    ids=["spillover", "fallback", "privacy"],
)
def test_wrappers_pass_request_fleet_and_rng_to_their_base(wrap):
    base = Recorder()
    p = wrap(base)
    r, fleet, rng = req(p_hard=0.7), view(private_tiers={"gpu"}), np.random.default_rng(0)
    assert p.route(r, fleet, rng) == "frontier"
    ok = AttemptView("frontier", True, "", ("frontier",), 0, 1.0)
    assert p.next_tier(r, ok, fleet, rng) == "gpu"
    assert [(c[0], c[1] is r, c[2] is fleet, c[3] is rng) for c in base.calls] == [
        ("route", True, True, True),
        ("next_tier", True, True, True),
    ]


def test_cascade_verifier_draws_its_errors_from_the_given_rng():
    """judge_error 0.5: the verdicts follow the rng's draws (an error when u < 0.5)."""
    p = CascadePolicy(judge_error=0.5)
    right = AttemptView("gpu", True, "", ("gpu",), 0, 1.0)
    draws = np.random.default_rng(11).random(8)
    rng = np.random.default_rng(11)
    got = [p.next_tier(req(), right, view(), rng) for _ in range(8)]
    assert got == ["hosted" if u < 0.5 else None for u in draws]


def test_a_failed_attempt_is_never_accepted_whatever_its_recorded_quality():
    rng = np.random.default_rng(0)
    assert not AttemptView("gpu", False, "error", ("gpu",), 0, 1.0).verify(0.5, 0.0, rng)
    assert not AttemptView("gpu", True, "", ("gpu",), 0, NAN).verify(0.5, 0.0, rng)


# --- exact thresholds ----------------------------------------------------------------------------
def test_a_score_equal_to_the_threshold_goes_to_the_strong_tier():
    """Nothing decided, nothing spent: the thresholds are exactly their starts."""
    share = TargetSharePolicy(0.2, score="p_hard", start=0.625)
    assert share.threshold(view()) == 0.625
    assert share.route(req(p_hard=0.625), view(), None) == "frontier"
    budget = BudgetPolicy(60.0, score="p_hard", start=0.375)
    assert budget.threshold(view()) == 0.375
    assert budget.route(req(p_hard=0.375), view(), None) == "frontier"


# --- random mix, task heuristic, oracle details --------------------------------------------------
def test_random_mix_with_three_non_zero_weights_uses_cumulative_intervals():
    """Weights 2, 1, 1: u * 4 in [0, 2) -> gpu, [2, 3) -> hosted, [3, 4) -> frontier."""
    p = RandomMixPolicy({"gpu": 2.0, "hosted": 1.0, "frontier": 1.0})
    draws = np.random.default_rng(9).random(40) * 4
    rng = np.random.default_rng(9)
    got = [p.route(req(), view(), rng) for _ in range(40)]
    expected = ["gpu" if u < 2 else "hosted" if u < 3 else "frontier" for u in draws]
    assert got == expected and {"gpu", "hosted", "frontier"} == set(got)


def test_task_heuristic_reads_the_source_and_source_overrides():
    p = TaskHeuristicPolicy()
    gsm = RequestView("r", 0.0, 1, 1, "", "gsm8k", frozenset(), {})
    assert p.route(gsm, view(), None) == "frontier"
    mine = RequestView("r", 0.0, 1, 1, "misc", "my-tickets", frozenset(), {})
    assert (
        TaskHeuristicPolicy(tasks={"my-tickets": "classification"}).route(mine, view(), None)
        == "gpu"
    )
    assert task_of("misc", "my-tickets") == "qa"
    assert task_of("misc", "my-tickets", {"other": "code"}) == "qa"


def test_oracle_ranks_tiers_in_the_given_cost_order_not_the_column_order():
    """Columns frontier, gpu; cost order gpu, frontier: a tie goes to gpu, an unknown request
    to gpu (the cheapest in cost order)."""
    q = pd.DataFrame({"frontier": [1.0, 1.0], "gpu": [1.0, 0.0]}, index=["tie", "hard"])
    p = OraclePolicy(q, tiers=("gpu", "frontier"))
    assert [p.route(req(r), view(), None) for r in ("tie", "hard", "unknown")] == [
        "gpu",
        "frontier",
        "gpu",
    ]


def test_oracle_from_trace_leaves_a_tier_without_outcomes_empty():
    requests = pd.DataFrame({"request_id": ["a"], "arrival_s": [0.0], "prompt_tokens": [5]})
    outcomes = pd.DataFrame(
        {"request_id": ["a"], "model": ["small"], "quality": [1.0], "output_tokens": [3]}
    )
    fleet = _three_tier_fleet(quality_models=("small", "small", "unrecorded"))
    p = OraclePolicy.from_trace(Trace(requests, outcomes), fleet)
    assert p.quality.loc["a"].tolist()[:2] == [1.0, 1.0]
    assert np.isnan(p.quality.loc["a", "frontier"])
    assert p.route(req("a"), view(), None) == "gpu"


# --- check() messages of thresholds and spill-over ------------------------------------------------
@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (ThresholdPolicy({}), "policy 'threshold', key 'cutoffs': expected tier -> minimum score"),
        (
            ThresholdPolicy([("frontier", 0.5)]),
            "policy 'threshold', key 'cutoffs': expected tier -> minimum score",
        ),
        (ThresholdPolicy({"gpt4": 0.5}), f"policy 'threshold', key 'cutoffs.gpt4': {UNKNOWN}"),
        (
            ThresholdPolicy({"frontier": True}),
            "policy 'threshold', key 'cutoffs.frontier': expected a number, got True",
        ),
        (
            ThresholdPolicy({"frontier": "high"}),
            "policy 'threshold', key 'cutoffs.frontier': expected a number, got 'high'",
        ),
        (
            ThresholdPolicy({"frontier": float("nan")}),
            "policy 'threshold', key 'cutoffs.frontier': expected a number, got nan",
        ),
        (
            ThresholdPolicy({"frontier": 0.5, "hosted": 0.5}),
            "policy 'threshold', key 'cutoffs.hosted': thresholds out of order: 'hosted' has "
            "0.5 but the stronger tier 'frontier' before it has 0.5; list tiers strongest first "
            "with strictly decreasing cut-offs",
        ),
        (
            SpillOverPolicy(StaticPolicy("gpu")),
            "policy 'spillover', key 'max_queued': no overload limit set. set at least one of "
            "max_queued, max_wait_s, min_headroom",
        ),
        (
            SpillOverPolicy(ThresholdPolicy({"frontier": 0.5}, score="p_easy"), max_queued=1),
            f"policy 'threshold', key 'score': {NO_P_EASY}",
        ),
    ],
)
def test_threshold_and_spillover_checks_name_the_key(policy, message):
    assert check_error(policy) == message
