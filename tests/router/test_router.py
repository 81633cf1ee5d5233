"""The router runtime: a prompt or an OpenAI-style message list in, a tier out."""

from __future__ import annotations

import pytest

from simkit.classify.embed import StaticEmbedder
from simkit.classify.model import ComplexityClassifier
from simkit.classify.train import train_bundle
from simkit.errors import ClassifierError
from simkit.router import Router, prompt_from_messages


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
    assert prompt_from_messages(messages) == "How many primes are below 30?"
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
        ("hello", "messages must be a list of"),
        ([{"content": "x"}], r"messages\[0\]: expected a mapping with 'role' and 'content'"),
        ([{"role": "user", "content": [{"type": "image_url"}]}], "no user message with text"),
    ],
)
def test_bad_message_lists_are_refused(messages, message):
    with pytest.raises(ClassifierError, match=message):
        prompt_from_messages(messages)


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
