"""The router runtime: a prompt or an OpenAI-style message list in, a tier out."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.train import train_bundle
from simkit.errors import ClassifierError, PolicyError
from simkit.policies import ThresholdPolicy
from simkit.router import Router, bundle_policy, prompt_from_messages
from simkit.trace.messages import messages_to_text


@pytest.fixture(scope="module")
def router_bundle(tmp_path_factory, tiny_model, static_cache, small_trace):
    est = ComplexityClassifier(StaticEmbedder(str(tiny_model), cache_dir=static_cache), cv=3)
    return train_bundle(small_trace, tmp_path_factory.mktemp("rb") / "b", estimator=est).path


def test_messages_are_scored_on_the_last_user_turn(router_bundle):
    r = Router.load(router_bundle)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me a joke."},
        {"role": "assistant", "content": "No."},
        {"role": "user", "content": [{"type": "text", "text": "How many primes are below 30?"},
                                     {"type": "image_url", "image_url": {"url": "x"}}]},
    ]  # fmt: skip
    assert messages_to_text(messages) == "How many primes are below 30?"
    assert r.score(messages) == r.score("How many primes are below 30?")


def test_threshold_decides_the_tier_and_a_numeric_threshold_overrides(router_bundle):
    r = Router.load(router_bundle)
    p = r.score("Compute the integral of x^2 from 0 to 3.")
    assert (
        Router.load(router_bundle, threshold=p).route("Compute the integral of x^2 from 0 to 3.")
        == "strong"
    )
    d = Router.load(router_bundle, threshold=p + 1e-9).decide(
        "Compute the integral of x^2 from 0 to 3."
    )
    assert (d.tier, d.model) == ("cheap", "mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert d.p_hard == p


def test_named_thresholds_are_checked_and_listed(router_bundle):
    with pytest.raises(
        ClassifierError, match=r"unknown threshold 'tight'; this bundle has: share_0.10, share_0.20"
    ):
        Router.load(router_bundle, threshold="tight")


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "assistant", "content": "hi"}], "no user message with text among 1 messages"),
        ({"role": "user", "content": "hi"}, "expected a non-empty list of messages .* got dict"),
        ([{"content": "x"}], r"column 'messages\[0\]': each message needs a 'role' and 'content'"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "no user message with text"),
    ],
)
def test_bad_message_lists_are_refused(router_bundle, messages, message):
    """The router's message errors are the loader's (simkit.trace.messages), still
    ClassifierErrors for a router user."""
    assert prompt_from_messages is messages_to_text
    with pytest.raises(ClassifierError, match=message):
        Router.load(router_bundle).route(messages)


def test_an_empty_prompt_is_refused(router_bundle):
    with pytest.raises(ClassifierError, match="row 1: empty prompt"):
        Router.load(router_bundle).route("")


def test_the_shipped_default_bundle_verifies_and_routes(small_trace):
    """classifiers/routellm-static-minilm loads (checksums verified) and routes real prompts;
    on its own training benchmarks the calibrated 20 % threshold sends about 20 % to strong."""
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "classifiers" / "routellm-static-minilm"
    router = Router.load(path)
    assert router.bundle.tiers == ("cheap", "strong")
    assert router.bundle.manifest["default_threshold"] == "share_0.20"
    prompts = [str(p) for p in small_trace.requests["prompt"]]
    share = sum(router.route(p) == "strong" for p in prompts) / len(prompts)
    assert 0.05 < share < 0.45  # 262 prompts drawn from the 15,344 it was calibrated on


def test_the_readme_gateway_snippet_runs_as_written(capsys, monkeypatch):
    """The README's Python example is executed verbatim against the shipped bundle."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    blocks = re.findall(r"```python\n(.*?)```", (repo / "README.md").read_text("utf-8"), re.S)
    (snippet,) = [b for b in blocks if "Router.load" in b]
    monkeypatch.chdir(repo)
    exec(compile(snippet, "README.md", "exec"), {})
    tier, model, p = capsys.readouterr().out.split()
    assert tier in ("cheap", "strong") and model in (
        "mistralai/Mixtral-8x7B-Instruct-v0.1", "gpt-4-1106-preview"
    )  # fmt: skip
    assert 0.0 <= float(p.removeprefix("p_hard=")) <= 1.0


def test_the_router_decides_with_the_simulators_threshold_policy(router_bundle):
    """A named threshold, a number and the default all become a ThresholdPolicy over p_hard;
    the decision is that policy's."""
    from simkit.classify.bundle import load_bundle

    bundle = load_bundle(router_bundle)
    r = Router(bundle, threshold="share_0.10")
    cut = bundle.threshold("share_0.10")
    assert r.policy == ThresholdPolicy({"strong": cut}, score="p_hard")
    assert bundle_policy(bundle) == ThresholdPolicy({"strong": bundle.threshold()})
    assert bundle_policy(bundle, 0.4) == ThresholdPolicy({"strong": 0.4})
    prompt = "Compute the integral of x^2 from 0 to 3."
    d = r.decide(prompt)
    assert d.tier == ("strong" if d.p_hard >= cut else "cheap") and d.threshold == cut
    bundle.manifest["thresholds"]["nan"] = {"p_hard": float("nan")}
    with pytest.raises(PolicyError, match=r"key 'cutoffs.strong': expected a number, got nan"):
        Router(bundle, threshold="nan")


def test_three_tier_cutoffs_of_a_bundle_route_like_the_policy(router_bundle, tmp_path):
    """Cut-offs over three tiers, strongest first: each prompt lands where ThresholdPolicy
    sends its score (the middle tier included), and a bad order is refused."""
    from simkit.classify.bundle import load_bundle

    bundle = load_bundle(router_bundle)
    bundle.tiers = ("cheap", "mid", "strong")
    bundle.models = ("m-small", "m-mid", "m-large")
    prompts = [
        "hi",
        "What is 2 + 2?",
        "Compute the integral of x^2 from 0 to 3.",
        "Prove that there are infinitely many primes of the form 4k + 3.",
    ]
    scores = [Router(bundle, 0.5).score(p) for p in prompts]
    lo, hi = sorted(scores)[2], sorted(scores)[3]  # two prompts below lo, one in the middle
    bundle.manifest["thresholds"]["three"] = {"cutoffs": {"strong": hi, "mid": lo}}
    r = Router(bundle, "three")
    assert r.policy == ThresholdPolicy({"strong": hi, "mid": lo})
    tiers = [r.route(p) for p in prompts]
    expected = ["strong" if s >= hi else "mid" if s >= lo else "cheap" for s in scores]
    assert tiers == expected and sorted(tiers) == ["cheap", "cheap", "mid", "strong"]
    assert r.decide(prompts[int(np.argmin(scores))]).threshold == lo
    bundle.manifest["thresholds"]["bad"] = {"cutoffs": {"strong": lo, "mid": hi}}
    with pytest.raises(PolicyError, match="key 'cutoffs.mid': thresholds out of order"):
        Router(bundle, "bad")
    bundle.manifest["thresholds"]["ghost"] = {"cutoffs": {"huge": 0.9}}
    with pytest.raises(ClassifierError, match="threshold 'ghost' names tier 'huge'"):
        Router(bundle, "ghost")
