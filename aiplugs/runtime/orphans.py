"""Processes a dead daemon's workers left behind: found through state.json, killed as whole process groups.

A worker leads its own process group and takes it down when its daemon dies (harness.py); this sweep is the
second line, for groups whose leader is gone but whose members (what a backend started) are not. A group is
killed only when one of its processes carries the plugin's ``AIPLUGS_PLUGIN_ID`` — a recycled pid is safe.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import psutil

from ..store.state import StateDamaged, read_state
from ..util.procs import kill_group

__all__ = ["sweep_orphans", "worker_groups"]

log = logging.getLogger(__name__)


def worker_groups(state_dir: Path) -> dict[int, str]:
    """pgid -> plugin id of every worker state.json records; {} when the file is damaged or gone."""
    try:
        state = read_state(state_dir)
    except StateDamaged as e:
        log.warning("cannot look for orphaned workers: %s", e)
        return {}
    return {pid: plugin_id for plugin_id, record in state.workers.items() for pid in record.pids
            if pid and record.backend == "process"}  # Ray's replicas are Ray's to stop


def _ours(pgid: int, plugin_id: str) -> bool:
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) != pgid:
                continue
            if process.environ().get("AIPLUGS_PLUGIN_ID") == plugin_id:
                return True
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return False


def sweep_orphans(state_dir: Path, groups: dict[int, str] | None = None) -> list[int]:
    """Kills the recorded worker groups that still have a worker process in them; returns their pgids."""
    killed = []
    for pgid, plugin_id in (worker_groups(state_dir) if groups is None else groups).items():
        if pgid != os.getpgid(0) and _ours(pgid, plugin_id) and kill_group(pgid, signal.SIGKILL):
            log.info("killed orphaned process group %s of plugin %s", pgid, plugin_id)
            killed.append(pgid)
    return killed
