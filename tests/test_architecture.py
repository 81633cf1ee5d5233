"""Imports point one way (STYLE.md §3): every module is parsed with ``ast`` and each
``simkit.<part>`` import is checked against the forbidden edges."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import simkit

PACKAGE = Path(simkit.__file__).resolve().parent

# importer part -> parts it must never import
FORBIDDEN: dict[str, set[str]] = {
    "errors": {"*"},
    "schema": {"*"},  # except errors: require_columns raises TraceError
    "seeding": {"*"},
    "trace": {
        "fleet",
        "policies",
        "sim",
        "metrics",
        "sweep",
        "classify",
        "router",
        "live",
        "viz",
        "cli",
        "demo",
    },
    "fleet": {
        "trace",
        "policies",
        "sim",
        "metrics",
        "sweep",
        "classify",
        "router",
        "live",
        "viz",
        "cli",
        "demo",
    },
    "policies": {"sim", "metrics", "sweep", "classify", "router", "live", "viz", "cli", "demo"},
    "sim": {"classify", "metrics", "viz", "live", "sweep", "router", "cli", "demo"},
    "metrics": {"sim", "viz", "sweep", "classify", "router", "live", "policies", "cli", "demo"},
    "sweep": {"viz", "cli", "classify", "router", "live", "demo"},
    "classify": {"sim", "policies", "metrics", "viz", "sweep", "router", "live", "cli", "demo"},
    "router": {"sim", "sweep", "metrics", "live", "viz", "cli", "demo"},
    "live": {"sim", "policies", "metrics", "sweep", "classify", "router", "viz", "cli", "demo"},
    "viz": {"sim", "sweep", "classify", "router", "live", "cli", "demo"},
    # workflow layer joining classify with metrics (classifier evaluation): like cli, may
    # import anything but the views and the cli
    "evaluation": {"viz", "cli", "demo"},
    # workflow layer behind the explorer, notebooks and report: simulations and what-ifs for
    # the views (viz itself may not import the simulator)
    "study": {"viz", "sweep", "cli", "demo", "live", "router", "classify"},
}
# errors, schema and seeding import nothing from simkit but errors; everyone may import them
BASE = {"errors", "schema", "seeding"}


def _part(module_path: Path) -> str:
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_parts(tree: ast.AST) -> set[str]:
    parts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            bits = name.split(".")
            if bits[0] == "simkit" and len(bits) > 1:
                parts.add(bits[1])
    return parts


def test_no_module_imports_across_a_forbidden_edge():
    """Every simkit module's simkit imports respect the one-way data flow of DESIGN.md."""
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        banned = FORBIDDEN.get(part, set())
        for target in _imported_parts(ast.parse(path.read_text("utf-8"))):
            if target == part or (target == "errors" and part in BASE):
                continue
            if "*" in banned or target in banned:
                violations.append(f"{path.relative_to(PACKAGE.parent)} imports simkit.{target}")
    assert violations == []


def test_import_simkit_loads_no_heavy_library():
    """`import simkit` must not load torch, altair, ipywidgets, openai or sentence-transformers."""
    code = (
        "import sys, simkit; heavy = {'torch', 'altair', 'ipywidgets', 'openai', "
        "'sentence_transformers', 'sklearn', 'transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_matches_all():
    """Everything in simkit.__all__ exists and is documented."""
    for name in simkit.__all__:
        obj = getattr(simkit, name)
        if name != "__version__":
            assert obj.__doc__, f"simkit.{name} has no docstring"
