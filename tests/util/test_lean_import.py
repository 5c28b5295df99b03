"""without_init: a package's submodules import without its ``__init__``; its own names still work, later."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = {
    "__init__.py": "import pkg_heavy_dep\nfrom .core import Thing\nEVERYTHING = 'loaded'\n",
    "core.py": "class Thing:\n    pass\n",
    "other.py": "from leanpkg import Thing\nVALUE = 1\n",
}
CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from aiplugs.util.lean_import import without_init
assert without_init("leanpkg", {"Thing": "leanpkg.core"}) is True
assert without_init("leanpkg") is True  # again: still registered that way
from leanpkg import core  # a submodule, through `from package import name`
import leanpkg.other  # uses a re-exported name: the alias serves it
print("heavy" if "pkg_heavy_dep" in sys.modules else "light", leanpkg.other.VALUE, core.Thing is leanpkg.core.Thing)
print(leanpkg.EVERYTHING, "pkg_heavy_dep" in sys.modules)  # a name only __init__ defines: __init__ runs now
"""


def _package(root: Path) -> None:
    (root / "leanpkg").mkdir()
    for name, text in PACKAGE.items():
        (root / "leanpkg" / name).write_text(text)
    (root / "pkg_heavy_dep.py").write_text("LOADED = True\n")


def test_submodules_without_the_init_until_an_init_name_is_used(tmp_path) -> None:
    _package(tmp_path)
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["light 1 True", "loaded True"]


def test_an_imported_package_is_left_alone(tmp_path) -> None:
    _package(tmp_path)
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import leanpkg\n"
            "from aiplugs.util.lean_import import without_init; print(without_init('leanpkg'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["False"], out.stderr
