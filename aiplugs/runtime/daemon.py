"""The daemon: one long-running process that owns the running system (router, proxy, worker pools).

It holds the state dir's daemon lock, applies desired states handed to it (plan, then converge through the
:class:`~aiplugs.runtime.system.RunningSystem`), answers the router's ``Controller`` calls (apply, status, down, restart,
pull) and runs a level-triggered reconcile loop that re-provisions deleted or corrupted models and keeps
``state.json`` current; worker restarts are the WorkerManager's own supervision. Run it with
``python -m aiplugs.runtime.daemon -c aiplugs.toml`` (what ``aiplugs apply`` does, detached) or in-process through
``aiplugs apply --foreground``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .codec import decode_desired
from .converge import ConvergeResult, converge
from ..errors import AiplugsError
from ..events import EventBus
from ..plan import diff
from ..plan import DesiredState
from ..store.state import read_state
from .status import Condition, build_status
from ..store.tokens import PAGE_TOKEN_FILE, load_or_create_token

__all__ = ["Daemon", "main"]

log = logging.getLogger("aiplugs.runtime.daemon")
PID_FILE = "daemon.pid"
LOCK_FILE = "daemon.lock"
MAX_MODEL_BACKOFF = 300.0


class Daemon:
    def __init__(self, desired: DesiredState, *, reconcile_interval: float = 2.0) -> None:
        self.desired = desired
        self.state_dir = desired.state_dir
        self.reconcile_interval = reconcile_interval
        self.events = EventBus()
        self.started_at = time.time()
        self.system: Any = None  # a RunningSystem while serving
        self._conditions: dict[str, Condition] = {}
        self._model_retry: dict[str, tuple[float, float]] = {}  # filename -> (not before, backoff)
        self._stop: asyncio.Event | None = None
        self._apply_lock: asyncio.Lock | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def run(self, on_ready: Callable[[Daemon], Any] | None = None) -> None:
        """Starts the router, then serves until SIGTERM/SIGINT or ``down``; stops everything on the way out."""
        from filelock import FileLock, Timeout

        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(str(self.state_dir / LOCK_FILE))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            pid = _read_pid(self.state_dir)
            raise AiplugsError(f"a daemon already runs for {self.state_dir} (pid {pid}); `aiplugs down` stops it")
        try:
            await self._serve(on_ready)
        finally:
            (self.state_dir / PID_FILE).unlink(missing_ok=True)
            lock.release()

    async def _serve(self, on_ready: Callable[[Daemon], Any] | None) -> None:
        from .system import RunningSystem

        self._stop = asyncio.Event()
        self._apply_lock = asyncio.Lock()
        self.system = system = RunningSystem(
            self.desired, events=self.events, admin_token=load_or_create_token(self.state_dir),
            page_token=load_or_create_token(self.state_dir, PAGE_TOKEN_FILE), control=self,
            started_at=self.started_at,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        reconcile: asyncio.Task | None = None
        try:
            await system.ensure_api(self.desired.api)
            (self.state_dir / PID_FILE).write_text(f"{os.getpid()}\n")
            await system.record_state(force=True)
            self.events.publish("router.started", host=system.api[0], port=system.api[1])
            log.info("aiplugs daemon %s: api on %s:%s", os.getpid(), *system.api)
            reconcile = asyncio.create_task(self._reconcile_loop(), name="aiplugs-reconcile")
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if reconcile is not None:
                reconcile.cancel()
            self.events.publish("daemon.stopping", pid=os.getpid())
            log.info("stopping")
            await system.close()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # ---- applying --------------------------------------------------------------------------------------------

    async def apply_desired(self, desired: DesiredState) -> ConvergeResult:
        assert self._apply_lock is not None, "the daemon is not running"
        async with self._apply_lock:
            plan = diff(desired, self.system.actual(desired))
            self.events.publish("apply.planned", summary=plan.summary(), changes=[str(a) for a in plan.changes])
            self.desired = desired
            self.system.set_desired(desired)
            result = await converge(plan, desired, self.system, self.events)
            self._set_condition("Converged", result.ok, "converged" if result.ok else
                                "; ".join(f"{f.unit}: {f.error}" for f in result.failures))
            await self.system.record_state(force=True)
            return result

    # ---- the router's Controller -----------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        desired, system = self.desired, self.system
        states = {m.filename: system.store.status(m) for m in desired.models}
        sizes = {}
        for m in desired.models:
            try:
                sizes[m.filename] = m.path.stat().st_size
            except OSError:
                sizes[m.filename] = None
        self._set_condition("RouterAnswering", system.api is not None, f"listening on {_fmt(system.api)}")
        if system.proxy is not None or system.rules_hash is not None:
            self._set_condition("ProxyListening", system.proxy_address is not None,
                                f"listening on {_fmt(system.proxy_address)}")
        relay_problem = None
        if desired.relays and not desired.cloud.base_url:
            relay_problem = "cloud.base_url is not set (env CLOUD_BASE_URL or [cloud] base_url)"
        return build_status(
            desired,
            daemon={"pid": os.getpid(), "started_at": self.started_at,
                    "uptime_s": round(time.time() - self.started_at, 1)},
            api=system.api, proxy=system.proxy_address, ca_cert=system.ca_cert,
            pools=system.workers.snapshot(), model_states=states, model_sizes=sizes,
            conditions=list(self._conditions.values()), relay_problem=relay_problem,
        )

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        desired = decode_desired(body)
        if desired.state_dir != self.state_dir:
            raise AiplugsError(f"this daemon serves {self.state_dir}, not {desired.state_dir}")
        result = await self.apply_desired(desired)
        return {**result.to_dict(), "status": await self.status()}

    async def down(self) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, self.stop)
        return {"ok": True, "pid": os.getpid()}

    async def restart(self, plugin_id: str) -> dict[str, Any]:
        await self.system.workers.restart(plugin_id)
        await self.system.record_state()
        return {"ok": True, "plugin": plugin_id}

    async def pull_models(self, keys: list[str]) -> dict[str, Any]:
        chosen = [m for m in self.desired.models if not keys or m.filename in keys or set(m.keys) & set(keys)]
        paths = await self.system.store.pull(chosen)
        return {"ok": True, "paths": [str(p) for p in paths]}

    # ---- reconcile loop --------------------------------------------------------------------------------------

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_interval)
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile failed")

    async def reconcile_once(self) -> None:
        """Level-triggered: whatever drifted since the last look is put back (models); state.json follows pids."""
        assert self._apply_lock is not None
        if self._apply_lock.locked():
            return
        async with self._apply_lock:
            store, now = self.system.store, time.monotonic()
            records = read_state(self.state_dir).models
            for model in self.desired.models:
                if model.lazy and model.filename not in records:
                    continue  # never pulled: the first call will
                if store.status(model) == "ready":
                    self._model_retry.pop(model.filename, None)
                    continue
                not_before, backoff = self._model_retry.get(model.filename, (0.0, 1.0))
                if now < not_before:
                    continue
                log.info("model %s drifted (%s): re-provisioning", model.filename, store.status(model))
                try:
                    await store.ensure(model)
                    self._model_retry.pop(model.filename, None)
                except Exception as e:
                    log.warning("re-provisioning %s failed: %s", model.filename, e)
                    self._model_retry[model.filename] = (now + backoff, min(backoff * 2, MAX_MODEL_BACKOFF))
            await self.system.record_state()

    def _set_condition(self, kind: str, ok: bool, reason: str) -> None:
        current = self._conditions.get(kind)
        if current is None or current.ok != ok or current.reason != reason:
            since = current.since if current is not None and current.ok == ok else time.time()
            self._conditions[kind] = Condition(kind, ok, reason, since)


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "nothing"


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached daemon: ``python -m aiplugs.runtime.daemon -c aiplugs.toml``."""
    from ..plan import load_desired_state

    parser = argparse.ArgumentParser(prog="aiplugs-daemon", description="The aiplugs daemon (started by apply).")
    parser.add_argument("-c", "--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _, desired = load_desired_state(args.config)
        asyncio.run(Daemon(desired).run())
    except AiplugsError as e:  # ConfigError included: it lists every problem
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
