"""Score-threshold policies: fixed cut-offs over N tiers, and cut-offs adjusted online to hold
a frontier share or a dollar budget.

Scores are columns of the scored trace (e.g. ``p_hard``, the probability that the cheap tier
is not good enough); a policy whose score is missing fails in ``check`` with the available
score names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from simkit.errors import PolicyError
from simkit.policies.base import FleetView, RequestBatch, RequestView, need_score, need_tier

__all__ = ["BudgetPolicy", "TargetSharePolicy", "ThresholdPolicy"]


@dataclass(frozen=True)
class ThresholdPolicy:
    """Send a request to the strongest tier whose cut-off its score reaches, else the cheapest.

    Parameters
    ----------
    cutoffs : Mapping[str, float]
        Tier -> minimum score, strongest tier first; cut-offs must decrease strictly in that
        order (``{'frontier': 0.7, 'hosted': 0.4}``: ``p_hard >= 0.7`` -> frontier, ``>= 0.4``
        -> hosted, else the cheapest tier). A tier may be left out.
    score : str
        The score column, default ``'p_hard'``.

    Examples
    --------
    >>> from simkit.policies import FleetView, RequestView, ThresholdPolicy
    >>> p = ThresholdPolicy({"frontier": 0.7})
    >>> req = RequestView("r1", 0.0, 120, 256, "math", "gsm8k", frozenset(), {"p_hard": 0.9})
    >>> p.route(req, FleetView.snapshot(("gpu", "frontier")), None)
    'frontier'
    """

    name: ClassVar[str] = "threshold"
    reads_live_state: ClassVar[bool] = False
    cutoffs: Mapping[str, float]
    score: str = "p_hard"

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        if not isinstance(self.cutoffs, Mapping) or not self.cutoffs:
            raise PolicyError(
                f"policy '{self.name}'", key="cutoffs", problem="expected tier -> minimum score"
            )
        previous = None
        for tier, cut in self.cutoffs.items():
            need_tier(self.name, f"cutoffs.{tier}", tier, tiers)
            if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not np.isfinite(cut):
                raise PolicyError(
                    f"policy '{self.name}'",
                    key=f"cutoffs.{tier}",
                    problem=f"expected a number, got {cut!r}",
                )
            if previous is not None and not cut < previous[1]:
                raise PolicyError(
                    f"policy '{self.name}'",
                    key=f"cutoffs.{tier}",
                    problem=f"thresholds out of order: {tier!r} has {cut} but the stronger tier "
                    f"{previous[0]!r} before it has {previous[1]}; list tiers strongest first "
                    "with strictly decreasing cut-offs",
                )
            previous = (tier, cut)
        need_score(self.name, self.score, score_names)

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        s = request.scores[self.score]
        for tier, cut in self.cutoffs.items():
            if s >= cut:
                return tier
        return fleet.tiers[0]

    def route_batch(
        self, requests: RequestBatch, tiers: tuple[str, ...], rng: np.random.Generator
    ) -> list[str]:
        s = np.asarray(requests.scores[self.score], dtype="float64")
        names = [tiers[0], *self.cutoffs]
        pick = np.zeros(len(s), dtype=np.intp)
        # strongest first: a request keeps the first cut-off it reaches (NaN reaches none)
        for j, cut in reversed(list(enumerate(self.cutoffs.values(), start=1))):
            pick[s >= cut] = j
        return np.asarray(names)[pick].tolist()


def _score_or_draw(request: RequestView, score: str | None, rng: np.random.Generator) -> float:
    return request.scores[score] if score is not None else rng.random()


@dataclass(frozen=True)
class TargetSharePolicy:
    """Hold a target share of requests on the strong tier by adjusting the threshold online.

    The threshold follows a Robbins–Monro (integral) controller computed from the run's own
    counts, so the policy keeps no state: after n decisions of which ``k`` went strong,
    ``threshold = start + gain * (k - target_share * n)``. Too many strong calls raise the
    threshold, too few lower it; the realised share converges to the target.

    Parameters
    ----------
    target_share : float
        Wanted fraction of requests on ``strong`` (0–1).
    score : str or None
        Score column (higher = harder). ``None`` draws a uniform score per request (a random
        router that holds the share).
    strong, weak : str, optional
        Default: the most expensive and the cheapest tier.
    gain : float
        Threshold step per request of excess strong calls.
    start : float, optional
        Initial threshold; default ``1 - target_share`` (right for uniform scores).
    """

    name: ClassVar[str] = "share"
    reads_live_state: ClassVar[bool] = False
    target_share: float
    score: str | None = "p_hard"
    strong: str | None = None
    weak: str | None = None
    gain: float = 0.01
    start: float | None = None

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        t = self.target_share
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1:
            raise PolicyError(
                f"policy '{self.name}'", key="target_share", problem=f"must be in [0, 1], got {t!r}"
            )
        if not isinstance(self.gain, (int, float)) or not self.gain > 0:
            raise PolicyError(
                f"policy '{self.name}'", key="gain", problem=f"must be > 0, got {self.gain!r}"
            )
        need_tier(self.name, "strong", self.strong, tiers)
        need_tier(self.name, "weak", self.weak, tiers)
        if self.score is not None:
            need_score(self.name, self.score, score_names)

    def threshold(self, fleet: FleetView) -> float:
        """The threshold in force for the next decision."""
        strong = self.strong or fleet.tiers[-1]
        start = 1.0 - self.target_share if self.start is None else self.start
        return start + self.gain * (fleet.routed[strong] - self.target_share * fleet.decided)

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        s = _score_or_draw(request, self.score, rng)
        if s >= self.threshold(fleet):
            return self.strong or fleet.tiers[-1]
        return self.weak or fleet.tiers[0]


@dataclass(frozen=True)
class BudgetPolicy:
    """Spend at most ``usd_per_hour`` on per-token charges by adjusting the threshold online.

    ``threshold = start + gain * (spend_usd - usd_per_hour * now_s / 3600) / usd_per_minute``:
    the overspend, measured in minutes of budget, raises the threshold; underspend lowers it.
    Spend counts finished attempts' per-token charges (fixed GPU rental is not controllable by
    routing and is excluded).

    Parameters
    ----------
    usd_per_hour : float
        Budget rate for per-token spend.
    score : str or None
        Score column (higher = harder), or ``None`` for a uniform draw.
    strong, weak : str, optional
        Default: the most expensive and the cheapest tier.
    gain : float
        Threshold change per minute of budget over- or underspent.
    start : float
        Initial threshold.
    """

    name: ClassVar[str] = "budget"
    usd_per_hour: float
    score: str | None = "p_hard"
    strong: str | None = None
    weak: str | None = None
    gain: float = 0.05
    start: float = 0.5

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        b = self.usd_per_hour
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not b > 0:
            raise PolicyError(
                f"policy '{self.name}'", key="usd_per_hour", problem=f"must be > 0, got {b!r}"
            )
        need_tier(self.name, "strong", self.strong, tiers)
        need_tier(self.name, "weak", self.weak, tiers)
        if self.score is not None:
            need_score(self.name, self.score, score_names)

    def threshold(self, fleet: FleetView) -> float:
        """The threshold in force for the next decision."""
        per_minute = self.usd_per_hour / 60.0
        over = fleet.spend_usd - self.usd_per_hour * fleet.now_s / 3600.0
        return self.start + self.gain * over / per_minute

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        s = _score_or_draw(request, self.score, rng)
        if s >= self.threshold(fleet):
            return self.strong or fleet.tiers[-1]
        return self.weak or fleet.tiers[0]
