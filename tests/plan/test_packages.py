"""Sourced plugins in the desired state: which content is wanted (declared sha256, else the lock's for the same
source, else trust on first use), disabled ones parked, and what ``--locked`` refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplugs.declaration.lockfile import LockedPlugin, LockFile, lock_path, write_lock
from aiplugs.declaration.packages import MARKER, package_dir
from aiplugs.errors import ConfigError
from aiplugs.plan import load_desired_state
from aiplugs.plan.envs import envs_for
from aiplugs.plan.packages import lock_differences

from ..conftest import clean_environ, manifest_data

SHA_A, SHA_B = "a" * 64, "b" * 64


def project(root: Path, tables: str) -> Path:
    (root / "plugins").mkdir(parents=True, exist_ok=True)
    config = root / "aiplugs.toml"
    config.write_text(f'plugins_dir = "plugins"\nstate_dir = ".aiplugs"\n\n{tables}')
    return config


def install(root: Path, plugin_id: str, sha256: str, version: str = "1.0.0", **manifest: object) -> Path:
    """A complete install in the package store, as PackageStore.publish leaves it."""
    folder = package_dir(root / ".aiplugs", plugin_id, version, sha256)
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest_data(plugin_id, version=version, **manifest)))
    (folder / "backend.py").write_text("def run(payload):\n    return payload\n")
    (folder / "content.js").write_text("")
    (folder / MARKER).write_text(json.dumps({"version": version, "sha256": sha256, "source": "x", "size": 1}))
    return folder


def lock(config: Path, **entries: tuple[str, str]) -> None:
    write_lock(lock_path(config), LockFile(plugins={
        pid: LockedPlugin(source=source, version="1.0.0", sha256=sha, size=1) for pid, (source, sha) in entries.items()}))


def desired_of(config: Path):
    return load_desired_state(config, env=clean_environ())[1]


def test_who_pins_the_content(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\nsha256 = "' + SHA_A + '"\n\n'
                               '[plugins.b]\nsource = "https://x.example/b.zip"\n\n'
                               '[plugins.c]\nsource = "https://x.example/c-2.zip"\n')
    lock(config, b=("https://x.example/b.zip", SHA_B), c=("https://x.example/c-1.zip", SHA_B))
    packages = {p.plugin_id: p for p in desired_of(config).packages}
    assert (packages["a"].sha256, packages["a"].pinned_by) == (SHA_A, "aiplugs.toml")
    assert (packages["b"].sha256, packages["b"].pinned_by) == (SHA_B, "aiplugs.lock")
    assert (packages["c"].sha256, packages["c"].pinned_by) == (None, "first install")  # a new source: new pin
    assert all(p.path is None for p in packages.values())


def test_an_installed_package_is_planned_from_its_own_manifest(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\nsha256 = "' + SHA_A + '"\n')
    folder = install(tmp_path, "a", SHA_A, "1.2.0")
    desired = desired_of(config)
    (package,) = desired.packages
    assert (package.installed_version, package.path) == ("1.2.0", folder)
    assert desired.plugin("a").dir == folder and desired.plugin("a").version == "1.2.0"
    # other content installed is not the wanted one: pending again
    other = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\nsha256 = "' + SHA_B + '"\n')
    assert desired_of(other).packages[0].path is None and desired_of(other).plugin("a") is None


def test_a_disabled_sourced_plugin_is_parked_not_fetched_and_not_missing(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\nenabled = false\n')
    desired = desired_of(config)
    assert desired.packages == () and desired.disabled == ("a",)
    install(tmp_path, "a", SHA_A)
    assert desired_of(config).disabled == ("a",)


def test_a_parked_plugins_environment_is_kept_when_its_package_is_installed(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\nenabled = false\n\n'
                               '[plugins.b]\nsource = "https://x.example/b.zip"\nsha256 = "' + SHA_B + '"\n'
                               'enabled = false\n')
    lock(config, a=("https://x.example/a.zip", SHA_A))
    assert desired_of(config).kept_envs == ()  # nothing installed: no requirements known
    install(tmp_path, "a", SHA_A, python={"requirements": ["numpy==1.26"]})
    install(tmp_path, "b", SHA_A, python={"requirements": ["pandas==2.2"]})  # not the content b is pinned to
    desired = desired_of(config)
    expected = envs_for({"a": ("numpy==1.26",)}, desired.state_dir)["a"].id
    assert desired.kept_envs == (expected,) and desired.envs == () and desired.disabled == ("a", "b")


def test_a_missing_folder_is_still_an_error_for_plugins_without_a_source(tmp_path: Path) -> None:
    config = project(tmp_path, "[plugins.ghost]\nworkers = 1\n")
    with pytest.raises(ConfigError, match="no plugin folder"):
        desired_of(config)


def test_locked_refuses_what_would_change_the_lock(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "https://x.example/a.zip"\n\n'
                               '[plugins.b]\nsource = "https://x.example/b.zip"\nsha256 = "' + SHA_B + '"\n\n'
                               '[plugins.c]\nsource = "https://x.example/c.zip"\nenabled = false\n')
    assert lock_differences(desired_of(config), LockFile()) == ["a: not in aiplugs.lock", "b: not in aiplugs.lock"]
    lock(config, a=("https://x.example/a.zip", SHA_A), b=("https://x.example/b.zip", SHA_A),
         c=("https://x.example/c.zip", SHA_A), gone=("https://x.example/gone.zip", SHA_A))
    from aiplugs.declaration.lockfile import read_lock

    assert lock_differences(desired_of(config), read_lock(lock_path(config))) == [
        f"b: sha256 {SHA_A[:12]}… locked, {SHA_B[:12]}… declared", "gone: locked but no longer declared"]
    lock(config, a=("https://x.example/a.zip", SHA_A), b=("https://x.example/b.zip", SHA_B))
    assert lock_differences(desired_of(config), read_lock(lock_path(config))) == []


def test_a_relative_folder_source_is_locked_as_written(tmp_path: Path) -> None:
    config = project(tmp_path, '[plugins.a]\nsource = "vendor/a"\n')
    lock(config, a=("vendor/a", SHA_A))  # as another checkout wrote it
    (package,) = desired_of(config).packages
    assert package.source == str(tmp_path / "vendor" / "a") and package.locked_source == "vendor/a"
    assert (package.sha256, package.pinned_by) == (SHA_A, "aiplugs.lock")
    from aiplugs.declaration.lockfile import read_lock

    assert lock_differences(desired_of(config), read_lock(lock_path(config))) == []
