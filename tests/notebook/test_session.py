"""Session against a real daemon: apply, status, call, stream, events (sync and async), models, connect, down.

The tests share one applied system (module scope) and run in order; the last one brings it down."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiplugs import AiplugsError, Session
from aiplugs.client import DaemonError
from aiplugs.events import Event
from aiplugs.notebook import ApplyView, StatusView

from .conftest import wait_for


def test_apply_leaves_a_healthy_system(session):
    status = session.status()
    assert isinstance(status, StatusView) and status.running and status.healthy
    by_id = {p["id"]: p for p in status.plugins}
    assert by_id["word-count"]["state"] == "ready" and by_id["word-count"]["workers_ready"] == 1
    assert by_id["ticker"]["state"] == "ready"
    assert by_id["summarize"]["state"] == "disabled"
    assert status.models["sentiment-lexicon-v1.tsv"]["state"] == "ready"
    assert status.api == (session.desired.api.host, session.desired.api.port)


def test_reapply_is_a_noop(session):
    view = session.apply(progress=False)
    assert isinstance(view, ApplyView) and view.ok
    assert view.result is None and not view.plan.changes_present
    assert "No changes" in view._repr_html_()
    assert view.to_dict()["plan"]["changes_present"] is False
    assert session.plan().summary() == "No changes."


def test_apply_without_approval_asks_and_can_decline(session, tmp_path):
    from .conftest import clean_env, make_project

    fresh = Session(make_project(tmp_path / "fresh"), env=clean_env())
    seen = []
    assert fresh.apply(auto_approve=False, confirm=lambda plan: seen.append(plan) or False) is None
    assert seen and seen[0].changes_present
    assert fresh.client() is None and not fresh.status().running


def test_call_returns_the_backend_answer(session):
    answer = session.call("word-count", {"text": "the quick brown fox jumps over the lazy dog fox"})
    assert answer["words"] == 10
    assert answer["top_terms"][0] == "fox"
    assert session.call("sentiment", {"text": "wonderful great lovely"})["label"] == "positive"


def test_call_of_unknown_plugin_names_it(session):
    with pytest.raises(DaemonError) as info:
        session.call("no-such-plugin", {})
    assert info.value.status == 404 and "no-such-plugin" in str(info.value)


def test_stream_sync_and_async(session):
    assert list(session.stream("ticker", {"n": 4})) == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]

    async def collect():
        return [item async for item in session.stream("ticker", {"n": 3})]

    assert asyncio.run(collect()) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_stream_failure_mid_way_raises_with_the_backend_error(session):
    received = []
    with pytest.raises(DaemonError, match="boom at 2"):
        for item in session.stream("ticker", {"n": 5, "fail_at": 2}):
            received.append(item)
    assert received == [{"i": 0}, {"i": 1}]


def test_events_sync_follow_a_restart(session):
    before = session.status().plugins["word-count"]["worker_pids"]
    with session.events() as events:
        threading.Thread(target=session.restart, args=("word-count",), daemon=True).start()
        seen = []
        for event in events:
            assert isinstance(event, Event)
            seen.append(event.type)
            if event.type == "worker.started" and event.data.get("plugin_id") == "word-count":
                break
    assert "worker.stopped" in seen and "worker.starting" in seen
    assert events.closed
    after = session.status().plugins["word-count"]["worker_pids"]
    assert after and after != before


def test_events_async_while_the_loop_stays_free(session):
    async def main():
        ticks = 0

        async def ticker():  # proves the loop keeps running while events and the restart are awaited
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        async with session.events() as events:
            restart = asyncio.create_task(session.arestart("sentiment"))
            types = []
            async for event in events:
                types.append(event.type)
                if event.type == "worker.started" and event.data.get("plugin_id") == "sentiment":
                    break
        assert (await restart)["ok"]
        status = await session.astatus()
        tick_task.cancel()
        return types, status, ticks

    types, status, ticks = asyncio.run(main())
    assert "worker.stopped" in types and types[-1] == "worker.started"
    assert status.plugins["sentiment"]["workers_ready"] == 1
    assert ticks > 1


def test_events_replay_sends_history_first(session):
    with session.events(replay=True) as events:
        first = next(events)
    assert first.seq >= 1 and first.type  # the history's oldest event, without any new activity


def test_async_twins(session):
    async def main():
        plan = await session.aplan()
        answer = await session.acall("word-count", {"text": "one two"})
        return plan, answer

    plan, answer = asyncio.run(main())
    assert not plan.changes_present and answer["words"] == 2


def test_plugins_and_models_views_come_from_the_daemon(session):
    session.call("word-count", {"text": "counted"})
    plugins = session.plugins
    assert set(plugins.ids()) == {"sentiment", "word-count", "ticker", "summarize", "page-topic"}
    assert plugins["word-count"]["requests"] >= 1
    assert plugins["word-count"]["p50_ms"] is not None
    models = session.models
    assert models.ids() == ["sentiment-lexicon-v1.tsv"] and models[0]["state"] == "ready"


def test_models_pull_verify_gc(session):
    pulled = session.pull_models(progress=True)
    assert pulled["sentiment-lexicon-v1.tsv"]["state"] == "ready"
    verify = session.verify_models()
    assert verify.ok and verify[0]["actual_sha256"] == verify[0]["expected_sha256"]
    stray = session.desired.models_dir / "old-model.bin"
    stray.write_bytes(b"x" * 10)
    assert stray in session.gc_models() and stray.exists()  # dry run by default
    assert stray in session.gc_models(dry_run=False) and not stray.exists()
    assert session.desired.models[0].path.exists()  # declared files stay


def test_connect_by_state_dir_and_by_config(session):
    by_dir = Session.connect(session.state_dir)
    assert by_dir.config_path == session.config_path
    assert by_dir.status().healthy
    by_config = Session.connect(session.config_path)
    assert by_config.state_dir == session.state_dir


def test_down_stops_everything(session):
    pids = [p for row in session.status().plugins for p in row.get("worker_pids", [])]
    daemon_pid = session.status()["daemon"]["pid"]
    assert session.down() == daemon_pid
    assert not session.status().running
    from aiplugs.util.procs import pid_alive

    wait_for(lambda: not any(pid_alive(p) for p in [daemon_pid, *pids]), timeout=10)
    with pytest.raises(AiplugsError, match="no aiplugs daemon"):
        session.call("word-count", {})
    with pytest.raises(AiplugsError, match="no aiplugs daemon"):
        Session.connect(session.state_dir)
    assert session.down() is None
