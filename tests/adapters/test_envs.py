"""Python environments built for real: a virtualenv and pip installing a local wheel offline (PIP_NO_INDEX and
PIP_FIND_LINKS), a failed install with pip's own lines, and an unfinished build that is redone."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from aiplugs.adapters.envs import EnvError, Installer, build_env, default_installer, remove_env
from aiplugs.plan import EnvSpec, UnusedEnv
from aiplugs.plan.envs import envs_for
from aiplugs.store.envs import ENV_MARKER, env_ready, unused_envs
from aiplugs.store.locks import HeldLock

from ..wheels import make_wheel


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    make_wheel(folder, "aiplugs-probe", "1.0", {"aiplugs_probe.py": "VALUE = 'probe 1.0'\n"})
    return folder


@pytest.fixture
def offline(wheelhouse: Path) -> dict[str, str]:
    return {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse)}


def spec(state_dir: Path, *requirements: str) -> EnvSpec:
    return envs_for({"probe-user": requirements}, state_dir)["probe-user"]


def python(env: EnvSpec, code: str) -> str:
    return subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": os.environ["PATH"]}).stdout.strip()


@pytest.mark.parametrize("installer", ["pip", "uv"])
async def test_an_environment_gets_its_requirements_and_nothing_of_the_daemons(
        tmp_path: Path, offline: dict[str, str], installer: Installer) -> None:
    env = spec(tmp_path, "aiplugs-probe==1.0")
    assert not env_ready(env)
    await build_env(env, tmp_path, environ=offline, installer=installer)
    assert env_ready(env)
    assert python(env, "import aiplugs_probe; print(aiplugs_probe.VALUE)") == "probe 1.0"
    # isolated: the daemon's own packages are not there
    assert python(env, "import importlib.util as u; print(u.find_spec('pydantic'))") == "None"
    marker = json.loads((env.path / ENV_MARKER).read_text())
    assert marker["requirements"] == ["aiplugs-probe==1.0"] and marker["id"] == env.id
    assert marker["installer"] == installer
    # complete: a second build does nothing
    before = (env.path / ENV_MARKER).stat().st_mtime_ns
    await build_env(env, tmp_path, environ=offline)
    assert (env.path / ENV_MARKER).stat().st_mtime_ns == before


@pytest.mark.parametrize(("installer", "says"), [
    ("pip", "pip install failed (exit 1): ERROR: No matching distribution found for aiplugs-probe==9.9"),
    ("uv", "uv pip install failed (exit 1): "),  # then uv's "error: No solution found ..." (its words vary)
])
async def test_a_failed_install_says_what_the_installer_said_and_leaves_no_ready_env(
        tmp_path: Path, offline: dict[str, str], installer: Installer, says: str) -> None:
    env = spec(tmp_path, "aiplugs-probe==9.9")
    with pytest.raises(EnvError) as caught:
        await build_env(env, tmp_path, environ=offline, installer=installer)
    assert str(caught.value).startswith(says) and "aiplugs-probe==9.9" in str(caught.value)  # the cause, one line
    assert installer == "uv" or str(caught.value) == says
    assert any("aiplugs-probe==9.9" in line for line in caught.value.tail)
    assert not env_ready(env)
    log = (tmp_path / "logs" / f"env-{env.id}.log").read_text()
    assert "--python" in log and "aiplugs-probe==9.9" in log


def test_uv_is_used_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "venv" / "bin" / "python"))  # no uv beside it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    assert default_installer({"PATH": str(bin_dir)}) == "pip"
    (bin_dir / "uv").write_text("#!/bin/sh\n")
    (bin_dir / "uv").chmod(0o755)
    assert default_installer({"PATH": str(bin_dir)}) == "uv"


async def test_an_unfinished_build_is_removed_and_redone(tmp_path: Path, offline: dict[str, str]) -> None:
    env = spec(tmp_path, "aiplugs-probe==1.0")
    env.path.mkdir(parents=True)
    (env.path / "leftover").write_text("half a build")
    assert not env_ready(env)
    await build_env(env, tmp_path, environ=offline)
    assert env_ready(env) and not (env.path / "leftover").exists()


def test_a_marker_for_other_requirements_is_not_ready(tmp_path: Path) -> None:
    env = spec(tmp_path, "aiplugs-probe==1.0")
    (env.path / "bin").mkdir(parents=True)
    (env.path / "bin" / "python").write_text("")
    (env.path / ENV_MARKER).write_text(json.dumps({"requirements": ["aiplugs-probe==2.0"]}))
    assert not env_ready(env)
    (env.path / ENV_MARKER).write_text(json.dumps({"requirements": ["aiplugs-probe==1.0"]}))
    assert env_ready(env)
    (env.path / ENV_MARKER).write_text("{not json")
    assert not env_ready(env)


async def test_an_unused_environment_is_seen_with_who_runs_from_it_and_removed_when_nobody_does(
        tmp_path: Path, offline: dict[str, str]) -> None:
    old, new = spec(tmp_path, "aiplugs-probe==1.0"), spec(tmp_path, "aiplugs-probe>=1.0")
    for env in (old, new):
        await build_env(env, tmp_path, environ=offline, installer="uv")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "envs" / f".removing-x.{gone.pid}-ab").mkdir()  # a removal cut short: not an environment
    (tmp_path / "envs" / f".removing-y.{os.getpid()}-cd").mkdir()  # one in progress: not one either
    assert unused_envs(tmp_path, [new.id]) == (UnusedEnv(old.id),)
    assert unused_envs(tmp_path, [new.id, old.id]) == ()
    assert unused_envs(tmp_path / "nowhere", []) == ()
    # a process running from it (as a worker does: the environment's python as its program) keeps it
    holder = subprocess.Popen([str(old.python), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert unused_envs(tmp_path, [new.id]) == (UnusedEnv(old.id, used_by=holder.pid),)
        with pytest.raises(EnvError, match=f"pid {holder.pid} runs from it"):
            remove_env(tmp_path, old.id)
        assert env_ready(old)
    finally:
        holder.communicate(b"")
    # one being built (its lock held, here by this test) is not touched either
    with HeldLock(tmp_path / "locks" / f"env-{old.id}.lock", what="a build", timeout=0):
        with pytest.raises(EnvError, match=f"not removed: pid {os.getpid()} .* is building it"):
            remove_env(tmp_path, old.id)
    assert env_ready(old)
    assert remove_env(tmp_path, old.id) is True
    assert not old.path.exists() and env_ready(new)
    # the leftover of the remover that is gone went too; the live one's is left to it
    assert sorted(p.name for p in (tmp_path / "envs").iterdir()) == [f".removing-y.{os.getpid()}-cd", new.id]
    assert remove_env(tmp_path, old.id) is False
