"""The complexity classifier: prompt features -> per-model quality -> expected gain -> p_hard.

:class:`ComplexityClassifier` follows the scikit-learn contract (``__init__`` stores
parameters, fitted state ends in ``_``, ``check_is_fitted`` first). Its routing score ranks
requests by the *expected gain* of the strongest model over the cheapest one,
``E[q_strong - q_cheap | prompt]``: one head per model predicts that model's quality
(probability of a correct answer, or expected graded score, trained with soft labels), and
the gain is their difference. A Platt calibrator, fitted on out-of-fold gains, maps the gain
to ``p_hard`` = P(the strong model is strictly better), a monotone map, so the ranking and
every share-based threshold are unchanged.

Hyper-parameters are chosen per model by grouped cross-validation *on the training data
only* (Brier score, a proper scoring rule), with identical prompts kept in one fold; the same
inner folds give the out-of-fold gains the calibrator is fitted on.

Given a 1-D binary ``y`` instead of a quality matrix, the classifier learns ``p_hard`` =
P(y = 1) directly, e.g. ``1 - weak_good_enough(...)`` (the classic binary label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_is_fitted

from simkit.classify.arrays import HEAD_KINDS, export_head, gain_to_p_hard
from simkit.classify.embed import StaticEmbedder, check_prompts
from simkit.classify.features import FEATURE_NAMES, prompt_features, scale_features
from simkit.errors import ClassifierError

__all__ = [
    "DEFAULT_GRIDS",
    "ComplexityClassifier",
    "gain_curve_area",
    "grouped_folds",
    "prompt_groups",
]

#: Hyper-parameter grid searched per head kind (name of the parameter -> values).
DEFAULT_GRIDS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "logistic": ("C", (0.1, 0.3, 1.0, 3.0)),
    "mlp": ("alpha", (0.1, 1.0, 3.0)),
    "knn": ("n_neighbors", (50, 100, 200)),
    "hgb": ("l2_regularization", (1.0, 10.0)),
}


def prompt_groups(prompts: Sequence[str]) -> np.ndarray:
    """Group id per prompt: identical prompt strings share a group (and so a CV fold)."""
    _, inverse = np.unique(np.asarray(prompts, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def grouped_folds(
    strata: np.ndarray, groups: np.ndarray, n_splits: int, random_state: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold over groups: every group lies in one fold, and each stratum's groups
    are dealt round-robin (in a seeded random order) so folds get similar class mixes.

    A group's stratum is that of its first row. Linear time, unlike scikit-learn's
    ``StratifiedGroupKFold`` (quadratic in the number of groups), and deterministic.
    """
    strata = np.asarray(strata)
    groups = np.asarray(groups)
    uniq, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    if uniq.size < n_splits:
        raise ClassifierError(f"{uniq.size} distinct prompts cannot be split into {n_splits} folds")
    rng = np.random.default_rng(np.random.SeedSequence([int(random_state), 0x5EED]))
    perm = rng.permutation(uniq.size)
    group_fold = np.empty(uniq.size, dtype=np.int64)
    offset = 0
    for s in np.unique(strata[first]):
        members = perm[strata[first][perm] == s]
        group_fold[members] = (offset + np.arange(members.size)) % n_splits
        offset += members.size
    row_fold = group_fold[inverse.reshape(-1)]
    return [(np.flatnonzero(row_fold != k), np.flatnonzero(row_fold == k)) for k in range(n_splits)]


def gain_curve_area(score: np.ndarray, gain: np.ndarray) -> float:
    """Share of the total gain captured, averaged over every strong-call share.

    Requests are sent to the strong model in order of decreasing ``score``; ``G(c)`` is the
    gain collected by the first ``c`` of them. Returns ``mean_c G(c) / G(n)``: 0.5 for a
    random order (in expectation), higher when high scores pick up the gain early. This is
    the continuous version of the APGR the evaluation reports, used here to *choose*
    hyper-parameters on training folds.
    """
    gain = np.asarray(gain, dtype=np.float64)
    total = gain.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    return float(np.cumsum(gain[order]).mean() / total)


def _make_head(kind: str, value: Any, random_state: int) -> Any:
    if kind == "logistic":
        return LogisticRegression(C=value, max_iter=5000)
    if kind == "mlp":
        return MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=value,
            max_iter=400,
            early_stopping=False,
            random_state=random_state,
        )
    if kind == "knn":
        return KNeighborsRegressor(n_neighbors=value, metric="cosine", weights="distance")
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            min_samples_leaf=40,
            l2_regularization=value,
            early_stopping=False,
            random_state=random_state,
        )
    raise ClassifierError(f"unknown head {kind!r}; choose one of {', '.join(HEAD_KINDS)}")


