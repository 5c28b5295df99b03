"""Models without a daemon (``aiplugs models pull`` when nothing runs): for each chosen file, the plan's model
action (``plan.diff.model_action``) carried out through the store until the file is verified.

A verification that finds other bytes is followed by the download it calls for; a download in flight elsewhere
is joined (its lock is waited for), since the person asked for the file to be ready when the command returns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Sequence

from ..adapters.models import ModelError
from ..plan import ActionKind, ModelSpec, ModelState, ObservedModel
from ..plan.diff import model_action

__all__ = ["pull"]

ATTEMPTS = 3  # verify (finds other bytes) → download; or: join a download in flight → verify what it left


async def pull(store: Any, models: Sequence[ModelSpec]) -> list[Path]:
    """Every model ready (each download runs to its end before errors are raised), else ModelError."""
    results = await asyncio.gather(*(_one(store, m) for m in models), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    for error in errors:
        if not isinstance(error, Exception):
            raise error
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ModelError(f"{len(errors)} of {len(models)} models failed:\n" + "\n".join(f"  {e}" for e in errors))
    return [store.path_for(m) for m in models]


async def _one(store: Any, model: ModelSpec) -> None:
    for _ in range(ATTEMPTS):
        state = store.status(model)
        if state is ModelState.READY:
            return
        if state is ModelState.DOWNLOADING:
            await store.download(model)  # waits for the other downloader's lock; its file then serves us
            continue
        action = model_action(model, ObservedModel(model.filename, state))
        if action.kind is ActionKind.UPDATE:
            await store.verify(model)  # ready, or now known to hold other bytes: the next look decides
            continue
        await store.download(model)
        return
    raise ModelError(f"{model.filename} is not verified after {ATTEMPTS} attempts (state {store.status(model).value})")
