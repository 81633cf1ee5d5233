"""The LiteLLM plugin in-process: ``litellm.Router``'s complexity auto-router asks the bundle
(through :class:`SimkitClassifier`) for each request's model group; the loopback stub answers."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
from pathlib import Path

import pytest

from simkit.errors import SpecError
from simkit.live.stub import StubConfig, StubModel, StubServer
from tests.gateway.conftest import DEFAULT_BUNDLE, MODELS, TIERS

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("litellm") is None, reason="the extra simkit[litellm] (CI has it)"
)


@pytest.fixture(autouse=True)
def _no_cost_map_download(monkeypatch):
    """LiteLLM fetches its model price map at run time unless told to use its packaged copy."""
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def test_the_pinned_litellm_is_installed_and_carries_no_pth_file():
    """The extra pins LiteLLM exactly (releases 1.82.7/1.82.8 ran a stealer from a .pth file)."""
    dist = importlib.metadata.distribution("litellm")
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'"litellm=={dist.version}"' in pyproject
    assert dist.version not in ("1.82.7", "1.82.8")
    assert not [f for f in dist.files or () if str(f).endswith(".pth")]


def _groups(stub_url: str) -> list[dict]:
    return [
        {"model_name": f"{t}-group",
         "litellm_params": {"model": f"openai/{MODELS[t]}", "api_base": stub_url,
                            "api_key": "unused"}}
        for t in TIERS
    ]  # fmt: skip


def test_prompts_land_on_the_model_group_of_the_tier_the_bundle_chooses(bundle3, arena_prompts):
    import litellm  # imported after the fixture set LITELLM_LOCAL_MODEL_COST_MAP

    from simkit.gateway.litellm import SimkitClassifier

    prompts = arena_prompts[:24]
    classifier = SimkitClassifier(bundle3, private_tiers=["small"])
    expected = [classifier.router.decide(p).tier for p in prompts]
    assert set(expected) == set(TIERS)
    stub = StubConfig(models=tuple(StubModel(MODELS[t]) for t in TIERS))
    with StubServer(stub) as server:
        entry = classifier.model_list_entry("router", {t: f"{t}-group" for t in TIERS})
        router = litellm.Router(model_list=[*_groups(server.base_url), entry])

        async def send() -> tuple[list[str], list[str]]:
            plain = [
                await router.acompletion(model="router", messages=[{"role": "user", "content": p}])
                for p in prompts
            ]
            tagged = [
                await router.acompletion(
                    model="router",
                    messages=[{"role": "user", "content": p}],
                    metadata={"tags": ["sensitive"]},
                )
                for p, t in zip(prompts, expected, strict=True)
                if t == "frontier"
            ]
            return [r.model for r in plain], [r.model for r in tagged]

        plain, tagged = asyncio.run(send())
    assert plain == [MODELS[t] for t in expected]
    assert tagged and tagged == [MODELS["small"]] * len(tagged)  # sensitive stays private
    assert classifier.decisions == len(prompts) + len(tagged)


def test_a_numeric_threshold_and_the_config_block_for_the_proxy():
    from simkit.gateway.litellm import SimkitClassifier

    everything_strong = SimkitClassifier(DEFAULT_BUNDLE, threshold=0.0)
    block = everything_strong.complexity_router_config({"cheap": "c", "strong": "s"})
    assert block["classifier_type"] == "custom" and block["classifier_plugin"] is everything_strong
    assert [d["name"] for d in block["tier_definitions"]] == ["cheap", "strong"]
    assert block["fallback_tier"] == "strong" and block["tiers"] == {"cheap": "c", "strong": "s"}

    class Context:
        structured_messages = [{"role": "user", "content": "hi"}]
        metadata = {}

    assert asyncio.run(everything_strong.classify(Context())) == "strong"
    Context.structured_messages = [{"role": "system", "content": "no user text"}]
    assert asyncio.run(everything_strong.classify(Context())) is None  # LiteLLM's fallback_tier
    with pytest.raises(SpecError, match="no model group for the bundle's tier 'strong'"):
        everything_strong.complexity_router_config({"cheap": "c"})
    with pytest.raises(SpecError, match="key 'private_tiers': unknown tier 'gpu'"):
        SimkitClassifier(DEFAULT_BUNDLE, private_tiers=["gpu"])
