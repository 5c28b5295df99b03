"""aiplugs: a local AI-plugin platform.

A proxy injects plugins' content scripts into the pages they match; the scripts call the plugins' backends
through a local router (worker processes with models on disk, or a cloud relay). ``aiplugs.toml`` plus each
plugin's ``manifest.json`` declare it all; ``aiplugs apply`` converges the running system.
"""

from __future__ import annotations

from .declaration.config import Config, Settings, load_config
from .errors import AiplugsError, ConfigError, Problem
from .declaration.manifest import Manifest, load_plugins
from .plan import Action, ActionKind, ActualState, Plan, diff
from .declaration.rules import MatchPattern, PatternError, RuleSet
from .plan import DesiredState, load_desired_state

__version__ = "0.1.0"

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
    "PatternError",
    "Plan",
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
    """``Session`` and ``bench`` load on first use, so ``import aiplugs`` stays light."""
    if name == "Session":
        from .notebook import Session

        return Session
    if name == "bench":
        import importlib

        return importlib.import_module(".bench", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
