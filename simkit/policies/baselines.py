"""Baseline policies: one tier, a random mix, a task-type heuristic, and the oracle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from simkit.errors import PolicyError
from simkit.policies.base import FleetView, RequestBatch, RequestView, need_tier

if TYPE_CHECKING:  # pandas is imported where the oracle needs it: the router loads policies
    import pandas as pd

__all__ = ["OraclePolicy", "RandomMixPolicy", "StaticPolicy", "TaskHeuristicPolicy"]


@dataclass(frozen=True)
class StaticPolicy:
    """Send every request to one tier (the all-frontier / all-cheap baselines).

    Parameters
    ----------
    tier : str
        The tier name.

    Examples
    --------
    >>> from simkit.policies import StaticPolicy, FleetView
    >>> StaticPolicy("frontier").route(None, FleetView.snapshot(("cheap", "frontier")), None)
    'frontier'
    """

    name: ClassVar[str] = "static"
    reads_live_state: ClassVar[bool] = False
    tier: str

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        need_tier(self.name, "tier", self.tier, tiers)

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        return self.tier

    def route_batch(
        self, requests: RequestBatch, tiers: tuple[str, ...], rng: np.random.Generator
    ) -> list[str]:
        return [self.tier] * len(requests.request_id)


@dataclass(frozen=True)
class RandomMixPolicy:
    """Send each request to a tier drawn at random with fixed weights (RouteLLM's random
    router generalised to N tiers).

    Parameters
    ----------
    weights : Mapping[str, float]
        Tier -> relative weight (>= 0, not all zero); normalised.
    """

    name: ClassVar[str] = "random"
    reads_live_state: ClassVar[bool] = False
    weights: Mapping[str, float]

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise PolicyError(
                f"policy '{self.name}'", key="weights", problem="expected tier -> weight"
            )
        for tier, w in self.weights.items():
            need_tier(self.name, f"weights.{tier}", tier, tiers)
            if (
                not isinstance(w, (int, float))
                or isinstance(w, bool)
                or not np.isfinite(w)
                or w < 0
            ):
                raise PolicyError(
                    f"policy '{self.name}'",
                    key=f"weights.{tier}",
                    problem=f"must be >= 0, got {w!r}",
                )
        if sum(self.weights.values()) <= 0:
            raise PolicyError(
                f"policy '{self.name}'", key="weights", problem="all weights are zero"
            )

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        total = 0.0
        for w in self.weights.values():
            total += w
        u = rng.random() * total
        acc = 0.0
        last = ""
        for tier, w in self.weights.items():
            acc += w
            last = tier
            if u < acc:
                return tier
        return last

    def route_batch(
        self, requests: RequestBatch, tiers: tuple[str, ...], rng: np.random.Generator
    ) -> list[str]:
        """:meth:`route` for every request: one uniform each, the same sums in the same order
        (the first tier whose running sum exceeds the draw, else the last; the last sum is
        ``route``'s total, added up in the same order)."""
        names = list(self.weights)
        acc = 0.0
        sums = []
        for w in self.weights.values():
            acc += w
            sums.append(acc)
        u = rng.random(len(requests.request_id)) * acc
        pick = np.searchsorted(np.asarray(sums), u, side="right")
        return np.asarray(names)[np.minimum(pick, len(names) - 1)].tolist()


#: Task type -> keywords looked for (as substrings) in a request's category and source, in
#: this order; the first task with a hit wins, else 'qa'. MMLU subjects and GSM8K map through
#: these: mathematics/physics/chemistry/statistics/logic/econometrics/accounting -> reasoning,
#: computer_science/security/machine_learning -> code, the rest of MMLU -> qa.
TASK_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "code": (
        "code",
        "coding",
        "programming",
        "computer_science",
        "computer_security",
        "machine_learning",
        "mbpp",
        "humaneval",
        "sql",
    ),
    "reasoning": (
        "reasoning",
        "math",
        "gsm8k",
        "algebra",
        "physics",
        "chemistry",
        "statistics",
        "logic",
        "logical",
        "econometrics",
        "accounting",
    ),
    "summarisation": ("summar",),
    "extraction": ("extract", "ner", "parse"),
    "classification": ("classif", "sentiment", "label", "moderation"),
    "generation": ("generat", "writing", "creative", "chat", "conv", "roleplay", "translation"),
    "qa": ("qa", "question", "mmlu", "trivia"),
}

#: Task type -> which tier size handles it (the issue's heuristic).
TASK_SIZE: Mapping[str, str] = {
    "classification": "small",
    "extraction": "small",
    "generation": "mid",
    "summarisation": "mid",
    "qa": "mid",
    "reasoning": "frontier",
    "code": "frontier",
}


def task_of(category: str, source: str, overrides: Mapping[str, str] | None = None) -> str:
    """The task type of a request from its category and source (see :data:`TASK_KEYWORDS`)."""
    if overrides:
        if category in overrides:
            return overrides[category]
        if source in overrides:
            return overrides[source]
    text = f"{category} {source}".lower()
    for task, words in TASK_KEYWORDS.items():
        if any(w in text for w in words):
            return task
    return "qa"


