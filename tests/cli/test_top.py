"""``aiplugs top``'s table on plain rows, and what it says when no daemon runs."""

from __future__ import annotations

from pathlib import Path

from aiplugs.cli._top import format_table


def test_the_table_aligns_columns_and_marks_what_was_not_measured() -> None:
    text = format_table([
        {"id": "word-count", "workers": 1, "slots": 2, "cpu_pct": 12.5, "rss_bytes": 25 * 1024 * 1024, "rps": 3.0,
         "p50_ms": 1.25, "p95_ms": 4.0, "error_pct": 0.0, "inflight": 1, "wait_ms": None},
        {"id": "x", "workers": 0, "slots": 0, "cpu_pct": None, "rss_bytes": None, "rps": None, "p50_ms": None,
         "p95_ms": None, "error_pct": None, "inflight": 0, "wait_ms": None}])
    header, first, second = text.splitlines()
    assert header.split() == ["PLUGIN", "WORKERS", "CPU", "%", "MEM", "REQ/S", "P50", "MS", "P95", "MS", "ERR", "%",
                              "IN-FLIGHT", "WAIT", "MS"]
    assert first.split() == ["word-count", "1/2", "12.5", "25.0MiB", "3", "1.25", "4", "0", "1", "-"]
    assert second.split() == ["x", "0/0", "-", "-", "-", "-", "-", "-", "0", "-"]
    assert header.index("WORKERS") == first.index("1/2")  # aligned


def test_no_rows_say_so() -> None:
    assert "No local plugins" in format_table([])


def test_top_without_a_daemon_exits_4(project: Path, run_cli) -> None:
    result = run_cli("top", "--once", cwd=project)
    assert result.returncode == 4 and "no aiplugs daemon runs" in result.stderr
