"""One ``SeedSequence`` per run, spawned into independent named streams.

Components never touch ``random.*`` or ``np.random.*`` module functions: each receives its own
``numpy.random.Generator``. Streams are derived from the seed *and the component's name*, so
adding a replica or a component leaves every other stream's draws unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from simkit.errors import SeedError

__all__ = ["named_stream", "named_streams"]


def _name_key(name: str) -> list[int]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


def named_stream(seed: int, name: str) -> np.random.Generator:
    """The generator for component ``name`` of a run seeded with ``seed``.

    The stream depends only on ``(seed, name)``: ``named_stream(0, "arrivals")`` is the same
    whatever other components exist.

    Raises
    ------
    SeedError
        ``seed`` is not a whole number >= 0 (a :class:`~simkit.errors.SimkitError`).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise SeedError(None, key="seed", problem=f"expected a whole number >= 0, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *_name_key(name)]))


def named_streams(seed: int, names: Iterable[str]) -> dict[str, np.random.Generator]:
    """Independent generators for each name, in the given order."""
    return {name: named_stream(seed, name) for name in names}
