"""The Logs page: the daemon's log and each plugin's worker logs (``<state_dir>/logs/``, as ``aiplugs logs``
reads them), the last lines rendered on the server and then followed live.

Following is one Server-Sent-Events stream per open page (``/ui/logs/stream``) that looks at the files' sizes
twice a second here in the router — the browser asks nothing of the daemon in a loop. A rotated file (smaller,
or another inode) is read again from its start. Every line is masked for the router's secrets before it leaves.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ....util.redact import redact
from ....util.sse import encode
from .core import Dashboard

__all__ = ["Tail", "log_files", "logs_page", "logs_stream", "sources", "tail_lines"]

DAEMON = "daemon"
DAEMON_LOG = "daemon.log"  # as aiplugs.client.spawn names the detached daemon's log
SHOWN = 200  # lines a page starts with
MAX_LINES = 2000
POLL_S = 0.5
KEEPALIVE_S = 15.0
TAIL_BYTES = 256 * 1024


def log_files(log_dir: Path, source: str) -> list[Path]:
    """The files of ``source``: ``daemon.log``, or a plugin's ``<id>-<index>.log`` (not rotated ``.log.1``)."""
    if source == DAEMON:
        return [log_dir / DAEMON_LOG]
    name = re.compile(rf"{re.escape(source)}-\d+\.log")
    try:
        return sorted(p for p in log_dir.glob(f"{source}-*.log") if name.fullmatch(p.name))
    except OSError:
        return []


def sources(log_dir: Path, plugin_ids: list[str]) -> list[str]:
    """The daemon, then every plugin that is declared or has logs."""
    found = set(plugin_ids)
    try:
        found |= {m.group(1) for p in log_dir.glob("*.log") if (m := re.fullmatch(r"(.+)-\d+\.log", p.name))
                  and not p.name.startswith("env-")}
    except OSError:
        pass
    return [DAEMON, *sorted(found)]


def tail_lines(path: Path, count: int) -> tuple[list[str], int]:
    """The last ``count`` lines of ``path`` and its size then; ([], 0) when it does not exist."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            data = handle.read(size)
    except OSError:
        return [], 0
    lines = data.decode("utf-8", "replace").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first one is probably cut
    return lines[-count:] if count > 0 else [], size


@dataclass
class Tail:
    """Where each file of one source was read up to; ``read`` returns the complete lines added since."""

    log_dir: Path
    source: str
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)  # path → (inode, offset)
    partial: dict[Path, bytes] = field(default_factory=dict)

    def start(self, count: int) -> list[tuple[str, str]]:
        """The last ``count`` lines of every file, as (file stem, line); reading continues from there."""
        out = []
        for path in log_files(self.log_dir, self.source):
            lines, size = tail_lines(path, count)
            self.positions[path] = (_inode(path), size)
            out += [(path.stem, line) for line in lines]
        return out[-count:]

    def read(self) -> list[tuple[str, str]]:
        out = []
        for path in log_files(self.log_dir, self.source):
            inode, offset = self.positions.get(path, (None, 0))
            try:
                stat = path.stat()
            except OSError:
                continue
            if stat.st_ino != inode or stat.st_size < offset:  # new or rotated: from the start
                offset, self.partial[path] = 0, b""
            if stat.st_size > offset:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(min(stat.st_size - offset, 4 * TAIL_BYTES))
                offset += len(chunk)
                data = self.partial.get(path, b"") + chunk
                *complete, rest = data.split(b"\n")
                self.partial[path] = rest
                out += [(path.stem, line.decode("utf-8", "replace").rstrip("\r")) for line in complete]
            self.positions[path] = (stat.st_ino, offset)
        return out


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


async def _source(dash: Dashboard, request: Request) -> tuple[str, list[str]]:
    known = sources(dash.ctx.workers.log_dir, await dash.plugin_ids())
    chosen = request.query_params.get("source", DAEMON)
    return (chosen if chosen in known else DAEMON), known


async def logs_page(dash: Dashboard, request: Request) -> Response:
    source, known = await _source(dash, request)
    needle = request.query_params.get("q", "")
    tail = Tail(dash.ctx.workers.log_dir, source)
    lines = await asyncio.to_thread(tail.start, SHOWN)
    shown = [{"file": f, "text": t} for f, t in lines if needle.lower() in t.lower()]
    return dash.render(request, "logs.html", {"title": "Logs", "source": source, "sources": known, "q": needle,
                                              "lines": shown, "files": len(tail.positions)})


async def logs_stream(dash: Dashboard, request: Request) -> Response:
    """``GET /ui/logs/stream?source=``: a ``reset`` event with the last lines, then ``lines`` as they come."""
    source, _ = await _source(dash, request)
    tail = Tail(dash.ctx.workers.log_dir, source)
    secrets = dash.ctx.secrets()

    def batch(lines: list[tuple[str, str]]) -> list[dict[str, str]]:
        return redact([{"file": f, "text": t} for f, t in lines[-MAX_LINES:]], secrets)

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        yield encode(batch(await asyncio.to_thread(tail.start, SHOWN)), event="reset")
        quiet = 0.0
        while True:
            await asyncio.sleep(POLL_S)
            lines = await asyncio.to_thread(tail.read)
            if lines:
                quiet = 0.0
                yield encode(batch(lines), event="lines")
            else:
                quiet += POLL_S
                if quiet >= KEEPALIVE_S:
                    quiet = 0.0
                    yield b": keepalive\n\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
