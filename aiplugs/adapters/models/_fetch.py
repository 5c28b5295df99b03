"""Fetch a source URL into a PartWriter: HTTP(S) through aiohttp directly (resume, redirects, stall timeout), every
other fsspec protocol (``file://``, plain paths, ``memory://``, ``s3://``, ...) in a worker thread, seeking past the
bytes already written when a read fails midway. An absolute path or ``file:///`` URL is read with plain ``open``, as
fsspec's local filesystem would read it (same path, same errors): importing fsspec costs ~1 MB of a daemon that
provisions the example's models from its plugin folders."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Mapping

from ...util.redact import redact_url
from ._sink import PartWriter
from ._types import ModelError

__all__ = ["fetch", "protocol_of"]

CHUNK = 4 << 20
_NOT_RETRYABLE = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def protocol_of(url: str) -> str:
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].split("::")[-1].lower()


def options_for(protocol: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``storage_options`` maps a protocol (``"s3"``, ``"http"``...) to that filesystem's options."""
    opts = (storage_options or {}).get(protocol)
    if opts is None and protocol == "https":
        opts = (storage_options or {}).get("http")
    return dict(opts or {})


async def fetch(url: str, writer: PartWriter, *, size: int | None, callback: Any, stall_timeout: float,
                storage_options: Mapping[str, Any] | None = None, retries: int = 5) -> None:
    protocol = protocol_of(url)
    opts = options_for(protocol, storage_options)
    if protocol in ("http", "https"):
        from ._http import fetch_http

        await fetch_http(url, writer, size=size, headers=opts.get("headers"), callback=callback,
                         stall_timeout=stall_timeout, retries=retries)
        return
    await asyncio.to_thread(_copy, url, writer, size, callback, opts, retries)


def local_path(url: str) -> str | None:
    """The path fsspec's local filesystem reads for an absolute path or a ``file:///`` URL; None for any other URL
    (relative, ``~``, chained, other protocols: those go to fsspec itself)."""
    path = url[len("file://"):] if url.startswith("file://") else url
    if os.sep != "/" or "::" in url or "://" in path or not path.startswith("/"):
        return None
    return path.rstrip("/") or "/"


class LocalFiles:
    """The two calls ``_copy`` makes of an fsspec filesystem, for local paths: ``size`` stats through a symlink as
    ``LocalFileSystem.info`` does, ``open`` is the builtin ``LocalFileOpener`` wraps."""

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def open(self, path: str, mode: str) -> Any:
        return open(path, mode)


def _filesystem(url: str, opts: dict[str, Any], shown: str) -> tuple[Any, str]:
    path = None if opts else local_path(url)
    if path is not None:
        return LocalFiles(), path
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **opts)
    except (ValueError, ImportError) as e:
        raise ModelError(f"cannot open {shown}: {e}; check the URL scheme (and install its fsspec extra, "
                         "e.g. `pip install aiplugs[s3]` for s3://)") from None


def _copy(url: str, writer: PartWriter, size: int | None, callback: Any, opts: dict[str, Any], retries: int) -> None:
    shown = redact_url(url)
    fs, path = _filesystem(url, opts, shown)
    failures = 0
    while True:
        start = writer.received
        try:
            if start == 0:
                total = _size(fs, path, shown, size)
                callback.set_size(size if size is not None else total)
            with fs.open(path, "rb") as handle:
                if start:
                    handle.seek(start)
                while True:
                    data = handle.read(CHUNK)
                    if not data:
                        break
                    if size is not None and writer.received + len(data) > size:
                        raise ModelError(f"{shown} holds more than the declared size {size} bytes; the source "
                                         "changed or the manifest is wrong; fix the manifest's size/sha256 or the URL")
                    writer.write_sync(data)
                    callback.relative_update(len(data))
            break
        except ModelError:
            raise
        except _NOT_RETRYABLE as e:
            raise ModelError(f"cannot read {shown}: {e.__class__.__name__}: {e}; check the URL in the plugin "
                             "manifest") from None
        except Exception as e:  # noqa: BLE001 - remote filesystems raise many kinds; retry a few times
            failures = 0 if writer.received > start else failures + 1
            if failures > retries:
                raise ModelError(f"reading {shown} failed after {retries} retries ({e.__class__.__name__}: {e}) "
                                 f"with {writer.received} bytes copied; check the source and pull again") from None
            time.sleep(min(0.2 * 2 ** (failures - 1), 10.0))
    if size is not None and writer.received != size:
        raise ModelError(f"{shown} holds {writer.received} bytes but the manifest declares size {size}; fix the "
                         "manifest's size/sha256 or the URL")


def _size(fs: Any, path: str, shown: str, declared: int | None) -> int | None:
    try:
        total = fs.size(path)
    except _NOT_RETRYABLE as e:
        raise ModelError(f"cannot read {shown}: {e.__class__.__name__}: {e}; check the URL in the plugin "
                         "manifest") from None
    if declared is not None and total is not None and total != declared:
        raise ModelError(f"{shown} is {total} bytes but the manifest declares size {declared}; the source changed "
                         "or the manifest is wrong; fix the manifest's size/sha256 or the URL")
    return total
