"""``ctx`` in real workers: what it holds, the folders and working directory it comes with, its logger, and
ctx.publish reaching the manager's on_publish in order, with the manager's word on the plugin id."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from aiplugs.adapters.workers import WorkerManager

from ...support import wait_for_async
from .conftest import start_all


async def test_ctx_holds_the_plugins_settings_models_and_folders(manager, make_spec, tmp_path):
    model = tmp_path / "models" / "tiny.gguf"
    spec = make_spec("ctx_dump", state=tmp_path, version="3.0.1", settings={"k": 2, "lang": "de"},
                     models={"TINY_MODEL": str(model)})
    await manager.start(spec, 0)
    seen = await manager.call("ctx-dump", {})
    assert seen == {"plugin_id": "ctx-dump", "version": "3.0.1", "data_dir": str(spec.data_dir),
                    "cache_dir": str(spec.cache_dir), "settings": {"k": 2, "lang": "de"},
                    "models": {"TINY_MODEL": str(model)}, "model_types": ["PosixPath"],
                    "dir_types": ["PosixPath", "PosixPath"], "cwd": str(spec.data_dir),
                    "log": "aiplugs.plugin.ctx-dump"}
    for folder in (spec.data_dir, spec.cache_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    log = tmp_path / "state" / "logs" / "ctx-dump-0.log"
    await wait_for_async(lambda: "INFO aiplugs.plugin.ctx-dump: ctx for ctx-dump at 3.0.1" in log.read_text())


async def test_without_folders_ctx_has_none_and_the_worker_runs_in_the_plugin_folder(manager, make_spec):
    spec = make_spec("ctx_dump")
    await manager.start(spec, 0)
    seen = await manager.call("ctx-dump", {})
    assert (seen["data_dir"], seen["cache_dir"], seen["models"], seen["version"]) == ("None", "None", {}, "0")
    assert seen["cwd"] == str(spec.plugin_dir)


async def test_existing_folders_are_left_as_they_are(manager, make_spec, tmp_path):
    spec = make_spec("ctx_dump", state=tmp_path)
    spec.data_dir.mkdir(parents=True, mode=0o755)
    (spec.data_dir / "kept.txt").write_text("from the last version")
    await manager.start(spec, 0)
    assert (await manager.call("ctx-dump", {}))["cwd"] == str(spec.data_dir)
    assert stat.S_IMODE(spec.data_dir.stat().st_mode) == 0o755 and (spec.data_dir / "kept.txt").exists()
    assert stat.S_IMODE(spec.cache_dir.stat().st_mode) == 0o700


async def test_on_message_gets_ctx_as_third_argument(manager, make_spec):
    await manager.start(make_spec("ctx_dump"), 0)
    reply = await manager.message("ctx-dump", "client-7", {"hi": 1})
    assert reply.value == {"client_id": "client-7", "echo": {"hi": 1}, "plugin_id": "ctx-dump"}


class Published(list):
    def __call__(self, plugin_id: str, topic: str, data) -> None:
        self.append((plugin_id, topic, data))


async def test_publish_from_sync_and_async_code_reaches_on_publish_in_order(tmp_path, make_spec):
    published = Published()
    mgr = WorkerManager(tmp_path / "state", grace_s=2.0, on_publish=published)
    try:
        await mgr.start(make_spec("publishes", plugin_id="pub-a"), 0)
        await mgr.start(make_spec("publishes", plugin_id="pub-b"), 0)
        answer = await mgr.call("pub-a", {"n": 5}, tool="burst")
        assert answer["thread"] != "MainThread"  # sync code, in a worker thread
        # everything published before the answer is delivered before call() returns
        assert published == [("pub-a", "pub-a/tick", {"i": i}) for i in range(5)]
        published.clear()
        assert await mgr.call("pub-b", {"n": 4}, tool="aburst") == "async"
        assert published == [("pub-b", "pub-b/tock", {"i": i}) for i in range(4)]
        published.clear()
        assert await mgr.call("pub-a", {}, tool="from_own_thread") == "joined"
        assert published == [("pub-a", "pub-a/thread", i) for i in range(3)]
    finally:
        await mgr.close()


async def test_publish_from_concurrent_calls_keeps_each_calls_order(tmp_path, make_spec):
    published = Published()
    mgr = WorkerManager(tmp_path / "state", grace_s=2.0, on_publish=published)
    try:
        await start_all(mgr, make_spec("publishes", count=2))
        await asyncio.gather(*(mgr.call("publishes", {"n": 20}, tool=tool) for tool in ("burst", "aburst") * 2))
        for topic in ("publishes/tick", "publishes/tock"):
            items = [data["i"] for _, t, data in published if t == topic]
            assert sorted(items) == sorted(list(range(20)) * 2)
        assert {plugin for plugin, _, _ in published} == {"publishes"}
    finally:
        await mgr.close()


async def test_foreign_topics_and_bad_data_raise_in_the_backend(manager, make_spec):
    published = Published()
    manager.on_publish = published
    await manager.start(make_spec("publishes"), 0)
    topics = ["other-plugin/done", "aiplugs/worker.started", "publishes/", "", "/x", "publishesx/y"]
    refused = await manager.call("publishes", {"topics": topics}, tool="forbidden")
    assert sorted(refused) == sorted([*topics, "not-json"])
    for topic in topics:
        assert "a plugin publishes only under its own namespace 'publishes/<name>'" in refused[topic], topic
    assert "cannot publish to 'publishes/not-json': data is not JSON-serializable" in refused["not-json"]
    assert published == []


def test_the_manager_drops_frames_outside_the_workers_namespace(tmp_path, make_spec):
    """A backend writing frames by hand cannot speak for another plugin or for aiplugs."""
    import collections

    from aiplugs.adapters.workers.process import RotatingLog, WorkerProcess

    published = Published()
    log = RotatingLog(tmp_path / "w.log")
    worker = WorkerProcess(make_spec("publishes"), 0, python="python", log=log, tail=collections.deque(),
                           on_publish=published)
    for topic in ("aiplugs/plan.applied", "other/x", "publishes/", None, "publishes/ok"):
        worker._published(topic, {"t": topic})
    log.close()
    assert published == [("publishes", "publishes/ok", {"t": "publishes/ok"})]
    assert Path(tmp_path / "w.log").read_text().count("dropped a publish") == 4
