"""Importing the CLI and running --help / validate / plan must not import the heavy runtime modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from .conftest import clean_environ

HEAVY = ("mitmproxy", "uvicorn", "aiohttp", "starlette", "ipywidgets", "ray")

PROBE = """
import json, os, sys
if os.environ.get("PROBE_WITHOUT"):  # how Python spells "not installed": the import fails
    sys.modules[os.environ["PROBE_WITHOUT"]] = None
argv = sys.argv[1:]
code = 0
from aiplugs.cli import main
import aiplugs, aiplugs.plan, aiplugs.declaration.config, aiplugs.store.state
if argv:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(%r))
sys.stdout.flush()
sys.stderr.write("\\nHEAVY=" + json.dumps({"code": code, "heavy": heavy}) + "\\n")
""" % (HEAVY,)  # noqa: UP031 (the probe is full of braces)


def probe(*argv: str, cwd: Path | None = None, without: str = "") -> dict[str, object]:
    """Runs the CLI in a fresh interpreter; ``without``: a module made missing there. The result also holds the
    CLI's output (``out``, ``err``)."""
    env = {**clean_environ(), **({"PROBE_WITHOUT": without} if without else {})}
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    return {**json.loads(line[len("HEAVY="):]), "out": result.stdout, "err": result.stderr.split("\nHEAVY=")[0]}


def test_importing_the_package_and_cli_stays_light() -> None:
    found = probe()
    assert (found["code"], found["heavy"]) == (0, [])


@pytest.mark.parametrize("argv", [["--help"], ["validate"], ["plan"], ["plan", "--json"], ["config"]])
def test_declarative_commands_stay_light(project: Path, argv: list[str]) -> None:
    found = probe(*argv, cwd=project)
    assert found["heavy"] == [], found
    assert found["code"] == 0


def _on_ray(project: Path) -> None:
    config = project / "aiplugs.toml"
    config.write_text(config.read_text().replace('[plugins.word-count]\nworkers = 1\n',
                                                 '[plugins.word-count]\nworkers = 2\nbackend = "ray"\n'))


@pytest.mark.parametrize("argv", [["validate"], ["plan"], ["plan", "--json"]])
def test_a_plugin_on_ray_is_planned_without_importing_ray(project: Path, argv: list[str]) -> None:
    _on_ray(project)
    found = probe(*argv, cwd=project)
    assert found["heavy"] == [] and found["code"] == 0, found
    if argv == ["plan"]:  # the plan says where the workers run
        assert "+ worker word-count#1  (start, ray: local)" in found["out"], found["out"]


def test_without_ray_a_plugin_on_ray_fails_validate_with_the_install_command(project: Path) -> None:
    _on_ray(project)
    found = probe("validate", cwd=project, without="ray")
    assert found["code"] == 1, found
    assert 'plugins.word-count.backend: backend = "ray" needs Ray, which is not installed here: ' \
           'pip install "aiplugs[ray]"' in found["err"]
    assert "aiplugs.toml:" in found["err"]  # with the line of the declaration
    assert probe("validate", cwd=project)["code"] == 0  # with Ray installed the same project is valid


LOADED = """
import json, sys
from aiplugs.cli import main
code = main(sys.argv[1:])
from aiplugs.declaration.lockfile import LockFile
from aiplugs.store.state import StateFile
built = [m.__name__ for m in (StateFile, LockFile) if m.__pydantic_complete__]
sys.stdout.flush()
sys.stderr.write("\\nLOADED=" + json.dumps({"code": code, "modules": sorted(sys.modules), "built": built}) + "\\n")
"""

# Loaded on demand only: value positions (tomlkit parses aiplugs.toml a second time for them), process checks (a
# daemon recorded in state.json), writing aiplugs.toml or aiplugs.lock, version parsing beyond plain release numbers,
# and the modules of the other commands.
ON_DEMAND = ("tomlkit", "psutil", "packaging", "aiplugs.declaration.positions", "aiplugs.declaration.edit",
             "aiplugs.events", "aiplugs.plan.placement", "aiplugs.client.lifecycle", "aiplugs.cli._lifecycle",
             "aiplugs.cli._plugins", "aiplugs.cli._interact", "aiplugs.cli._models")


def loaded(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", LOADED, *argv], cwd=cwd, env={**clean_environ(), **(env or {})},
                            capture_output=True, text=True, timeout=60)
    line = next(line for line in result.stderr.splitlines() if line.startswith("LOADED="))
    found = json.loads(line[len("LOADED="):])
    return {"code": found["code"], "err": result.stderr.split("\nLOADED=")[0], "built": found["built"],
            "on_demand": sorted(m for m in found["modules"] if m.startswith(ON_DEMAND))}


@pytest.fixture
def with_settings(project: Path, write_plugin: Callable[..., Path]) -> Path:
    """The shipped project plus a plugin whose settings have a schema with a secret (given by the environment)."""
    schema = {"type": "object", "properties": {"api_key": {"type": "string", "writeOnly": True},
                                               "limit": {"type": "integer", "minimum": 1}}}
    write_plugin(project / "plugins", "counter", settings_schema=schema)
    config = project / "aiplugs.toml"
    config.write_text(config.read_text() + "\n[plugins.counter.settings]\nlimit = 3\n")
    return project


@pytest.mark.parametrize("argv", [["plan"], ["validate"], ["plan", "--json"]])
def test_a_declaration_without_problems_loads_nothing_on_demand(with_settings: Path, argv: list[str]) -> None:
    found = loaded(*argv, cwd=with_settings, env={"AIPLUGS_PLUGINS__COUNTER__SETTINGS__API_KEY": "secret"})
    assert (found["code"], found["on_demand"]) == (0, []), found
    assert found["built"] == [], found  # no state.json, no aiplugs.lock: their schemas are never built


def test_state_and_lock_files_are_validated_when_there(with_settings: Path) -> None:
    from aiplugs.declaration.lockfile import LockFile, lock_path, write_lock
    from aiplugs.store.state import StateFile, write_state

    write_state(with_settings / ".aiplugs", StateFile(api_hash="x"))
    write_lock(lock_path(with_settings / "aiplugs.toml"), LockFile())
    found = loaded("plan", cwd=with_settings, env={"AIPLUGS_PLUGINS__COUNTER__SETTINGS__API_KEY": "secret"})
    assert (found["code"], sorted(found["built"])) == (0, ["LockFile", "StateFile"]), found


def test_positions_load_for_the_message_that_needs_them(with_settings: Path) -> None:
    config = with_settings / "aiplugs.toml"
    config.write_text(config.read_text().replace("limit = 3", "limit = 0"))
    found = loaded("plan", cwd=with_settings, env={"AIPLUGS_PLUGINS__COUNTER__SETTINGS__API_KEY": "secret"})
    line = config.read_text().splitlines().index("limit = 0") + 1
    assert found["code"] == 1
    assert f"error: aiplugs.toml:{line}:9: plugins.counter.settings.limit: must be >= 1 (got 0)" in found["err"]
    assert "tomlkit" in found["on_demand"]


def test_the_probe_would_notice_a_heavy_import() -> None:
    result = subprocess.run([sys.executable, "-c", "import aiohttp, sys; print('aiohttp' in sys.modules)"],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True"
