"""Re-calibrate a bundle's threshold on your own traffic (``simkit classifier export``).

A bundle's thresholds were calibrated on its training requests; the share a threshold realises
depends on the traffic it meets. :func:`recalibrate` scores the prompts of a trace with the
bundle and calibrates one new threshold on those scores, to a target strong share or to a mean
cost per request, named as training names it (``share_0.20``, ``budget_0.002_usd``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any

from simkit.classify.bundle import Bundle
from simkit.classify.calibrate import (
    budget_threshold,
    budget_threshold_name,
    share_threshold,
    share_threshold_name,
)
from simkit.classify.scoring import score_trace
from simkit.errors import ClassifierError
from simkit.trace import Trace

__all__ = ["Recalibration", "recalibrate"]


@dataclass(frozen=True)
class Recalibration:
    """What :func:`recalibrate` calibrated.

    Attributes
    ----------
    name : str
        The new threshold's name, e.g. ``'share_0.20'``; it replaces an entry of that name.
    thresholds : mapping
        The bundle's thresholds with the new one added (or replaced), for
        :func:`~simkit.classify.bundle.rebundle`.
    """

    name: str
    thresholds: Mapping[str, Mapping[str, Any]]

    @property
    def entry(self) -> Mapping[str, Any]:
        """The new threshold: ``p_hard``, the target, what it realised on the trace."""
        return self.thresholds[self.name]


def recalibrate(
    bundle: Bundle,
    trace: Trace,
    *,
    share: float | None = None,
    budget_usd: float | None = None,
    cheap_cost_usd: float | None = None,
    strong_cost_usd: float | None = None,
    calibrated_on: str | PathLike[str] | None = None,
    cache_dir: str | PathLike[str] | None = None,
) -> Recalibration:
    """Calibrate a threshold of ``bundle`` on the prompts of ``trace``.

    Parameters
    ----------
    bundle : Bundle
        A loaded bundle; its scores of the trace's prompts set the threshold.
    trace : Trace
        The traffic to calibrate on (prompts needed; outcomes are not).
    share : float, optional
        Target strong share in [0, 1]; give this or ``budget_usd``.
    budget_usd : float, optional
        Mean cost per request to stay within; needs ``cheap_cost_usd`` and ``strong_cost_usd``
        (the cost of one call on each tier).
    cheap_cost_usd, strong_cost_usd : float, optional
        See ``budget_usd``.
    calibrated_on : str or path-like, optional
        Recorded in the entry (default: where the trace came from).
    cache_dir : str or path-like, optional
        Score cache (default: the user cache directory).

    Returns
    -------
    Recalibration

    Raises
    ------
    ClassifierError
        If neither or both of ``share`` and ``budget_usd`` are given, or a budget lacks a
        tier's cost; and as :func:`~simkit.classify.scoring.score_trace` and the calibrators
        raise.
    """
    if (share is None) == (budget_usd is None):
        raise ClassifierError(
            "recalibrate: give a target share or a budget_usd (one of them), got "
            f"share={share!r}, budget_usd={budget_usd!r}"
        )
    if budget_usd is not None and (cheap_cost_usd is None or strong_cost_usd is None):
        raise ClassifierError(
            "recalibrate: budget_usd needs cheap_cost_usd and strong_cost_usd (the cost of one "
            "call on each tier)"
        )
    scores = score_trace(trace, bundle, cache_dir=cache_dir).scores["p_hard"].to_numpy()
    about = {"calibrated_on": str(trace.where if calibrated_on is None else calibrated_on)}
    if share is not None:
        name = share_threshold_name(share)
        entry = share_threshold(scores, share, **about)
    else:
        name = budget_threshold_name(budget_usd)
        entry = budget_threshold(scores, budget_usd, cheap_cost_usd, strong_cost_usd, **about)
    thresholds = {**bundle.manifest["thresholds"], name: entry}
    return Recalibration(name, thresholds)
