"""Everything the running system imports is installed by ``pip install aiplugs`` (no extras).

The README's first command runs in a virtualenv that holds only the base install. This test reads every module of
the package and fails when

- a module-level import names a third-party distribution that is not a direct runtime dependency;
- a lazy import (inside a function, or under ``TYPE_CHECKING``) names one that is neither a runtime dependency nor
  in a declared extra other than ``test``;
- a server option (uvicorn's ``ws=`` / ``http=`` / ``loop=``) names an implementation whose package the base
  install does not bring (the ``ws="websockets-sansio"`` without ``websockets`` case).

The CI script proves the same thing for real by running the README's first command in a fresh virtualenv.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "aiplugs"
# uvicorn option value -> the distribution that implements it
SERVER_IMPLEMENTATIONS = {
    ("ws", "websockets"): "websockets", ("ws", "websockets-sansio"): "websockets", ("ws", "wsproto"): "wsproto",
    ("http", "h11"): "h11", ("http", "httptools"): "httptools", ("loop", "uvloop"): "uvloop",
}


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    module: str  # top-level module name
    lazy: bool

    def __str__(self) -> str:
        kind = "lazy import" if self.lazy else "import"
        return f"{self.file.relative_to(REPO)}:{self.line}: {kind} of {self.module!r}"


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def runtime_dependencies() -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in _project()["dependencies"]}


def extra_dependencies() -> set[str]:
    extras = _project().get("optional-dependencies", {})
    return {canonicalize_name(Requirement(r).name) for name, reqs in extras.items() if name != "test"
            for r in reqs}


def closure(names: set[str]) -> set[str]:
    """The distributions installing ``names`` brings in (their requirements without extras, recursively)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def _lazy_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes inside functions or ``if TYPE_CHECKING:`` blocks."""
    lazy: set[int] = set()

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            here = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for sub in child.body:
                    lazy.update(id(n) for n in ast.walk(sub))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and here:
                lazy.add(id(child))
            visit(child, here)

    visit(tree, False)
    return lazy


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    lazy = _lazy_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in ("aiplugs", "__future__", "_aiplugs_worker"):  # harness siblings
                continue
            found.append(Import(path, node.lineno, top, id(node) in lazy))
    return found


def server_options(path: Path) -> list[tuple[int, str, str]]:
    """(line, option, value) of every ``ws=`` / ``http=`` / ``loop=`` keyword given a string constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, kw.arg, kw.value.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
            for kw in node.keywords if kw.arg in ("ws", "http", "loop")
            and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)]


def distributions(module: str) -> set[str]:
    """The distributions installing ``module``; one not installed here is taken to share the module's name."""
    installed = metadata.packages_distributions().get(module)
    return {canonicalize_name(d) for d in installed} if installed else {canonicalize_name(module)}


MODULES = sorted(PACKAGE.rglob("*.py"))
# Modules only ever imported lazily, by the feature of an extra: their module-level imports count as lazy.
# (tests/test_imports.py checks that importing aiplugs and its CLI loads none of them.)
EXTRA_ONLY = {"aiplugs/notebook/dashboard.py"}


def test_every_module_is_read() -> None:
    assert len(MODULES) > 50
    assert any(i.module == "pydantic" and not i.lazy for p in MODULES for i in imports_of(p))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_imports_are_declared(path: Path) -> None:
    runtime, extras = runtime_dependencies(), extra_dependencies()
    problems = []
    extra_only = str(path.relative_to(REPO)) in EXTRA_ONLY
    for found in imports_of(path):
        dists = distributions(found.module)
        if not dists & runtime and (not (found.lazy or extra_only) or not dists & extras):
            where = "[project.dependencies]" if not found.lazy else "[project.dependencies] or an extra"
            problems.append(f"{found}: {sorted(dists)} is not in {where}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_server_options_name_installed_implementations(path: Path) -> None:
    base = closure(runtime_dependencies())
    problems = []
    for line, option, value in server_options(path):
        dist = SERVER_IMPLEMENTATIONS.get((option, value))
        if dist is not None and dist not in base:
            problems.append(f"{path.relative_to(REPO)}:{line}: {option}={value!r} needs {dist!r}, "
                            "which the base install does not bring")
    assert not problems, "\n".join(problems)


def test_the_checks_would_catch_the_websockets_case(tmp_path: Path) -> None:
    bad = tmp_path / "server.py"
    bad.write_text("def start():\n    import uvicorn\n    return uvicorn.Config(None, ws='websockets-sansio')\n")
    assert server_options(bad) == [(3, "ws", "websockets-sansio")]
    assert "websockets" not in closure({"starlette"})  # what a base install without the dependency would lack
    lazy = imports_of(bad)
    assert [(i.module, i.lazy) for i in lazy] == [("uvicorn", True)]


def test_type_checking_imports_count_as_lazy(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nimport yaml\nif TYPE_CHECKING:\n    import numpy\n")
    assert [(i.module, i.lazy) for i in imports_of(module)] == [("yaml", False), ("numpy", True)]
