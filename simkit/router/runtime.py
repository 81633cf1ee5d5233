"""Route one prompt (or an OpenAI-style message list) with a loaded bundle.

The router only scores: the decision is the simulator's own policy object. A bundle's named
threshold (or a ``p_hard`` value) becomes a :class:`~simkit.policies.ThresholdPolicy`
(:func:`bundle_policy`), and :meth:`Router.decide` asks it with the prompt's score, exactly as
:func:`simkit.sim.simulate` asks it with the score column of a trace, so production and
simulation cannot disagree. The text of a message list is
:func:`simkit.trace.messages.messages_to_text`'s, the text the training logs were loaded with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from simkit.classify.bundle import Bundle, load_bundle
from simkit.errors import ClassifierError
from simkit.policies.base import FleetView, RequestView
from simkit.policies.thresholds import ThresholdPolicy
from simkit.trace.messages import messages_to_text

__all__ = ["Decision", "Router", "bundle_policy", "fleet_tier_map", "prompt_from_messages"]

#: The score a bundle gives and its threshold policies read.
SCORE = "p_hard"

#: The same function as :func:`simkit.trace.messages.messages_to_text` (the name this module
#: exported before there was one convention for training and serving).
prompt_from_messages = messages_to_text


def fleet_tier_map(bundle_tiers: Sequence[str], fleet_tiers: Sequence[str]) -> dict[str, str]:
    """Bundle tier -> fleet tier: which tier of a fleet each of a bundle's tiers stands for.

    A bundle with as many tiers as the fleet maps in order (cheapest to strongest on both
    sides); a two-tier bundle maps its cheap tier to the fleet's cheapest and its strong tier
    to the fleet's strongest (the frontier), whatever lies between.

    Raises
    ------
    ClassifierError
        Any other pair of sizes, naming both lists.
    """
    bundle_tiers, fleet_tiers = list(bundle_tiers), list(fleet_tiers)
    if len(bundle_tiers) == len(fleet_tiers):
        return dict(zip(bundle_tiers, fleet_tiers, strict=True))
    if len(bundle_tiers) == 2 and fleet_tiers:
        return {bundle_tiers[0]: fleet_tiers[0], bundle_tiers[-1]: fleet_tiers[-1]}
    raise ClassifierError(
        f"the bundle routes to {len(bundle_tiers)} tiers ({', '.join(bundle_tiers)}) and the "
        f"fleet has {len(fleet_tiers)} ({', '.join(fleet_tiers)}); give a fleet with "
        f"{len(bundle_tiers)} tiers"
    )


def bundle_policy(bundle: Bundle, threshold: str | float | None = None) -> ThresholdPolicy:
    """The simulator policy a bundle's threshold stands for.

    Parameters
    ----------
    bundle : Bundle
    threshold : str or float, optional
        A named threshold of the bundle, or a ``p_hard`` value for the strongest tier;
        default: the bundle's default threshold. A named threshold gives either one
        ``p_hard`` (the strongest tier at or above it, else the cheapest) or ``cutoffs``
        (tier -> minimum ``p_hard``, strongest first) for more than two tiers.

    Returns
    -------
    ThresholdPolicy
        Over score ``p_hard``, checked against the bundle's tiers.

    Raises
    ------
    ClassifierError
        An unknown threshold name (listing the bundle's), a number outside [0, 1], or
        cut-offs naming a tier the bundle does not have.
    PolicyError
        Cut-offs that are not finite or not strictly decreasing, strongest tier first.
    """
    strongest = bundle.tiers[-1]
    if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
        if not 0.0 <= float(threshold) <= 1.0:  # NaN fails too
            raise ClassifierError(
                f"threshold must be a p_hard value in [0, 1] or one of the bundle's named "
                f"thresholds ({', '.join(sorted(bundle.manifest['thresholds']))}), got "
                f"{threshold!r}"
            )
        cutoffs = {strongest: float(threshold)}
    else:
        name = bundle.manifest["default_threshold"] if threshold is None else threshold
        if name not in bundle.manifest["thresholds"]:
            bundle.threshold(name)  # raises listing the valid names
        entry = bundle.manifest["thresholds"][name]
        given = entry.get("cutoffs") or {strongest: float(entry["p_hard"])}
        unknown = [t for t in given if t not in bundle.tiers]
        if unknown:
            raise ClassifierError(
                f"threshold {name!r} names tier {unknown[0]!r}; tiers: {list(bundle.tiers)}"
            )
        cutoffs = {t: float(v) for t, v in given.items()}
    policy = ThresholdPolicy(cutoffs, score=SCORE)
    policy.check(bundle.tiers, (SCORE,))
    return policy


@dataclass(frozen=True)
class Decision:
    """One routing decision.

    Attributes
    ----------
    tier, model : str
        The chosen tier and the model the bundle maps it to.
    p_hard : float
        The prompt's score.
    threshold : float
        The chosen tier's cut-off; for the cheapest tier, the lowest cut-off it fell below.
    """

    tier: str
    model: str
    p_hard: float
    threshold: float


class Router:
    """Score prompts with a bundle and send each where the bundle's threshold policy says.

    Two tiers: the strongest tier iff ``p_hard >= threshold``, else the cheapest. A bundle
    threshold may instead give ``cutoffs`` (tier -> minimum ``p_hard``, strongest first) for
    more than two tiers. The decision is :attr:`policy`'s, the object ``simulate`` would use.

    Parameters
    ----------
    bundle : Bundle
    threshold : str or float, optional
        A named threshold of the bundle, or a ``p_hard`` value; default: the bundle's default.

    Attributes
    ----------
    policy : ThresholdPolicy
        :func:`bundle_policy` of ``bundle`` and ``threshold``.
    """

    def __init__(self, bundle: Bundle, threshold: str | float | None = None) -> None:
        self.bundle = bundle
        self.threshold = threshold
        self.policy = bundle_policy(bundle, threshold)
        # a threshold policy reads neither the fleet's state nor random draws
        self._fleet = FleetView.snapshot(bundle.tiers)
        self._rng = np.random.default_rng(0)

    @classmethod
    def load(
        cls,
        path: str | PathLike[str],
        threshold: str | float | None = None,
        *,
        sha256: str | None = None,
    ) -> Router:
        """Load (and verify) the bundle at ``path``.

        ``sha256`` pins the whole bundle: its digest (the sha256 of its ``SHA256SUMS``, see
        :func:`simkit.classify.bundle.load_bundle`) must equal it. The checksums prove the
        files are intact, not who wrote them; the pin proves it is the bundle you were given.
        """
        return cls(load_bundle(path, sha256=sha256), threshold)

    def _text(self, prompt: str | Sequence[Mapping[str, Any]]) -> str:
        if isinstance(prompt, str):
            return prompt
        return messages_to_text(prompt)

    def score(self, prompt: str | Sequence[Mapping[str, Any]]) -> float:
        """``p_hard`` of one prompt or message list."""
        return float(self.bundle.p_hard([self._text(prompt)])[0])

    def decide(self, prompt: str | Sequence[Mapping[str, Any]]) -> Decision:
        """Score ``prompt`` and ask :attr:`policy` for its tier."""
        p = self.score(prompt)
        request = RequestView("", 0.0, -1, -1, "", "", frozenset(), {SCORE: p})
        tier = self.policy.route(request, self._fleet, self._rng)
        cutoffs = self.policy.cutoffs
        cut = cutoffs[tier] if tier in cutoffs else min(cutoffs.values())
        return Decision(tier, self._model(tier), p, cut)

    def route(self, prompt: str | Sequence[Mapping[str, Any]]) -> str:
        """The tier for ``prompt``."""
        return self.decide(prompt).tier

    def _model(self, tier: str) -> str:
        return self.bundle.models[self.bundle.tiers.index(tier)]
