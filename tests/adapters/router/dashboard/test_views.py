"""What the pages show, from plain values; and following a log file as it grows and rotates."""

from __future__ import annotations

from pathlib import Path

from aiplugs.adapters.router.dashboard.logs import Tail, log_files, sources
from aiplugs.adapters.router.dashboard.views import model_rows, overview, plugin_rows, state_counts

STATUS = {
    "healthy": True, "daemon": {"pid": 1}, "api": {"host": "::1", "port": 5000}, "proxy": None,
    "pac_url": None, "ca_cert": None,
    "plugins": [{"id": "a", "mode": "local", "state": "blocked", "workers_ready": 0, "workers_desired": 2,
                 "needs": ["b"]},
                {"id": "b", "mode": None, "state": "disabled", "workers_ready": 0, "workers_desired": 0},
                {"id": "c", "mode": "cloud", "state": "ready"}],
    "models": [{"filename": "m.bin", "state": "downloading", "size": None},
               {"filename": "n.bin", "state": "missing", "size": 5}],
}


def test_plugin_rows_say_what_can_be_done_with_each() -> None:
    rows = {r["id"]: r for r in plugin_rows(STATUS, {})}
    assert rows["a"]["workers"] == "0/2" and rows["a"]["blocked_by"] == ["b"] and rows["a"]["can_restart"]
    assert not rows["b"]["enabled"] and not rows["b"]["can_restart"]
    assert rows["c"]["workers"] == "-" and not rows["c"]["can_restart"] and rows["c"]["enabled"]


def test_model_rows_carry_download_progress() -> None:
    rows = model_rows(STATUS, {"m.bin": (10, 100)}.get)
    assert rows[0]["downloading"] and (rows[0]["bytes"], rows[0]["total"]) == (10, 100) and not rows[0]["can_pull"]
    assert not rows[1]["downloading"] and rows[1]["can_pull"] and rows[1]["total"] == 5


def test_overview_addresses_and_counts() -> None:
    view = overview(STATUS, None, None, None)
    assert view["api"] == "http://[::1]:5000/" and view["proxy"] is None
    assert state_counts(STATUS["plugins"]) == [("blocked", 1), ("disabled", 1), ("ready", 1)]


def test_a_tail_follows_complete_lines_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "echo-0.log"
    log.write_text("old 1\nold 2\n")
    (tmp_path / "echo-0.log.1").write_text("rotated away\n")
    (tmp_path / "echo-extra.log").write_text("not a worker log\n")
    assert log_files(tmp_path, "echo") == [log]
    assert sources(tmp_path, ["other"]) == ["daemon", "echo", "other"]
    tail = Tail(tmp_path, "echo")
    assert tail.start(1) == [("echo-0", "old 2")]
    assert tail.read() == []
    with open(log, "a") as handle:
        handle.write("new 1\nhalf")
    assert tail.read() == [("echo-0", "new 1")]
    with open(log, "a") as handle:
        handle.write(" done\n")
    assert tail.read() == [("echo-0", "half done")]
    log.rename(tmp_path / "echo-0.log.1")  # rotated: a new file under the old name
    log.write_text("fresh\n")
    (tmp_path / "echo-1.log").write_text("second worker\n")
    assert sorted(tail.read()) == [("echo-0", "fresh"), ("echo-1", "second worker")]
