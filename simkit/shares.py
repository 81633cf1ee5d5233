"""The score threshold that sends a share of requests to a stronger tier: one rule for simkit.

A request goes to the stronger side iff ``score >= threshold``. For ``n`` scores and a target
``share``, the threshold is the *lowest* one that sends **at most** ``k = floor(share * n)``
requests there (``share * n`` is floored with a 1e-9 tolerance, so 0.3 x 10 counts as 3):

* without ties, exactly ``k`` requests go: the threshold is the k-th highest score;
* a tie straddling the cut stays together on the cheaper side (no threshold can split equal
  scores), so fewer than ``k`` go;
* ``k = 0`` gives the next float above the highest score (finite, so it can be written to a
  bundle's JSON), ``k = n`` the lowest score.

Why at most, not nearest: a share target caps calls to a dearer tier (the 20 % of frontier
calls a budget was sized for), so the realised share never exceeds it. With 10 scores and a
share of 0.15 one request goes (0.10), not two (0.20). On other traffic the same threshold
realises another share; check it there (:func:`simkit.classify.realised_share`).

Used by :class:`simkit.classify.ShareCalibrator` (and ``BudgetCalibrator``, which finds its own
``k``), ``Study.cutoffs_for_shares`` (cumulative shares, strongest tier first) and the demo.
This module imports numpy only: every layer may use it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["count_for_share", "threshold_for_count", "threshold_for_share"]

#: Tolerance when flooring ``share * n``: 0.3 * 10 is 2.9999999999999996 in floating point.
_EPS = 1e-9


def count_for_share(share: float, n: int) -> int:
    """Requests a ``share`` of ``n`` may send to the stronger side: ``floor(share * n)``."""
    return int(np.floor(share * n + _EPS))


def threshold_for_count(scores: ArrayLike, k: int) -> float:
    """The lowest threshold sending at most ``k`` of ``scores`` to ``score >= threshold``.

    Parameters
    ----------
    scores : array-like of float
        Finite scores, at least one (callers validate and name their input).
    k : int
        Most requests allowed on the stronger side.

    Returns
    -------
    float
        The k-th highest score; one float higher when it ties with the (k+1)-th (the tie stays
        on the cheaper side); the next float above the maximum for ``k <= 0``; the minimum for
        ``k >= n``.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if k <= 0:
        return float(np.nextafter(s.max(), np.inf))
    if k >= s.size:
        return float(s.min())
    desc = np.sort(s)[::-1]
    t = desc[k - 1]
    if desc[k] == t:  # a tie straddles the cut: the whole tie would exceed k
        return float(np.nextafter(t, np.inf))
    return float(t)


def threshold_for_share(scores: ArrayLike, share: float) -> float:
    """The lowest threshold sending at most ``share`` of ``scores`` to the stronger side.

    ``threshold_for_count(scores, count_for_share(share, len(scores)))``; see the module
    docstring for the rule and why.

    Examples
    --------
    >>> scores = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    >>> threshold_for_share(scores, 0.15)  # one request of ten: 0.10, never 0.20
    0.9
    >>> threshold_for_share([0.1, 0.5, 0.5, 0.9], 0.5) > 0.5  # the tie stays cheap
    True
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    return threshold_for_count(s, count_for_share(float(share), s.size))
