"""aiplugs: a local AI-plugin platform.

A proxy injects plugins' content scripts into the pages they match; the scripts call the plugins' backends
through a local router (worker processes with models on disk, or a cloud relay). ``aiplugs.toml`` plus each
plugin's ``manifest.json`` declare it all; ``aiplugs apply`` converges the running system.
"""

from __future__ import annotations

from .declaration.config import Config, Settings, load_config
from .declaration.manifest import Manifest, load_plugins
from .declaration.rules import MatchPattern, PatternError, RuleSet
from .errors import AiplugsError, ConfigError, Problem
from .plan import Action, ActionKind, ActualState, DesiredState, ModelState, Plan, PluginState, diff
from .plan import load_desired_state
from .util.version import VERSION

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


def __getattr__(name: str):
    """``Session`` loads on first use, so ``import aiplugs`` stays light."""
    if name == "Session":
        from .notebook import Session

        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
