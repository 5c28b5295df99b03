"""The daemon's event loop: uvloop unless declined, asyncio's own on request; a wrong choice is an error."""

from __future__ import annotations

import asyncio

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.util import eventloop


async def _which() -> str:
    return eventloop.loop_name(asyncio.get_running_loop())


def test_the_daemon_runs_on_uvloop_where_it_is_installed(monkeypatch) -> None:
    import uvloop  # noqa: F401 (a dependency on Linux and macOS: installed with aiplugs)
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.run(_which()) == "uvloop"


def test_asyncio_s_own_loop_when_declined(monkeypatch) -> None:
    monkeypatch.setenv(eventloop.ENV, " AsyncIO ")
    assert eventloop.loop_factory() is None
    assert eventloop.run(_which()) == "asyncio"


def test_a_choice_it_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(AiplugsError, match=r"AIPLUGS_EVENT_LOOP must be 'uvloop' or 'asyncio', not 'trio'"):
        eventloop.loop_factory({eventloop.ENV: "trio"})
    assert eventloop.loop_factory({eventloop.ENV: "uvloop"}) is not None


def test_run_refuses_a_bad_choice_before_the_coroutine_runs_and_closes_it(monkeypatch) -> None:
    import warnings

    monkeypatch.setenv(eventloop.ENV, "trio")
    ran = []

    async def main() -> None:
        ran.append(True)

    coroutine = main()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be an error here
        with pytest.raises(AiplugsError, match="AIPLUGS_EVENT_LOOP"):
            eventloop.run(coroutine)
    assert coroutine.cr_frame is None and not ran  # closed, never run
