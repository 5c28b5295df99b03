"""BodyLimit with a plain ASGI app: the declared and the streamed size, and exactly one Content-Length."""

from __future__ import annotations

from aiplugs.adapters.router.guard import BodyLimit

from .asgi import PORT, context, run, scope

HOST = ("Host", f"127.0.0.1:{PORT}")


async def test_a_body_within_the_limit_is_replayed_to_the_app() -> None:
    answer = await run(BodyLimit, scope(headers=[HOST, ("Content-Length", "10")]), (b"01234", b"56789"),
                       ctx=context(max_body_bytes=10))
    assert answer.status == 200 and answer.app_saw == b"0123456789"


async def test_declared_or_streamed_bodies_past_the_limit_are_413() -> None:
    declared = await run(BodyLimit, scope(headers=[HOST, ("Content-Length", "11")]), (b"x" * 11,),
                         ctx=context(max_body_bytes=10))
    assert declared.status == 413 and "10-byte limit" in declared.json()["error"]["message"]
    streamed = await run(BodyLimit, scope(headers=[HOST]), (b"x" * 6, b"x" * 6, b"x" * 6),
                         ctx=context(max_body_bytes=10))
    assert streamed.status == 413 and declared.app_saw is None and streamed.app_saw is None


async def test_repeated_content_length_is_400() -> None:
    for pair in (["5", "500"], ["5", "5"]):
        headers = [HOST, *(("Content-Length", n) for n in pair)]
        answer = await run(BodyLimit, scope(headers=headers), (b"x" * 5,), ctx=context())
        assert answer.status == 400 and "repeated content-length" in answer.json()["error"]["message"]
        assert answer.app_saw is None


async def test_methods_without_a_body_are_not_read() -> None:
    answer = await run(BodyLimit, scope("/api/state", "GET", headers=[HOST]), (b"x" * 50,), ctx=context())
    assert answer.status == 200  # the app read it; GET routes never do in the router
