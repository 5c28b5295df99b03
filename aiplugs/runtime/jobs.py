"""Install jobs: the daemon installs plugin packages in the background, one job at a time.

``POST /api/installs`` queues a job and answers at once; a single worker task takes the jobs in order, so two
installs never edit ``aiplugs.toml`` at once. A job takes the steps of ``aiplugs plugins install --yes``
(``_install_steps``): fetching (bytes counted) → verifying → unpacking (the manifest read and checked) →
activating (``aiplugs.toml`` edited, the daemon's own apply, the plugin serving) → succeeded, or failed with
the reason. Every move is published as ``install.state`` (bytes as ``install.progress``) and written to
``<state_dir>/installs.json``; a daemon that starts finds the jobs its predecessor left unfinished and fails them
as interrupted.

A job succeeds only when its plugin serves after the apply (workers started, route set); otherwise it fails, and
its edit is taken back and applied again, so a failed install leaves the declaration as it was. A job can be
cancelled until it edits ``aiplugs.toml``: its download stops and its temp files go. From then on it is the apply
of a changed declaration, which runs to its end.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from ..declaration.manifest import PLUGIN_ID
from ..errors import AiplugsError
from ..events import EventBus
from ..events.catalogue import INSTALL_PROGRESS, INSTALL_STATE
from ..plan import DesiredState
from ..store.installjobs import INTERRUPTED, InstallJob, JobState, interrupted, load_jobs, write_jobs
from ..declaration.config import load_config
from ..plan.packages import current_declaration
from ._install_decide import judge
from .converge import ConvergeResult

__all__ = ["InstallJobs", "JobConflict", "JobNotFound", "parse_request"]

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CANCELLABLE = (JobState.QUEUED, JobState.FETCHING, JobState.VERIFYING, JobState.UNPACKING)


class JobNotFound(AiplugsError):
    status = 404


class JobConflict(AiplugsError):
    """The job is not in a state for that (cancel a finished job, retry a running one)."""

    status = 409


class Host(Protocol):
    """What a job needs of the daemon."""

    state_dir: Path
    events: EventBus
    env: dict[str, str]
    desired: DesiredState
    system: Any  # its ``packages`` (a PackageStore) and ``routes``

    async def apply_desired(self, desired: DesiredState, reload: Any = None) -> ConvergeResult: ...

    async def status(self) -> dict[str, Any]: ...


def parse_request(body: dict[str, Any]) -> dict[str, Any]:
    """``{"uri": str, "id": str?, "sha256": str?, "force": bool?}`` as the fields of an InstallJob."""
    unknown = sorted(set(body) - {"uri", "id", "sha256", "force"})
    if unknown:
        raise AiplugsError(f"unknown field(s) {', '.join(map(repr, unknown))}; an install takes uri, id, sha256 "
                           "and force")
    uri, plugin_id, sha256, force = body.get("uri"), body.get("id"), body.get("sha256"), body.get("force", False)
    if not isinstance(uri, str) or not uri.strip():
        raise AiplugsError(f'"uri" must be the package\'s URL or path, got {uri!r}')
    if plugin_id is not None and (not isinstance(plugin_id, str) or not re.match(PLUGIN_ID, plugin_id)):
        raise AiplugsError(f'"id" must be a plugin id (lowercase letters, digits, - and _), got {plugin_id!r}')
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise AiplugsError(f'"sha256" must be 64 hex digits, got {sha256!r}')
    if not isinstance(force, bool):
        raise AiplugsError(f'"force" must be true or false, got {force!r}')
    return {"uri": uri.strip(), "requested_id": plugin_id, "expected_sha256": sha256.lower() if sha256 else None,
            "force": force}


class InstallJobs:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.jobs: dict[str, InstallJob] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._running: dict[str, asyncio.Task[None]] = {}  # the job being worked on (one at most)
        self._cancelling: set[str] = set()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="aiplugs-installs-file")  # writes in order
        self._closed = False

    async def start(self) -> None:
        """Loads the jobs file (what a previous daemon left unfinished fails as interrupted) and starts working."""
        loaded = await asyncio.to_thread(load_jobs, self.host.state_dir)
        fixed = interrupted(loaded)
        self.jobs = {j.job_id: j for j in fixed}
        if fixed != loaded:
            await self._save()
        self._worker = asyncio.create_task(self._work(), name="aiplugs-install-jobs")

    async def close(self) -> None:
        """Stops working; a job cut short here is failed as interrupted, like one found at the next start."""
        self._closed = True
        tasks = [t for t in (self._worker, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.jobs = {j.job_id: j for j in interrupted(self.jobs.values())}
        await self._save()
        self._writer.shutdown(wait=True)

    # ---- the controller's calls ---------------------------------------------------------------------------------

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._enqueue(parse_request(body))

    def get(self, job_id: str) -> dict[str, Any]:
        return self._job(job_id).view()

    def listing(self) -> dict[str, Any]:
        newest = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
        return {"jobs": [j.view() for j in newest]}

    async def cancel(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id)
        if job.state not in _CANCELLABLE:
            why = "it has ended" if job.state.finished else "aiplugs.toml was edited and is being applied"
            raise JobConflict(f"job {job_id} is {job.state.value}: too late to cancel ({why})")
        task = self._running.get(job_id)
        if task is None:  # still queued: the worker skips it
            await self._move(job_id, JobState.CANCELLED)
        else:
            self._cancelling.add(job_id)
            task.cancel()
            await asyncio.wait([task])
        return self._job(job_id).view()

    async def retry(self, job_id: str) -> dict[str, Any]:
        job = self._job(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise JobConflict(f"job {job_id} is {job.state.value}; only a failed or cancelled job can be retried")
        return await self._enqueue({"uri": job.uri, "requested_id": job.requested_id,
                                    "expected_sha256": job.expected_sha256, "force": job.force, "retry_of": job_id})

    # ---- working ------------------------------------------------------------------------------------------------

    async def _enqueue(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise AiplugsError("the daemon is stopping; start the install again once it runs")
        now = time.time()
        job = InstallJob(job_id=secrets.token_hex(6), created_at=now, updated_at=now, **request)
        self.jobs[job.job_id] = job
        self._publish(job)
        await self._save()
        self._queue.put_nowait(job.job_id)
        return {"job_id": job.job_id, "job": job.view()}

    async def _work(self) -> None:
        while True:
            job_id = await self._queue.get()
            if self.jobs[job_id].state is not JobState.QUEUED:  # cancelled while it waited
                continue
            task = asyncio.create_task(self._attempt(job_id), name=f"aiplugs-install {job_id}")
            self._running[job_id] = task
            try:
                await asyncio.wait([task])  # not `await task`: the job's cancellation is not the worker's
            finally:
                self._running.pop(job_id, None)
                self._cancelling.discard(job_id)

    async def _attempt(self, job_id: str) -> None:
        from . import _install_steps as steps  # the installer loads with the first job, not with the daemon

        try:
            await self._steps(job_id)
        except asyncio.CancelledError:
            job = self.jobs[job_id]
            await steps.stop_fetching(self.host.system.packages, {steps.SCRATCH, job.requested_id or "",
                                                                 job.plugin_id or ""} - {""})
            if job_id in self._cancelling:
                await self._move(job_id, JobState.CANCELLED)
            else:
                await self._move(job_id, JobState.FAILED, error=INTERRUPTED)
        except AiplugsError as e:  # a step's refusal (InstallFailed), a broken aiplugs.toml or lock...
            await self._failed(job_id, str(e))
        except Exception as e:  # noqa: BLE001 - a job's bug must end the job, not the worker
            log.exception("install job %s failed", job_id)
            await self._failed(job_id, f"{type(e).__name__}: {e}")

    async def _failed(self, job_id: str, error: str) -> None:
        from . import _install_steps as steps

        await asyncio.to_thread(steps.clear_scratch, self.host.system.packages)
        await self._move(job_id, JobState.FAILED, error=error)

    async def _steps(self, job_id: str) -> None:
        from . import _install_steps as steps

        host, job = self.host, self.jobs[job_id]
        config = host.desired.config_path
        loop = asyncio.get_running_loop()

        def on_bytes(done: int, total: int | None) -> None:  # from the loop or the fetcher's thread
            loop.call_soon_threadsafe(self._progress, job_id, done, total)

        await self._move(job_id, JobState.FETCHING)
        fetched = await steps.fetch(host.system.packages, job, config.parent, on_bytes)
        await self._move(job_id, JobState.VERIFYING, sha256=fetched.sha256, bytes=fetched.size, total=fetched.size)
        if job.expected_sha256 not in (None, fetched.sha256):  # the store checked while streaming; never trust twice
            raise steps.InstallFailed(f"sha256 mismatch: expected {job.expected_sha256}, got {fetched.sha256}")
        await self._move(job_id, JobState.UNPACKING)
        seen = await asyncio.to_thread(steps.identify, fetched.path, job.uri, fetched.sha256, job.requested_id)
        plugin_id, version = str(seen.plugin_id), str(seen.version)
        await self._move(job_id, JobState.UNPACKING, plugin_id=plugin_id, version=version)
        await steps.keep_as(host.system.packages, plugin_id, fetched)
        current, _ = await asyncio.to_thread(
            lambda: current_declaration(load_config(config, env=host.env), plugin_id))
        decision, note = judge(current, plugin_id, version, fetched.sha256, job.force)
        if decision == "refuse":
            raise steps.InstallFailed(note or "refused")
        await self._move(job_id, JobState.ACTIVATING, note=note)
        edited = None
        if decision == "install":
            edited = await asyncio.to_thread(steps.declare, config, plugin_id, job.uri, fetched.sha256)
        await steps.activate(host, plugin_id, edited)
        await self._move(job_id, JobState.SUCCEEDED)

    # ---- records and events -------------------------------------------------------------------------------------

    def _job(self, job_id: str) -> InstallJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no install job {job_id!r}; GET /api/installs lists them")
        return job

    async def _move(self, job_id: str, state: JobState, **changes: Any) -> None:
        job = self.jobs[job_id] = self.jobs[job_id].moved(state, **changes)
        self._publish(job)
        await self._save()

    def _progress(self, job_id: str, done: int, total: int | None) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.state is not JobState.FETCHING:
            return
        job = self.jobs[job_id] = job.moved(bytes=done, total=total)
        self.host.events.publish(INSTALL_PROGRESS, job_id=job_id, plugin_id=job.plugin_id or job.requested_id,
                                 bytes=done, total=total)

    def _publish(self, job: InstallJob) -> None:
        self.host.events.publish(INSTALL_STATE, job_id=job.job_id, state=job.state.value,
                                 plugin_id=job.plugin_id or job.requested_id, bytes=job.bytes, total=job.total,
                                 error=job.error)

    async def _save(self) -> None:
        """Snapshots now and writes in a single thread: writes land in the order of the moves, even when the caller
        is cancelled while it waits."""
        snapshot = sorted(self.jobs.values(), key=lambda j: j.created_at)
        await asyncio.get_running_loop().run_in_executor(self._writer, write_jobs, self.host.state_dir, snapshot)
