"""``aiplugs suggest`` without a daemon and with wrong arguments: clear words, the right exit codes, no traceback.
(With a daemon it is tested end to end in tests/e2e/test_autotune.py.)"""

from __future__ import annotations

from pathlib import Path


def test_without_a_daemon_it_says_how_to_start_one(run_cli, project: Path) -> None:
    result = run_cli("-c", str(project / "aiplugs.toml"), "suggest")
    assert result.returncode == 4 and "no aiplugs daemon runs" in result.stderr and "aiplugs apply" in result.stderr
    assert "Traceback" not in result.stderr


def test_actions_check_their_id(run_cli, project: Path) -> None:
    config = str(project / "aiplugs.toml")
    for args, message in ((("apply",), "needs an id"), (("list", "x"), "takes no id")):
        result = run_cli("-c", config, "suggest", *args)
        assert result.returncode == 1 and message in result.stderr  # checked before looking for a daemon


def test_help_lists_the_actions(run_cli) -> None:
    result = run_cli("suggest", "--help")
    assert result.returncode == 0
    assert "{list,show,apply,reject,revert,history}" in result.stdout.replace(" ", "").replace("\n", "")
