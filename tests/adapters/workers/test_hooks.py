"""The backend's hooks against real workers: init before the first call and before the worker counts as started,
shutdown on a graceful stop within the grace period, and install / uninstall in one-shot runs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from aiplugs.adapters.workers import HookFailed, WorkerManager
from aiplugs.adapters.workers.hooks import BACKSTOP_S

from ...support import pid_alive, wait_for_async


def lines(path) -> list[str]:
    return path.read_text().splitlines()


async def test_init_runs_before_the_first_call_and_shutdown_before_the_stop_ends(manager, make_spec, tmp_path):
    spec = make_spec("hooks_order", state=tmp_path)
    await manager.start(spec, 0)
    order = spec.data_dir / "order.txt"
    assert len(lines(order)) == 1  # started means init has run
    pid = (await manager.call("hooks-order", {}))["pid"]
    assert lines(order) == [f"init {pid}", f"run {pid}"]
    await manager.stop("hooks-order", 0)
    assert lines(order) == [f"init {pid}", f"run {pid}", f"shutdown {pid}"] and not pid_alive(pid)


async def test_a_restart_shuts_the_old_worker_down_before_the_new_one_inits(manager, make_spec, tmp_path):
    spec = make_spec("hooks_order", state=tmp_path)
    await manager.start(spec, 0)
    old = (await manager.call("hooks-order", {}))["pid"]
    await manager.restart(spec, 0)
    new = manager.stats("hooks-order")["pids"][0]
    assert lines(spec.data_dir / "order.txt") == [f"init {old}", f"run {old}", f"shutdown {old}", f"init {new}"]
    await manager.close()
    assert lines(spec.data_dir / "order.txt")[-1] == f"shutdown {new}"  # close is a graceful stop too


async def test_a_failing_init_fails_the_start_and_leaves_no_process(manager, make_spec, tmp_path):
    spec = make_spec("init_fails", state=tmp_path)
    with pytest.raises(HookFailed) as info:
        await manager.start(spec, 0)
    e = info.value
    assert e.hook == "init" and e.plugin_id == "init-fails"
    assert f"worker init-fails#0 init hook failed: ValueError: weights missing in {spec.cache_dir}" in e.message
    assert "(exit code 5)" in e.message
    assert any('raise ValueError(f"weights missing' in line for line in e.tail)  # the traceback
    assert not pid_alive(int((spec.data_dir / "pid").read_text()))
    workers, history = manager.observe()
    assert [(w.alive, w.exit_code) for w in workers] == [(False, 5)]
    assert "init hook failed: ValueError" in history[0].last_error and not manager.serving("init-fails")


async def test_an_init_past_the_hook_timeout_fails_the_start_and_its_group_is_killed(manager, make_spec, tmp_path):
    spec = make_spec("init_hangs", state=tmp_path, hooks_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(HookFailed) as info:
        await manager.start(spec, 0)
    assert time.monotonic() - started < 10  # the hook timeout, not the 30 s ready timeout
    e = info.value
    assert e.hook == "init" and "worker init-hangs#0 init hook timed out after 1s (exit code 6)" in e.message
    assert any("in init" in line for line in e.tail)  # where it hung
    worker, child = (int(pid) for pid in (spec.data_dir / "pids").read_text().split())
    assert not pid_alive(worker)
    await wait_for_async(lambda: not pid_alive(child), timeout=5)  # SIGKILLed with the group, just now


async def test_a_shutdown_hook_that_hangs_does_not_stretch_the_grace_period(tmp_path, make_spec):
    mgr = WorkerManager(tmp_path / "state", grace_s=1.0)
    spec = make_spec("shutdown_hangs", state=tmp_path, hooks_timeout_s=60.0)
    try:
        await mgr.start(spec, 0)
        pid = mgr.stats("shutdown-hangs")["pids"][0]
        started = time.monotonic()
        await mgr.stop("shutdown-hangs", 0)
        elapsed = time.monotonic() - started
    finally:
        await mgr.close()
    assert (spec.data_dir / "shutdown-started").read_text() == str(pid)  # the hook did run
    assert 0.5 <= elapsed <= 1.3  # it had most of the grace, and no more than all of it
    assert not pid_alive(pid)
    assert "shutdown hook of worker shutdown-hangs#0: still running" in (
        tmp_path / "state" / "logs" / "shutdown-hangs-0.log").read_text()


async def test_install_and_uninstall_run_like_a_worker_and_log_to_the_plugin_log(manager, make_spec, tmp_path):
    spec = make_spec("install_hooks", state=tmp_path, version="1.2.0")
    await manager.run_hook(spec, "install")
    installed = json.loads((spec.data_dir / "installed.json").read_text())
    assert installed == {"cwd": str(spec.data_dir), "version": "1.2.0", "cache_dir": str(spec.cache_dir)}
    await manager.run_hook(spec, "uninstall")
    assert not (spec.data_dir / "installed.json").exists()
    log = (tmp_path / "state" / "logs" / "install-hooks-0.log").read_text()
    assert "installing install-hooks 1.2.0" in log and "uninstalled install-hooks" in log
    assert "ctx.publish during the install hook is not delivered" in log and "install-hooks/installed" in log
    assert not manager.has("install-hooks")  # a hook run is no worker


async def test_a_failing_install_raises_with_its_traceback(manager, make_spec, tmp_path):
    spec = make_spec("install_hooks", state=tmp_path, settings={"mode": "fail"})
    with pytest.raises(HookFailed) as info:
        await manager.run_hook(spec, "install")
    e = info.value
    assert e.hook == "install" and e.plugin_id == "install-hooks"
    assert e.message == "install-hooks install hook failed: RuntimeError: cannot fetch the vocabulary"
    assert 'raise RuntimeError("cannot fetch the vocabulary")' in "\n".join(e.tail) and len(e.tail) <= 15
    assert "Traceback" in (tmp_path / "state" / "logs" / "install-hooks-0.log").read_text()


async def test_an_install_past_its_timeout_is_killed_with_its_group(manager, make_spec, tmp_path):
    spec = make_spec("install_hooks", state=tmp_path, settings={"mode": "hang"}, hooks_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(HookFailed) as info:
        await manager.run_hook(spec, "install")
    assert time.monotonic() - started < 1.0 + BACKSTOP_S
    assert info.value.message == "install-hooks install hook timed out after 1s"
    assert any("in install" in line for line in info.value.tail)  # the harness said where it hung
    child = int((spec.data_dir / "child.pid").read_text())
    await wait_for_async(lambda: not pid_alive(child), timeout=5)  # SIGKILLed with the group, just now


async def test_a_hook_run_whose_import_hangs_is_killed_by_the_manager(manager, make_spec, tmp_path):
    spec = make_spec("import_hangs", state=tmp_path, hooks_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(HookFailed) as info:
        await manager.run_hook(spec, "install")
    assert 0.5 + BACKSTOP_S <= time.monotonic() - started < 0.5 + BACKSTOP_S + 3
    assert info.value.message == "import-hangs install hook timed out after 0.5s"


@pytest.mark.parametrize("hook", ["install", "uninstall"])
async def test_a_hook_the_backend_does_not_define_is_a_no_op(manager, make_spec, tmp_path, hook):
    spec = make_spec("echo_sync", state=tmp_path)
    await manager.run_hook(spec, hook)
    assert spec.data_dir.is_dir() and list(spec.data_dir.iterdir()) == []


async def test_only_install_and_uninstall_run_one_shot(manager, make_spec):
    with pytest.raises(ValueError, match="'init'"):
        await manager.run_hook(make_spec("hooks_order"), "init")  # type: ignore[arg-type]


async def test_hook_runs_and_workers_share_the_data_dir(manager, make_spec, tmp_path):
    spec = make_spec("install_hooks", state=tmp_path)
    await manager.run_hook(spec, "install")
    await manager.start(spec, 0)
    assert await manager.call("install-hooks", {"x": 1}) == {"x": 1}
    assert (spec.data_dir / "installed.json").exists()
    await asyncio.wait_for(manager.run_hook(spec, "uninstall"), 30)  # uses worker 0's open log
    assert "uninstalled install-hooks" in (tmp_path / "state" / "logs" / "install-hooks-0.log").read_text()
