"""Imports point one way (STYLE.md §3), without cycles, and the light imports stay light.

Every module of the package is parsed with ``ast`` (nothing is imported) into a graph of
module -> modules it imports. Which imports are edges:

* every ``import simkit.x`` / ``from simkit.x import y``, at module level, *inside functions*
  and under ``if TYPE_CHECKING:``: a deferred import is still a dependency (hiding a cycle in
  a function body is how two modules end up needing each other's private helpers), and naming
  another module's types is depending on it (the simulator's tiers naming the engine's run
  state was the cycle issue 10 found);
* ``from pkg import name`` also points at the module that defines ``name`` when ``pkg``'s
  ``__init__`` re-exports it (eagerly, or lazily through PEP 562 ``__getattr__`` with the name
  declared in its ``if TYPE_CHECKING:`` block): the import runs that module;
* not the implicit import of a parent package (``import a.b.c`` runs ``a/__init__`` first): a
  package ``__init__`` that imports its own modules is normal Python, and any import it makes
  is an edge of its own.

Which imports *run* is what the subprocess tests at the end check (``sys.modules``).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import simkit

PACKAGE = Path(simkit.__file__).resolve().parent

# --- the layering of STYLE.md §3 ----------------------------------------------------------------
#: errors, schema, seeding, shares (the one share-threshold rule, numpy only) and _version (the
#: version string, so that no part imports the package root for it) import nothing from simkit
#: but errors; everyone may import them
BASE = frozenset({"errors", "schema", "seeding", "shares", "_version"})
#: part -> the parts it may import directly (besides BASE); a part may also import whatever its
#: targets may ("a module may also import what its targets may"). A part is a top-level module
#: or sub-package of simkit; "simkit" is the package's own __init__ (the public facade).
LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "schema": frozenset({"errors"}),
    "seeding": frozenset({"errors"}),
    "shares": frozenset({"errors"}),
    "_version": frozenset(),
    "trace": BASE,
    "fleet": BASE,
    "policies": BASE,
    "sim": frozenset({"trace", "fleet", "policies"}),
    "metrics": frozenset({"fleet"}),
    "classify": frozenset({"trace"}),
    "router": frozenset({"classify", "policies"}),
    "live": frozenset({"trace", "fleet"}),
    "sweep": frozenset({"sim", "metrics", "policies"}),
    "gateway": frozenset({"router", "policies", "live", "trace"}),
    "study": frozenset({"sweep", "sim", "metrics", "fleet", "policies"}),
    "viz": frozenset({"metrics"}),
    # classifier evaluation with the simulator's metrics (a workflow joining two layers)
    "evaluation": frozenset({"classify", "metrics"}),
    # the `simkit demo` workflow: part of the command-line layer, which alone calls it
    "demo": frozenset({"study", "sweep", "sim", "metrics", "fleet", "policies", "trace"}),
    "simkit": frozenset({"fleet", "policies", "sim", "trace"}),
}
#: the command line may import anything (and is imported by nothing)
TOP = "cli"


def allowed_targets(part: str, layers: dict[str, frozenset[str]] = LAYERS) -> frozenset[str]:
    """Everything ``part`` may import: its direct targets, BASE, and what those may import."""
    if part == TOP:
        return frozenset(layers) - {TOP}
    seen: set[str] = set()
    todo = [part]
    while todo:
        importer = todo.pop()
        for target in layers[importer] | (BASE if importer not in BASE else frozenset()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return frozenset(seen - {part})


# --- the import graph ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` at ``line`` of ``path`` (relative to the package's parent)."""

    importer: str
    target: str
    path: Path
    line: int


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it sits."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_edges(root: Path) -> list[Edge]:
    """The run-time import edges between the modules of the package at ``root``."""
    modules = _module_names(root)
    trees = {name: ast.parse(path.read_text("utf-8")) for name, path in modules.items()}
    # package -> name -> defining module, from the __init__'s own imports
    exports: dict[str, dict[str, str]] = {}
    for name, path in modules.items():
        if path.name == "__init__.py":
            table = exports.setdefault(name, {})
            for node in _imports(trees[name]):
                if isinstance(node, ast.ImportFrom):
                    source = _absolute(name, node, is_package=True)
                    for alias in node.names:
                        defined = f"{source}.{alias.name}"
                        table[alias.asname or alias.name] = (
                            defined if defined in modules else source
                        )
    edges = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _imports(trees[name]):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _absolute(name, node, is_package)
                if source is None:
                    continue
                targets.append(source)
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in modules:
                        targets.append(sub)
                    elif alias.name in exports.get(source, {}):
                        targets.append(exports[source][alias.name])
            for target in targets:
                if target in modules and target != name:
                    edges.append(Edge(name, target, path.relative_to(root.parent), node.lineno))
    return edges


