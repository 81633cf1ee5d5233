"""Classifier scores for a whole trace, computed once and cached.

:func:`score_trace` adds score columns (``p_hard``, ``gain``) to a
:class:`~simkit.trace.Trace`; the simulator's threshold policies then read
``trace.scores["p_hard"]`` and never need the classifier. Scores are cached per bundle
(keyed by the hash of its checksum manifest) and prompt text, so scoring the same trace
again computes nothing.
"""

from __future__ import annotations

import hashlib
from os import PathLike

import numpy as np

from simkit.classify.bundle import Bundle, load_bundle
from simkit.classify.cache import EmbeddingCache, default_cache_dir, text_hashes
from simkit.errors import ClassifierError
from simkit.trace import Trace

__all__ = ["SCORE_COLUMNS", "score_trace"]

#: Columns :func:`score_trace` adds to ``trace.scores`` (plus ``q_<tier>``: predicted quality
#: of each tier of the bundle, for policies over more than two tiers).
SCORE_COLUMNS = ("p_hard", "gain")


def _bundle_key(bundle: Bundle) -> str:
    return hashlib.sha256((bundle.path / "SHA256SUMS").read_bytes()).hexdigest()


def score_trace(
    trace: Trace,
    bundle: Bundle | str | PathLike[str],
    *,
    cache_dir: str | PathLike[str] | None | bool = None,
) -> Trace:
    """A copy of ``trace`` with the bundle's scores added: ``p_hard``, ``gain`` and
    ``q_<tier>`` (predicted quality per tier).

    Parameters
    ----------
    trace : Trace
        Every request needs its prompt text.
    bundle : Bundle or path-like
        A loaded bundle or its directory.
    cache_dir : path-like, optional
        Score cache location (``None`` = the user cache dir, ``False`` = no cache).

    Raises
    ------
    ClassifierError
        If a request has no prompt text (names the first such row and the count).
    """
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    prompts = trace.requests["prompt"]
    missing = prompts.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ClassifierError(
            f"{trace.where} (requests), row {i + 1}, column 'prompt': no prompt text "
            f"({int(missing.sum())} requests without one); classifier scores need the prompt"
        )
    texts = [str(p) for p in prompts]
    keys = text_hashes(texts)
    cache = None
    if cache_dir is not False:
        root = default_cache_dir() if cache_dir in (None, True) else cache_dir
        # float64, as the router computes them: a score rounded to float32 could land on the
        # other side of a threshold than the router's (v2 entries were float32)
        cache = EmbeddingCache(
            root, {"kind": "bundle-scores-v3", "bundle": _bundle_key(b)}, dtype="float64"
        )
    found, values = cache.lookup(keys) if cache is not None else (np.zeros(len(texts), bool), None)
    names = [*SCORE_COLUMNS, *(f"q_{t}" for t in b.tiers)]
    if values is None:
        values = np.zeros((len(texts), len(names)), dtype=np.float64)
    todo = np.flatnonzero(~found)
    if todo.size:
        todo_texts = [texts[i] for i in todo]
        q = b.predict_quality(todo_texts)
        gain = q[:, -1] - q[:, 0]
        p = b.p_hard_from_gain(gain)
        computed = np.column_stack([p, gain, q]).astype(np.float64)
        values[todo] = computed
        if cache is not None:
            cache.store(keys[todo], computed)
    scores = {"request_id": trace.requests["request_id"].to_numpy()}
    for j, name in enumerate(names):
        scores[name] = values[:, j].astype(np.float64)
    return trace.with_scores(scores)
