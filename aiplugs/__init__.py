"""aiplugs: a local AI-plugin platform.

A proxy injects plugins' content scripts into the pages they match; the scripts call the plugins' backends
through a local router (worker processes with models on disk, or a cloud relay). ``aiplugs.toml`` plus each
plugin's ``manifest.json`` declare it all; ``aiplugs apply`` converges the running system.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .util.version import VERSION

if TYPE_CHECKING:
    from .declaration.config import Config, Settings, load_config
    from .declaration.manifest import Manifest, load_plugins
    from .declaration.rules import MatchPattern, PatternError, RuleSet
    from .errors import AiplugsError, ConfigError, Problem
    from .notebook import Session
    from .plan import Action, ActionKind, ActualState, DesiredState, ModelState, Plan, PluginState, diff
    from .plan import load_desired_state

__version__ = VERSION

__all__ = [
    "Action",
    "ActionKind",
    "ActualState",
    "AiplugsError",
    "Config",
    "ConfigError",
    "DesiredState",
    "Manifest",
    "MatchPattern",
    "ModelState",
    "PatternError",
    "Plan",
    "PluginState",
    "Problem",
    "RuleSet",
    "Session",
    "Settings",
    "__version__",
    "diff",
    "load_config",
    "load_desired_state",
    "load_plugins",
]

# Where each public name lives. They load on first use, so `import aiplugs` stays light: a command that only talks
# to the daemon, or `aiplugs --help`, does not build the declaration's pydantic models (~40 ms).
_WHERE = {
    **dict.fromkeys(["Config", "Settings", "load_config"], ".declaration.config"),
    **dict.fromkeys(["Manifest", "load_plugins"], ".declaration.manifest"),
    **dict.fromkeys(["MatchPattern", "PatternError", "RuleSet"], ".declaration.rules"),
    **dict.fromkeys(["AiplugsError", "ConfigError", "Problem"], ".errors"),
    **dict.fromkeys(["Action", "ActionKind", "ActualState", "DesiredState", "ModelState", "Plan", "PluginState", "diff",
                     "load_desired_state"], ".plan"),
    "Session": ".notebook",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
