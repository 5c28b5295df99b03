"""Route classes: who may call a path, decided from the path alone (before routing, so a 404 leaks nothing)."""

from __future__ import annotations

from typing import Literal

__all__ = ["PUBLIC_PATHS", "PUBLIC_PREFIXES", "RouteClass", "route_class"]

RouteClass = Literal["public", "asset", "page", "admin"]
PUBLIC_PATHS = ("/api/health", "/proxy.pac", "/welcome", "/login")
PUBLIC_PREFIXES = ("/ui/static/",)  # the dashboard's CSS and JS: the sign-in pages need them, they hold no data


def route_class(path: str) -> RouteClass:
    """``/v1/plugins/{id}/assets/{path}`` → asset, other ``/v1/...`` → page, unknown paths → admin (the strictest)."""
    if path in PUBLIC_PATHS or (path.startswith(PUBLIC_PREFIXES) and ".." not in path):
        return "public"
    if path.startswith("/v1/"):
        parts = path.split("/")
        if len(parts) >= 6 and parts[1:3] == ["v1", "plugins"] and parts[4] == "assets":
            return "asset"
        return "page"
    return "admin"
