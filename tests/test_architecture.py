"""The layout is the architecture: a module's folder says what it may import, and no two modules
import each other, even through a chain.

Both checks read the source with `ast` (nothing is imported): every `import` and `from ... import`
anywhere in a module (module level, inside functions, relative ones resolved), classified by the
folder of the module imported.

    web/, cli/           the edges: may import every layer below
    hold/    release/    hold never imports release; neither imports web or cli
    store/               imports no hold, release, web or cli
    core/                pure: stdlib, pendulum, holidays, pydantic; no other layer, no edge library
    errors.py            imported by all, imports nothing of the package

- Boundaries count every import, `if TYPE_CHECKING:` ones included: a type is a dependency too.
- Cycles count what runs: module-level and function-level imports (a function-level import is
  the usual way to hide a cycle, not to remove it), but not `if TYPE_CHECKING:` blocks, which
  never run and are how an annotation names a type without depending on its module at runtime.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import deconnexion

ROOT = Path(deconnexion.__file__).resolve().parent
LAYERS = ("core", "store", "hold", "release", "web", "cli")
EDGE_LIBRARIES = frozenset({"starlette", "httpx", "psycopg", "uvicorn", "anyio", "sqlite3"})
CORE_THIRD_PARTY = frozenset({"pendulum", "holidays", "pydantic"})  # `pip install deconnexion`
# optional in core: only in functions or for annotations, never when the module loads
CORE_OPTIONAL = frozenset({"numpy"})

# layer -> what it must never import (layers of the package, or top-level libraries)
# argparse too: command lines are parsed in cli/ (and the gateway's web/gateway.py), not below.
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({"store", "hold", "release", "web", "cli", "argparse"}) | EDGE_LIBRARIES,
    "store": frozenset({"hold", "release", "web", "cli", "argparse"}),
    "hold": frozenset({"release", "web", "cli", "argparse"}),
    "release": frozenset({"web", "cli", "argparse"}),
}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name, e.g. deconnexion.core.message
    target: str  # dotted name imported, resolved to a module of the package when it is one
    line: int
    runtime: bool  # False inside `if TYPE_CHECKING:`
    deferred: bool  # inside a function: runs only when it is called


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under `root`, by dotted name (packages by their __init__)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([package, *parts])] = path
    return names


_Found = tuple[ast.Import | ast.ImportFrom, bool, bool]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, runtime: bool = True, deferred: bool = False) -> Iterator[_Found]:
    """(import node, runs at runtime, runs only when a function is called) under `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, runtime, deferred
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), False, deferred)
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), runtime, deferred)
        else:
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _walk(child, runtime, inner)


def collect_imports(root: Path, package: str) -> list[Import]:
    modules = module_names(root, package)
    found = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, runtime, deferred in _walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from deconnexion.core import message` imports a module, not a name
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            found += [Import(name, target, node.lineno, runtime, deferred) for target in targets]
    return found


def layer_of(module: str, package: str) -> str | None:
    """The folder a module of the package lives in (None: top level, e.g. errors.py)."""
    parts = module.split(".")
    if parts[0] != package or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return parts[1]


def boundary_violations(root: Path, package: str = "deconnexion") -> list[str]:
    out = []
    for imp in collect_imports(root, package):
        layer = layer_of(imp.importer, package)
        if layer not in FORBIDDEN:
            continue
        top = imp.target.split(".")[0]
        what = layer_of(imp.target, package) if top == package else top
        if what in FORBIDDEN[layer]:
            out.append(f"{imp.importer}:{imp.line} ({layer}/) imports {imp.target}")
        elif layer == "core" and top not in (package, *CORE_THIRD_PARTY):
            if top in CORE_OPTIONAL and (imp.deferred or not imp.runtime):
                continue
            if top not in sys.stdlib_module_names and top != "__future__":
                out.append(f"{imp.importer}:{imp.line} (core/) imports {imp.target}, not pure")
    return sorted(out)


