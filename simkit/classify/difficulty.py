"""Prompt difficulty from every model's outcomes: a one-parameter item-response (Rasch) model.

Arena-Bench-v1 scores 15 models on each prompt; a prompt most models fail is hard whatever the
pair routed between. :func:`irt_difficulty` fits ``E[q_ij] = sigmoid(ability_j - difficulty_i)``
to the quality matrix (soft labels in [0, 1], NaN = no outcome) by alternating Newton steps on
the penalised Bernoulli log-likelihood: all difficulties given the abilities, then all
abilities given the difficulties (each a set of independent one-dimensional problems). It
is deterministic: no random start, same matrix -> same fit.

:func:`irt_pair_labels` turns the fit into training labels for the pair: each observed quality
shrunk towards the quality the item-response model expects of that model on that prompt,
so a single noisy outcome of the pair is corrected by what the other models did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.errors import ClassifierError

__all__ = ["IrtFit", "irt_difficulty", "irt_pair_labels"]


@dataclass(frozen=True)
class IrtFit:
    """A fitted Rasch model.

    Attributes
    ----------
    difficulty : ndarray, shape (n_prompts,)
        Higher = harder (logit scale); a prompt without any outcome gets 0 (the prior mean).
    ability : ndarray, shape (n_models,)
        Higher = better, in the columns' order.
    n_iter : int
        Alternating sweeps run.
    converged : bool
        Whether the largest parameter change fell below the tolerance.
    """

    difficulty: np.ndarray
    ability: np.ndarray
    n_iter: int
    converged: bool

    def expected_quality(self) -> np.ndarray:
        """``sigmoid(ability_j - difficulty_i)``, shape (n_prompts, n_models)."""
        return _sigmoid(self.ability[None, :] - self.difficulty[:, None])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def irt_difficulty(
    quality: np.ndarray, *, l2: float = 0.1, max_iter: int = 200, tol: float = 1e-8
) -> IrtFit:
    """Fit a Rasch model to a quality matrix.

    Parameters
    ----------
    quality : ndarray, shape (n_prompts, n_models)
        Quality in [0, 1] (a correct/incorrect outcome or a graded score), NaN = no outcome.
    l2 : float
        Gaussian prior (ridge) on every difficulty and ability, > 0: keeps a prompt that
        every model solves (or fails) finite.
    max_iter : int
        At most this many alternating sweeps.
    tol : float
        Stop when no parameter moves by more than this.

    Returns
    -------
    IrtFit

    Raises
    ------
    ClassifierError
        On a matrix that is not 2-D with at least two models, a quality outside [0, 1], or
        ``l2 <= 0``.
    """
    q = np.asarray(quality, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] < 2:
        raise ClassifierError(
            f"irt_difficulty needs a quality matrix (n_prompts, >= 2 models), got shape {q.shape}"
        )
    bad = np.isfinite(q) & ((q < 0) | (q > 1))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ClassifierError(
            f"quality matrix, row {r + 1}, model column {c + 1}: {float(q[r, c])!r} is outside "
            "[0, 1]"
        )
    if not l2 > 0:
        raise ClassifierError(f"l2 must be > 0, got {l2!r}")
    seen = np.isfinite(q)
    y = np.where(seen, q, 0.0)
    w = seen.astype(np.float64)
    b = np.zeros(q.shape[0])
    theta = np.zeros(q.shape[1])
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (reported as IrtFit.n_iter)
        # difficulties given abilities: d/db of sum w*(y*log p + (1-y)*log(1-p)) - l2/2 b^2
        p = _sigmoid(theta[None, :] - b[:, None])
        grad_b = -(w * (y - p)).sum(axis=1) - l2 * b
        hess_b = -(w * p * (1 - p)).sum(axis=1) - l2
        step_b = grad_b / hess_b
        b = b - step_b
        p = _sigmoid(theta[None, :] - b[:, None])
        grad_t = (w * (y - p)).sum(axis=0) - l2 * theta
        hess_t = -(w * p * (1 - p)).sum(axis=0) - l2
        step_t = grad_t / hess_t
        theta = theta - step_t
        # the likelihood only sees ability - difficulty: move both by the common shift that
        # minimises the penalty (the slow direction of alternating steps)
        shift = (b.sum() + theta.sum()) / (b.size + theta.size)
        b, theta = b - shift, theta - shift
        moved = max(np.abs(step_b).max(initial=0.0), np.abs(step_t).max(initial=0.0), abs(shift))
        if moved < tol:
            converged = True
            break
    return IrtFit(difficulty=b, ability=theta, n_iter=n_iter, converged=converged)


def irt_pair_labels(
    quality: np.ndarray, pair: tuple[int, int], *, shrinkage: float = 0.5, l2: float = 0.1
) -> np.ndarray:
    """Training labels for the (weak, strong) pair informed by every model's outcomes.

    ``(1 - shrinkage) * observed + shrinkage * expected``, where ``expected`` is the fitted
    Rasch model's quality of that model on that prompt (:func:`irt_difficulty` on all columns
    of ``quality``). With two models only, the difficulty comes from the pair itself.

    Parameters
    ----------
    quality : ndarray, shape (n_prompts, n_models)
        Every model's quality (NaN = no outcome).
    pair : (int, int)
        Columns of the weak and the strong model.
    shrinkage : float
        In [0, 1): 0 gives the observed outcomes back; below 1 the sign of the observed gain
        still speaks (a classifier of the gain needs both signs).

    Returns
    -------
    ndarray, shape (n_prompts, 2)
        Labels of the weak and the strong model; NaN where the pair's outcome is missing.
    """
    if not 0.0 <= shrinkage < 1.0:
        raise ClassifierError(f"shrinkage must lie in [0, 1), got {shrinkage!r}")
    q = np.asarray(quality, dtype=np.float64)
    expected = irt_difficulty(q, l2=l2).expected_quality()
    cols = list(pair)
    return (1.0 - shrinkage) * q[:, cols] + shrinkage * expected[:, cols]
