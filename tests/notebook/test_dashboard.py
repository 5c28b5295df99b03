"""The dashboard's widgets, built from a real daemon's status and updated by its real events (no browser: the
ipywidgets state is what a front end would render)."""

from __future__ import annotations

import sys

from .conftest import wait_for


def state_of(widget) -> dict:
    return widget.get_state()


def test_dashboard_is_lazy_until_asked():
    import subprocess

    code = ("import sys, aiplugs; from aiplugs import Session; import aiplugs.notebook; "
            "print('ipywidgets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_construction_shows_ports_plugins_and_models(session):
    import ipywidgets

    board = session.dashboard(start=False)
    try:
        assert isinstance(board, ipywidgets.VBox)
        status = session.status()
        header = state_of(board.header)["value"]
        assert f"{status.api[0]}:{status.api[1]}" in header and f":{status.proxy[1]}" in header
        assert "healthy" in header
        assert set(board.plugin_rows) == {"sentiment", "word-count", "ticker", "summarize", "page-topic"}
        row = board.plugin_rows["word-count"]
        assert "ready" in state_of(row.cells["state"])["value"]
        assert state_of(row.cells["workers"])["value"] == "1/1"
        assert state_of(board.plugin_rows["summarize"].restart_button)["disabled"] is True
        model = board.model_rows["sentiment-lexicon-v1.tsv"]
        assert "ready" in model.state.value and model.bar.layout.visibility == "hidden"
        assert row in board.plugins_box.children and model in board.models_box.children
    finally:
        board.close()


def test_events_update_rows_log_and_download_bars(session):
    board = session.dashboard()
    try:
        wait_for(lambda: board.following)
        before = session.status().plugins["word-count"]["worker_pids"]
        board.plugin_rows["word-count"].restart_button.click()
        wait_for(lambda: "worker.started" in board.event_log.value and "restarted word-count" in board.event_log.value)
        assert "worker.stopped" in board.event_log.value
        assert session.status().plugins["word-count"]["worker_pids"] != before

        calls = board.plugin_rows["word-count"].cells["requests"]
        session.call("word-count", {"text": "one two three"})
        board.refresh()
        assert int(calls.value) >= 1 and board.plugin_rows["word-count"].cells["p50 ms"].value != "-"

        # Deleting the model makes the daemon's reconcile loop download it again: real model.* events.
        model = session.desired.models[0]
        seen_before = board.events_seen
        model.path.unlink()
        wait_for(lambda: "model.ready" in board.event_log.value, timeout=30)
        row = board.model_rows[model.filename]
        assert "model.downloading" in board.event_log.value and board.events_seen > seen_before
        assert row.bar.value == 1.0  # moved by model.progress events
        wait_for(lambda: row.bar.layout.visibility == "hidden" and "ready" in row.state.value)
    finally:
        board.stop()
    assert not board.following


def test_buttons_apply_and_pull(session):
    board = session.dashboard(start=False)
    try:
        board.apply_button.click()
        wait_for(lambda: "No changes" in board.message.value, timeout=60)
        board.pull_button.click()
        wait_for(lambda: "sentiment-lexicon-v1.tsv ready" in board.message.value, timeout=60)
        assert "sentiment-lexicon-v1.tsv ready" in board.event_log.value
    finally:
        board.close()


def test_dashboard_notices_the_daemon_going_away(session):
    board = session.dashboard()
    try:
        wait_for(lambda: board.following)
        session.down()
        wait_for(lambda: "stopped" in board.header.value and not board.following, timeout=20)
        assert "daemon.stopping" in board.event_log.value
    finally:
        board.stop()
