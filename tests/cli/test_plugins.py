"""``aiplugs plugins ...`` in real subprocesses, without a daemon: pack, inspect, list, and every path of install,
remove, enable and disable that refuses (and so writes nothing and starts nothing). The paths that apply are in
tests/e2e/test_packages.py."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from aiplugs.adapters.packages import PackageStore, Release, UpdateCheck, pack, write_checks
from aiplugs.declaration.edit import ConfigEdit
from aiplugs.declaration.lockfile import LockedPlugin, LockFile, write_lock
from aiplugs.declaration.plugins import Current, declare_package, dependents, install_verdict, written_source

from ..conftest import CLI, manifest_data

Run = Callable[..., subprocess.CompletedProcess]
OTHER_SHA = "e" * 64
COMMANDS = ("pack", "inspect", "list", "install", "remove", "enable", "disable", "outdated", "update")


@pytest.fixture
def cli(clean_env: dict[str, str]) -> Run:
    """``aiplugs ARGS`` with stdin not a terminal, as in CI or a pipe: nobody can say yes there."""

    def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*CLI, *args], cwd=cwd, env={**clean_env, **(env or {}), "NO_COLOR": "1"},
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)

    return run


def failed(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


@pytest.fixture
def hello(project: Path, write_plugin) -> Path:
    """A package of a plugin ``hello`` (not in the project) in ``project/dist``."""
    folder = write_plugin(project.parent / "src", "hello")
    (project / "dist").mkdir()
    return pack(folder, project / "dist").path


def declare(project: Path, plugin_id: str, **values: Any) -> None:
    edit = ConfigEdit.load(project / "aiplugs.toml")
    for key, value in values.items():
        edit.set(("plugins", plugin_id, key), value)
    edit.save()


def install_package(project: Path, folder: Path) -> Any:
    """A package installed as the daemon would leave it: declared with its sha256, unpacked in the state dir."""
    packed = pack(folder, project / "dist" if (project / "dist").is_dir() else project)
    declare(project, packed.plugin_id, source=str(packed.path.relative_to(project)), sha256=packed.sha256)
    return asyncio.run(PackageStore(project / ".aiplugs").install(packed.plugin_id, str(packed.path), packed.sha256))


def no_daemon(project: Path) -> bool:
    """Nothing was applied: a daemon start creates its log folder first."""
    return not (project / ".aiplugs" / "logs").exists()


# ---- help ------------------------------------------------------------------------------------------------------

def test_help_for_every_command(cli: Run, project: Path) -> None:
    top = cli("--help", cwd=project)
    assert top.returncode == 0 and "plugins" in top.stdout
    group = cli("plugins", "--help", cwd=project)
    assert group.returncode == 0 and all(c in group.stdout for c in COMMANDS)
    for command in COMMANDS:
        result = cli("plugins", command, "--help", cwd=project)
        assert result.returncode == 0 and "-c PATH, --config PATH" in result.stdout, command
    assert "--json" in cli("plugins", "list", "--help", cwd=project).stdout
    assert "--purge" in cli("plugins", "remove", "--help", cwd=project).stdout


# ---- pack / inspect --------------------------------------------------------------------------------------------

def test_pack_prints_sha256_and_size_reproducibly(cli: Run, project: Path) -> None:
    text = cli("plugins", "pack", "plugins/word-count", "-o", "out.zip", cwd=project)
    assert text.returncode == 0, text.stderr
    data = (project / "out.zip").read_bytes()
    assert f"sha256: {hashlib.sha256(data).hexdigest()}" in text.stdout
    assert f"size:   {len(data)} bytes" in text.stdout
    (project / "dist").mkdir()
    first = json.loads(cli("plugins", "pack", "plugins/word-count", "-o", "dist", "--json", cwd=project).stdout)
    time.sleep(0.01)
    (project / "plugins" / "word-count" / "manifest.json").touch()  # a newer mtime does not change the bytes
    again = json.loads(cli("plugins", "pack", "plugins/word-count", "-o", "dist", "--json", cwd=project).stdout)
    assert first["sha256"] == again["sha256"] == hashlib.sha256(data).hexdigest()
    assert first["path"] == str(project / "dist" / "word-count-1.0.0.zip") and first["version"] == "1.0.0"
    failed(cli("plugins", "pack", "models", cwd=project), "no manifest.json")


def test_inspect_text_and_json_leave_nothing_behind(cli: Run, project: Path) -> None:
    packed = pack(project / "plugins" / "word-count", project)
    text = cli("plugins", "inspect", packed.path.name, cwd=project)
    assert text.returncode == 0, text.stderr
    assert "sees pages on:    *.wikipedia.org, localhost, 127.0.0.1" in text.stdout
    assert f"sha256:           {packed.sha256}" in text.stdout
    data = json.loads(cli("plugins", "inspect", str(packed.path), "--json", cwd=project).stdout)
    assert (data["id"], data["version"], data["sha256"], data["size"]) == ("word-count", "1.0.0", packed.sha256,
                                                                           packed.size)
    assert data["decrypts_all_hosts"] is False and data["models"] == [] and data["valid"] is True
    folder = json.loads(cli("plugins", "inspect", "plugins/word-count", "--json", cwd=project).stdout)
    assert folder["sha256"] == packed.sha256
    assert sorted(p.name for p in (project / ".aiplugs").iterdir()) == []  # the temp folders are gone
    failed(cli("plugins", "inspect", packed.path.name, "--sha256", OTHER_SHA, cwd=project), f"has sha256 {packed.sha256}")
    failed(cli("plugins", "inspect", packed.path.name, "--sha256", "abc", cwd=project), "--sha256: must be 64 hex")
    failed(cli("plugins", "inspect", "absent.zip", cwd=project), "absent.zip")


def test_inspect_a_broad_plugin_and_a_broken_one(cli: Run, project: Path, write_plugin) -> None:
    model = {"key": "M", "filename": "m.bin", "source_url": "https://models.example/m.bin", "sha256": "a" * 64,
             "size": 2048}
    broad = write_plugin(project.parent / "src", "broad", content_scripts=[
        {"matches": ["<all_urls>"], "js": ["content.js"]}], python={"requirements": ["numpy>=1.26"]},
        inference={"default_mode": "local", "local_entry": "backend.py", "models": [model]})
    result = cli("plugins", "inspect", str(broad), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "EVERY HTTPS SITE" in result.stdout and "<all_urls>" in result.stdout
    assert "m.bin (2.0 KiB)" in result.stdout and "numpy>=1.26" in result.stdout
    broken = project / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest_data("broken", manifest_version=2)))
    result = cli("plugins", "inspect", "broken.zip", cwd=project)
    assert result.returncode == 1 and "cannot be installed" in result.stdout and "manifest_version" in result.stdout


# ---- list ------------------------------------------------------------------------------------------------------

def test_list_shows_folders_packages_states_and_cached_updates(cli: Run, project: Path) -> None:
    plain = cli("plugins", "list", cwd=project)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ["ID", "VERSION", "SOURCE", "STATE", "UPDATE"]
    assert lines[1].split() == ["page-topic", "?", "examples/page-topic", "disabled"]  # a package, not fetched
    assert lines[3].split() == ["summarize", "1.0.0", "folder", "plugins/summarize", "disabled"]
    moved = shutil.move(project / "plugins" / "word-count", project.parent / "word-count")
    (project / "dist").mkdir()
    installed = install_package(project, Path(moved))
    write_checks(project / ".aiplugs", [UpdateCheck("word-count", "1.0.0", "https://u.example/i.json",
                                                    Release("1.1.0", "https://u.example/1.1.0.zip", "f" * 64),
                                                    time.time())])
    text = cli("plugins", "list", cwd=project)
    row = next(line for line in text.stdout.splitlines() if line.startswith("word-count"))
    assert row.split() == ["word-count", "1.0.0", "dist/word-count-1.0.0.zip", "not", "running", "1.1.0", "available"]
    data = json.loads(cli("plugins", "list", "--json", cwd=project).stdout)
    wc = next(p for p in data["plugins"] if p["id"] == "word-count")
    assert wc["update_available"] == "1.1.0" and wc["sha256"] == installed.sha256
    assert wc["folder"] == str(installed.path) and data["daemon"] is False
    assert no_daemon(project)


# ---- install: the refusals -------------------------------------------------------------------------------------

def test_install_needs_a_yes(cli: Run, project: Path, hello: Path) -> None:
    before = (project / "aiplugs.toml").read_bytes()
    result = cli("plugins", "install", "dist/hello-1.0.0.zip", cwd=project)
    failed(result, "there is no terminal to ask on")
    assert "+[plugins.hello]" in result.stdout and "sees pages on:    hello.example" in result.stdout
    assert (project / "aiplugs.toml").read_bytes() == before and no_daemon(project)
    downloads = project / ".aiplugs" / "packages" / ".downloads"
    assert not [p.name for p in downloads.iterdir() if not p.name.startswith(".")]  # the inspected copy went too
    detached = cli("plugins", "install", "dist/hello-1.0.0.zip", "--detach", "--yes", cwd=project)
    failed(detached, "--detach needs a running daemon")
    assert (project / "aiplugs.toml").read_bytes() == before


def test_declining_at_the_prompt_changes_nothing(project: Path, hello: Path, clean_env: dict[str, str]) -> None:
    """On a terminal the person is asked; anything but yes leaves the file as it was and starts nothing."""
    import pty

    before = (project / "aiplugs.toml").read_bytes()
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([*CLI, "plugins", "install", "dist/hello-1.0.0.zip"], cwd=project,
                                   stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={**clean_env, "NO_COLOR": "1"})
        os.write(controller, b"no\n")
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 1, out + err
    assert "Install hello 1.0.0 with these permissions? Only 'yes' is accepted:" in out
    assert out.rstrip().endswith("Nothing was changed.") and "Traceback" not in err
    assert (project / "aiplugs.toml").read_bytes() == before and no_daemon(project)


def test_a_relative_path_is_written_relative_to_aiplugs_toml(cli: Run, project: Path, hello: Path) -> None:
    sub = project / "sub" / "pk"
    sub.mkdir(parents=True)
    shutil.copy(hello, sub)
    result = cli("-c", "../aiplugs.toml", "plugins", "install", "pk/hello-1.0.0.zip", cwd=project / "sub")
    assert '+source = "sub/pk/hello-1.0.0.zip"' in result.stdout, result.stdout + result.stderr


def test_install_refuses_a_wrong_id_and_a_broken_manifest(cli: Run, project: Path, hello: Path) -> None:
    failed(cli("plugins", "install", "dist/hello-1.0.0.zip", "--id", "other", "--yes", cwd=project),
           "--id 'other' does not match the package's manifest id 'hello'")
    with zipfile.ZipFile(project / "broken.zip", "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest_data("broken", manifest_version=2)))
    failed(cli("plugins", "install", "broken.zip", "--yes", cwd=project), "its manifest is not valid")
    wrong = cli("plugins", "install", "dist/hello-1.0.0.zip", "--sha256", OTHER_SHA, "--yes", cwd=project)
    failed(wrong, f"hello-1.0.0.zip has sha256 {hashlib.sha256(hello.read_bytes()).hexdigest()}, expected {OTHER_SHA}; nothing was changed")
    assert "_inspect" not in wrong.stderr  # the package is named, not the name it was fetched under
    downloads = project / ".aiplugs" / "packages" / ".downloads"
    assert not [p.name for p in downloads.iterdir() if not p.name.startswith(".")]  # nothing kept
    assert "hello" not in (project / "aiplugs.toml").read_text() and no_daemon(project)


def test_install_over_a_plugin_folder_needs_force(cli: Run, project: Path) -> None:
    pack(project / "plugins" / "word-count", project)
    failed(cli("plugins", "install", "word-count-1.0.0.zip", cwd=project), "is the plugin folder")
    forced = cli("plugins", "install", "word-count-1.0.0.zip", "--force", cwd=project)
    failed(forced, "no terminal")  # past the verdict: only the person's yes is missing
    assert '+source = "word-count-1.0.0.zip"' in forced.stdout
    assert "This replaces the plugin folder" in forced.stdout


def pin(project: Path, hello: Path, version: str, sha256: str) -> None:
    declare(project, "hello", source="dist/hello-1.0.0.zip", sha256=sha256)
    entry = LockedPlugin(source=str(hello), version=version, sha256=sha256, size=1)
    write_lock(project / "aiplugs.lock", LockFile(plugins={"hello": entry}))


def test_same_version_with_other_content_needs_force(cli: Run, project: Path, hello: Path) -> None:
    pin(project, hello, "1.0.0", OTHER_SHA)
    failed(cli("plugins", "install", "dist/hello-1.0.0.zip", "--yes", cwd=project),
           "hello 1.0.0 is already declared with other content (sha256 eeeeeeeeeeee…")
    forced = cli("plugins", "install", "dist/hello-1.0.0.zip", "--force", cwd=project)
    failed(forced, "no terminal")
    assert f'-sha256 = "{OTHER_SHA}"' in forced.stdout


def test_another_version_is_an_update_and_the_same_content_is_installed(cli: Run, project: Path,
                                                                        hello: Path) -> None:
    pin(project, hello, "0.9.0", OTHER_SHA)
    update = cli("plugins", "install", "dist/hello-1.0.0.zip", cwd=project)
    failed(update, "no terminal")
    assert f'-sha256 = "{OTHER_SHA}"' in update.stdout and "This replaces hello 0.9.0 with 1.0.0." in update.stdout
    sha = json.loads(cli("plugins", "inspect", "dist/hello-1.0.0.zip", "--json", cwd=project).stdout)["sha256"]
    declare(project, "hello", sha256=sha)
    before = (project / "aiplugs.toml").read_bytes()
    same = cli("plugins", "install", "dist/hello-1.0.0.zip", cwd=project)
    assert same.returncode == 0, same.stderr
    assert "is already declared; `aiplugs apply` installs it. Nothing to do." in same.stdout
    assert (project / "aiplugs.toml").read_bytes() == before and no_daemon(project)


# ---- remove / enable / disable: the refusals ------------------------------------------------------------------

def test_remove_refusals(cli: Run, project: Path, write_plugin) -> None:
    failed(cli("plugins", "remove", "word-count", "--yes", cwd=project), "is not installed from a package")
    failed(cli("plugins", "remove", "word-cont", "--yes", cwd=project),
           "has no [plugins.word-cont] table; nothing to remove (did you mean 'word-count'?)")
    (project / "dist").mkdir()
    install_package(project, write_plugin(project.parent / "src", "base"))
    write_plugin(project / "plugins", "user", dependencies=["base"])
    before = (project / "aiplugs.toml").read_bytes()
    failed(cli("plugins", "remove", "base", "--yes", cwd=project),
           "cannot remove base: the enabled plugin(s) user depend on it")
    declare(project, "user", enabled=False)
    asked = cli("plugins", "remove", "base", "--purge", cwd=project)
    failed(asked, "Remove plugin base and delete its data folder")
    assert "-[plugins.base]" in asked.stdout
    assert (project / "aiplugs.toml").read_text().count("[plugins.base]") == 1 and no_daemon(project)
    assert before != (project / "aiplugs.toml").read_bytes()  # only the declare above changed it


def test_enable_disable_refusals(cli: Run, project: Path, write_plugin, clean_env: dict[str, str]) -> None:
    toml = project / "aiplugs.toml"
    before = toml.read_bytes()
    failed(cli("plugins", "disable", "word-cont", cwd=project), "no plugin 'word-cont' (did you mean 'word-count'?)")
    same = cli("plugins", "enable", "word-count", cwd=project)
    assert same.returncode == 0 and "word-count is already enabled. Nothing to do." in same.stdout
    failed(cli("plugins", "disable", "word-count", cwd=project,
               env={"AIPLUGS_PLUGINS__WORD_COUNT__ENABLED": "true"}),
           "enabled is set by the environment (AIPLUGS_PLUGINS__WORD_COUNT__ENABLED)")
    write_plugin(project / "plugins", "user", dependencies=["word-count"])
    failed(cli("plugins", "disable", "word-count", cwd=project),
           "cannot disable word-count: the enabled plugin(s) user depend on it")
    assert toml.read_bytes() == before and no_daemon(project)


def test_an_edit_that_does_not_validate_is_restored(cli: Run, project: Path, write_plugin) -> None:
    write_plugin(project / "plugins", "needy", dependencies=["summarize"])  # summarize is disabled
    declare(project, "needy", enabled=False)
    before = (project / "aiplugs.toml").read_bytes()
    result = cli("plugins", "enable", "needy", cwd=project)
    failed(result, "needy needs summarize, which is disabled here")
    assert "aiplugs.toml was restored" in result.stderr and "+enabled = true" in result.stdout
    assert (project / "aiplugs.toml").read_bytes() == before and no_daemon(project)


# ---- the pure decisions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("current, version, force, verdict", [
    (None, "1.0.0", False, "install"),
    (Current("package", "1.0.0", "a" * 64), "1.0.0", False, "already-installed"),
    (Current("package", "1.0.0", OTHER_SHA), "1.1.0", False, "update"),
    (Current("package", "1.1.0", OTHER_SHA), "1.0.0", False, "update"),  # a downgrade is allowed too
    (Current("package", "1.0", OTHER_SHA), "1.0.0", False, "same-version"),  # PEP 440: the same version
    (Current("package", "1.0.0", OTHER_SHA), "1.0.0", True, "reinstall"),
    (Current("package", None, None), "1.0.0", False, "update"),
    (Current("folder", "1.0.0", None), "1.0.0", False, "folder"),
    (Current("folder", "1.0.0", None), "1.0.0", True, "replace-folder"),
])
def test_install_verdict(current: Current | None, version: str, force: bool, verdict: str) -> None:
    assert install_verdict(current, version, "a" * 64, force=force) == verdict


def test_written_source_and_dependents(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    assert written_source("https://x.example/p.zip", root, tmp_path) == "https://x.example/p.zip"
    assert written_source("/abs/p.zip", root, tmp_path) == "/abs/p.zip"
    assert written_source("pkgs/p.zip", root, root / "sub") == "sub/pkgs/p.zip"
    assert written_source("../p.zip", root, root) == "../p.zip"
    deps = {"a": ("base>=1.2",), "b": ("other", "base"), "c": ("basement",), "base": ("base",)}
    assert dependents("base", deps) == ["a", "b"]


def test_declare_package_reads_like_a_hand_edit(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text('[plugins.a]  # mine\nworkers = 2\n\n[api]\nport = 5\n')
    edit = ConfigEdit.load(path)
    declare_package(edit, "new", "dist/new.zip", "a" * 64)  # a new table, before the section that follows
    declare_package(edit, "a", "a.zip", "b" * 64)  # an existing table keeps its keys and comment
    assert edit.text() == ('[plugins.a]  # mine\nworkers = 2\nsource = "a.zip"\nsha256 = "' + "b" * 64 + '"\n\n'
                           '[plugins.new]\nsource = "dist/new.zip"\nsha256 = "' + "a" * 64 + '"\n\n'
                           '[api]\nport = 5\n')
