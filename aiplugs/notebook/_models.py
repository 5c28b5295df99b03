"""The session's model files: pulled through the daemon when one runs, else in this process against the model
store; verified, collected and reported from the declaration alone. ``Session``'s model methods wrap these."""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["model_store", "offline_report", "pull_here", "pull_through", "verify_rows"]


def model_store(desired, bars: Any = None):
    """The model store; its download events drive ``bars`` (a ModelBars) when given."""
    from ..adapters.models import ModelStore
    from ..events import NULL_BUS, EventBus

    events = NULL_BUS
    if bars is not None:
        events = EventBus()
        events.listen(bars)
    return ModelStore(desired.models_dir, desired.state_dir, events=events)


def offline_report(desired) -> dict[str, Any]:
    """The status report's rows from the declaration and the model store alone (no daemon runs)."""
    from ..runtime.status import Observed, build_status

    store = model_store(desired)
    return build_status(desired, Observed(
        daemon={}, api=None, proxy=None, ca_cert=None, workers=(), plugins=(), stats={},
        models={m.filename: store.status(m) for m in desired.models},
        model_sizes={m.filename: m.path.stat().st_size if m.path.exists() else None for m in desired.models},
        conditions=(), now=time.time()))


def pull_here(desired, keys: list[str], *, progress: bool) -> None:
    """Downloads and verifies the chosen models in this process (no daemon runs to do it)."""
    from ..client.progress import ModelBars
    from ..runtime.models import pull

    chosen = [m for m in desired.models if not keys or m.filename in keys or set(m.keys) & set(keys)]
    bars = ModelBars(bars=True) if progress else None
    try:
        _run(pull(model_store(desired, bars), chosen))
    finally:
        if bars is not None:
            bars.close()


def pull_through(client, keys: list[str], *, progress: bool) -> None:
    """Has the running daemon pull the models; its events drive the bars."""
    from ..client.feed import watch
    from ..client.progress import ModelBars

    bars = ModelBars(bars=True) if progress else None
    try:
        if bars is None:
            client.pull_models(keys, timeout=None)
        else:
            with watch(client, bars):
                client.pull_models(keys, timeout=None)
    finally:
        if bars is not None:
            bars.close()


def verify_rows(desired) -> list[dict[str, Any]]:
    """Re-hashes every present model file now (state.json learns the result); a row per declared model."""
    store = model_store(desired)

    async def verify_all():
        return [await store.verify(m) for m in desired.models]

    return [{"filename": r.filename, "state": r.state.value, "size": r.size, "drift": r.drift,
             "expected_sha256": r.expected_sha256, "actual_sha256": r.actual_sha256, "path": str(r.path)}
            for r in _run(verify_all())]


def _run(coro):
    """Runs a coroutine to completion from sync code, even when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
