"""The single root of every simkit error, and the families below it.

Every error a user can trigger with bad input descends from :class:`SimkitError`, so one
``except SimkitError`` catches them all (the httpx habit). Errors about data say *where*:
the file, the row and the column, what was found and what was expected.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "BundleError",
    "ClassifierError",
    "LiveError",
    "MessagesError",
    "PolicyError",
    "PriceError",
    "SeedError",
    "SimkitError",
    "SimulationError",
    "SpecError",
    "TraceError",
]


class SimkitError(Exception):
    """Root of all simkit errors."""


def _location(
    path: str | PathLike[str] | None, row: int | None, column: str | None, line: int | None
) -> str:
    parts = []
    if path is not None:
        parts.append(str(path))
    if line is not None:
        parts.append(f"line {line}")
    if row is not None:
        parts.append(f"row {row}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)


class TraceError(SimkitError):
    """Bad trace input: names the file, the row (1-based data row) or line, and the column.

    Parameters
    ----------
    path : path-like or str or None
        The file (or a description such as ``"<requests table>"``) the problem is in.
    problem : str
        What is wrong and what was expected, e.g. ``"missing or negative in 3 rows"``.
    row : int, optional
        1-based data row (the first row after a CSV header is row 1).
    column : str, optional
        The column (or JSON key) at fault.
    line : int, optional
        1-based physical line, for line-oriented files such as JSONL.
    hint : str, optional
        What the user can do next.
    """

    def __init__(
        self,
        path: str | PathLike[str] | None,
        *,
        problem: str,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        self.line = line
        self.problem = problem
        self.hint = hint
        where = _location(path, row, column, line)
        message = f"{where}: {problem}" if where else problem
        if hint:
            message += f". {hint}"
        super().__init__(message)


class SpecError(SimkitError):
    """Bad fleet, policy or price specification: names the file and the key path.

    ``SpecError("fleet.yaml", key="tiers.gpu.usd_per_hour", problem="must be >= 0, got -1")``
    reads ``fleet.yaml, key 'tiers.gpu.usd_per_hour': must be >= 0, got -1``.
    """

    def __init__(
        self,
        source: str | PathLike[str] | None,
        *,
        problem: str,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.key = key
        self.problem = problem
        self.hint = hint
        parts = [p for p in (self.source, f"key '{key}'" if key else None) if p]
        message = f"{', '.join(parts)}: {problem}" if parts else problem
        if hint:
            message += f". {hint}"
        super().__init__(message)


class PolicyError(SpecError):
    """A policy that cannot be built or that returned something the fleet cannot serve."""


class SeedError(SpecError, ValueError):
    """A seed that is not a whole number >= 0 (also a ``ValueError``, as numpy's would be)."""


class PriceError(SpecError):
    """A model the price catalog does not know, or a price that is not a price."""


class SimulationError(SimkitError):
    """A run that cannot finish; the message says why and what to change."""


class ClassifierError(SimkitError):
    """Bad classifier input (prompts, labels, embedder) or an unfitted estimator."""


class BundleError(SimkitError):
    """A classifier bundle that is corrupt, tampered with, or from an incompatible version."""


class MessagesError(TraceError, ClassifierError):
    """A chat ``messages`` list that is malformed or has no user text to score.

    Raised by :mod:`simkit.trace.messages` for a log line (a trace input) and for a prompt
    given to the router (a classifier input) alike, so it is both a :class:`TraceError` and a
    :class:`ClassifierError`; ``column`` is the key path (``request.messages[2].content``).
    """


class LiveError(SimkitError):
    """A live recording that cannot go on: an endpoint that is unreachable, refuses the key or
    does not serve the model (named), a budget too small for one request, a resume that does
    not match the recording it continues."""
