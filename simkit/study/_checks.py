"""Argument checks shared by the study's parts; errors name the key and what was expected."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from simkit.errors import SpecError

__all__ = ["check_upper_tiers", "positive"]


def positive(value: float | None, *, key: str, allow_zero: bool = False) -> float | None:
    """``value`` as a float, checked finite and > 0 (>= 0 with ``allow_zero``); None passes."""
    if value is None:
        return None
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise SpecError(
            "study",
            key=key,
            problem=f"got {value!r}; expected a finite number {'>=' if allow_zero else '>'} 0",
        )
    return v


def check_upper_tiers(tiers: Sequence[str], by_tier: Mapping[str, float], key: str) -> None:
    """Every key of ``by_tier`` must be a tier above the cheapest (those take cut-offs)."""
    bad = sorted(set(by_tier) - set(tiers[1:]))
    if bad:
        raise SpecError(
            "study",
            key=f"{key}.{bad[0]}",
            problem=f"not a tier above the cheapest; tiers: {', '.join(tiers[1:])}",
        )
