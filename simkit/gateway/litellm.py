"""The bundle as LiteLLM's classifier: it names the model group each request goes to.

LiteLLM (pinned in the extra ``simkit[litellm]``) documents a *custom classifier* for its
complexity auto-router: a ``model_list`` entry whose model is ``auto_router/complexity_router``
with ``complexity_router_config.classifier_type: custom`` calls a ``ClassifierPlugin``'s
``async classify(context) -> tier name`` for every request, and sends the request to the model
group its ``tiers`` mapping gives that tier. :class:`SimkitClassifier` is such a plugin: it
scores the request's messages with the bundle (the text
:func:`simkit.trace.messages.messages_to_text` gives, as the gateway and the training logs do)
and asks the simulator's policy objects for the tier: the bundle's
:class:`~simkit.policies.ThresholdPolicy`, inside a :class:`~simkit.policies.PrivacyPolicy`
that keeps requests whose metadata tags them sensitive on the private tiers.

In Python, with ``litellm.Router``::

    from litellm import Router
    from simkit.gateway.litellm import SimkitClassifier

    classifier = SimkitClassifier("classifiers/routellm-static-minilm", private_tiers=["cheap"])
    router = Router(model_list=[
        {"model_name": "cheap-group", "litellm_params": {"model": "openai/mixtral", ...}},
        {"model_name": "strong-group", "litellm_params": {"model": "openai/gpt-4o", ...}},
        classifier.model_list_entry("router", {"cheap": "cheap-group", "strong": "strong-group"}),
    ])
    await router.acompletion(model="router", messages=[...])

On LiteLLM's proxy, the same entry goes into ``config.yaml`` with the plugin as a dotted path
to an instance (a module the proxy can import, e.g. ``simkit_router.py`` beside the config
holding ``classifier = SimkitClassifier("path/to/bundle")``)::

    model_list:
      - model_name: router
        litellm_params:
          model: auto_router/complexity_router
          complexity_router_config:
            classifier_type: custom
            classifier_plugin: simkit_router.classifier
            tier_definitions:
              - {name: cheap, description: "simkit bundle tier cheap"}
              - {name: strong, description: "simkit bundle tier strong"}
            fallback_tier: strong
            tiers: {cheap: cheap-group, strong: strong-group}

(:meth:`SimkitClassifier.complexity_router_config` returns this block for a bundle, with the
plugin object in place of its dotted path.) If the
plugin fails or times out (``classifier_plugin_timeout_ms``, default 3 s), LiteLLM routes to
``fallback_tier``; this module's default is the strongest tier, so a failure never sends a hard
request to a weak model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from typing import Any

import numpy as np

from simkit.errors import MessagesError, SpecError
from simkit.gateway.scoring import make_scorer
from simkit.policies import FleetView, PrivacyPolicy, RequestView
from simkit.router import Router
from simkit.trace.messages import messages_to_text

__all__ = ["SimkitClassifier"]


class SimkitClassifier:
    """A LiteLLM ``ClassifierPlugin`` that routes with a simkit bundle.

    Parameters
    ----------
    bundle : path-like or Router
        A bundle directory (loaded and verified here) or a loaded :class:`~simkit.router.Router`.
    threshold : str or float, optional
        A named threshold of the bundle or a ``p_hard`` value (default: the bundle's default).
    private_tiers : iterable of str
        Tiers that may serve requests tagged ``tag``; a tagged request never leaves them.
    tag : str
        The constraint tag (default ``'sensitive'``).
    metadata_key : str
        Key of the request metadata holding its tags (a list, a comma-separated string, or
        ``true`` for the tag itself).

    Attributes
    ----------
    router : Router
    policy : PrivacyPolicy
        The simulator's privacy policy around the bundle's threshold policy.
    decisions : int
        Requests classified so far.
    """

    def __init__(
        self,
        bundle: str | PathLike[str] | Router,
        *,
        threshold: str | float | None = None,
        private_tiers: Iterable[str] = (),
        tag: str = "sensitive",
        metadata_key: str = "tags",
    ) -> None:
        router = bundle if isinstance(bundle, Router) else Router.load(bundle, threshold)
        if isinstance(bundle, Router) and threshold is not None:
            router = Router(bundle.bundle, threshold)
        self.router = router
        self.tiers = tuple(router.bundle.tiers)
        private = frozenset(private_tiers)
        unknown = sorted(private - set(self.tiers))
        if unknown:
            raise SpecError(
                "SimkitClassifier",
                key="private_tiers",
                problem=f"unknown tier {unknown[0]!r}; the bundle's tiers: {', '.join(self.tiers)}",
            )
        self.tag = tag
        self.metadata_key = metadata_key
        self.policy = PrivacyPolicy(router.policy, tag=tag)
        self.policy.check(self.tiers, ("p_hard",))
        self._fleet = FleetView.snapshot(self.tiers, private_tiers=private)
        self._rng = np.random.default_rng(0)  # the threshold and privacy policies draw nothing
        self._scorer = make_scorer(router)
        self._started = False
        self.decisions = 0

    def __deepcopy__(self, memo: dict) -> SimkitClassifier:
        # LiteLLM deep-copies its model list; a plugin is a shared service holding a loaded
        # bundle (and read-only views), so every copy is this one object
        return self

    def __copy__(self) -> SimkitClassifier:
        return self

    def _tags(self, metadata: Any) -> frozenset[str]:
        if not isinstance(metadata, Mapping):
            return frozenset()
        value = metadata.get(self.metadata_key)
        if value is True:
            return frozenset({self.tag})
        if isinstance(value, str):
            return frozenset(t.strip() for t in value.split(",") if t.strip())
        if isinstance(value, (list, tuple)):
            return frozenset(str(t).strip() for t in value)
        return frozenset()

    async def classify(self, context: Any) -> str | None:
        """The tier for one request (LiteLLM's ``ClassifierPlugin`` interface).

        Returns None (LiteLLM then uses ``fallback_tier``) when the messages hold no user text
        to score.
        """
        if not self._started:
            await self._scorer.start()
            self._started = True
        try:
            text = messages_to_text(list(context.structured_messages))
        except MessagesError:
            return None
        p_hard = await self._scorer.score(text)
        tags = self._tags(getattr(context, "metadata", None))
        request = RequestView("litellm", 0.0, -1, -1, "", "litellm", tags, {"p_hard": p_hard})
        self.decisions += 1
        return self.policy.route(request, self._fleet, self._rng)

    def complexity_router_config(
        self, groups: Mapping[str, str], *, fallback_tier: str | None = None
    ) -> dict[str, Any]:
        """LiteLLM's ``complexity_router_config`` for this bundle.

        Parameters
        ----------
        groups : mapping
            Bundle tier -> the LiteLLM model group (``model_name``) that serves it; every tier
            of the bundle needs one.
        fallback_tier : str, optional
            Where LiteLLM sends a request the plugin could not classify (default: the
            strongest tier).
        """
        missing = [t for t in self.tiers if t not in groups]
        extra = sorted(set(groups) - set(self.tiers))
        if missing or extra:
            problem = (
                f"no model group for the bundle's tier {missing[0]!r}"
                if missing
                else f"the bundle has no tier {extra[0]!r}"
            )
            raise SpecError(
                "SimkitClassifier",
                key="groups",
                problem=f"{problem}; the bundle's tiers: {', '.join(self.tiers)}",
            )
        fallback = self.tiers[-1] if fallback_tier is None else fallback_tier
        if fallback not in self.tiers:
            raise SpecError(
                "SimkitClassifier",
                key="fallback_tier",
                problem=f"unknown tier {fallback!r}; the bundle's tiers: {', '.join(self.tiers)}",
            )
        models = dict(zip(self.router.bundle.tiers, self.router.bundle.models, strict=True))
        return {
            "classifier_type": "custom",
            "classifier_plugin": self,
            "tier_definitions": [
                {"name": t, "description": f"simkit bundle tier {t} (trained on {models[t]})"}
                for t in self.tiers
            ],
            "fallback_tier": fallback,
            "tiers": {t: groups[t] for t in self.tiers},
        }

    def model_list_entry(
        self, name: str, groups: Mapping[str, str], *, fallback_tier: str | None = None
    ) -> dict[str, Any]:
        """A ``litellm.Router`` ``model_list`` entry: the model name clients send to be routed."""
        return {
            "model_name": name,
            "litellm_params": {
                "model": "auto_router/complexity_router",
                "complexity_router_config": self.complexity_router_config(
                    groups, fallback_tier=fallback_tier
                ),
            },
        }
