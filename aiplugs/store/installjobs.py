"""``<state_dir>/installs.json``: the daemon's install jobs, so that a job's outcome outlives the daemon.

A job is one attempt at installing a plugin package (``POST /api/installs``). Its record moves through
``queued → fetching → verifying → unpacking → activating`` and ends ``succeeded``, ``failed`` or ``cancelled``.
Only a daemon runs jobs, so a record that is not finished when a daemon starts was cut short by a stop or a crash:
:func:`interrupted` turns it into ``failed`` ("interrupted (the daemon stopped)") instead of leaving a job that
claims to run forever. The file is written atomically (temp file beside it, fsync, ``os.replace``); a damaged one is
set aside as ``installs.json.broken`` and the list starts empty — the jobs are history, not configuration.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, ValidationError

from ..util.atomic import atomic_write_text
from ..util.redact import redact_url

__all__ = ["INTERRUPTED", "JOBS_FILE", "InstallJob", "JobState", "interrupted", "jobs_path", "load_jobs",
           "write_jobs"]

JOBS_FILE = "installs.json"
KEEP = 200  # finished jobs kept in the file; older ones go (newest first is what people look at)
INTERRUPTED = "interrupted (the daemon stopped)"

log = logging.getLogger(__name__)


class JobState(str, enum.Enum):
    QUEUED = "queued"  # waiting for the job before it (one install at a time edits aiplugs.toml)
    FETCHING = "fetching"  # the package is being downloaded (bytes / total)
    VERIFYING = "verifying"  # its sha256 is checked against the one asked for, or taken as computed
    UNPACKING = "unpacking"  # its manifest is read and checked: plugin id, version, what is installed already
    ACTIVATING = "activating"  # aiplugs.toml was edited; the daemon applies it and the plugin must become ready
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class InstallJob(BaseModel):
    """One job: what was asked (``uri``, ``requested_id``, ``expected_sha256``, ``force``), where it is, and what
    it resolved to (``plugin_id``, ``version``, ``sha256``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    uri: str
    requested_id: str | None = None
    expected_sha256: str | None = None
    force: bool = False
    retry_of: str | None = None  # the job this one tries again
    state: JobState = JobState.QUEUED
    plugin_id: str | None = None
    version: str | None = None
    sha256: str | None = None
    bytes: int = 0
    total: int | None = None
    error: str | None = None
    note: str | None = None  # e.g. "already installed": a success that changed nothing
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None

    def moved(self, state: JobState | None = None, **changes: Any) -> InstallJob:
        """A copy in ``state`` (or the same) with ``changes``; the timestamps follow."""
        now = time.time()
        state = state or self.state
        stamps: dict[str, Any] = {"updated_at": now}
        if state is not JobState.QUEUED and self.started_at is None:
            stamps["started_at"] = now
        if state.finished and not self.state.finished:
            stamps["finished_at"] = now
        return self.model_copy(update={**changes, **stamps, "state": state})

    def view(self) -> dict[str, Any]:
        """The JSON the API answers with (credentials in the URI masked)."""
        return {
            "job_id": self.job_id, "state": self.state.value,
            "request": {"uri": redact_url(self.uri), "id": self.requested_id, "sha256": self.expected_sha256,
                        "force": self.force},
            "plugin_id": self.plugin_id, "version": self.version, "sha256": self.sha256,
            "bytes": self.bytes, "total": self.total, "error": self.error, "note": self.note,
            "retry_of": self.retry_of, "created_at": self.created_at, "updated_at": self.updated_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
        }


class _JobsFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    format_version: int = 1
    jobs: list[InstallJob] = []


def jobs_path(state_dir: Path) -> Path:
    return state_dir / JOBS_FILE


def load_jobs(state_dir: Path) -> list[InstallJob]:
    """The recorded jobs, oldest first; none when the file is missing, and none (the file set aside) when it is
    damaged."""
    path = jobs_path(state_dir)
    try:
        return _JobsFile.model_validate(json.loads(path.read_text(encoding="utf-8"))).jobs
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as e:
        broken = path.with_name(JOBS_FILE + ".broken")
        log.warning("%s is damaged (%s); set aside as %s, starting with no recorded install jobs", path,
                    type(e).__name__, broken.name)
        try:
            os.replace(path, broken)
        except OSError:
            pass
        return []


def write_jobs(state_dir: Path, jobs: Iterable[InstallJob]) -> None:
    """Writes ``jobs`` (oldest first) atomically, keeping every unfinished job and the newest finished ones."""
    jobs = list(jobs)
    finished = [j for j in jobs if j.state.finished]
    dropped = {j.job_id for j in finished[: max(0, len(finished) - KEEP)]}
    kept = [j for j in jobs if j.job_id not in dropped]
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(jobs_path(state_dir), _JobsFile(jobs=kept).model_dump_json(indent=2) + "\n", mode=0o600)


def interrupted(jobs: Iterable[InstallJob]) -> list[InstallJob]:
    """``jobs`` with every unfinished one failed as interrupted: no daemon runs it any more."""
    return [j if j.state.finished else j.moved(JobState.FAILED, error=INTERRUPTED) for j in jobs]
