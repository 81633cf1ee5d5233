"""simkit.metrics depends on simkit.errors and simkit.schema, numpy, pandas and the stdlib only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import simkit.metrics

PACKAGE = Path(simkit.metrics.__file__).resolve().parent
ALLOWED_SIMKIT = {"simkit.errors", "simkit.schema", "simkit.metrics"}
ALLOWED_THIRD_PARTY = {"numpy", "pandas"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_metrics_import_nothing_but_errors_schema_numpy_pandas_and_the_stdlib():
    offending = []
    for path in sorted(PACKAGE.glob("*.py")):
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "simkit":
                ok = any(name == a or name.startswith(a + ".") for a in ALLOWED_SIMKIT)
            else:
                ok = top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names
            if not ok:
                offending.append(f"{path.name} imports {name}")
    assert offending == []


def test_public_metrics_are_listed_in_all_and_documented():
    for name in simkit.metrics.__all__:
        obj = getattr(simkit.metrics, name)
        if callable(obj):
            assert obj.__doc__, f"simkit.metrics.{name} has no docstring"
