"""The router runtime: load a classifier bundle, score a prompt, pick a tier.

Imported by name (``import simkit.router``). With a static-embedding bundle (the default) it
needs numpy and ``tokenizers`` only: no torch, no scikit-learn.
"""

from simkit.router.runtime import Decision, Router, prompt_from_messages

__all__ = ["Decision", "Router", "prompt_from_messages"]
