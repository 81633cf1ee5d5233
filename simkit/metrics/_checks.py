"""Input checks shared by the metric functions: say which argument, which row, what was expected.

Array arguments are reported as ``TraceError(<argument name>, row=<1-based position>, ...)``;
bad option values as ``SpecError(<function>, key=<parameter>, ...)`` listing the valid choices.
Nothing is repaired, clipped or dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from simkit.errors import SpecError, TraceError


def show(value: object) -> str:
    """``repr`` of a value as a user wrote it: numpy scalars as plain Python numbers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _float_array(values: ArrayLike, name: str) -> np.ndarray:
    """A float64 copy; pandas' ``<NA>`` becomes NaN (and is then judged like NaN)."""
    try:
        if isinstance(values, pd.Series | pd.DataFrame):
            return values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        return np.array(values, dtype="float64", copy=True)
    except (TypeError, ValueError) as exc:
        raise TraceError(name, problem=f"expected numbers ({exc})") from None


def vector(values: ArrayLike, *, name: str, allow_nan: bool = False) -> np.ndarray:
    """A 1-D float64 copy of ``values``; raise on the first non-finite entry (NaN if allowed)."""
    arr = _float_array(values, name)
    if arr.ndim != 1:
        raise TraceError(name, problem=f"expected a 1-D array, got shape {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        what = "infinite" if allow_nan else "missing or non-finite"
        raise TraceError(
            name,
            row=int(idx[0]) + 1,
            problem=f"{what} in {idx.size} rows (first: {show(arr[idx[0]])}); expected a finite number",
        )
    return arr


def matrix(values: ArrayLike, *, name: str, allow_nan: bool = False) -> np.ndarray:
    """A 2-D float64 copy of ``values``; raise on the first non-finite entry (NaN if allowed)."""
    arr = _float_array(values, name)
    if arr.ndim != 2:
        raise TraceError(name, problem=f"expected a 2-D array, got shape {arr.shape}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        what = "infinite" if allow_nan else "missing or non-finite"
        raise TraceError(
            name,
            row=int(r) + 1,
            problem=f"{what} in {int(bad.sum())} cells (first in column {int(c)}: "
            f"{show(arr[r, c])}); expected a finite number",
        )
    return arr


def same_length(arrays: Sequence[tuple[str, np.ndarray]]) -> int:
    """The common length of the named arrays; raise naming the first that differs."""
    first_name, first = arrays[0]
    n = len(first)
    for name, arr in arrays[1:]:
        if len(arr) != n:
            raise TraceError(
                name,
                problem=f"has {len(arr)} rows but {first_name} has {n}; expected one per request",
            )
    return n


def non_empty(n: int, *, name: str) -> None:
    """Raise when an input that must hold at least one row is empty."""
    if n == 0:
        raise TraceError(name, problem="is empty; expected at least one row")


def option(value: object, choices: Iterable[object], *, func: str, key: str) -> None:
    """Raise a :class:`SpecError` listing the valid choices when ``value`` is not one of them."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise SpecError(func, key=key, problem=f"got {value!r}; valid choices: {valid}")


def fraction(value: float, *, func: str, key: str) -> float:
    """A finite float in [0, 1], else a :class:`SpecError` naming the parameter."""
    v = float(value)
    if not (np.isfinite(v) and 0.0 <= v <= 1.0):
        raise SpecError(func, key=key, problem=f"got {value!r}; expected a number in [0, 1]")
    return v