def import_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.importer, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(cycles)


def _part(module: str) -> str:
    bits = module.split(".")
    return bits[0] if len(bits) == 1 else bits[1]


def layer_violations(
    edges: list[Edge], layers: dict[str, frozenset[str]] = LAYERS, top: str = TOP
) -> list[str]:
    """Each import across parts that the layering does not allow, as ``path:line: a -> b``."""
    known = set(layers) | {top}
    out = []
    for e in edges:
        importer, target = _part(e.importer), _part(e.target)
        if importer == target:
            continue
        where = e.path.as_posix()
        if importer not in known:
            out.append(f"{where}:{e.line}: part {importer!r} is not in the layering table")
        elif target == top:
            out.append(f"{where}:{e.line}: {importer} -> {target} (nothing imports {top})")
        elif importer != top and target not in allowed_targets(importer, layers):
            out.append(f"{where}:{e.line}: {importer} -> {target}")
    return sorted(set(out))


# --- the package itself --------------------------------------------------------------------------
def test_no_import_cycles_between_simkit_modules():
    """No two simkit modules import each other, directly or through others, packages included."""
    assert import_cycles(import_edges(PACKAGE)) == []


def test_no_module_imports_across_a_forbidden_edge():
    """Every simkit module's simkit imports respect the one-way layering of STYLE.md §3."""
    assert layer_violations(import_edges(PACKAGE)) == []


def test_every_part_of_the_package_is_in_the_layering_table():
    """A new sub-package or top-level module must be placed in the layering first."""
    parts = {_part(m) for m in _module_names(PACKAGE)}
    assert parts - set(LAYERS) - {TOP} == set()


def test_architecture_md_names_every_part_of_the_package():
    """ARCHITECTURE.md says what each folder owns: every public part of the package (private
    helpers such as ``_version.py`` aside) is in its table."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text("utf-8")
    parts = {p for p in map(_part, _module_names(PACKAGE)) if not p.startswith("_")} - {"simkit"}
    missing = [p for p in sorted(parts) if f"`{p}/`" not in text and f"`{p}.py`" not in text]
    assert missing == []


@pytest.mark.parametrize(
    ("importer", "target"),
    [
        *[(p, "viz") for p in LAYERS if p != "viz"],
        *[(p, "sweep") for p in LAYERS if p not in ("sweep", "study", "demo")],
        *[(p, "gateway") for p in LAYERS],
        *[(p, TOP) for p in LAYERS],
        *[("sim", t) for t in ("classify", "metrics", "viz", "live")],
        *[(p, t) for p in ("policies", "metrics") for t in ("sim", "viz")],
        *[("classify", t) for t in ("sim", "policies", "metrics")],
        *[("router", t) for t in ("sim", "sweep", "metrics", "live", "gateway")],
        *[("live", t) for t in ("sim", "policies", "classify", "router", "gateway")],
        *[(p, "simkit") for p in LAYERS if p != "simkit"],
    ],
)
def test_the_layering_table_forbids_what_style_forbids(importer, target):
    """The table, closed under "may import what its targets may", keeps STYLE.md's bans."""
    assert target not in allowed_targets(importer)


def test_the_layering_table_allows_what_the_coming_parts_need():
    """live -> trace, fleet, errors, seeding, schema; gateway -> router, policies, live, trace."""
    assert {"trace", "fleet", "errors", "seeding", "schema"} <= allowed_targets("live")
    assert {"router", "policies", "live", "trace"} <= allowed_targets("gateway")
    assert {"gateway", "live"} <= allowed_targets(TOP)


