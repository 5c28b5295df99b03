"""What each page shows, computed from plain values (the status report, the applied declaration, what the event
bus said): pure functions, so a page's content is testable without a server, and templates only lay it out."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ....plan import ModelState, PluginState, RouteSpec

__all__ = ["model_rows", "overview", "plugin_rows", "state_counts"]

PULLABLE = (ModelState.MISSING.value, ModelState.CORRUPT.value, ModelState.UNVERIFIED.value)


def _address(endpoint: Mapping[str, Any] | None) -> str | None:
    if not endpoint:
        return None
    host = f"[{endpoint['host']}]" if ":" in str(endpoint["host"]) else endpoint["host"]
    return f"{host}:{endpoint['port']}"


def state_counts(rows: list[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """``[("ready", 2), ("disabled", 1)]``: how many rows are in each state, most first."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("state"))] = counts.get(str(row.get("state")), 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def overview(status: Mapping[str, Any], last_apply: Mapping[str, Any] | None, ca_fingerprint: str | None,
             trust: str | None) -> dict[str, Any]:
    api = _address(status.get("api"))
    return {
        "healthy": bool(status.get("healthy")),
        "daemon": dict(status.get("daemon") or {}),
        "api": f"http://{api}/" if api else None,
        "proxy": _address(status.get("proxy")),
        "pac_url": status.get("pac_url"),
        "config": status.get("config"),
        "ca": {"path": status.get("ca_cert"), "fingerprint": ca_fingerprint, "trust": trust},
        "conditions": list(status.get("conditions") or ()),
        "plugins": state_counts(list(status.get("plugins") or ())),
        "models": state_counts(list(status.get("models") or ())),
        "last_apply": dict(last_apply) if last_apply else None,
    }


def plugin_rows(status: Mapping[str, Any], routes: Mapping[str, RouteSpec]) -> list[dict[str, Any]]:
    """One row per plugin of the status report (disabled ones too), with the tools and dependencies of those the
    router serves and the actions that make sense for each."""
    rows = []
    for item in status.get("plugins") or ():
        route = routes.get(item["id"])
        spec = route.plugin if route is not None else None
        disabled = item.get("state") == PluginState.DISABLED.value
        local = item.get("mode") == "local"
        rows.append({
            **item,
            "name": item.get("name") or item["id"],
            "workers": f"{item.get('workers_ready', 0)}/{item.get('workers_desired', 0)}" if local else "-",
            "tools": [{"name": t.name, "description": t.description} for t in spec.tools] if spec else [],
            "dependencies": list(spec.dependencies) if spec else [],
            "blocked_by": list(item.get("needs") or ()),
            "can_restart": local and not disabled and bool(item.get("workers_desired")),
            "enabled": not disabled,
        })
    return rows


def model_rows(status: Mapping[str, Any],
               download: Callable[[str], tuple[int, int | None] | None]) -> list[dict[str, Any]]:
    """The model store as the status report has it, with the bytes of a download under way."""
    rows = []
    for item in status.get("models") or ():
        progress = download(item["filename"])
        done, total = progress if progress is not None else (None, None)
        rows.append({**item, "bytes": done, "total": total or item.get("size"),
                     "downloading": item.get("state") == ModelState.DOWNLOADING.value or progress is not None,
                     "can_pull": item.get("state") in PULLABLE})
    return rows
