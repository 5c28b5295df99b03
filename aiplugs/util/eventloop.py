"""The event loop the daemon runs on: uvloop where it is installed (a dependency on Linux and macOS), asyncio's
own elsewhere or when ``AIPLUGS_EVENT_LOOP=asyncio`` says so.

The daemon's one loop carries the router, the proxy and the workers' channels. With uvloop (libuv underneath)
each pass, each read and each callback costs less: ``benchmarks/bench_router.py`` measured the router's CPU per
plugin call at ≈86-94 µs instead of ≈102, ``bench_injection`` the proxy's pages at ≈0.71 of mitmdump's time
instead of ≈0.74, for ≈1.9 MB more resident memory (``bench_footprint``). Workers stay on asyncio's loop: a worker spends little in its loop, and
its footprint (≤ 25 MB) has no room for uvloop's.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Coroutine, Mapping, TypeVar

from ..errors import AiplugsError

__all__ = ["ENV", "loop_factory", "loop_name", "run"]

T = TypeVar("T")
ENV = "AIPLUGS_EVENT_LOOP"  # "uvloop" (the default where it installs) or "asyncio"


def loop_factory(env: Mapping[str, str] | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's ``new_event_loop`` when it is importable and not declined; None: asyncio's own loop."""
    choice = (os.environ if env is None else env).get(ENV, "uvloop").strip().lower()
    if choice == "asyncio":
        return None
    if choice != "uvloop":
        raise AiplugsError(f"{ENV} must be 'uvloop' or 'asyncio', not {choice!r}")
    try:
        import uvloop
    except ImportError:  # Windows, or a build without it: asyncio's loop serves the same
        return None
    return uvloop.new_event_loop


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: which loop runs, for logs and status."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the daemon's loop (``loop_factory``); a bad choice is raised before ``main`` runs
    (and ``main`` is closed, never left un-awaited)."""
    try:
        factory = loop_factory()
    except BaseException:
        main.close()
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
