"""Worker specs for the test backends in ``backends/`` and a WorkerManager with quick backoff that cleans up."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from aiplugs.events import EventBus
from aiplugs.plan import WorkerSpec
from aiplugs.adapters.workers import WorkerManager

BACKENDS = Path(__file__).resolve().parent / "backends"


def backend_spec(name: str, *, plugin_id: str | None = None, count: int = 1, timeout_s: float = 60.0,
                 env: dict[str, str] | None = None, pass_env: tuple[str, ...] = (), salt: str = "",
                 state: Path | None = None, version: str = "0", settings: dict[str, Any] | None = None,
                 models: dict[str, str] | None = None, hooks_timeout_s: float = 60.0) -> WorkerSpec:
    """Like the planner's spec; with ``state``, the plugin gets ``<state>/data/<id>`` and ``<state>/cache/<id>``
    (not created: the manager does that) and the AIPLUGS_* variables ctx is built from."""
    entry = BACKENDS / f"{name}.py"
    pid = plugin_id or name.replace("_", "-")
    data_dir = state / "data" / pid if state is not None else None
    cache_dir = state / "cache" / pid if state is not None else None
    full_env = {"AIPLUGS_PLUGIN_ID": pid, "AIPLUGS_PLUGIN_DIR": str(BACKENDS),
                "AIPLUGS_SETTINGS": json.dumps(settings or {}), "AIPLUGS_PLUGIN_VERSION": version}
    if models is not None:
        full_env["AIPLUGS_MODELS"] = json.dumps(models)
    if state is not None:
        full_env.update(AIPLUGS_DATA_DIR=str(data_dir), AIPLUGS_CACHE_DIR=str(cache_dir))
    full_env.update(env or {})
    digest = hashlib.sha256(f"{entry}|{sorted(full_env.items())}|{pass_env}|{timeout_s}|{salt}".encode())
    return WorkerSpec(pid, count, entry, BACKENDS, tuple(sorted(full_env.items())), pass_env, (), timeout_s,
                      digest.hexdigest()[:16], version=version, data_dir=data_dir, cache_dir=cache_dir,
                      hooks_timeout_s=hooks_timeout_s)


@pytest.fixture
def make_spec() -> Callable[..., WorkerSpec]:
    return backend_spec


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


class Changes:
    """Counts the manager's "something changed by itself" calls (a worker exited)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
async def manager(tmp_path: Path, bus: EventBus, changes: Changes) -> AsyncIterator[WorkerManager]:
    mgr = WorkerManager(tmp_path / "state", events=bus, grace_s=3.0, ready_timeout_s=30.0, on_change=changes)
    try:
        yield mgr
    finally:
        await mgr.close()


async def start_all(manager: WorkerManager, spec: WorkerSpec) -> None:
    """Starts workers 0..count-1 of ``spec`` (what a plan that creates a pool carries out)."""
    for index in range(spec.count):
        await manager.start(spec, index)
