"""Import a package's submodules without running the package's ``__init__``, for packages whose ``__init__``
imports far more than the few submodules a long-running process uses.

``mitmproxy.addons`` imports all of mitmdump's default addons (and through them flask, werkzeug, ldap3, passlib:
~320 modules, ~16 MB resident); ``uvicorn`` imports its command line (click, watchfiles, multiprocessing: ~2 MB).
The daemon runs six of those addons and uvicorn's ``Server``. ``without_init(name)`` registers the package as an
empty module with its real ``__path__``: its submodules import as usual, and the first use of a name that only the
``__init__`` defines runs the ``__init__`` then, so nothing breaks, it only costs later. Only done when nothing in
the process imported the package yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any, Mapping

__all__ = ["without_init"]

_MARK = "_aiplugs_without_init"


def without_init(name: str, aliases: Mapping[str, str] | None = None) -> bool:
    """Registers package ``name`` without running its ``__init__``; call before anything imports it. True when
    the package is (now) registered that way, False when it was imported already or cannot be found.

    ``aliases`` maps names the ``__init__`` re-exports to the submodule defining them (``{"Config":
    "uvicorn.config"}``), so ``from uvicorn import Config`` inside the package does not need the ``__init__``."""
    if name in sys.modules:
        return bool(getattr(sys.modules[name], _MARK, False))
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    package = importlib.util.module_from_spec(spec)  # __path__ and __spec__ set, code not run
    known = dict(aliases or {})

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__") or package.__dict__.get("_aiplugs_loading"):
            raise AttributeError(attr)
        if attr in known:
            return getattr(importlib.import_module(known[attr]), attr)
        if importlib.util.find_spec(f"{name}.{attr}") is not None:  # `from package import submodule` asks here
            return importlib.import_module(f"{name}.{attr}")
        package.__dict__["_aiplugs_loading"] = True  # a name only the __init__ defines: run it now, once
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)  # type: ignore[union-attr]
        return getattr(package, attr)

    package.__dict__["__getattr__"] = __getattr__
    package.__dict__[_MARK] = True
    sys.modules[name] = package
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, package)
    return True
