"""A sweep's finished runs on disk: one JSON file per run, written atomically as the run
finishes, so an interrupted sweep keeps what finished and ``resume`` skips it.

Layout of the folder::

    sweep.json          {"format": 1, "key": <digest of the sweep's runs>}
    run-000042.json     one run's row (the row :func:`simkit.sweep.sweep` returns)

Rows are strict JSON: a non-finite float is written as ``{"float": "nan"}`` (or ``"inf"``,
``"-inf"``) and read back as that float, so the reloaded table equals the one written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from simkit.errors import SpecError

__all__ = ["RunStore"]

FORMAT = 1


def _encode(v: Any) -> Any:
    if type(v).__module__ == "numpy" and hasattr(v, "item"):
        v = v.item()  # a numpy scalar as the Python number it holds
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    return v


def _decode(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"float"}:
        return float(v["float"])
    return v


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunStore:
    """The folder ``path`` for the sweep whose runs digest to ``key``.

    Parameters
    ----------
    path : path-like
        Created if missing.
    key : str
        Digest of the sweep's runs; a folder written by another sweep is refused.
    resume : bool
        Whether finished runs already in the folder may be reused.

    Raises
    ------
    SpecError
        ``path`` is a file; it holds another sweep's runs; or it holds finished runs and
        ``resume`` is False.
    """

    def __init__(self, path: str | os.PathLike[str], key: str, resume: bool) -> None:
        self.path = Path(path)
        self.key = key
        if self.path.exists() and not self.path.is_dir():
            raise SpecError(str(self.path), problem="is a file; give a folder for per-run rows")
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = self.path / "sweep.json"
        if manifest.exists():
            try:
                found = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise SpecError(str(manifest), problem=f"not a sweep manifest ({err})") from None
            if not isinstance(found, dict) or found.get("key") != key:
                raise SpecError(
                    str(manifest),
                    key="key",
                    problem="this folder holds the runs of a different sweep (other policies, "
                    "seeds, trace, fleet or options)",
                    hint="give another folder, or empty this one",
                )
            if not resume and self._files():
                raise SpecError(
                    str(self.path),
                    problem=f"already holds {len(self._files())} finished runs",
                    hint="resume them (resume=True, --resume) or give an empty folder",
                )
        else:
            _write_atomically(manifest, json.dumps({"format": FORMAT, "key": key}))

    def _files(self) -> list[Path]:
        return sorted(self.path.glob("run-*.json"))

    def finished(self) -> dict[int, dict[str, Any]]:
        """The rows already written, by ``run_id``.

        Raises
        ------
        SpecError
            A row file that is not a JSON object with an integer ``run_id`` matching its name.
        """
        rows: dict[int, dict[str, Any]] = {}
        for f in self._files():
            try:
                row = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise SpecError(str(f), problem=f"not a JSON run row ({err})") from None
            run_id = row.get("run_id") if isinstance(row, dict) else None
            if not isinstance(run_id, int) or f.name != f"run-{run_id:06d}.json":
                raise SpecError(
                    str(f), key="run_id", problem="expected an integer run_id matching the name"
                )
            rows[run_id] = {k: _decode(v) for k, v in row.items()}
        return rows

    def write(self, row: dict[str, Any]) -> None:
        """Write one finished run's row (atomically: a crash leaves it whole or absent)."""
        text = json.dumps({k: _encode(v) for k, v in row.items()}, allow_nan=False)
        _write_atomically(self.path / f"run-{row['run_id']:06d}.json", text)
