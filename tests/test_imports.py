"""Importing the CLI and running --help / validate / plan must not import the heavy runtime modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_the_probe_would_notice_a_heavy_import() -> None:
    result = subprocess.run([sys.executable, "-c", "import aiohttp, sys; print('aiohttp' in sys.modules)"],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True"
