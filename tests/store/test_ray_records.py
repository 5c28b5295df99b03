"""Workers on Ray in state.json: recorded (so a CLI that only plans sees them running), never swept as orphans."""

from __future__ import annotations

import os
import time
from pathlib import Path

from aiplugs.runtime.orphans import worker_groups
from aiplugs.store.observe import observe
from aiplugs.store.state import DaemonRecord, StateFile, WorkerRecord, read_state, write_state


def test_replicas_count_as_running_by_their_record_and_are_never_swept(desired, tmp_path: Path) -> None:
    gone = 2 ** 22 + 12345  # no such process here: a replica on another node
    state = StateFile(daemon=DaemonRecord(pid=os.getpid(), started_at=time.time()), workers={
        "word-count": WorkerRecord(config_hash="h", pids=[gone, None], backend="ray"),
        "sentiment": WorkerRecord(config_hash="h", pids=[gone])})
    write_state(tmp_path, state)
    recorded = read_state(tmp_path)
    assert recorded.workers["word-count"].backend == "ray" and recorded.workers["sentiment"].backend == "process"
    seen = {(w.plugin_id, w.index): w.alive for w in observe(recorded, desired).workers}
    assert seen == {("word-count", 0): True, ("word-count", 1): False, ("sentiment", 0): False}
    assert worker_groups(tmp_path) == {gone: "sentiment"}