def import_graph(root: Path, package: str = "deconnexion") -> dict[str, set[str]]:
    """Module -> the modules of the package it imports when it runs (see the docstring)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in collect_imports(root, package):
        if imp.runtime and imp.target in modules and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


# -- the package --------------------------------------------------------------------------------


def test_each_layer_imports_only_the_layers_below_it():
    assert boundary_violations(ROOT) == []


def test_no_two_modules_of_the_package_import_each_other_even_through_a_chain():
    assert cycles(import_graph(ROOT)) == []


def test_every_module_lives_in_a_layer_folder_or_is_one_of_the_few_top_level_ones():
    top_level = {
        name for name in module_names(ROOT, "deconnexion") if layer_of(name, "deconnexion") is None
    }
    assert top_level == {
        "deconnexion",
        "deconnexion.__main__",
        "deconnexion.errors",
        "deconnexion.metrics",
        "deconnexion.data",
    }


def test_the_errors_module_imports_nothing_of_the_package():
    # every layer raises these: errors.py must sit below all of them
    imports = collect_imports(ROOT, "deconnexion")
    assert [
        i for i in imports if i.importer == "deconnexion.errors" and "deconnexion" in i.target
    ] == []


# -- the checkers can fail ----------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in {p.parent for p in root.rglob("*.py")} | {root}:
        (folder / "__init__.py").touch()
    return root


def test_the_boundary_check_reports_a_core_module_reaching_an_edge_in_every_spelling(tmp_path):
    root = _tree(
        tmp_path,
        {
            "core/a.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.web.app import App\n",
            "core/b.py": "def f():\n    from ..store import sql\n",
            "core/c.py": "import starlette.responses\n",
            "core/d.py": "import requests\nimport json\nimport pendulum\nimport numpy\n",
            "core/f.py": "def f():\n    import numpy\n",  # optional, on demand: allowed
            "core/e.py": "from pkg import hold\n",
            "hold/q.py": "from pkg.release.worker import W\n",
            "store/s.py": "from pkg.core.a import x\n",  # downwards: allowed
            "release/r.py": "from pkg.cli import main\n",
            "store/main.py": "import argparse\n",
            "store/sql.py": "",
            "web/app.py": "",
            "release/worker.py": "",
        },
    )
    assert boundary_violations(root, "pkg") == [
        "pkg.core.a:3 (core/) imports pkg.web.app",
        "pkg.core.b:2 (core/) imports pkg.store.sql",
        "pkg.core.c:1 (core/) imports starlette.responses",
        "pkg.core.d:1 (core/) imports requests, not pure",
        "pkg.core.d:4 (core/) imports numpy, not pure",
        "pkg.core.e:1 (core/) imports pkg.hold",
        "pkg.hold.q:1 (hold/) imports pkg.release.worker",
        "pkg.release.r:1 (release/) imports pkg.cli",
        "pkg.store.main:1 (store/) imports argparse",
    ]


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function_but_not_one_for_types_only(tmp_path):
    root = _tree(
        tmp_path,
        {
            # message <-> explain, the explain import deferred into a method: a cycle
            "core/message.py": "class D:\n    def f(self):\n"
            "        from pkg.core.explain import g\n        return g(self)\n",
            "core/explain.py": "from pkg.core.message import D\n",
            # batch names the worker for annotations only: no cycle
            "release/batch.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from pkg.release.worker import W\n",
            "release/worker.py": "from pkg.release import batch\n",
            # a longer chain
            "web/a.py": "from . import b\n",
            "web/b.py": "import pkg.web.c\n",
            "web/c.py": "from .a import x\n",
        },
    )
    assert cycles(import_graph(root, "pkg")) == [
        ["pkg.core.explain", "pkg.core.message"],
        ["pkg.web.a", "pkg.web.b", "pkg.web.c"],
    ]
