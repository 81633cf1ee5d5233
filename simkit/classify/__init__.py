"""The complexity classifier: embeddings and their cache, labels from outcomes, estimators,
calibration, honest evaluation and bundle export.

Imported by name (``import simkit.classify``), never by ``import simkit``. Names are loaded
on first use, so ``from simkit.classify import load_bundle`` pulls in neither torch nor
scikit-learn: a router can load a static-embedding bundle with numpy and ``tokenizers`` alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what static analysis and IDEs see; at run time __getattr__ loads them
    from simkit.classify.bundle import Bundle, export_bundle, load_bundle
    from simkit.classify.cache import EmbeddingCache
    from simkit.classify.calibrate import BudgetCalibrator, ShareCalibrator, realised_share
    from simkit.classify.embed import PromptFeatures, SentenceEmbedder, StaticEmbedder
    from simkit.classify.evaluate import ScoredFolds, out_of_fold_scores, transfer_scores
    from simkit.classify.labels import (
        Labels,
        gain_labels,
        ordinal_labels,
        quality_targets,
        weak_good_enough,
    )
    from simkit.classify.model import ComplexityClassifier
    from simkit.classify.scoring import score_trace
    from simkit.classify.static import StaticEmbedding, distill_static_embedding

__all__ = [
    "Bundle",
    "BudgetCalibrator",
    "ComplexityClassifier",
    "EmbeddingCache",
    "Labels",
    "PromptFeatures",
    "ScoredFolds",
    "SentenceEmbedder",
    "ShareCalibrator",
    "StaticEmbedder",
    "StaticEmbedding",
    "distill_static_embedding",
    "export_bundle",
    "gain_labels",
    "load_bundle",
    "ordinal_labels",
    "out_of_fold_scores",
    "quality_targets",
    "realised_share",
    "score_trace",
    "transfer_scores",
    "weak_good_enough",
]

_WHERE = {
    "Bundle": "bundle",
    "export_bundle": "bundle",
    "load_bundle": "bundle",
    "BudgetCalibrator": "calibrate",
    "ShareCalibrator": "calibrate",
    "realised_share": "calibrate",
    "ComplexityClassifier": "model",
    "EmbeddingCache": "cache",
    "Labels": "labels",
    "gain_labels": "labels",
    "ordinal_labels": "labels",
    "quality_targets": "labels",
    "weak_good_enough": "labels",
    "PromptFeatures": "embed",
    "SentenceEmbedder": "embed",
    "StaticEmbedder": "embed",
    "StaticEmbedding": "static",
    "distill_static_embedding": "static",
    "ScoredFolds": "evaluate",
    "out_of_fold_scores": "evaluate",
    "transfer_scores": "evaluate",
    "score_trace": "scoring",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simkit.classify' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simkit.classify.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
