"""The router runtime: load a classifier bundle, score a prompt, pick a tier.

Imported by name (``import simkit.router``). With a static-embedding bundle (the default) it
needs numpy and ``tokenizers`` only: no torch, no scikit-learn. It decides with the
simulator's :class:`~simkit.policies.ThresholdPolicy` (:func:`bundle_policy`).
"""

from simkit.router.runtime import (
    Decision,
    Router,
    bundle_policy,
    fleet_tier_map,
    prompt_from_messages,
)

__all__ = ["Decision", "Router", "bundle_policy", "fleet_tier_map", "prompt_from_messages"]
