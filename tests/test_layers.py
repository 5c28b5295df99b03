"""The import contract of pyproject.toml's [tool.importlinter]: the layers of DESIGN.md (imports only point down,
front ends independent) and no import cycles between sibling modules at any depth. Checked with import-linter
itself, on the package and, to prove the check can fail, on a tiny package that breaks each contract."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]
FACADE = "def __getattr__(name):\n    from .notebook import Session\n    return Session\n"  # like aiplugs'
LAYER_NAMES = ["cli", "notebook", "client", "runtime", "adapters", "store", "plan", "declaration", "events", "util",
               "errors"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the pyproject.toml of ``cwd``; ``cwd`` is importable (the packages checked live there)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")])),
           "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(LINT, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_import_contracts() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contracts_name_every_layer_of_the_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    named = [name.strip().removeprefix("aiplugs.") for layer in layers for name in layer.split("|")]
    assert named == LAYER_NAMES
    top = {p.stem for p in (REPO / "aiplugs").iterdir() if (p / "__init__.py").is_file() or p.suffix == ".py"}
    assert top - {"__init__", "__main__"} == set(LAYER_NAMES), "every top-level module belongs to a layer"
    assert any(c["type"] == "acyclic_siblings" and c["ancestors"] == ["aiplugs"] for c in config["contracts"])


def test_the_package_never_imports_the_benchmarks() -> None:
    """benchmarks/ imports aiplugs; the reverse would tie the installed package to a source checkout."""
    graph = grimp.build_graph("aiplugs", include_external_packages=True, cache_dir=None)
    assert "benchmarks" not in graph.modules or not graph.find_modules_that_directly_import("benchmarks")


# ---- the check can fail: the project's own contracts, on a toy package that breaks them ------------------------

def make_toy(root: Path, files: dict[str, str]) -> Path:
    """Package ``toy`` with the layers of aiplugs (empty) plus ``files``, and the project's [tool.importlinter]
    with ``aiplugs`` renamed ``toy``."""
    for name in LAYER_NAMES:
        path = root / "toy" / (f"{name}.py" if name == "errors" else f"{name}/__init__.py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    (root / "toy" / "__init__.py").touch()
    for relative, text in files.items():
        path = root / "toy" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    config = (REPO / "pyproject.toml").read_text()
    section = config[config.index("[tool.importlinter]"):]
    (root / "pyproject.toml").write_text(re.sub(r"\baiplugs\b", "toy", section))
    return root


def test_a_toy_package_that_follows_the_layers_passes(tmp_path: Path) -> None:
    root = make_toy(tmp_path, {
        "__init__.py": FACADE,
        "notebook/session.py": "from ..client import api\nfrom .dashboard import Board\n",
        "notebook/dashboard.py": "from ._events import to_event\n",
        "notebook/_events.py": "from ..events import bus\n",
        "client/api.py": "from ..runtime import daemon\n",
        "runtime/daemon.py": "from ..util import files\nfrom .. import errors\n",
        "events/bus.py": "", "util/files.py": "",
    })
    result = lint_imports(root)
    assert result.returncode == 0 and "2 kept, 0 broken" in result.stdout, result.stdout + result.stderr


def test_a_layer_violation_and_a_cycle_are_reported(tmp_path: Path) -> None:
    root = make_toy(tmp_path, {
        "__init__.py": FACADE,
        "util/files.py": "from ..cli import main\n",  # an arrow pointing up
        "cli/main.py": "",
        "notebook/session.py": "from .dashboard import Board\n",  # session <-> dashboard
        "notebook/dashboard.py": "def follow():\n    from .session import to_event\n",
        "client/api.py": "from ..notebook import session\n",  # front ends sit on top of client
    })
    result = lint_imports(root)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1 and "0 kept, 2 broken" in out, result.stdout + result.stderr
    assert "toy.util is not allowed to import toy.cli" in out and "toy.util.files -> toy.cli.main" in out
    assert "toy.client is not allowed to import toy.notebook" in out
    assert "No cycles are allowed in toy.notebook" in out  # it names one import to remove, either one
    assert ".dashboard -> .session" in out or ".session -> .dashboard" in out


@pytest.mark.parametrize("edge", ["toy.cli.main -> toy.notebook.session", "toy.notebook.session -> toy.cli.main"])
def test_the_front_ends_are_independent(tmp_path: Path, edge: str) -> None:
    importer, imported = (name.strip() for name in edge.split("->"))
    root = make_toy(tmp_path, {
        "__init__.py": FACADE,
        "cli/main.py": "", "notebook/session.py": "",
    })
    module = root / Path(*importer.split(".")).with_suffix(".py")
    module.write_text(f"import {imported}\n")
    result = lint_imports(root)
    assert result.returncode == 1 and edge in " ".join(result.stdout.split()), result.stdout + result.stderr
