"""HTTP(S) download with aiohttp directly, for the control fsspec's HTTP filesystem does not give:
resume with ``Range``/``If-Range`` after a drop, restart when the server answers 200, a stall timeout, retries with
backoff, size checks against Content-Length, and redirects followed by hand so credentials never leave their origin.
"""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any, Mapping

import aiohttp
from yarl import URL

from ._sink import PartWriter
from ._types import ModelError

__all__ = ["fetch_http"]

MAX_REDIRECTS = 10
READ_BUFSIZE = 1 << 20  # aiohttp pauses the socket above 2x this; the 64 KiB default pauses it constantly
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class _Retry(Exception):
    """A transient failure: connection drop, stall, 5xx, short body. The pull resumes after a backoff."""


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return (url.scheme, url.host, url.port)


async def fetch_http(
    url: str,
    writer: PartWriter,
    *,
    size: int | None,
    headers: Mapping[str, str] | None,
    callback: Any,
    stall_timeout: float,
    retries: int = 5,
    backoff: float = 0.2,
) -> None:
    """Streams ``url`` into ``writer`` until complete; raises ModelError for anything a retry cannot fix."""
    start_url = URL(url)
    secret = {k: v for k, v in (headers or {}).items()}
    if start_url.user is not None:
        token = f"{start_url.user}:{start_url.password or ''}".encode()
        secret["Authorization"] = "Basic " + base64.b64encode(token).decode()
        start_url = start_url.with_user(None)
    shown = str(start_url)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=stall_timeout, sock_read=stall_timeout)
    failures = 0
    memo: dict[str, str] = {}  # "validator": strong ETag or Last-Modified of the full answer, for If-Range
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False, trust_env=True, read_bufsize=READ_BUFSIZE,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        while True:
            start = writer.received
            try:
                await _attempt(session, start_url, secret, writer, size, callback, memo, shown)
                return
            except aiohttp.InvalidURL as e:
                raise ModelError(f"invalid model URL {shown}: {e}; fix source_url in the plugin manifest") from None
            except _Retry as e:
                cause: BaseException = e
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as e:
                cause = e
            await writer.flush()  # keep every byte that arrived: the next attempt resumes after them
            failures = 0 if writer.received > start else failures + 1
            if failures > retries:
                reason = "stalled" if isinstance(cause, TimeoutError) else str(cause) or type(cause).__name__
                raise ModelError(f"download of {shown} failed after {retries} retries ({reason}) with "
                                 f"{writer.received} bytes received; check the network or the URL and pull again")
            await asyncio.sleep(min(backoff * 2 ** max(failures - 1, 0), 10.0))


async def _open(session: Any, url: URL, secret: Mapping[str, str], start: int, validator: str | None,
                shown: str) -> Any:
    """GET with redirects followed by hand: credentials go only to the origin they were given for."""
    origin = _origin(url)
    trusted = True
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        hdrs = {"Accept-Encoding": "identity"}
        trusted = trusted and _origin(current) == origin
        if trusted:
            hdrs.update(secret)
        if start:
            hdrs["Range"] = f"bytes={start}-"
            if validator:
                hdrs["If-Range"] = validator
        resp = await session.get(current, headers=hdrs, allow_redirects=False)
        if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
            location = URL(resp.headers["Location"])
            resp.release()
            current = current.join(location) if not location.is_absolute() else location
            if current.user is not None:
                current = current.with_user(None)
            if current.scheme not in ("http", "https"):
                raise ModelError(f"{shown} redirects to unsupported scheme {current.scheme!r}")
            continue
        return resp
    raise ModelError(f"{shown}: more than {MAX_REDIRECTS} redirects")


async def _attempt(session: Any, url: URL, secret: Mapping[str, str], writer: PartWriter, size: int | None,
                   callback: Any, memo: dict[str, str], shown: str) -> None:
    start = writer.received
    resp = await _open(session, url, secret, start, memo.get("validator"), shown)
    async with resp:
        status = resp.status
        if status in (408, 429) or status >= 500:
            raise _Retry(f"HTTP {status} {resp.reason}")
        if status == 416 and start:
            await writer.restart()  # our offset is past what the server has: start over
            raise _Retry("HTTP 416 for the resumed range")
        if status not in (200, 206):
            raise ModelError(f"{shown} answered HTTP {status} {resp.reason or ''}".rstrip()
                             + "; check the URL and credentials in the plugin manifest or storage options")
        length = resp.content_length
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(resp.headers.get("Content-Range", "").strip())
            if match is None or int(match[1]) != start:
                await writer.restart()
                raise _Retry(f"unusable Content-Range {resp.headers.get('Content-Range')!r}")
            total = int(match[3]) if match[3] != "*" else None
        else:
            if start:
                await writer.restart()  # 200 to a Range request: the whole body follows, start cleanly
                callback.absolute_update(0)
            total = length
        if status == 200:
            etag = resp.headers.get("ETag")
            candidate = etag if etag and not etag.startswith("W/") else resp.headers.get("Last-Modified")
            memo.pop("validator", None)
            if candidate:
                memo["validator"] = candidate
        if size is not None and total is not None and total != size:
            raise ModelError(f"{shown} is {total} bytes but the manifest declares size {size}; the source changed "
                             f"or the manifest is wrong; fix the manifest's size/sha256 or the URL")
        callback.set_size(size if size is not None else total)
        async for chunk in resp.content.iter_any():
            if size is not None and writer.received + len(chunk) > size:
                raise ModelError(f"{shown} sent more than the declared size {size} bytes; the source changed or "
                                 f"the manifest is wrong; fix the manifest's size/sha256 or the URL")
            await writer.write(chunk)
            callback.relative_update(len(chunk))
        await writer.flush()
        expected = start + length if (status == 206 and length is not None) else total
        if expected is not None and writer.received < expected:
            raise _Retry(f"short body: {writer.received} of {expected} bytes")
        if size is not None and writer.received != size:
            raise ModelError(f"{shown} sent {writer.received} bytes but the manifest declares size {size}; fix the "
                             f"manifest's size/sha256 or the URL")
