"""Worker specs for the test backends in ``backends/`` and a WorkerManager with quick backoff that cleans up."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from aiplugs.events import EventBus
from aiplugs.plan import WorkerSpec
from aiplugs.adapters.workers import WorkerManager

BACKENDS = Path(__file__).resolve().parent / "backends"


def backend_spec(name: str, *, plugin_id: str | None = None, count: int = 1, timeout_s: float = 60.0,
                 env: dict[str, str] | None = None, pass_env: tuple[str, ...] = (), salt: str = "") -> WorkerSpec:
    entry = BACKENDS / f"{name}.py"
    pid = plugin_id or name.replace("_", "-")
    full_env = {"AIPLUGS_PLUGIN_ID": pid, "AIPLUGS_PLUGIN_DIR": str(BACKENDS), "AIPLUGS_SETTINGS": "{}",
                **(env or {})}
    digest = hashlib.sha256(f"{entry}|{sorted(full_env.items())}|{pass_env}|{timeout_s}|{salt}".encode())
    return WorkerSpec(pid, count, entry, BACKENDS, tuple(sorted(full_env.items())), pass_env, (), timeout_s,
                      digest.hexdigest()[:16])


@pytest.fixture
def make_spec() -> Callable[..., WorkerSpec]:
    return backend_spec


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def manager(tmp_path: Path, bus: EventBus) -> AsyncIterator[WorkerManager]:
    mgr = WorkerManager(tmp_path / "state", events=bus, backoff=(0.05, 0.5), grace_s=3.0, ready_timeout_s=30.0)
    try:
        yield mgr
    finally:
        await mgr.close()
