"""Route one prompt (or an OpenAI-style message list) with a loaded bundle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

from simkit.classify.bundle import Bundle, load_bundle
from simkit.errors import ClassifierError

__all__ = ["Decision", "Router", "prompt_from_messages"]


def prompt_from_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text a router scores in an OpenAI-style ``messages`` list: the last user turn.

    ``content`` may be a string or a list of parts, whose ``{"type": "text"}`` parts are
    joined with newlines (images and other parts carry no text to score).

    Raises
    ------
    ClassifierError
        If ``messages`` is not a list of role/content mappings or has no user text.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ClassifierError(
            f"messages must be a list of {{'role': ..., 'content': ...}} mappings, got "
            f"{type(messages).__name__}"
        )
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m:
            raise ClassifierError(f"messages[{i}]: expected a mapping with 'role' and 'content'")
    for m in reversed(messages):
        if m["role"] != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, Sequence):
            text = "\n".join(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, Mapping) and part.get("type") == "text"
            )
        else:
            text = ""
        if text.strip():
            return text
    raise ClassifierError(
        f"messages: no user message with text among {len(messages)} messages; the router "
        "scores the last user turn"
    )


@dataclass(frozen=True)
class Decision:
    """One routing decision."""

    tier: str
    model: str
    p_hard: float
    threshold: float


class Router:
    """Score prompts with a bundle and send each to a tier.

    Two tiers: the strongest tier iff ``p_hard >= threshold``, else the cheapest. A bundle
    threshold may instead give ``cutoffs`` (tier -> minimum ``p_hard``, strongest first), as
    the simulator's threshold policy does, for more than two tiers.

    Parameters
    ----------
    bundle : Bundle
    threshold : str or float, optional
        A named threshold of the bundle, or a ``p_hard`` value; default: the bundle's default.
    """

    def __init__(self, bundle: Bundle, threshold: str | float | None = None) -> None:
        self.bundle = bundle
        self.threshold = threshold
        strongest = bundle.tiers[-1]
        if isinstance(threshold, (int, float)) and not isinstance(threshold, bool):
            if not 0.0 <= float(threshold) <= 1.0:  # NaN fails too
                raise ClassifierError(
                    f"threshold must be a p_hard value in [0, 1] or one of the bundle's named "
                    f"thresholds ({', '.join(sorted(bundle.manifest['thresholds']))}), got "
                    f"{threshold!r}"
                )
            self._cutoffs = {strongest: float(threshold)}
        else:
            name = bundle.manifest["default_threshold"] if threshold is None else threshold
            bundle.threshold(name)  # raises listing the valid names
            entry = bundle.manifest["thresholds"][name]
            cutoffs = entry.get("cutoffs") or {strongest: float(entry["p_hard"])}
            unknown = [t for t in cutoffs if t not in bundle.tiers]
            if unknown:
                raise ClassifierError(
                    f"threshold {name!r} names tier {unknown[0]!r}; tiers: {list(bundle.tiers)}"
                )
            self._cutoffs = {t: float(v) for t, v in cutoffs.items()}

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
        return prompt_from_messages(prompt)

    def score(self, prompt: str | Sequence[Mapping[str, Any]]) -> float:
        """``p_hard`` of one prompt or message list."""
        return float(self.bundle.p_hard([self._text(prompt)])[0])

    def decide(self, prompt: str | Sequence[Mapping[str, Any]]) -> Decision:
        """Score ``prompt`` and pick its tier."""
        p = self.score(prompt)
        for tier, cut in self._cutoffs.items():
            if p >= cut:
                return Decision(tier, self._model(tier), p, cut)
        cheapest = self.bundle.tiers[0]
        return Decision(cheapest, self._model(cheapest), p, min(self._cutoffs.values()))

    def route(self, prompt: str | Sequence[Mapping[str, Any]]) -> str:
        """The tier for ``prompt``."""
        return self.decide(prompt).tier

    def _model(self, tier: str) -> str:
        return self.bundle.models[self.bundle.tiers.index(tier)]