def _lazy_tables(init: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(_WHERE, TYPE_CHECKING imports)`` of a package ``__init__``, as name -> module."""
    tree = ast.parse(init.read_text("utf-8"))
    where: dict[str, str] = {}
    declared: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_WHERE" for t in node.targets
        ):
            where = dict(ast.literal_eval(node.value))
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name):
            if node.test.id == "TYPE_CHECKING":
                for imp in node.body:
                    if isinstance(imp, ast.ImportFrom):
                        declared.update({a.name: imp.module for a in imp.names})
    return where, declared


@pytest.mark.parametrize(
    "init",
    [p for p in sorted(PACKAGE.rglob("__init__.py")) if "def __getattr__" in p.read_text("utf-8")],
    ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)),
)
def test_lazy_packages_declare_what_they_load_for_the_import_graph(init):
    """A PEP 562 package lists each lazily loaded name under TYPE_CHECKING, from the module its
    ``_WHERE`` table loads it from: that is how the graph above sees the dependency."""
    where, declared = _lazy_tables(init)
    package = ".".join(init.parent.relative_to(PACKAGE.parent).parts)
    assert where, "a lazy package keeps its name -> module table in _WHERE"
    loads = {name: m if m.startswith("simkit") else f"{package}.{m}" for name, m in where.items()}
    assert loads == declared


# --- the checker on synthetic packages -----------------------------------------------------------
def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), "utf-8")
    return root


def test_checker_finds_a_cycle_hidden_in_a_function_body(tmp_path):
    """a imports b at the top; b imports a inside a function: that is a cycle."""
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "x/__init__.py": "",
            "x/a.py": "from pkg.x.b import helper\n",
            "x/b.py": "def helper():\n    from pkg.x.a import thing\n    return thing\n",
            "x/c.py": "from pkg.x import a\n",
        },
    )
    assert import_cycles(import_edges(root)) == [["pkg.x.a", "pkg.x.b"]]


def test_checker_follows_relative_and_lazily_re_exported_imports(tmp_path):
    """``from . import`` counts; ``from pkg.t import Name`` runs the module that defines Name
    (declared under TYPE_CHECKING for a PEP 562 package), closing the cycle core -> t -> core."""
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "t/__init__.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.t.core import Trace
                """,
            "t/core.py": "from .store import save\n",
            "t/store.py": "from pkg.t import Trace\n",
        },
    )
    assert import_cycles(import_edges(root)) == [["pkg.t", "pkg.t.core", "pkg.t.store"]]


def test_checker_counts_imports_for_type_checkers_only(tmp_path):
    """The engine imports the tier; the tier names the engine's run type under TYPE_CHECKING:
    still a cycle (the two cannot be understood or changed apart)."""
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "engine.py": "from pkg.tier import Tier\n",
            "tier.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.engine import Run\n",
            "records.py": "import pkg.engine\n",
        },
    )
    assert import_cycles(import_edges(root)) == [["pkg.engine", "pkg.tier"]]


def test_checker_reports_a_forbidden_edge_with_file_and_line(tmp_path):
    """router importing gateway (even inside a function) and trace importing cli are reported;
    cli may import anything; a part missing from the table is reported too."""
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "router/__init__.py": "",
            "router/runtime.py": "import pkg.classify\n\ndef f():\n    import pkg.gateway.server\n",
            "gateway/__init__.py": "",
            "gateway/server.py": "from pkg.router import runtime\n",
            "classify/__init__.py": "",
            "trace/__init__.py": "from pkg.cli import main\n",
            "cli/__init__.py": "def main():\n    import pkg.gateway.server\n",
            "extra.py": "import pkg.trace\n",
        },
    )
    assert layer_violations(import_edges(root)) == [
        "pkg/extra.py:1: part 'extra' is not in the layering table",
        "pkg/router/runtime.py:4: router -> gateway",
        "pkg/trace/__init__.py:1: trace -> cli (nothing imports cli)",
    ]


# --- what importing costs ------------------------------------------------------------------------
def _loaded(statement: str, modules: set[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after ``statement``."""
    code = (
        f"import json, sys; {statement}; "
        f"print(json.dumps(sorted(set({sorted(modules)!r}) & set(sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_simkit_loads_no_heavy_library():
    """`import simkit` must not load torch, altair, ipywidgets, openai or sentence-transformers."""
    heavy = {"torch", "altair", "ipywidgets", "openai", "sentence_transformers", "sklearn"}
    assert _loaded("import simkit", heavy | {"transformers"}) == []


def test_import_simkit_router_loads_no_data_frame_simulation_or_ml_library():
    """The router runtime needs numpy and tokenizers: not pandas, pyarrow, simpy, torch,
    scikit-learn or altair (nor the simulator or the trace loaders)."""
    heavy = {"pandas", "pyarrow", "simpy", "torch", "sklearn", "altair", "scipy", "transformers"}
    ours = {"simkit.sim", "simkit.trace.core", "simkit.trace.loaders", "simkit.fleet"}
    assert _loaded("import simkit.router", heavy | ours) == []


def test_simkit_names_still_load_on_first_use():
    """The lazy facade resolves every public name and the sub-packages it used to load."""
    assert _loaded("import simkit; simkit.simulate; simkit.trace.core", {"simpy", "pandas"}) == [
        "pandas",
        "simpy",
    ]
    assert simkit.trace.convert.__module__ == "simkit.trace.convert"  # the function, not the module


def test_public_api_matches_all():
    """Everything in simkit.__all__ exists and is documented."""
    for name in simkit.__all__:
        obj = getattr(simkit, name)
        if name != "__version__":
            assert obj.__doc__, f"simkit.{name} has no docstring"
