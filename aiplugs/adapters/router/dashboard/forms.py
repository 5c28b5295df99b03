"""Forms and what follows them: reading an ``application/x-www-form-urlencoded`` body, and post/redirect/get with
a one-time message, so every action works without JavaScript and a reload never repeats it.

The body is parsed here with ``urllib.parse`` rather than Starlette's ``request.form()``, which needs the
``python-multipart`` package for even the simplest form; the router's BodyLimit already bounds its size.
"""

from __future__ import annotations

import collections
import secrets
import threading
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse

__all__ = ["Flash", "Message", "form", "local_path", "redirect"]

Level = Literal["ok", "error"]


@dataclass(frozen=True)
class Message:
    level: Level
    text: str


async def form(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the first of each); an empty dict for any other body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    text = (await request.body()).decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


class Flash:
    """Messages waiting for the page a redirect lands on, by an unguessable id; read once, the oldest dropped
    beyond ``keep``. The id, not the text, travels in the URL: a link cannot make the dashboard say anything."""

    def __init__(self, keep: int = 200) -> None:
        self._messages: collections.OrderedDict[str, Message] = collections.OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def put(self, message: Message) -> str:
        key = secrets.token_urlsafe(9)
        with self._lock:
            self._messages[key] = message
            while len(self._messages) > self._keep:
                self._messages.popitem(last=False)
        return key

    def take(self, request: Request) -> Message | None:
        key = request.query_params.get("done")
        if not key:
            return None
        with self._lock:
            return self._messages.pop(key, None)


def local_path(target: str) -> bool:
    """Whether ``target`` is a path on this server (``/x``), never another host (``//h``, ``/\\h``, ``http:``)."""
    parts = urlsplit(target)
    return target.startswith("/") and not target.startswith("//") and "\\" not in target and not parts.netloc


def redirect(flash: Flash, to: str, level: Level, text: str) -> RedirectResponse:
    """303 to ``to`` (a path of ours) with ``text`` waiting there."""
    if not local_path(to):
        to = "/"
    key = flash.put(Message(level, text))
    path, _, fragment = to.partition("#")
    sep = "&" if "?" in path else "?"
    target = f"{path}{sep}done={quote(key)}" + (f"#{fragment}" if fragment else "")
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
