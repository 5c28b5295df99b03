"""A real aiplugs system for the notebook tests: a copy of the shipped project (plus a streaming plugin) on free
ports, applied once per module through ``Session`` and brought down at the end."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from ..support import free_port, wait_for  # noqa: F401 - the notebook tests import them from here

REPO = Path(__file__).resolve().parents[2]
TICKER_BACKEND = '''
def run(payload):
    for i in range(int(payload.get("n", 3))):
        if payload.get("fail_at") == i:
            raise ValueError(f"boom at {i}")
        yield {"i": i}
'''




def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("AIPLUGS_") and k not in ("SYSTEM_API_KEY", "CLOUD_BASE_URL")}


def make_project(root: Path) -> Path:
    """The shipped example with fixed free ports and a 'ticker' plugin whose backend is a generator."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "models").mkdir()
    ticker = root / "plugins" / "ticker"
    ticker.mkdir()
    (ticker / "manifest.json").write_text(json.dumps({
        "manifest_version": 3, "id": "ticker", "name": "Ticker", "version": "1.0.0",
        "description": "streams numbers", "inference": {"default_mode": "local", "local_entry": "backend.py"},
        "content_scripts": [{"matches": ["*://ticker.example/*"], "js": ["content.js"]}]}))
    (ticker / "backend.py").write_text(TICKER_BACKEND)
    (ticker / "content.js").write_text("document.body.dataset.ticker = '1';\n")
    text = (REPO / "aiplugs.toml").read_text()
    text = text.replace("[api]\n", f"[api]\nport = {free_port()}\n", 1)
    text = text.replace("[proxy]\n", f"[proxy]\nport = {free_port()}\n", 1)
    config = root / "aiplugs.toml"
    config.write_text(text)
    return config




def kill_leftovers(state_dir: Path) -> None:
    pid_file = state_dir / "daemon.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A Session whose daemon is applied and healthy; downed after the module."""
    from aiplugs import Session

    config = make_project(tmp_path_factory.mktemp("nb") / "project")
    s = Session(config, env=clean_env())
    outcome = s.apply(progress=False)
    assert outcome is not None and outcome.ok, outcome
    yield s
    s.down()
    kill_leftovers(s.state_dir)
