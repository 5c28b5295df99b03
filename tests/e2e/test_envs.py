"""A plugin with Python requirements, through a real daemon: apply builds its environment offline from a local
wheel (PIP_NO_INDEX + PIP_FIND_LINKS), its worker runs in it, and a requirement pip cannot satisfy fails that
plugin alone with pip's own lines in ``aiplugs status``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..conftest import manifest_data
from ..wheels import make_wheel
from .test_lifecycle import REPO, Project

BACKEND = """\
import sys

import aiplugs_probe


def run(payload):
    return {"value": aiplugs_probe.VALUE, "prefix": sys.prefix}
"""


def write_probe_user(plugins: Path, requirement: str) -> None:
    folder = plugins / "probe-user"
    folder.mkdir(parents=True, exist_ok=True)
    data = manifest_data("probe-user", python={"requirements": [requirement]})
    (folder / "manifest.json").write_text(json.dumps(data, indent=2))
    (folder / "backend.py").write_text(BACKEND)
    (folder / "content.js").write_text("document.body.dataset.probe = '1';\n")


@pytest.fixture
def project(tmp_path: Path):
    shutil.copytree(REPO / "plugins", tmp_path / "plugins")
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "aiplugs-probe", "1.0", {"aiplugs_probe.py": "VALUE = 'probe 1.0'\n"})
    proj = Project(tmp_path)
    proj.env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    proj.write_config()
    yield proj
    proj.cli("down", timeout=60)


def test_a_plugin_runs_in_its_own_environment_and_a_failed_one_says_why(project: Project) -> None:
    from aiplugs.client import DaemonClient

    write_probe_user(project.root / "plugins", "aiplugs-probe==1.0")
    plan = project.cli("plan", check=True).stdout
    assert "+ env " in plan and "install 1 requirement for probe-user: aiplugs-probe==1.0" in plan
    project.cli("apply", "--auto-approve", check=True)
    status = project.status()
    rows = {p["id"]: p for p in status["plugins"]}
    assert status["healthy"], status
    env_id = rows["probe-user"]["python_env"]
    reply = DaemonClient.find(project.state_dir).call("probe-user", {})
    assert reply["value"] == "probe 1.0"
    assert Path(reply["prefix"]) == project.state_dir / "envs" / env_id
    assert "No changes." in project.cli("apply", "--auto-approve", check=True).stdout

    write_probe_user(project.root / "plugins", "aiplugs-probe==9.9")  # pip cannot satisfy it
    failed = project.cli("apply", "--auto-approve")
    assert failed.returncode != 0, failed.stdout
    assert "aiplugs-probe==9.9" in failed.stderr  # the installer's own words (pip's or uv's)
    status = project.status()
    rows = {p["id"]: p for p in status["plugins"]}
    # its running worker goes on serving the previous environment; the plugin says why it is not current
    assert rows["probe-user"]["state"] == "degraded" and not status["healthy"]
    assert DaemonClient.find(project.state_dir).call("probe-user", {})["value"] == "probe 1.0"
    assert rows["probe-user"]["last_error"].startswith(f"Python environment {rows['probe-user']['python_env']}: ")
    assert any("aiplugs-probe==9.9" in line for line in rows["probe-user"]["stderr_tail"])
    assert rows["word-count"]["state"] == "ready" and rows["sentiment"]["state"] == "ready"
    # a restart tries the environment again, and keeps the serving worker when it still cannot be built
    restart = project.cli("restart", "probe-user")
    assert restart.returncode != 0
    assert restart.stderr.startswith("error: restart of probe-user failed: ")
    assert "pip install failed (exit 1): " in restart.stderr and "aiplugs-probe==9.9" in restart.stderr
    assert DaemonClient.find(project.state_dir).call("probe-user", {})["value"] == "probe 1.0"
    # with no previous version to serve, the plugin fails outright
    project.cli("down", check=True)
    assert project.cli("apply", "--auto-approve").returncode != 0
    rows = {p["id"]: p for p in project.status()["plugins"]}
    assert rows["probe-user"]["state"] == "failed" and rows["probe-user"]["worker_pids"] == []
    assert rows["word-count"]["state"] == "ready"


def test_an_environment_nothing_runs_in_any_more_is_removed_and_a_disabled_plugins_is_kept(project: Project) -> None:
    import time

    from aiplugs.client import DaemonClient

    write_probe_user(project.root / "plugins", "aiplugs-probe==1.0")
    project.cli("apply", "--auto-approve", check=True)
    first = {p["id"]: p for p in project.status()["plugins"]}["probe-user"]["python_env"]
    envs = project.state_dir / "envs"
    write_probe_user(project.root / "plugins", "aiplugs-probe>=1.0")  # another requirement set: a new environment
    project.cli("apply", "--auto-approve", check=True)
    second = {p["id"]: p for p in project.status()["plugins"]}["probe-user"]["python_env"]
    assert second != first
    assert Path(DaemonClient.find(project.state_dir).call("probe-user", {})["prefix"]) == envs / second
    deadline = time.monotonic() + 30  # the daemon's next passes: once the workers run in the new one, the old goes
    while (envs / first).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(p.name for p in envs.iterdir()) == [second]
    assert "No changes." in project.cli("plan", check=True).stdout
    # disabling the plugin keeps its environment: enabling it again needs no rebuild
    project.cli("plugins", "disable", "probe-user", check=True)
    time.sleep(5)  # two reconcile passes
    assert sorted(p.name for p in envs.iterdir()) == [second]
    assert "No changes." in project.cli("plan", check=True).stdout
