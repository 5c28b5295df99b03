"""``aiplugs dashboard`` without a running daemon, and the address it opens (the daemon's part is tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplugs.cli import main
from aiplugs.cli._dashboard import dashboard_url


def test_without_a_daemon_it_says_how_to_start_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "aiplugs.toml").write_text("")
    assert main(["-c", str(tmp_path / "aiplugs.toml"), "dashboard", "--print"]) == 4
    out, err = capsys.readouterr()
    assert out == "" and "no aiplugs daemon runs" in err and "aiplugs apply" in err


@pytest.mark.parametrize("host,url", [("127.0.0.1", "http://127.0.0.1:5000/"), ("::1", "http://[::1]:5000/"),
                                      ("0.0.0.0", "http://127.0.0.1:5000/"), ("::", "http://[::1]:5000/")])
def test_the_dashboard_is_reached_on_a_loopback_name(host: str, url: str) -> None:
    assert dashboard_url(host, 5000) == url
