"""Training labels from the per-model outcomes of any :class:`~simkit.trace.Trace`.

Two tiers (a weak and a strong model):

* :func:`gain_labels` - the routing target: +1 where the strong model is better by more than
  ``margin``, -1 where the weak one is, 0 where they tie. A score that ranks requests by the
  expected gain ``P(+1) - P(-1)`` is what the RouteLLM curve rewards.
* :func:`weak_good_enough` - the classic binary label: 1 where the weak model's quality is
  within ``margin`` of the strong one's (for graded scores such as judge ratings).

N tiers (cheapest first):

* :func:`quality_targets` - the quality matrix, for per-model quality prediction;
* :func:`ordinal_labels` - the index of the cheapest tier within ``margin`` of the best.

Requests without an outcome for one of the models are never labelled 0 silently: they are
left out of training, and the :class:`Labels` result says how many and which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simkit.errors import ClassifierError
from simkit.trace import Trace

__all__ = [
    "Labels",
    "check_two_classes",
    "gain_labels",
    "ordinal_labels",
    "quality_targets",
    "weak_good_enough",
]


@dataclass(frozen=True)
class Labels:
    """Labels for the requests of a trace.

    Attributes
    ----------
    y : ndarray
        One label per request (float, NaN where ``usable`` is False).
    usable : ndarray of bool
        Requests with every needed outcome; only these can be trained on.
    request_ids : ndarray of str
        The trace's request ids, in order.
    description : str
        What the label means, e.g. ``"gain of 'gpt-4' over 'mixtral' (margin 0)"``.
    """

    y: np.ndarray
    usable: np.ndarray
    request_ids: np.ndarray
    description: str

    @property
    def n_missing(self) -> int:
        """Requests left out for lack of an outcome."""
        return int((~self.usable).sum())


def _pair_quality(trace: Trace, weak: str, strong: str) -> tuple[np.ndarray, np.ndarray]:
    if weak == strong:
        raise ClassifierError(f"weak and strong model are the same ({weak!r}); name two models")
    q = trace.quality_matrix([weak, strong]).to_numpy(dtype=np.float64)
    return q[:, 0], q[:, 1]


def _check_margin(margin: float) -> float:
    if not np.isfinite(margin) or margin < 0 or margin >= 1:
        raise ClassifierError(f"margin must be in [0, 1) (quality units), got {margin!r}")
    return float(margin)


def gain_labels(trace: Trace, *, weak: str, strong: str, margin: float = 0.0) -> Labels:
    """+1 / 0 / -1: is the strong model better than the weak one on each request?

    Parameters
    ----------
    trace : Trace
        Needs outcomes for both models.
    weak, strong : str
        Model names as in ``trace.models``.
    margin : float, default 0
        Quality difference (in [0, 1] units) below which the two count as tied.

    Raises
    ------
    TraceError
        If the trace has no outcomes for ``weak`` or ``strong`` (lists the models it has).
    """
    margin = _check_margin(margin)
    w, s = _pair_quality(trace, weak, strong)
    usable = np.isfinite(w) & np.isfinite(s)
    diff = np.where(usable, s - w, 0.0)
    y = np.where(diff > margin, 1.0, np.where(diff < -margin, -1.0, 0.0))
    y[~usable] = np.nan
    return Labels(
        y=y,
        usable=usable,
        request_ids=trace.requests["request_id"].to_numpy(dtype=str),
        description=f"gain of {strong!r} over {weak!r} (+1/0/-1, margin {margin:g})",
    )


def weak_good_enough(trace: Trace, *, weak: str, strong: str, margin: float = 0.0) -> Labels:
    """1 where ``weak``'s quality is at least ``strong``'s minus ``margin``, else 0."""
    margin = _check_margin(margin)
    w, s = _pair_quality(trace, weak, strong)
    usable = np.isfinite(w) & np.isfinite(s)
    y = np.where(usable, (w >= s - margin - 1e-12).astype(float), np.nan)
    return Labels(
        y=y,
        usable=usable,
        request_ids=trace.requests["request_id"].to_numpy(dtype=str),
        description=f"{weak!r} good enough vs {strong!r} (1/0, margin {margin:g})",
    )


def quality_targets(trace: Trace, models: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Quality matrix ``(n, len(models))`` and the mask of rows with every model's outcome."""
    if not models:
        raise ClassifierError("name at least one model")
    q = trace.quality_matrix(list(models)).to_numpy(dtype=np.float64)
    return q, np.isfinite(q).all(axis=1)


def ordinal_labels(trace: Trace, tiers: Sequence[str], *, margin: float = 0.0) -> Labels:
    """Index of the cheapest model (``tiers`` is cheapest first) within ``margin`` of the best.

    A request every model fails gets 0 (no tier helps, so the cheapest is good enough).
    """
    if len(tiers) < 2:
        raise ClassifierError(f"ordinal labels need at least two tiers, got {list(tiers)}")
    margin = _check_margin(margin)
    q, usable = quality_targets(trace, tiers)
    best = np.nanmax(np.where(usable[:, None], q, 0.0), axis=1)
    ok = q >= best[:, None] - margin - 1e-12
    y = np.where(usable, np.argmax(ok, axis=1).astype(float), np.nan)
    return Labels(
        y=y,
        usable=usable,
        request_ids=trace.requests["request_id"].to_numpy(dtype=str),
        description=f"cheapest tier within {margin:g} of the best among {list(tiers)}",
    )


def check_two_classes(y: np.ndarray, what: str = "labels") -> None:
    """Raise if ``y`` (finite entries) holds fewer than two classes: nothing could be learnt."""
    vals = np.unique(y[np.isfinite(y)])
    if vals.size < 2:
        only = "no usable rows" if vals.size == 0 else f"every row is {vals[0]:g}"
        raise ClassifierError(
            f"{what} have a single class ({only}, {int(np.isfinite(y).sum())} rows); a "
            "classifier needs both outcomes. Use more or more varied requests, or a margin "
            "that separates them"
        )
