"""The curated public face: aiplugs.__all__ is sorted and every name in it imports."""

from __future__ import annotations

import importlib
import subprocess
import sys

import aiplugs


def test_all_is_sorted_and_unique() -> None:
    assert list(aiplugs.__all__) == sorted(set(aiplugs.__all__))


def test_every_public_name_resolves() -> None:
    module = importlib.reload(aiplugs)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from aiplugs import *", namespace)  # noqa: S102 - checks the star import honours __all__
    assert set(module.__all__) <= set(namespace)


def test_core_names_are_public() -> None:
    for name in ("MatchPattern", "PatternError", "ConfigError", "AiplugsError", "load_config", "diff", "Plan",
                 "DesiredState", "load_desired_state", "RuleSet"):
        assert name in aiplugs.__all__, name
    assert issubclass(aiplugs.PatternError, ValueError)
    assert issubclass(aiplugs.ConfigError, aiplugs.AiplugsError)
    assert isinstance(aiplugs.__version__, str)


def test_names_load_on_first_use_and_tab_completion_lists_them() -> None:
    code = ("import sys, aiplugs; loaded = 'pydantic' in sys.modules or 'aiplugs.plan' in sys.modules; "
            "print(loaded, aiplugs.Plan.__module__, 'pydantic' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert found.stdout.split() == ["False", "aiplugs.plan.actions", "True"]
    assert set(aiplugs.__all__) <= set(dir(aiplugs))
