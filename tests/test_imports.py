"""Importing the CLI and running --help / validate / plan must not import the heavy runtime modules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import clean_environ

HEAVY = ("mitmproxy", "uvicorn", "aiohttp", "starlette", "ipywidgets")

PROBE = """
import json, sys
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
""" % (HEAVY,)


def probe(*argv: str, cwd: Path | None = None) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=cwd, env=clean_environ(),
                            capture_output=True, text=True, timeout=60)
    line = next(line for line in result.stderr.splitlines() if line.startswith("HEAVY="))
    return json.loads(line[len("HEAVY="):])


def test_importing_the_package_and_cli_stays_light() -> None:
    assert probe() == {"code": 0, "heavy": []}


@pytest.mark.parametrize("argv", [["--help"], ["validate"], ["plan"], ["plan", "--json"], ["config"]])
def test_declarative_commands_stay_light(project: Path, argv: list[str]) -> None:
    found = probe(*argv, cwd=project)
    assert found["heavy"] == [], found
    assert found["code"] == 0


def test_the_probe_would_notice_a_heavy_import() -> None:
    result = subprocess.run([sys.executable, "-c", "import aiohttp, sys; print('aiohttp' in sys.modules)"],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "True"
