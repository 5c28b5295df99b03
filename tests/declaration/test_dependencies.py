"""Dependencies between plugins: start order, versions, disabled and missing plugins (naming every plugin that
needs them, where the fix is), cycles."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from aiplugs.declaration.config import load_config
from aiplugs.declaration.dependencies import dependency_order
from aiplugs.declaration.manifest import LoadedPlugin, load_plugins
from aiplugs.errors import Problem


@pytest.fixture
def project(bare_project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(bare_project)  # messages show aiplugs.toml:L:C
    return bare_project


def plugins_of(root: Path, write_plugin: Callable[..., Path], **needs: Any) -> dict[str, LoadedPlugin]:
    """``needs``: plugin id (``_`` for ``-``) -> its manifest's dependencies (and version, ``id@1.2.0``)."""
    for key, deps in needs.items():
        pid, _, version = key.replace("_", "-").partition("@")
        write_plugin(root / "plugins", pid, dependencies=deps, version=version or "1.0.0")
    return load_plugins(root / "plugins")


def order(root: Path, plugins: dict[str, LoadedPlugin], toml: str = "", env: dict[str, str] | None = None,
          unloadable: frozenset[str] = frozenset()) -> tuple[list[str], list[Problem]]:
    (root / "aiplugs.toml").write_text('plugins_dir = "plugins"\n' + toml, encoding="utf-8")
    config = load_config(root / "aiplugs.toml", env=env or {})
    enabled = {pid for pid in plugins if (config.settings.plugins.get(pid) is None
                                          or config.settings.plugins[pid].enabled)}
    return dependency_order(plugins, enabled, unloadable=unloadable, locate=config.position)


def test_dependencies_come_first_ties_by_id(project: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = plugins_of(project, write_plugin, app=["zeta", {"id": "base", "version": ">=1"}], zeta=["base"],
                         base=[], alone=[])
    assert order(project, plugins) == (["alone", "base", "zeta", "app"], [])


def test_version_outside_the_specifiers_names_both_plugins(project: Path, write_plugin: Callable[..., Path]) -> None:
    needs = {"summarize@1.4.0": [], "sentiment": [{"id": "summarize", "version": "~=1.4"}],
             "word_count": ["summarize", {"id": "summarize", "version": ">=2,<3"}]}
    ids, problems = order(project, plugins_of(project, write_plugin, **needs))
    assert ids == ["summarize", "sentiment", "word-count"]
    assert [str(p) for p in problems] == [
        f"{project / 'plugins' / 'word-count' / 'manifest.json'}: dependencies.1.version: word-count needs summarize "
        f">=2,<3, but summarize 1.4.0 is installed ({project / 'plugins' / 'summarize' / 'manifest.json'})"]


def test_disabled_dependency_names_every_plugin_that_needs_it(
    project: Path, write_plugin: Callable[..., Path]
) -> None:
    plugins = plugins_of(project, write_plugin, word_count=["summarize"], sentiment=["summarize"], summarize=[])
    toml = '\n[plugins.word-count]\nworkers = 2\n\n[plugins.summarize]\nenabled = false\n'
    ids, problems = order(project, plugins, toml)
    assert [str(p) for p in problems] == [
        "aiplugs.toml:7:11: plugins.summarize.enabled: sentiment and word-count need summarize, which is disabled "
        "here (enable summarize, or disable sentiment and word-count too)"]
    assert ids == ["sentiment", "word-count"]


def test_disabled_through_the_environment_points_at_the_variable(
    project: Path, write_plugin: Callable[..., Path]
) -> None:
    plugins = plugins_of(project, write_plugin, word_count=["summarize"], summarize=[])
    _, problems = order(project, plugins, env={"AIPLUGS_PLUGINS__SUMMARIZE__ENABLED": "false"})
    assert [str(p) for p in problems] == [
        "env AIPLUGS_PLUGINS__SUMMARIZE__ENABLED: plugins.summarize.enabled: word-count needs summarize, which is "
        "disabled here (enable summarize, or disable word-count too)"]


def test_disabling_the_needers_too_is_valid(project: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = plugins_of(project, write_plugin, word_count=["summarize"], summarize=[])
    toml = "[plugins.summarize]\nenabled = false\n[plugins.word-count]\nenabled = false\n"
    assert order(project, plugins, toml) == ([], [])


def test_missing_dependency_names_its_needers_at_the_manifest(
    project: Path, write_plugin: Callable[..., Path]
) -> None:
    plugins = plugins_of(project, write_plugin, sentiment=[], word_count=["x", "sentimnet"], app=["sentimnet"])
    _, problems = order(project, plugins)
    assert [str(p) for p in problems] == [
        f"{project / 'plugins' / 'app' / 'manifest.json'}: dependencies.0: app and word-count need sentimnet, which "
        "is missing: no plugin folder or [plugins.sentimnet] source declares it (did you mean 'sentiment'?)",
        f"{project / 'plugins' / 'word-count' / 'manifest.json'}: dependencies.0: word-count needs x, which is "
        "missing: no plugin folder or [plugins.x] source declares it",
    ]


def test_unloadable_dependency_is_not_reported_again(project: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = plugins_of(project, write_plugin, app=["broken"])
    assert order(project, plugins, unloadable=frozenset({"broken"})) == (["app"], [])


def test_cycle_is_always_a_problem_naming_the_cycle(project: Path, write_plugin: Callable[..., Path]) -> None:
    plugins = plugins_of(project, write_plugin, a=["x", "b"], b=["c"], c=["a"], d=["a"], x=[])
    ids, problems = order(project, plugins)
    assert [(p.source, p.path, p.message) for p in problems] == [
        (str(project / "plugins" / "a" / "manifest.json"), "dependencies.1",
         "dependency cycle: a -> b -> c -> a (no order can start them; remove one of these dependencies)")]
    assert sorted(ids) == ["a", "b", "c", "d", "x"]  # the order is still whole; the problem is what stops a plan


def test_self_dependency_is_a_cycle(project: Path, write_plugin: Callable[..., Path]) -> None:
    _, problems = order(project, plugins_of(project, write_plugin, a=["a"]))
    assert [(p.path, p.message.split(" (")[0]) for p in problems] == [("dependencies.0", "dependency cycle: a -> a")]