def _fit_head(kind: str, est: Any, z: np.ndarray, q: np.ndarray) -> Any:
    """Fit on soft labels ``q`` in [0, 1]: each row counts as 1 with weight q and 0 with 1-q."""
    if kind == "knn":
        return est.fit(z, q)
    binary = np.isin(q, (0.0, 1.0)).all()
    if binary:
        if np.unique(q).size < 2:
            return _Constant(float(q[0]))
        return est.fit(z, q.astype(int))
    zz = np.vstack([z, z])
    yy = np.r_[np.ones(len(q), int), np.zeros(len(q), int)]
    ww = np.r_[q, 1.0 - q]
    keep = ww > 0
    return est.fit(zz[keep], yy[keep], sample_weight=ww[keep])


class _Constant:
    """A head for a model that is always right (or always wrong) in the training rows."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, z: np.ndarray) -> np.ndarray:
        return np.column_stack([np.full(len(z), 1 - self.value), np.full(len(z), self.value)])


def _predict_head(est: Any, z: np.ndarray) -> np.ndarray:
    if isinstance(est, KNeighborsRegressor):
        return np.clip(est.predict(z), 0.0, 1.0)
    return est.predict_proba(z)[:, 1]


def _fit_platt(gain: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Logistic fit of y (0/1) on the gain: p = sigmoid(a * gain + b), a > 0 expected."""
    if np.unique(y).size < 2 or np.ptp(gain) == 0:
        return 0.0, float(np.log((y.mean() + 1e-6) / (1 - y.mean() + 1e-6)))
    lr = LogisticRegression(C=1e4, max_iter=5000).fit(gain.reshape(-1, 1), y.astype(int))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


