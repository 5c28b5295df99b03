"""The daemon: one long-running process that owns the running system (router, proxy, workers) of a state dir.

It holds the state dir's daemon lock and pid file, answers the router's ``Controller`` calls (apply, status,
down, restart, pull) and runs the reconcile loop. The desired state always comes from one function,
``plan.load_desired_state``: at start from the daemon's own environment, and on every apply from the
declaration path and the environment the CLI sends — so what the CLI planned is what the daemon converges to
(the CLI sends the digest it showed; a declaration changed in between is refused).

Run it with ``python -m aiplugs.runtime.daemon -c aiplugs.toml`` (what ``aiplugs apply`` does, detached) or
in-process through ``aiplugs apply --foreground``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from typing import Any, Callable, Mapping

from ..errors import AiplugsError
from ..events import EventBus
from ..events.catalogue import DAEMON_STOPPING, ROUTER_STARTED
from ..plan import DesiredState, Plan, load_desired_state
from ..store.locks import HeldLock, LockHeld
from ..store.daemonfile import LOCK_FILE, claim_pid_file, read_pid, release_pid_file, write_daemon_file
from ..store.tokens import PAGE_TOKEN_FILE, load_or_create_token
from ..util import eventloop
from ..util.heap import settle_heap
from .converge import ConvergeResult, converge
from .hooks import observe_hooks
from .jobs import InstallJobs
from .orphans import sweep_orphans
from .reconcile import Reconciler
from .status import Condition, Observed, build_status

__all__ = ["Daemon", "main"]

log = logging.getLogger(__name__)


class Daemon:
    def __init__(self, desired: DesiredState, *, env: Mapping[str, str] | None = None,
                 reconcile_interval: float = 2.0, own_process: bool = False) -> None:
        self.desired = desired
        self.own_process = own_process  # all its process runs (main, apply --foreground): it may settle_heap
        self.state_dir = desired.state_dir
        self.env = dict(os.environ if env is None else env)
        self.reconcile_interval = reconcile_interval
        self.events = EventBus()
        self.started_at = time.time()
        self.system: Any = None  # a RunningSystem while serving
        self.reconciler: Reconciler | None = None
        self.applied = False  # nothing is converged before the first apply (the person's go-ahead)
        self._conditions: dict[str, Condition] = {}
        self._stop: asyncio.Event | None = None
        self.installs: InstallJobs | None = None  # install jobs (POST /api/installs) while serving
        self.autotune: Any = None  # the Autotuner while serving: suggestions, autoscaling (runtime/autotune.py)
        self.collector: Any = None  # the MetricsCollector (collect.py) while serving

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def run(self, on_ready: Callable[[Daemon], Any] | None = None) -> None:
        """Starts the router, then serves until SIGTERM/SIGINT or ``down``; stops everything on the way out."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = HeldLock(self.state_dir / LOCK_FILE, what=f"a daemon for {self.state_dir}", timeout=0)
        try:
            lock.acquire()
        except LockHeld:
            raise AiplugsError(f"a daemon already runs for {self.state_dir} (pid {read_pid(self.state_dir)}); "
                               "`aiplugs down` stops it") from None
        try:
            await asyncio.to_thread(sweep_orphans, self.state_dir)
            await self._serve(on_ready)
        finally:
            release_pid_file(self.state_dir)
            lock.release()

    async def _serve(self, on_ready: Callable[[Daemon], Any] | None) -> None:
        from .collect import MetricsCollector
        from .system import RunningSystem

        self._stop = asyncio.Event()
        self.system = system = RunningSystem(
            state_dir=self.state_dir, models_dir=self.desired.models_dir, config_path=self.desired.config_path,
            events=self.events,
            admin_token=load_or_create_token(self.state_dir),
            page_token=load_or_create_token(self.state_dir, PAGE_TOKEN_FILE), control=self,
            on_change=self._changed, started_at=self.started_at)
        system.workers.parent_env = self.env
        self.reconciler = Reconciler(system, self.desired, self.events, interval=self.reconcile_interval)
        from .autotune import Autotuner

        self.autotune = Autotuner(self)
        self.reconciler.sizer = self.autotune.size  # ranged plugins' counts reach the plan through the desired state
        autotune_task: asyncio.Task | None = None
        self.collector = MetricsCollector(system.workers, self.state_dir, self.desired.metrics)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop_task: asyncio.Task | None = None
        try:
            await system.record_state(force=True)  # first of all: a damaged state.json is set aside and rewritten
            self.installs = InstallJobs(self)
            await self.installs.start()  # before the API answers: jobs a previous daemon left are failed first
            await self.collector.start()
            await self._start_api()
            claim_pid_file(self.state_dir)
            write_daemon_file(self.state_dir, *system.api, self.started_at)
            await system.record_state(force=True)
            self.events.publish(ROUTER_STARTED, host=system.api[0], port=system.api[1])
            log.info("aiplugs daemon %s: api on %s:%s (%s)", os.getpid(), *system.api, eventloop.loop_name(loop))
            loop_task = asyncio.create_task(self._loop(), name="aiplugs-reconcile")
            autotune_task = asyncio.create_task(self.autotune.run(), name="aiplugs-autotune")
            if on_ready is not None:
                on_ready(self)
            await self._stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            if loop_task is not None:
                loop_task.cancel()
            if autotune_task is not None:
                autotune_task.cancel()
            self.events.publish(DAEMON_STOPPING, pid=os.getpid())
            log.info("stopping")
            if self.installs is not None:
                await self.installs.close()
            await self.collector.close()  # a last sample while the workers still run
            await system.close()

    async def _start_api(self) -> None:
        """The router comes first, so the CLI can talk to us: the api action of the plan, alone."""
        assert self.reconciler is not None
        plan = self.reconciler.observe_and_plan()
        result = await converge(Plan(tuple(a for a in plan.actions if a.type == "api")), self.desired,
                                self.system, self.events)
        if not result.ok:
            raise AiplugsError(result.failures[0].error)

    async def _loop(self) -> None:
        """Self-healing starts with the first apply: before it, nothing but the router was agreed to."""
        assert self.reconciler is not None
        while not self.applied:
            await asyncio.sleep(0.2)
        await self.reconciler.run()

    def _changed(self) -> None:
        if self.reconciler is not None and self.applied:
            self.reconciler.wake()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    # ---- applying --------------------------------------------------------------------------------------------

    async def apply_desired(self, desired: DesiredState,
                            reload: Callable[[], DesiredState] | None = None) -> ConvergeResult:
        """Converges to ``desired``; ``reload`` reads the declaration again after packages were installed (their
        plugins are planned from the manifests that came with them)."""
        assert self.reconciler is not None, "the daemon is not running"
        if desired.state_dir != self.state_dir:
            raise AiplugsError(f"this daemon serves {self.state_dir}, not {desired.state_dir}")
        result = await self.reconciler.apply(desired, reload=reload)
        self.desired = self.reconciler.desired
        if self.collector is not None:
            await self.collector.configure(self.desired.metrics)
        if not self.applied and self.own_process:  # what the first apply built stays: out of the collector's way
            log.info("first apply done: %d objects kept out of garbage collection", settle_heap())
        self.applied = True
        self._set_condition("Converged", result.ok, "converged" if result.ok else
                            "; ".join(f"{f.unit}: {f.error}" for f in result.failures))
        return result

    # ---- the router's Controller -----------------------------------------------------------------------------

    async def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"config": path, "env": {...}, "digest": str?}``: the same declaration and environment the CLI
        planned with; ``digest`` (of the desired state the person saw) makes a changed declaration an error."""
        config, env = body.get("config"), body.get("env")
        if not isinstance(config, str) or not isinstance(env, dict):
            raise AiplugsError('apply needs {"config": "<path of aiplugs.toml>", "env": {...}}')
        _, desired = await asyncio.to_thread(load_desired_state, config, env=env)
        digest = body.get("digest")
        if digest is not None and digest != desired.digest:
            raise AiplugsError("the declaration changed since the plan was shown; run `aiplugs apply` again to see "
                               "the new plan")
        self.env = dict(env)
        self.system.workers.parent_env = self.env
        result = await self.apply_desired(desired, reload=lambda: load_desired_state(config, env=env)[1])
        return {**result.to_dict(), "status": await self.status()}

    async def status(self) -> dict[str, Any]:
        system = self.system
        desired = self.reconciler.target if self.reconciler is not None else self.desired  # autoscaled counts
        workers, history = system.workers.observe()
        sizes = {}
        for m in desired.models:
            try:
                sizes[m.filename] = m.path.stat().st_size
            except OSError:
                sizes[m.filename] = None
        self._set_condition("RouterAnswering", system.api is not None, f"listening on {_fmt(system.api)}")
        if self.applied:
            self._set_condition("ProxyListening", system.proxy_address is not None,
                                f"listening on {_fmt(system.proxy_address)}")
        seen = Observed(
            daemon={"pid": os.getpid(), "started_at": self.started_at,
                    "uptime_s": round(time.time() - self.started_at, 1)},
            api=system.api, proxy=system.proxy_address, ca_cert=system.ca_cert, workers=workers, plugins=history,
            stats={p.id: system.workers.stats(p.id) or {} for p in desired.plugins},
            models={m.filename: system.store.status(m) for m in desired.models}, model_sizes=sizes,
            conditions=tuple(self._conditions.values()), now=time.time(),
            envs={e.id: e for e in system.observe_envs(desired)},
            hooks={h.plugin_id: h for h in observe_hooks(system)}, events=system.plugin_events.stats(),
            scaling=self.autotune.scaling() if self.autotune is not None else {})
        return build_status(desired, seen)

    async def down(self) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, self.stop)
        return {"ok": True, "pid": os.getpid()}

    async def restart(self, plugin_id: str) -> dict[str, Any]:
        assert self.reconciler is not None
        if self.desired.worker(plugin_id) is None:
            raise AiplugsError(f"plugin {plugin_id!r} has no local workers to restart")
        result = await self.reconciler.restart(plugin_id)
        env = self.desired.worker(plugin_id).python_env  # type: ignore[union-attr]
        failures = [f for f in (result.failures if result else ())
                    if f.unit == f"env {env}" or f.unit.startswith(f"worker {plugin_id}#")]
        if failures:  # the environment's failure (pip's words) before its consequence for the workers
            raise AiplugsError(f"restart of {plugin_id} failed: {failures[0].error}")
        return {"ok": True, "plugin": plugin_id}

    async def pull_models(self, keys: list[str]) -> dict[str, Any]:
        assert self.reconciler is not None
        chosen = [m for m in self.desired.models if not keys or m.filename in keys or set(m.keys) & set(keys)]
        result = await self.reconciler.pull({m.filename for m in chosen})
        failures = [f for f in (result.failures if result else ()) if f.unit.startswith("model ")]
        if failures:
            raise AiplugsError("; ".join(f"{f.unit}: {f.error}" for f in failures))
        return {"ok": True, "paths": [str(m.path) for m in chosen]}

    async def demand(self, plugin_id: str) -> None:
        """Before a call reaches a lazy plugin: provision it now (models, workers) through a reconcile pass."""
        route = self.desired.route(plugin_id)
        if route is None or not route.lazy or self.system.workers.serving(plugin_id) or self.reconciler is None:
            return
        await self.reconciler.demand(plugin_id)

    # ---- install jobs: runtime/jobs.py -------------------------------------------------------------------------

    async def start_install(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._jobs().submit(body)

    async def install_job(self, job_id: str) -> dict[str, Any]:
        return self._jobs().get(job_id)

    async def install_jobs(self) -> dict[str, Any]:
        return self._jobs().listing()

    async def cancel_install(self, job_id: str) -> dict[str, Any]:
        return await self._jobs().cancel(job_id)

    async def retry_install(self, job_id: str) -> dict[str, Any]:
        return await self._jobs().retry(job_id)

    def _jobs(self) -> InstallJobs:
        if self.installs is None:
            raise AiplugsError("install jobs run only while the daemon serves")
        return self.installs

    def _set_condition(self, kind: str, ok: bool, reason: str) -> None:
        current = self._conditions.get(kind)
        if current is None or current.ok != ok or current.reason != reason:
            since = current.since if current is not None and current.ok == ok else time.time()
            self._conditions[kind] = Condition(kind, ok, reason, since)


def _fmt(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address else "nothing"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached daemon: ``python -m aiplugs.runtime.daemon -c aiplugs.toml``."""
    parser = argparse.ArgumentParser(prog="aiplugs-daemon", description="The aiplugs daemon (started by apply).")
    parser.add_argument("-c", "--config", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        _, desired = load_desired_state(args.config)
        eventloop.run(Daemon(desired, own_process=True).run())
    except AiplugsError as e:  # ConfigError included: it lists every problem
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
