"""``plan --locked`` / ``apply --locked``: refused with every difference named when aiplugs.lock does not pin the
sourced plugins as declared; nothing is fetched, started or written then."""

from __future__ import annotations

from pathlib import Path

from aiplugs.declaration.lockfile import LockedPlugin, LockFile, lock_path, write_lock


def test_locked_refuses_a_lock_that_would_change_and_accepts_a_matching_one(tmp_path: Path, run_cli) -> None:
    (tmp_path / "plugins").mkdir()
    config = tmp_path / "aiplugs.toml"
    config.write_text('plugins_dir = "plugins"\n\n[plugins.a]\nsource = "https://x.example/a.zip"\n')
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = run_cli("-c", str(config), *command, "--locked")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "aiplugs.lock does not match the declaration (--locked):\n  a: not in aiplugs.lock" in result.stderr
        assert "Run `aiplugs apply` without --locked" in result.stderr
    assert not lock_path(config).exists() and not (tmp_path / ".aiplugs" / "daemon.json").exists()
    write_lock(lock_path(config), LockFile(plugins={"a": LockedPlugin(source="https://x.example/a.zip",
                                                                      version="1.0.0", sha256="a" * 64, size=1)}))
    result = run_cli("-c", str(config), "plan", "--locked")
    assert result.returncode == 0, result.stderr
    assert "+ package a  (install from https://x.example/a.zip)" in result.stdout