@dataclass(frozen=True)
class TaskHeuristicPolicy:
    """Route by task type: classification/extraction -> small tier, generation/summarisation/QA
    -> mid tier, reasoning/code -> frontier tier.

    Parameters
    ----------
    small, mid, frontier : str, optional
        Tier names for the three sizes; default: the cheapest, a middle one, the most expensive
        tier of the fleet (resolved at decision time from ``FleetView.tiers``).
    tasks : Mapping[str, str], optional
        Category or source -> task type, overriding the keyword table :data:`TASK_KEYWORDS`.
    """

    name: ClassVar[str] = "task"
    reads_live_state: ClassVar[bool] = False
    small: str | None = None
    mid: str | None = None
    frontier: str | None = None
    tasks: Mapping[str, str] | None = None

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        for key in ("small", "mid", "frontier"):
            need_tier(self.name, key, getattr(self, key), tiers)
        for cat, task in (self.tasks or {}).items():
            if task not in TASK_SIZE:
                raise PolicyError(
                    f"policy '{self.name}'",
                    key=f"tasks.{cat}",
                    problem=f"unknown task {task!r}; tasks: {', '.join(TASK_SIZE)}",
                )

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        return self._tier(request.category, request.source, fleet.tiers)

    def route_batch(
        self, requests: RequestBatch, tiers: tuple[str, ...], rng: np.random.Generator
    ) -> list[str]:
        seen: dict[tuple[str, str], str] = {}
        out = []
        for pair in zip(requests.category, requests.source, strict=True):
            tier = seen.get(pair)
            if tier is None:
                tier = seen[pair] = self._tier(pair[0], pair[1], tiers)
            out.append(tier)
        return out

    def _tier(self, category: str, source: str, tiers: tuple[str, ...]) -> str:
        size = TASK_SIZE[task_of(category, source, self.tasks)]
        if size == "small":
            return self.small or tiers[0]
        if size == "frontier":
            return self.frontier or tiers[-1]
        return self.mid or tiers[len(tiers) // 2]


@dataclass(frozen=True, eq=False)
class OraclePolicy:
    """The cheapest tier whose recorded quality equals the best available for the request.

    The only policy that sees outcomes, and only because it is handed the quality matrix
    explicitly. Requests without any outcome go to the cheapest tier.

    Parameters
    ----------
    quality : DataFrame
        Index = request ids, columns = tier names, values = quality in [0, 1] (NaN = no
        outcome). Build it with :meth:`from_trace`.
    tiers : sequence of str, optional
        Cost order, cheapest first; default: the column order.
    """

    name: ClassVar[str] = "oracle"
    reads_live_state: ClassVar[bool] = False
    quality: pd.DataFrame = field(repr=False)
    tiers: Sequence[str] | None = None
    _best: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_trace(cls, trace: Any, fleet: Any) -> OraclePolicy:
        """The quality matrix of ``trace`` with one column per tier of ``fleet``."""
        import pandas as pd

        models = [t.quality_model for t in fleet.tiers]
        have = [m for m in dict.fromkeys(models) if m in set(trace.models)]
        q = trace.quality_matrix(have)
        cols = {
            t.name: (q[t.quality_model] if t.quality_model in q else np.nan) for t in fleet.tiers
        }
        frame = pd.DataFrame(cols, index=q.index)
        return cls(quality=frame, tiers=fleet.tier_names)

    def _table(self) -> dict[str, str]:
        if not self._best:
            order = list(self.tiers) if self.tiers is not None else list(self.quality.columns)
            q = self.quality[order].to_numpy(dtype="float64")
            filled = np.where(np.isnan(q), -np.inf, q)
            best = filled.max(axis=1, keepdims=True)
            pick = np.argmax(filled >= best, axis=1)  # first (cheapest) tier reaching the best
            names = np.asarray(order, dtype=object)[pick]
            self._best.update(zip(self.quality.index.astype(str), names.tolist(), strict=True))
        return self._best

    def check(self, tiers: tuple[str, ...], score_names: tuple[str, ...]) -> None:
        import pandas as pd

        if not isinstance(self.quality, pd.DataFrame):
            raise PolicyError(
                f"policy '{self.name}'", key="quality", problem="expected a DataFrame"
            )
        for t in self.tiers if self.tiers is not None else self.quality.columns:
            need_tier(self.name, "quality.columns", str(t), tiers)

    def route(self, request: RequestView, fleet: FleetView, rng: np.random.Generator) -> str:
        tier = self._table().get(request.request_id)
        if tier is None:
            return self._cheapest()
        return tier

    def route_batch(
        self, requests: RequestBatch, tiers: tuple[str, ...], rng: np.random.Generator
    ) -> list[str]:
        best = self._table()
        cheapest = self._cheapest()
        return [best.get(i, cheapest) for i in requests.request_id]

    def _cheapest(self) -> str:
        return self.tiers[0] if self.tiers is not None else str(self.quality.columns[0])
