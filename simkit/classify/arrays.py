"""Fitted heads as plain arrays, and their forward passes in numpy (no scikit-learn, no torch).

A bundle stores every fitted estimator in this form (``.npy`` files plus a JSON spec), so a
router can score prompts with numpy alone and nothing is ever unpickled. Each ``export_*``
takes a fitted scikit-learn estimator and returns ``(spec, arrays)``; :func:`predict_head`
runs the same computation from them. ``tests/classify`` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from simkit.errors import BundleError

__all__ = ["HEAD_KINDS", "export_head", "gain_to_p_hard", "predict_head", "sigmoid"]

#: Head kinds that can be exported and run from arrays.
HEAD_KINDS = ("logistic", "mlp", "knn", "hgb")


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def gain_to_p_hard(gain: np.ndarray, platt: Sequence[float] | None) -> np.ndarray:
    """The calibration map from expected gain to ``p_hard``: ``sigmoid(a * gain + b)`` for
    Platt parameters ``(a, b)``, else ``(gain + 1) / 2``."""
    g = np.asarray(gain, dtype=np.float64)
    if platt is None:
        return (g + 1.0) / 2.0
    a, b = platt
    return sigmoid(a * g + b)


def export_head(kind: str, est: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(spec, arrays)`` of a fitted head of ``kind`` (one of :data:`HEAD_KINDS`)."""
    if kind == "logistic":
        return {"kind": kind}, {
            "coef": np.asarray(est.coef_[0], dtype=np.float64),
            "intercept": np.asarray(est.intercept_, dtype=np.float64).reshape(1),
        }
    if kind == "mlp":
        if est.activation != "relu" or est.out_activation_ != "logistic":
            raise BundleError(
                f"only relu MLPs with a logistic output can be exported, got {est.activation}"
            )
        arrays = {}
        for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
            arrays[f"w{i}"] = np.asarray(w, dtype=np.float64)
            arrays[f"b{i}"] = np.asarray(b, dtype=np.float64)
        return {"kind": kind, "layers": len(est.coefs_)}, arrays
    if kind == "knn":
        return {"kind": kind, "k": int(est.n_neighbors)}, {
            "x": np.asarray(est._fit_X, dtype=np.float32),
            "y": np.asarray(est._y, dtype=np.float64).reshape(-1),
        }
    if kind == "hgb":
        arrays: dict[str, np.ndarray] = {
            "baseline": np.asarray(est._baseline_prediction, dtype=np.float64).reshape(1)
        }
        trees = [p[0].nodes for p in est._predictors]
        for t in trees:
            if t["is_categorical"].any():
                raise BundleError(
                    "gradient-boosting heads with categorical splits cannot be exported"
                )
        arrays["tree_sizes"] = np.array([len(t) for t in trees], dtype=np.int64)
        nodes = np.concatenate(trees) if trees else np.zeros(0)
        arrays["value"] = np.asarray(nodes["value"], dtype=np.float64)
        arrays["feature"] = np.asarray(nodes["feature_idx"], dtype=np.int64)
        arrays["threshold"] = np.asarray(nodes["num_threshold"], dtype=np.float64)
        arrays["missing_left"] = np.asarray(nodes["missing_go_to_left"], dtype=np.uint8)
        arrays["left"] = np.asarray(nodes["left"], dtype=np.int64)
        arrays["right"] = np.asarray(nodes["right"], dtype=np.int64)
        arrays["is_leaf"] = np.asarray(nodes["is_leaf"], dtype=np.uint8)
        return {"kind": kind, "n_trees": len(trees)}, arrays
    raise BundleError(
        f"head kind {kind!r} cannot be exported; known kinds: {', '.join(HEAD_KINDS)}"
    )


def _hgb_raw(a: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    raw = np.full(len(x), float(a["baseline"][0]))
    starts = np.concatenate([[0], np.cumsum(a["tree_sizes"])[:-1]]).astype(np.int64)
    rows = np.arange(len(x))
    for start in starts:
        node = np.full(len(x), start, dtype=np.int64)
        active = a["is_leaf"][node] == 0
        while active.any():
            r = rows[active]
            n = node[active]
            v = x[r, a["feature"][n]]
            go_left = np.where(np.isnan(v), a["missing_left"][n] == 1, v <= a["threshold"][n])
            node[active] = start + np.where(go_left, a["left"][n], a["right"][n])
            active = a["is_leaf"][node] == 0
        raw += a["value"][node]
    return raw


def predict_head(spec: Mapping[str, Any], a: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Predicted quality in [0, 1] for the feature rows ``x`` (shape ``(n, d)``)."""
    kind = spec.get("kind")
    x = np.asarray(x, dtype=np.float64)
    if kind == "constant":  # a model always right (or wrong) on the training rows
        return np.full(len(x), float(spec["value"]))
    if kind == "logistic":
        return sigmoid(x @ a["coef"] + a["intercept"][0])
    if kind == "mlp":
        h = x
        layers = int(spec["layers"])
        for i in range(layers):
            h = h @ a[f"w{i}"] + a[f"b{i}"]
            if i < layers - 1:
                np.maximum(h, 0.0, out=h)
        return sigmoid(h[:, 0])
    if kind == "knn":
        ref = a["x"].astype(np.float64)
        k = int(spec["k"])
        # cosine distance with distance weights, as KNeighborsRegressor(metric="cosine",
        # weights="distance"); rows are compared after L2 normalisation
        rn = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-300)
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        dist = np.clip(1.0 - xn @ rn.T, 0.0, 2.0)
        idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
        d = np.take_along_axis(dist, idx, axis=1)
        y = a["y"][idx]
        exact = d <= 0.0
        with np.errstate(divide="ignore"):
            w = np.where(exact.any(axis=1, keepdims=True), exact.astype(float), 1.0 / d)
        return np.clip((w * y).sum(axis=1) / w.sum(axis=1), 0.0, 1.0)
    if kind == "hgb":
        return sigmoid(_hgb_raw(a, x))
    raise BundleError(f"unknown head kind {kind!r}; known kinds: {', '.join(HEAD_KINDS)}")
