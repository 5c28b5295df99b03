"""The aiplugs command in real subprocesses: exit codes, -c placement, JSON output, masking, nothing written."""

from __future__ import annotations

import json
import os
import time
import tomllib
from pathlib import Path
from typing import Callable

import pytest

from aiplugs.plan import load_desired_state

from ..conftest import REPO
from aiplugs.store.state import DaemonRecord, EndpointRecord, ModelRecord, StateFile, WorkerRecord, write_state

Run = Callable[..., "subprocess.CompletedProcess[str]"]  # noqa: F821


def snapshot(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def break_project(project: Path) -> None:
    toml = project / "aiplugs.toml"
    toml.write_text(toml.read_text() + "\n[proxy.extra]\n")  # a second [proxy]-ish table: unknown key
    toml.write_text(toml.read_text().replace('csp = "amend"', 'csp = "loose"'))
    manifest = project / "plugins" / "word-count" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["content_scripts"][0]["matches"].append("https://*foo/bar")
    manifest.write_text(json.dumps(data))


def record_converged(project: Path, clean_env: dict[str, str]) -> None:
    """state.json as a converge of the shipped declaration records it, with this test process as the daemon."""
    _, desired = load_desired_state(project / "aiplugs.toml", env=clean_env)
    models = {}
    for model in desired.models:
        model.path.write_bytes(Path(model.url).read_bytes())
        st = model.path.stat()
        models[model.filename] = ModelRecord(sha256=model.sha256, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                             inode=st.st_ino)
    write_state(desired.state_dir, StateFile(
        daemon=DaemonRecord(pid=os.getpid(), started_at=time.time()),
        api=EndpointRecord(host="127.0.0.1", port=5000), proxy=EndpointRecord(host="127.0.0.1", port=8080),
        api_hash=desired.api_hash, rules_hash=desired.proxy.rules_hash, models=models,
        workers={w.plugin_id: WorkerRecord(config_hash=w.config_hash, pids=[os.getpid()] * w.count)
                 for w in desired.workers},
        routes={r.plugin_id: r.config_hash for r in desired.routes},
    ))


def test_help_and_version(run_cli: Run) -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("init", "validate", "config", "plan"):
        assert command in result.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("aiplugs ")


def test_validate_ok_and_writes_nothing(run_cli: Run, project: Path) -> None:
    before = snapshot(project)
    result = run_cli("validate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "aiplugs.toml is valid: 2 plugins enabled (sentiment, word-count), 1 model(s)."
    assert snapshot(project) == before


def test_validate_reports_every_problem_and_writes_nothing(run_cli: Run, project: Path) -> None:
    break_project(project)
    before = snapshot(project)
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert result.stdout == ""
    err = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert any(line.startswith("error: aiplugs.toml:") and "proxy.csp: must be one of" in line and "'loose'" in line
               for line in err), err
    assert any("proxy.extra: unknown key" in line for line in err), err
    assert err[-1] == f"{len(err) - 1} problems found; nothing was changed."
    assert snapshot(project) == before


def test_manifest_problems_are_reported_with_their_file(run_cli: Run, project: Path) -> None:
    manifest = project / "plugins" / "word-count" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"id": "word-count"', '"id": "word-count",,'))
    result = run_cli("validate", cwd=project)
    assert result.returncode == 1
    assert f"error: {manifest}:3:" in result.stderr and "invalid JSON" in result.stderr
    assert result.stderr.splitlines()[-1] == "1 problem found; nothing was changed."


def test_plan_exit_codes(run_cli: Run, project: Path, clean_env: dict[str, str]) -> None:
    before = snapshot(project)
    plain = run_cli("plan", cwd=project)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.rstrip().endswith("Plan: 7 to add, 0 to change, 0 to destroy.")
    assert "+ worker word-count#0  (start)" in plain.stdout and "\x1b[" not in plain.stdout
    detailed = run_cli("plan", "--detailed-exitcode", cwd=project)
    assert detailed.returncode == 2 and detailed.stdout == plain.stdout
    assert snapshot(project) == before  # plan changes nothing, not even .aiplugs/

    record_converged(project, clean_env)
    quiet = run_cli("plan", "--detailed-exitcode", cwd=project)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert quiet.stdout.strip() == "No changes."

    scaled = run_cli("plan", "--detailed-exitcode", cwd=project, env={"AIPLUGS_PLUGINS__WORD_COUNT__WORKERS": "2"})
    assert scaled.returncode == 2
    assert "+ worker word-count#1  (scale 1→2)" in scaled.stdout


def test_plan_error_exits_1_even_with_detailed_exitcode(run_cli: Run, project: Path) -> None:
    break_project(project)
    before = snapshot(project)
    result = run_cli("plan", "--detailed-exitcode", cwd=project)
    assert result.returncode == 1 and result.stdout == ""
    assert "nothing was changed" in result.stderr
    assert snapshot(project) == before


def test_plan_json(run_cli: Run, project: Path) -> None:
    result = run_cli("plan", "--json", cwd=project)
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["format_version"] == "2" and data["changes_present"] is True
    assert {"kind": "create", "type": "worker", "name": "sentiment#0", "unit": "worker sentiment#0",
            "reason": "start"} in data["actions"]
    assert run_cli("plan", "--json", "--detailed-exitcode", cwd=project).returncode == 2


def test_config_masks_secrets_and_shows_origins(run_cli: Run, project: Path) -> None:
    env = {"SYSTEM_API_KEY": "sk-very-secret-123", "AIPLUGS_PROXY__PORT": "8099"}
    text = run_cli("config", cwd=project, env=env)
    assert text.returncode == 0, text.stderr
    assert "sk-very-secret-123" not in text.stdout + text.stderr
    rows = {line.split()[0]: line for line in text.stdout.splitlines()}
    assert rows["cloud.api_key"].split()[1:] == ['"**********"', "env", "SYSTEM_API_KEY"]
    assert rows["proxy.port"].split()[1:] == ["8099", "env", "AIPLUGS_PROXY__PORT"]
    assert rows["proxy.csp"].split()[-1].startswith("aiplugs.toml:")
    assert rows["api.port"].split()[-1] == "default"

    as_json = run_cli("config", "--json", cwd=project, env=env)
    assert as_json.returncode == 0
    assert "sk-very-secret-123" not in as_json.stdout
    data = json.loads(as_json.stdout)
    assert data["format_version"] == "1" and data["config_file"] == str(project / "aiplugs.toml")
    values = {v["path"]: v for v in data["values"]}
    assert values["cloud.api_key"] == {"path": "cloud.api_key", "value": "**********", "origin": "env SYSTEM_API_KEY"}
    assert values["proxy.port"]["value"] == 8099
    assert values["plugins.word-count.workers"]["origin"] == "aiplugs.toml:27:11"


@pytest.mark.parametrize("placement", ["before", "after", "env"])
def test_config_option_before_or_after_the_command(
    run_cli: Run, project: Path, tmp_path: Path, placement: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = str(project / "aiplugs.toml")
    args = {"before": ["-c", config, "validate"], "after": ["validate", "--config", config], "env": ["validate"]}
    env = {"AIPLUGS_CONFIG": config} if placement == "env" else None
    result = run_cli(*args[placement], cwd=elsewhere, env=env)
    assert result.returncode == 0, result.stderr
    assert "2 plugins enabled" in result.stdout
    assert list(elsewhere.iterdir()) == []


def test_missing_config_file(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("plan", cwd=tmp_path)
    assert result.returncode == 1
    assert "aiplugs.toml: file not found (create one with `aiplugs init`)" in result.stderr


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "aiplugs.toml"
    written = path.read_text()
    data = tomllib.loads(written)
    assert data["api"]["host"] == "127.0.0.1" and data["proxy"]["csp"] == "amend"
    (tmp_path / "plugins").mkdir()
    assert run_cli("validate", cwd=tmp_path).returncode == 0
    assert run_cli("plan", cwd=tmp_path).returncode == 0

    assert "# Environment variables override this file" in written  # the shipped comments, not a bare dump
    assert "plugins" not in data  # no tables naming folders that do not exist

    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 1
    assert "not overwriting what exists" in again.stderr
    assert path.read_text() == written

    custom = run_cli("init", "sub.toml", cwd=tmp_path)
    assert custom.returncode == 0 and (tmp_path / "sub.toml").read_text() == written


def test_init_examples_then_validate_names_every_example(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("init", "--examples", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "aiplugs.toml").read_text() == (REPO / "aiplugs.toml").read_text()
    assert sorted(p.name for p in (tmp_path / "plugins").iterdir()) == sorted(
        p.name for p in (REPO / "plugins").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    assert not list((tmp_path / "plugins").rglob("__pycache__"))
    validated = run_cli("validate", cwd=tmp_path)
    assert validated.returncode == 0, validated.stderr
    assert "sentiment, word-count" in validated.stdout
