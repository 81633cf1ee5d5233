"""Thresholds on a routing score, calibrated on calibration data and checked on held-out data.

* :class:`ShareCalibrator` - the threshold that sends ``target_share`` of requests to the
  strong tier (RouteLLM's calibration: a quantile of the scores).
* :class:`BudgetCalibrator` - the threshold that keeps the mean cost per request within a
  budget, given each request's cost on the cheap and on the strong tier.

A request goes to the strong tier iff ``score >= threshold_``; both cut between distinct scores
by :mod:`simkit.shares`'s rule (at most the target; a tie across the cut stays on the cheap
side), the rule every share calibration in simkit uses. :func:`realised_share` tells
what share a threshold actually gives on other traffic: the number to check before trusting
a threshold on next week's requests. :func:`share_threshold` and :func:`budget_threshold` turn
a fit into the entry a bundle stores, under the names :func:`share_threshold_name` and
:func:`budget_threshold_name` give it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from simkit.errors import ClassifierError
from simkit.shares import count_for_share, threshold_for_count

__all__ = [
    "BudgetCalibrator",
    "ShareCalibrator",
    "budget_threshold",
    "budget_threshold_name",
    "check_share",
    "realised_share",
    "share_threshold",
    "share_threshold_name",
]


def check_share(share: float) -> float:
    """``share`` as a float in [0, 1], or a :class:`ClassifierError`."""
    try:
        value = float(share)
    except (TypeError, ValueError):
        raise ClassifierError(f"share must be a number in [0, 1], got {share!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ClassifierError(
            f"share must be in [0, 1] (a fraction, not a percentage), got {share!r}"
        )
    return value


def _scores(scores: ArrayLike, what: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ClassifierError(f"{what}: need at least one score to calibrate on")
    bad = ~np.isfinite(s)
    if bad.any():
        raise ClassifierError(
            f"{what}, row {int(np.flatnonzero(bad)[0]) + 1}: score is not finite "
            f"({int(bad.sum())} such rows)"
        )
    return s


def realised_share(scores: ArrayLike, threshold: float) -> float:
    """Share of ``scores`` at or above ``threshold`` (the strong-tier share it gives)."""
    s = _scores(scores)
    return float((s >= threshold).mean())


class ShareCalibrator(BaseEstimator):
    """Score threshold that sends ``target_share`` of requests to the strong tier.

    Parameters
    ----------
    target_share : float, default 0.2
        Fraction in [0, 1] of calibration requests to send to the strong tier: at most
        ``floor(target_share * n)`` of them, a tie across the cut going to the cheap side
        (:func:`simkit.shares.threshold_for_share`).

    Attributes
    ----------
    threshold_ : float
        Route to the strong tier iff ``score >= threshold_``.
    share_ : float
        Share realised on the calibration scores.
    """

    def __init__(self, target_share: float = 0.2) -> None:
        self.target_share = target_share

    def fit(self, scores: ArrayLike, y: Any = None) -> ShareCalibrator:
        """Choose the threshold on the calibration ``scores``."""
        share = check_share(self.target_share)
        s = _scores(scores, "calibration scores")
        self.threshold_ = threshold_for_count(s, count_for_share(share, s.size))
        self.share_ = realised_share(s, self.threshold_)
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        """1 = strong tier, 0 = cheap tier."""
        check_is_fitted(self, "threshold_")
        return (_scores(scores) >= self.threshold_).astype(int)


class BudgetCalibrator(BaseEstimator):
    """Score threshold that keeps the mean cost per request within ``budget_usd``.

    Requests are upgraded to the strong tier in order of decreasing score while the mean
    cost per request stays within the budget.

    Parameters
    ----------
    budget_usd : float
        Allowed mean cost per request, in US dollars.

    Attributes
    ----------
    threshold_ : float
    share_ : float
        Strong-tier share realised on the calibration data.
    cost_usd_ : float
        Mean cost per request realised on the calibration data.
    """

    def __init__(self, budget_usd: float = 0.01) -> None:
        self.budget_usd = budget_usd

    def fit(
        self, scores: ArrayLike, cheap_cost_usd: ArrayLike, strong_cost_usd: ArrayLike
    ) -> BudgetCalibrator:
        """Choose the threshold on calibration scores and per-request costs of each tier."""
        s = _scores(scores, "calibration scores")
        cheap = np.broadcast_to(np.asarray(cheap_cost_usd, dtype=np.float64), s.shape)
        strong = np.broadcast_to(np.asarray(strong_cost_usd, dtype=np.float64), s.shape)
        for name, c in (("cheap_cost_usd", cheap), ("strong_cost_usd", strong)):
            bad = ~np.isfinite(c) | (c < 0)
            if bad.any():
                raise ClassifierError(
                    f"{name}, row {int(np.flatnonzero(bad)[0]) + 1}: cost must be finite and "
                    f">= 0 ({int(bad.sum())} such rows)"
                )
        budget = float(self.budget_usd)
        if not np.isfinite(budget) or budget < 0:
            raise ClassifierError(f"budget_usd must be >= 0, got {self.budget_usd!r}")
        floor = cheap.mean()
        if budget < floor:
            raise ClassifierError(
                f"budget_usd {budget:g} is below the cost of sending everything to the cheap "
                f"tier ({floor:g} per request); raise the budget"
            )
        order = np.argsort(-s, kind="stable")
        extra = np.cumsum((strong - cheap)[order]) / s.size
        fits = np.flatnonzero(floor + extra <= budget + 1e-15)
        k = 0 if fits.size == 0 else int(fits[-1]) + 1
        # only cut between distinct scores
        self.threshold_ = threshold_for_count(s, k)
        chosen = s >= self.threshold_
        self.share_ = float(chosen.mean())
        self.cost_usd_ = float(np.where(chosen, strong, cheap).mean())
        return self

    def predict(self, scores: ArrayLike) -> np.ndarray:
        """1 = strong tier, 0 = cheap tier."""
        check_is_fitted(self, "threshold_")
        return (_scores(scores) >= self.threshold_).astype(int)


def share_threshold_name(share: float) -> str:
    """Name of the threshold calibrated for a strong share, e.g. ``'share_0.20'``.

    Training (:func:`~simkit.classify.train.train_bundle`) and re-calibration
    (:func:`~simkit.classify.recalibrate.recalibrate`, ``simkit classifier export``) name it
    alike. Bundles exported before both did may hold ``'calibrated_share_0.20'``: a threshold
    name is a key of the bundle's manifest, so such bundles load and route by their own names.
    """
    return f"share_{share:.2f}"


def budget_threshold_name(budget_usd: float) -> str:
    """Name of the threshold calibrated for a mean cost per request, e.g. ``'budget_0.002_usd'``."""
    return f"budget_{budget_usd:g}_usd"


def share_threshold(scores: ArrayLike, share: float, **about: Any) -> dict[str, Any]:
    """A bundle threshold entry that sends ``share`` of ``scores`` to the strong tier.

    Parameters
    ----------
    scores : array-like of float
        Calibration ``p_hard`` scores.
    share : float
        Target strong share in [0, 1] (see :class:`ShareCalibrator`).
    **about
        Stored in the entry as given (e.g. ``calibrated_on``).

    Returns
    -------
    dict
        ``{"p_hard": threshold, "target_share": share, "calibration_share": realised, **about}``.
    """
    cal = ShareCalibrator(share).fit(scores)
    return {
        "p_hard": cal.threshold_,
        "target_share": float(share),
        "calibration_share": cal.share_,
        **about,
    }


def budget_threshold(
    scores: ArrayLike,
    budget_usd: float,
    cheap_cost_usd: ArrayLike,
    strong_cost_usd: ArrayLike,
    **about: Any,
) -> dict[str, Any]:
    """A bundle threshold entry that keeps the mean cost per request within ``budget_usd``.

    Parameters
    ----------
    scores : array-like of float
        Calibration ``p_hard`` scores.
    budget_usd : float
        Allowed mean cost per request (see :class:`BudgetCalibrator`).
    cheap_cost_usd, strong_cost_usd : float or array-like
        Cost of one request on each tier (one value, or one per score).
    **about
        Stored in the entry as given (e.g. ``calibrated_on``).

    Returns
    -------
    dict
        ``{"p_hard", "budget_usd", "calibration_share", "calibration_cost_usd", **about}``.
    """
    cal = BudgetCalibrator(budget_usd).fit(scores, cheap_cost_usd, strong_cost_usd)
    return {
        "p_hard": cal.threshold_,
        "budget_usd": float(budget_usd),
        "calibration_share": cal.share_,
        "calibration_cost_usd": cal.cost_usd_,
        **about,
    }