class ComplexityClassifier(BaseEstimator):
    """Route-worthiness of prompts: expected quality gain of the strong model, and ``p_hard``.

    Parameters
    ----------
    embedder : transformer, default None
        Prompts -> embedding matrix (``fit``/``transform``). ``None`` means
        ``StaticEmbedder()``: the static table distilled from the bundled MiniLM (the fast
        path); pass ``SentenceEmbedder()`` for the full transformer.
    text_features : bool, default True
        Append the cheap prompt features of :mod:`simkit.classify.features`, standardised,
        clipped to +-:data:`FEATURE_CLIP` and multiplied by ``feature_weight``.
    feature_weight : float, default 0.1
        Scale of the standardised prompt features next to the unit-norm embedding.
    head : {'logistic', 'mlp', 'knn', 'hgb'}, default 'logistic'
        The per-model estimator.
    grid : sequence, default None
        Values of the head's main hyper-parameter to choose from (``None``: :data:`DEFAULT_GRIDS`).
    cv : int, default 5
        Inner folds for the hyper-parameter choice and the calibrator.
    selection : {'gain_area', 'brier'}, default 'gain_area'
        How the inner CV chooses: the pair of candidates (cheapest and strongest model's
        heads) whose out-of-fold gain best ranks the training rows
        (:func:`gain_curve_area`), or each head's Brier score.
    calibrate : bool, default True
        Fit the Platt map gain -> ``p_hard``; otherwise ``p_hard = (gain + 1) / 2``.
    random_state : int, default 0
        Seeds the inner folds and the stochastic heads.

    Attributes
    ----------
    n_models_ : int
        Columns of the quality matrix (1 for a binary target).
    chosen_ : list
        Chosen hyper-parameter value per model.
    cv_brier_ : ndarray, shape (n_models, len(grid))
        Inner-CV Brier score of each candidate.
    cv_gain_area_ : ndarray, shape (len(grid), len(grid))
        Inner-CV :func:`gain_curve_area` of each (cheapest, strongest) candidate pair
        (``selection='gain_area'`` with a quality matrix only).
    heads_ : list
        Fitted scikit-learn heads, one per model.
    platt_ : tuple of float
        ``(a, b)`` of ``p_hard = sigmoid(a * gain + b)``.
    n_excluded_ : int
        Training rows left out because an outcome was missing (NaN).

    Examples
    --------
    >>> clf = ComplexityClassifier().fit(prompts, quality)        # doctest: +SKIP
    >>> clf.predict_proba(["Prove Fermat's last theorem."])[:, 1]  # doctest: +SKIP
    """

    def __init__(
        self,
        embedder: Any = None,
        *,
        text_features: bool = True,
        feature_weight: float = 0.1,
        head: str = "logistic",
        grid: Sequence[Any] | None = None,
        cv: int = 5,
        selection: str = "gain_area",
        calibrate: bool = True,
        random_state: int = 0,
    ) -> None:
        self.embedder = embedder
        self.text_features = text_features
        self.feature_weight = feature_weight
        self.head = head
        self.grid = grid
        self.cv = cv
        self.selection = selection
        self.calibrate = calibrate
        self.random_state = random_state

    # -- features --------------------------------------------------------------------------
    def _features(self, prompts: list[str], fit: bool = False, embedded: Any = None) -> np.ndarray:
        emb = self.embedder_.transform(prompts) if embedded is None else embedded
        emb = np.asarray(emb, dtype=np.float64)
        if not self.text_features:
            return emb
        f = prompt_features(prompts)
        if fit:
            self.feature_mean_ = f.mean(axis=0)
            scale = f.std(axis=0)
            self.feature_scale_ = np.where(scale > 0, scale, 1.0)
        f = scale_features(f, self.feature_mean_, self.feature_scale_, self.feature_weight)
        return np.hstack([emb, f])

    def transform_features(self, prompts: Sequence[str]) -> np.ndarray:
        """The feature matrix the heads see: embedding (+ scaled prompt features)."""
        check_is_fitted(self, "heads_")
        return self._features(check_prompts(prompts))

    # -- fit -------------------------------------------------------------------------------
    def _check_params(self) -> tuple[str, tuple[Any, ...]]:
        if self.head not in HEAD_KINDS:
            raise ClassifierError(
                f"unknown head {self.head!r}; choose one of {', '.join(HEAD_KINDS)}"
            )
        name, default = DEFAULT_GRIDS[self.head]
        grid = tuple(default if self.grid is None else self.grid)
        if not grid:
            raise ClassifierError("grid must hold at least one value")
        if self.selection not in ("gain_area", "brier"):
            raise ClassifierError(
                f"selection must be 'gain_area' or 'brier', got {self.selection!r}"
            )
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ClassifierError(f"cv must be an integer >= 2, got {self.cv!r}")
        if not np.isfinite(self.feature_weight) or self.feature_weight < 0:
            raise ClassifierError(f"feature_weight must be >= 0, got {self.feature_weight!r}")
        return name, grid

    def fit(
        self,
        X: Sequence[str],
        y: Any,
        groups: Sequence[Any] | None = None,
        *,
        embedded: np.ndarray | None = None,
    ) -> ComplexityClassifier:
        """Fit on prompts ``X`` and outcomes ``y``.

        Parameters
        ----------
        X : sequence of str
            The prompts.
        y : array, shape (n, n_models) or (n,)
            Quality in [0, 1] per model, cheapest model first and strongest last (NaN = no
            outcome: the row is left out and counted in ``n_excluded_``); or a binary
            target (1 = needs the strong model).
        groups : sequence, optional
            Group labels for the inner folds; default: identical prompts form a group.
        embedded : ndarray, optional
            Precomputed embeddings of ``X`` by ``embedder`` (saves re-embedding in
            cross-validation); the embedder is still fitted to record its identity.
        """
        _, grid = self._check_params()
        prompts = check_prompts(X, where="training prompts")
        q = np.asarray(y, dtype=np.float64)
        if q.ndim == 1:
            binary_target = True
            q = q.reshape(-1, 1)
        elif q.ndim == 2 and q.shape[1] >= 2:
            binary_target = False
        else:
            raise ClassifierError(
                f"y must be a quality matrix (n, >=2 models) or a binary vector, got shape {q.shape}"
            )
        if len(q) != len(prompts):
            raise ClassifierError(f"{len(prompts)} prompts but {len(q)} rows of outcomes")
        bad = np.isfinite(q) & ((q < 0) | (q > 1))
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ClassifierError(
                f"outcomes, row {r + 1}, model column {c + 1}: quality {float(q[r, c])!r} is outside [0, 1]"
            )
        usable = np.isfinite(q).all(axis=1)
        self.n_excluded_ = int((~usable).sum())
        if binary_target and not np.isin(q[usable], (0.0, 1.0)).all():
            raise ClassifierError("a 1-D target must be binary (0 = cheap tier is enough, 1 = not)")
        target = q[usable, 0] if binary_target else q[usable, -1] - q[usable, 0]
        if np.unique(np.sign(target) if not binary_target else target).size < 2:
            what = "binary labels" if binary_target else "gain labels (strong minus cheap)"
            only = np.unique(target)[:1]
            raise ClassifierError(
                f"{what} have a single class (every usable row is {only[0]:g}, "
                f"{int(usable.sum())} rows); a classifier needs requests where the models differ"
            )
        if usable.sum() < 2 * self.cv:
            raise ClassifierError(
                f"{int(usable.sum())} usable training rows; need at least {2 * self.cv} for "
                f"{self.cv}-fold inner cross-validation"
            )
        self.binary_target_ = binary_target
        self.n_models_ = q.shape[1]
        embedder = StaticEmbedder() if self.embedder is None else clone(self.embedder)
        self.embedder_ = embedder.fit()
        kept = [p for p, u in zip(prompts, usable, strict=True) if u]
        emb = None if embedded is None else np.asarray(embedded)[usable]
        z = self._features(kept, fit=True, embedded=emb)
        qu = q[usable]
        grp = prompt_groups(kept) if groups is None else np.asarray(groups)[usable]
        strat = target.astype(int) if binary_target else np.sign(target).astype(int)
        folds = grouped_folds(strat, grp, self.cv, self.random_state)
        # inner CV: out-of-fold predictions of every (model, candidate)
        oof = np.zeros((self.n_models_, len(grid), len(z)))
        for j in range(self.n_models_):
            for g, value in enumerate(grid):
                for tr, te in folds:
                    est = _fit_head(
                        self.head, _make_head(self.head, value, self.random_state), z[tr], qu[tr, j]
                    )
                    oof[j, g, te] = _predict_head(est, z[te])
        self.cv_brier_ = ((oof - qu.T[:, None, :]) ** 2).mean(axis=2)
        best = self.cv_brier_.argmin(axis=1)
        if self.selection == "gain_area" and not binary_target:
            # choose the (cheapest, strongest) pair of candidates whose out-of-fold gain
            # ranks the training rows best; other models keep their Brier choice
            diff = qu[:, -1] - qu[:, 0]
            area = np.array(
                [
                    [gain_curve_area(oof[-1, gs] - oof[0, gw], diff) for gs in range(len(grid))]
                    for gw in range(len(grid))
                ]
            )
            self.cv_gain_area_ = area
            gw, gs = np.unravel_index(np.nanargmax(area), area.shape)
            best[0], best[-1] = gw, gs
        self.chosen_ = [grid[int(b)] for b in best]
        self.heads_ = [
            _fit_head(self.head, _make_head(self.head, v, self.random_state), z, qu[:, j])
            for j, v in enumerate(self.chosen_)
        ]
        self.oof_gain_ = oof[0, best[0]] if binary_target else oof[-1, best[-1]] - oof[0, best[0]]
        if binary_target:
            self.platt_ = (1.0, 0.0)  # p_hard is the head's probability itself
        elif self.calibrate:
            self.platt_ = _fit_platt(self.oof_gain_, (qu[:, -1] > qu[:, 0]).astype(int))
        else:
            self.platt_ = (0.0, 0.0)
        return self

    # -- predict ---------------------------------------------------------------------------
    def predict_quality(
        self, X: Sequence[str], *, embedded: np.ndarray | None = None
    ) -> np.ndarray:
        """Predicted quality per model, shape ``(n, n_models)`` (binary target: P(y=1)).

        ``embedded`` optionally gives the embeddings of ``X`` (as in :meth:`fit`).
        """
        check_is_fitted(self, "heads_")
        z = self._features(check_prompts(X), embedded=embedded)
        return np.column_stack([_predict_head(h, z) for h in self.heads_])

    def decision_function(
        self, X: Sequence[str], *, embedded: np.ndarray | None = None
    ) -> np.ndarray:
        """The routing score: expected gain of the strongest over the cheapest model."""
        return self._gain(self.predict_quality(X, embedded=embedded))

    def _gain(self, q: np.ndarray) -> np.ndarray:
        return q[:, 0] if self.binary_target_ else q[:, -1] - q[:, 0]

    def p_hard(self, X: Sequence[str], *, embedded: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability that the strong model is strictly better (binary target:
        the head's P(y = 1))."""
        return self.p_hard_from_gain(self.decision_function(X, embedded=embedded))

    def p_hard_from_gain(self, gain: np.ndarray) -> np.ndarray:
        """The calibration map applied to a gain score (monotone non-decreasing)."""
        check_is_fitted(self, "heads_")
        if self.binary_target_:
            return np.asarray(gain, dtype=np.float64)
        return gain_to_p_hard(gain, self.platt_ if self.calibrate else None)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """``[[1 - p_hard, p_hard], ...]``."""
        p = self.p_hard(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Sequence[str]) -> np.ndarray:
        """1 where ``p_hard >= 0.5`` (use a calibrated threshold for a target share instead)."""
        return (self.p_hard(X) >= 0.5).astype(int)

    # -- export ----------------------------------------------------------------------------
    def export_heads(self) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """``(spec, arrays)`` of each head, runnable with :func:`~simkit.classify.arrays.predict_head`."""
        check_is_fitted(self, "heads_")
        out = []
        for h in self.heads_:
            if isinstance(h, _Constant):
                out.append(({"kind": "constant", "value": h.value}, {}))
            else:
                out.append(export_head(self.head, h))
        return out

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the cheap prompt features used (empty if ``text_features`` is off)."""
        return FEATURE_NAMES if self.text_features else ()
