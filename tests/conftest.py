"""Generic fixtures shared by every test folder: a throwaway project, a clean environment, the CLI, plugin files.

Subfolders (proxy, router, e2e, ...) keep their own conftest.py for the real servers they need.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

REPO = Path(__file__).resolve().parents[1]
LEGACY_ENV = ("SYSTEM_API_KEY", "CLOUD_BASE_URL")
CLI = [sys.executable, "-c", "from aiplugs.cli import main; raise SystemExit(main())"]


def clean_environ() -> dict[str, str]:
    """os.environ without anything that configures aiplugs, so the developer's shell cannot leak into tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AIPLUGS_") and k not in LEGACY_ENV}


@pytest.fixture
def clean_env() -> dict[str, str]:
    return clean_environ()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder holding a copy of the shipped aiplugs.toml and plugins/ plus an empty models/ folder."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "aiplugs.toml", root / "aiplugs.toml")
    shutil.copytree(REPO / "plugins", root / "plugins", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "models").mkdir()
    return root


@pytest.fixture
def desired(project: Path, clean_env: dict[str, str]):  # -> DesiredState
    """The shipped project's desired state."""
    from aiplugs.plan import load_desired_state

    return load_desired_state(project / "aiplugs.toml", env=clean_env)[1]


@pytest.fixture
def run_cli(clean_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs ``aiplugs ARGS...`` in a subprocess (cwd and extra env optional) and returns the finished process."""

    def run(*args: str, cwd: Path | str | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = {**clean_env, **(env or {}), "NO_COLOR": "1"}
        return subprocess.run([*CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                              timeout=timeout)

    return run


def manifest_data(plugin_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid local-mode manifest with one content script; ``overrides`` replace top-level keys."""
    data: dict[str, Any] = {
        "manifest_version": 3,
        "id": plugin_id,
        "name": plugin_id.title(),
        "version": "1.0.0",
        "description": f"test plugin {plugin_id}",
        "dependencies": [],
        "inference": {"default_mode": "local", "local_entry": "backend.py", "models": []},
        "content_scripts": [{"matches": [f"*://{plugin_id}.example/*"], "js": ["content.js"]}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def write_plugin() -> Callable[..., Path]:
    """``write_plugin(plugins_dir, id, **manifest overrides)`` writes a plugin folder with backend.py and content.js.

    Pass ``manifest=`` (a dict or raw text) to write that manifest verbatim instead.
    """

    def write(plugins_dir: Path, plugin_id: str, *, manifest: dict[str, Any] | str | None = None,
              backend: str = "def run(payload):\n    return payload\n", **overrides: Any) -> Path:
        folder = plugins_dir / plugin_id
        folder.mkdir(parents=True, exist_ok=True)
        data = manifest if manifest is not None else manifest_data(plugin_id, **overrides)
        text = data if isinstance(data, str) else json.dumps(data, indent=2)
        (folder / "manifest.json").write_text(text, encoding="utf-8")
        (folder / "backend.py").write_text(backend, encoding="utf-8")
        (folder / "content.js").write_text("document.body.dataset.test = '1';\n", encoding="utf-8")
        return folder

    return write


@pytest.fixture
def bare_project(tmp_path: Path) -> Path:
    """An empty project: an aiplugs.toml with no plugin tables and an empty plugins/ folder."""
    root = tmp_path / "bare"
    (root / "plugins").mkdir(parents=True)
    (root / "aiplugs.toml").write_text('plugins_dir = "plugins"\n', encoding="utf-8")
    return root
