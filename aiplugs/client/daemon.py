"""Talking to a running daemon over its loopback API (stdlib only, so the CLI stays light).

``DaemonClient.find(state_dir)`` returns a client when a daemon is alive for that state dir, else None. It looks
in state.json, and in the daemon's own ``daemon.json`` when state.json is damaged or lost the record, so a
daemon can always be reached and stopped.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ..store.daemonfile import read_daemon_file
from ..store.state import StateDamaged, read_state
from ..store.tokens import PAGE_TOKEN_FILE, read_token
from ..util.procs import pid_alive
from .errors import DaemonError, DaemonTimeout
from .feed import Feed


__all__ = ["DaemonClient"]


class DaemonClient:
    def __init__(self, host: str, port: int, admin_token: str, *, pid: int | None = None,
                 page_token: str | None = None, state_dir: Path | None = None) -> None:
        self.host, self.port = host, port
        self.admin_token = admin_token
        self.page_token = page_token
        self.pid = pid
        self.state_dir = state_dir

    def __repr__(self) -> str:
        return f"DaemonClient({self.host}:{self.port}, pid={self.pid})"

    @classmethod
    def find(cls, state_dir: Path) -> DaemonClient | None:
        """The client of the daemon running for ``state_dir``: from state.json, else from daemon.json."""
        found = None
        try:
            state = read_state(state_dir)
            if state.daemon is not None and state.api is not None and pid_alive(state.daemon.pid):
                found = (state.api.host, state.api.port, state.daemon.pid)
        except StateDamaged:
            pass  # daemon.json still tells (and a running daemon repairs state.json)
        if found is None:
            record = read_daemon_file(state_dir)
            if record is not None and pid_alive(record.pid):
                found = (record.host, record.port, record.pid)
        token = read_token(state_dir) if found is not None else None
        if found is None or token is None:
            return None
        return cls(found[0], found[1], token, pid=found[2], page_token=read_token(state_dir, PAGE_TOKEN_FILE),
                   state_dir=state_dir)

    # ---- plumbing --------------------------------------------------------------------------------------------

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def headers(self, *, page: bool = False, accept: str = "application/json", with_body: bool = False) -> dict[str, str]:
        """Host (the router checks it is loopback) plus the page token or the admin token."""
        headers = {"Host": f"{self.host}:{self.port}", "Accept": accept}
        if page:
            headers["X-AIPlugs-Token"] = self.page_token or ""
        else:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        if with_body:
            headers["Content-Type"] = "application/json"
        return headers

    def request(self, method: str, path: str, body: Any = None, *, timeout: float | None = 30.0,
                page: bool = False) -> Any:
        all_headers = self.headers(page=page, with_body=body is not None)
        data = None if body is None else json.dumps(body).encode()
        conn = self._connection(timeout)
        try:
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            raw = response.read()
        except TimeoutError:
            raise DaemonTimeout(f"no answer from the daemon at {self.host}:{self.port} to {method} {path} "
                                f"within {timeout:g}s") from None
        except (OSError, http.client.HTTPException) as e:
            raise DaemonError(f"daemon at {self.host}:{self.port} did not answer {method} {path}: {e}") from None
        finally:
            conn.close()
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = raw.decode("utf-8", "replace")
        if response.status >= 400:
            detail = payload.get("error") if isinstance(payload, dict) else payload
            if response.status < 500 and isinstance(detail, dict) and isinstance(detail.get("message"), str):
                raise DaemonError(detail["message"], response.status, payload)  # the daemon's own words
            raise DaemonError(f"{method} {path} → {response.status}: {detail}", response.status, payload)
        return payload

    # ---- API -------------------------------------------------------------------------------------------------

    def health(self, timeout: float = 2.0) -> bool:
        try:
            self.request("GET", "/api/health", timeout=timeout)
            return True
        except DaemonError:
            return False

    def status(self) -> dict[str, Any]:
        return self.request("GET", "/api/status")

    def apply(self, config: Path, env: dict[str, str], digest: str | None = None, *,
              timeout: float | None = None) -> dict[str, Any]:
        """Has the daemon converge to the declaration at ``config`` read with ``env`` (the caller's environment);
        ``digest``: of the desired state the person approved (a declaration changed since then is refused)."""
        body = {"config": str(config), "env": env, "digest": digest}
        return self.request("POST", "/api/apply", body, timeout=timeout)

    def down(self) -> dict[str, Any]:
        return self.request("POST", "/api/down", {})

    def restart(self, plugin_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/plugins/{plugin_id}/restart", {})

    def pull_models(self, keys: list[str] | None = None, timeout: float | None = None) -> dict[str, Any]:
        return self.request("POST", "/api/models/pull", {"keys": keys or []}, timeout=timeout)

    # ---- install jobs ----------------------------------------------------------------------------------------

    def install(self, uri: str, *, plugin_id: str | None = None, sha256: str | None = None,
                force: bool = False) -> dict[str, Any]:
        """Queues an install job in the daemon; ``{"job_id", "job"}`` at once (the job runs in the background)."""
        body: dict[str, Any] = {"uri": uri, "force": force}
        if plugin_id is not None:
            body["id"] = plugin_id
        if sha256 is not None:
            body["sha256"] = sha256
        return self.request("POST", "/api/installs", body)

    def install_job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/installs/{quote(job_id, safe='')}")

    def install_jobs(self) -> list[dict[str, Any]]:
        """Every recorded install job, newest first."""
        return self.request("GET", "/api/installs")["jobs"]

    def cancel_install(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/api/installs/{quote(job_id, safe='')}/cancel", {})

    def retry_install(self, job_id: str) -> dict[str, Any]:
        """A new job for the same request (``retry_of`` links it); ``{"job_id", "job"}``."""
        return self.request("POST", f"/api/installs/{quote(job_id, safe='')}/retry", {})

    # ---- metrics ---------------------------------------------------------------------------------------------

    def top(self) -> dict[str, Any]:
        """Live, cumulative counters of every local plugin (``GET /api/top``); ``client.top`` turns two into rates."""
        return self.request("GET", "/api/top")

    def metrics(self, plugin_id: str, *, since: str | float = "1h", until: str | float | None = None,
                step: str | float = 60) -> dict[str, Any]:
        """The plugin's history (``GET /api/metrics/{id}``): ``since``/``until`` a duration back from now ("15m")
        or an ISO-8601 time, ``step`` a duration (whole minutes)."""
        query = {"since": since, "step": step, **({"until": until} if until is not None else {})}
        return self.request("GET", f"/api/metrics/{quote(plugin_id, safe='')}?{urlencode(query)}")

    # ---- suggestions -----------------------------------------------------------------------------------------

    def suggestions(self, evaluate: bool = False) -> dict[str, Any]:
        """The standing suggestions (each with its diff) and the autoscaled plugins; ``evaluate``: run the rules
        now rather than use the last evaluation."""
        if evaluate:
            return self.request("POST", "/api/suggestions/evaluate", {})
        return self.request("GET", "/api/suggestions")

    def suggestion(self, ref: str) -> dict[str, Any]:
        """``{"suggestion": ...}`` while it stands, else ``{"history": ...}`` (its newest history entry)."""
        return self.request("GET", f"/api/suggestions/{quote(ref, safe='')}")

    def apply_suggestion(self, ref: str, config_sha256: str | None = None, timeout: float | None = 600.0
                         ) -> dict[str, Any]:
        """Edits aiplugs.toml as the suggestion proposes and applies it; ``config_sha256`` (of the file its diff
        was shown for) refuses a file changed since."""
        body = {"config_sha256": config_sha256} if config_sha256 else {}
        return self.request("POST", f"/api/suggestions/{quote(ref, safe='')}/apply", body, timeout=timeout)

    def reject_suggestion(self, ref: str) -> dict[str, Any]:
        return self.request("POST", f"/api/suggestions/{quote(ref, safe='')}/reject", {})

    def revert_suggestion(self, ref: str, timeout: float | None = 600.0) -> dict[str, Any]:
        """Undoes an applied suggestion (by suggestion id or history number): the opposite edit, then apply."""
        return self.request("POST", f"/api/suggestions/{quote(ref, safe='')}/revert", {}, timeout=timeout)

    def suggestion_history(self) -> list[dict[str, Any]]:
        """Applied suggestions, newest first: diff, config hashes, metrics before and after, verdict."""
        return self.request("GET", "/api/suggestions/history")["history"]

    # ---- plugin calls and events -----------------------------------------------------------------------------

    def call(self, plugin_id: str, payload: Any, *, tool: str | None = None, timeout: float | None = 120.0) -> Any:
        """``tool`` (default ``run``) of the plugin's backend, as a content script calls it."""
        return self.request("POST", _tool_path(plugin_id, tool), payload, timeout=timeout, page=True)

    def stream(self, plugin_id: str, payload: Any, *, tool: str | None = None,
               timeout: float | None = 120.0) -> Feed:
        """The items of a streaming plugin call, for ``for`` or ``async for``; a backend error raises DaemonError."""
        return Feed(self, "POST", _tool_path(plugin_id, tool), payload, page=True, timeout=timeout)

    def plugin(self, plugin_id: str) -> dict[str, Any]:
        """One plugin as the router serves it: its tools with their input schemas, dependencies, subscriptions."""
        return self.request("GET", f"/api/plugins/{quote(plugin_id, safe='')}")

    def recent_events(self) -> list[dict[str, Any]]:
        """The daemon's recent events (its history), without waiting for new ones."""
        with Feed(self, "GET", "/api/events?follow=0", timeout=30.0) as feed:
            return list(feed)

    def events(self, *, replay: bool = False, convert: Any = None, timeout: float | None = None) -> Feed:
        """Events from ``/api/events`` (``replay``: the recent history first) as dicts — or what ``convert`` makes
        of each — for ``for`` or ``async for``, until closed. The one opener of the event stream."""
        path = "/api/events?replay=1" if replay else "/api/events"
        return Feed(self, "GET", path, convert=convert, timeout=timeout)


def _tool_path(plugin_id: str, tool: str | None) -> str:
    plugin = quote(plugin_id, safe="")
    return f"/v1/plugins/{plugin}/run" if tool in (None, "run") else f"/v1/plugins/{plugin}/tools/{quote(tool, safe='')}"
