"""`aiplugs models ...` as a real subprocess in a temporary project (a copy of plugins/sentiment)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SENTIMENT_FILE = "sentiment-lexicon-v1.tsv"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "plugins" / "sentiment", tmp_path / "plugins" / "sentiment")
    (tmp_path / "aiplugs.toml").write_text('[plugins.sentiment]\nworkers = 1\n')
    return tmp_path


def aiplugs(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from aiplugs.cli import main; sys.exit(main())",
                           *args], cwd=project, capture_output=True, text=True, timeout=60)


def test_list_pull_list_verify(project):
    out = aiplugs(project, "models", "list")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split() == ["KEY", "FILE", "SIZE", "STATE", "USED", "BY"]
    assert row.split() == ["SENTIMENT_LEXICON", SENTIMENT_FILE, "910", "B", "missing", "sentiment"]

    out = aiplugs(project, "models", "pull")
    assert out.returncode == 0, out.stderr
    target = project / "models" / SENTIMENT_FILE
    assert f"ready  {SENTIMENT_FILE}  {target}" in out.stdout
    assert target.read_bytes() == (project / "plugins/sentiment/data/lexicon-v1.tsv").read_bytes()
    assert "\r" not in out.stderr  # no progress bar when stderr is not a terminal

    data = json.loads(aiplugs(project, "models", "list", "--json").stdout)
    assert data["models"][0]["state"] == "ready" and data["models"][0]["used_by"] == ["sentiment"]

    out = aiplugs(project, "models", "verify")
    assert out.returncode == 0 and out.stdout.startswith(f"ok       {SENTIMENT_FILE}")


def test_verify_reports_corruption_and_pull_repairs(project):
    assert aiplugs(project, "models", "pull", "SENTIMENT_LEXICON").returncode == 0
    target = project / "models" / SENTIMENT_FILE
    target.write_bytes(target.read_bytes().replace(b"good", b"baad"))
    out = aiplugs(project, "models", "list")
    assert "unverified" in out.stdout  # changed since verified; list never hashes
    out = aiplugs(project, "models", "verify")
    assert out.returncode == 1 and "CORRUPT" in out.stdout and "changed since last verified" in out.stdout
    assert "corrupt" in aiplugs(project, "models", "list").stdout
    assert aiplugs(project, "models", "pull").returncode == 0
    assert aiplugs(project, "models", "verify").returncode == 0


def test_pull_unknown_key_is_a_clear_error(project):
    out = aiplugs(project, "models", "pull", "SENTIMENT_LEXICO")
    assert out.returncode == 1
    assert "no enabled plugin declares a model 'SENTIMENT_LEXICO'" in out.stderr
    assert "did you mean 'SENTIMENT_LEXICON'" in out.stderr


def test_pull_hash_mismatch_exit_code_and_message(project):
    source = project / "plugins/sentiment/data/lexicon-v1.tsv"
    source.write_bytes(source.read_bytes()[:-1] + b"!")
    out = aiplugs(project, "models", "pull")
    assert out.returncode == 1
    assert "sha256 mismatch" in out.stderr and str(source) in out.stderr and "Traceback" not in out.stderr
    assert not (project / "models" / SENTIMENT_FILE).exists()


def test_gc_dry_run_then_gc(project):
    assert aiplugs(project, "models", "pull").returncode == 0
    models = project / "models"
    (models / "old-model.bin").write_bytes(b"old")
    (models / "old-model.bin.999999999-abcd.part").write_bytes(b"stale")  # pid that cannot exist
    (models / ".gitkeep").write_text("")
    out = aiplugs(project, "models", "gc", "--dry-run")
    assert out.returncode == 0 and "would remove" in out.stdout and "old-model.bin" in out.stdout
    assert (models / "old-model.bin").exists()
    out = aiplugs(project, "models", "gc")
    assert out.returncode == 0
    assert sorted(p.name for p in models.iterdir()) == [".gitkeep", SENTIMENT_FILE]
    assert "nothing to remove" in aiplugs(project, "models", "gc").stdout


def test_models_with_config_option_from_elsewhere(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    out = aiplugs(elsewhere, "models", "list", "-c", str(project / "aiplugs.toml"))
    assert out.returncode == 0 and SENTIMENT_FILE in out.stdout
