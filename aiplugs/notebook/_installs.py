"""Install jobs from a notebook: ``s.install(uri)`` queues a job in the daemon and returns an :class:`InstallJobView`
at once; ``job.wait()`` follows it with a ``tqdm.auto`` bar (bytes while fetching, the state beside them) until it
succeeded, failed or was cancelled. ``await job`` does the same without blocking the notebook's event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Generator

from ..errors import AiplugsError
from ._html import esc, table

__all__ = ["InstallJobView"]

FINISHED = ("succeeded", "failed", "cancelled")
_COLORS = {"succeeded": "#1a7f37", "failed": "#cf222e", "cancelled": "#6e7781"}  # in progress: amber
_SHOWN = ("plugin_id", "version", "sha256", "bytes", "total", "note", "error", "retry_of", "created_at",
          "started_at", "finished_at")


class InstallJobView:
    """One install job of the daemon, as last seen (``refresh()`` asks again); ``job`` is its JSON."""

    def __init__(self, client: Any, job: dict[str, Any]) -> None:
        self.client = client
        self.job = dict(job)

    # ---- what it is ---------------------------------------------------------------------------------------------

    @property
    def job_id(self) -> str:
        return self.job["job_id"]

    @property
    def state(self) -> str:
        return self.job["state"]

    @property
    def done(self) -> bool:
        return self.state in FINISHED

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"

    @property
    def plugin_id(self) -> str | None:
        return self.job.get("plugin_id")

    @property
    def error(self) -> str | None:
        return self.job.get("error")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.job)

    # ---- what it does -------------------------------------------------------------------------------------------

    def refresh(self) -> InstallJobView:
        self.job = self.client.install_job(self.job_id)
        return self

    def wait(self, timeout: float | None = None, *, progress: bool = True, interval: float = 0.2) -> InstallJobView:
        """Until the job ended (AiplugsError after ``timeout`` seconds); returns the view. A failed job does not
        raise: ``ok`` and ``error`` say how it went."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _Bar(self) if progress else None
        try:
            while not self.done:
                if deadline is not None and time.monotonic() > deadline:
                    raise AiplugsError(f"install job {self.job_id} is still {self.state} after {timeout:g}s")
                time.sleep(interval)
                self.refresh()
                if bar is not None:
                    bar.show(self.job)
        finally:
            if bar is not None:
                bar.close(self.job)
        return self

    def __await__(self) -> Generator[Any, None, InstallJobView]:
        return asyncio.to_thread(self.wait).__await__()

    def cancel(self) -> InstallJobView:
        """Stops the job (its download, its temp files); the daemon refuses once aiplugs.toml was edited."""
        self.job = self.client.cancel_install(self.job_id)
        return self

    def retry(self) -> InstallJobView:
        """A new job for the same request (its ``retry_of`` is this job)."""
        return InstallJobView(self.client, self.client.retry_install(self.job_id)["job"])

    # ---- how it looks -------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        what = self.plugin_id or self.job["request"]["uri"]
        tail = f": {self.error}" if self.error else (f" ({self.job['note']})" if self.job.get("note") else "")
        return f"InstallJob {self.job_id} {what} {self.state}{tail}"

    def _repr_html_(self) -> str:
        color = _COLORS.get(self.state, "#9a6700")
        state = f'<span style="color:{color};font-weight:600">{esc(self.state)}</span>'
        rows = [("state", state), ("source", esc(self.job["request"]["uri"]))]
        rows += [(key, esc(_shown(key, self.job.get(key)))) for key in _SHOWN if self.job.get(key) is not None]
        return table(("install job", self.job_id), rows, raw=(1,))


def _shown(key: str, value: Any) -> Any:
    if key.endswith("_at") and isinstance(value, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value))
    return value


class _Bar:
    """A tqdm.auto bar for one job: bytes while fetching, the job's state as its postfix."""

    def __init__(self, view: InstallJobView) -> None:
        from tqdm.auto import tqdm

        name = view.plugin_id or view.job["request"].get("id") or view.job["request"]["uri"].rsplit("/", 1)[-1]
        self.bar = tqdm(total=view.job.get("total"), desc=f"install {name}", unit="B", unit_scale=True,
                        unit_divisor=1024, leave=True, dynamic_ncols=True)
        self.show(view.job)

    def show(self, job: dict[str, Any]) -> None:
        total, done = job.get("total"), job.get("bytes") or 0
        if total and self.bar.total != total:
            self.bar.total = total
        if done > self.bar.n:
            self.bar.update(done - self.bar.n)
        self.bar.set_postfix_str(job["state"] if not job.get("plugin_id") else f"{job['plugin_id']}: {job['state']}")

    def close(self, job: dict[str, Any]) -> None:
        self.show(job)
        self.bar.close()
