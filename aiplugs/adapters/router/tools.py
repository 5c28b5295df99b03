"""Which tool a page call names and whether its input fits, decided before any worker (or the relay) sees it.

``resolve_tool`` answers the tool the manifest declares, or a ``Refusal``: 404 for a tool it does not declare
(naming the ones it does), 404 for a named tool of a cloud-mode plugin (the relay forwards a single upstream
endpoint, which is ``run``). ``ToolValidators.refusal`` checks the input against the tool's ``input_schema``: 422
``invalid_input`` with the failing fields by path (``items[2].name``; the first ``MAX_ERRORS``), the first one
in the message.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, NamedTuple

from ...declaration.schemas import FieldError, tool_validator
from ...errors import did_you_mean
from ...plan import RouteSpec, ToolSpec

__all__ = ["DEFAULT_TOOL", "MAX_ERRORS", "OFF_LOOP_BYTES", "Refusal", "ToolValidators", "resolve_tool", "tool_info"]

DEFAULT_TOOL = "run"
MAX_ERRORS = 100  # a long array of bad items must not turn into a longer answer
# Checking a big payload against a schema can take long enough to stall every other page's call: it runs in a
# thread from this body size on (below it, the thread hop would cost more than the check).
OFF_LOOP_BYTES = 64 * 1024
Validator = Callable[[Any], list[FieldError]]


class Refusal(NamedTuple):
    """A call answered before it reaches the plugin: ``{"error": {"type": kind, "message": message, **extra}}``."""

    status: int
    kind: str
    message: str
    extra: dict[str, Any]


def resolve_tool(route: RouteSpec, name: str) -> ToolSpec | Refusal:
    plugin = route.plugin
    if route.relay is not None and name != DEFAULT_TOOL:
        return Refusal(404, "no_such_tool", f"plugin {plugin.id!r} runs in cloud mode: only {DEFAULT_TOOL!r} is "
                       f"relayed (POST /v1/plugins/{plugin.id}/run), not tool {name!r}",
                       {"plugin": plugin.id, "tools": [DEFAULT_TOOL]})
    tool = plugin.tool(name)
    if tool is not None:
        return tool
    names = [t.name for t in plugin.tools]
    return Refusal(404, "no_such_tool", f"plugin {plugin.id!r} has no tool {name!r}{did_you_mean(name, names)}; "
                   f"its tools: {', '.join(names)}", {"plugin": plugin.id, "tools": names})


def tool_info(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.schema()}


class ToolValidators:
    """Compiled input validators, per plugin for one route ``config_hash``: compiling a schema costs far more than
    checking a payload, and a re-apply that changes a plugin's tools changes its hash (so the cache holds at most
    one generation per plugin)."""

    def __init__(self) -> None:
        self._by_plugin: dict[str, tuple[str, dict[str, Validator]]] = {}

    def validator(self, route: RouteSpec, tool: ToolSpec) -> Validator:
        config_hash, validators = self._by_plugin.get(route.plugin_id, ("", {}))
        if config_hash != route.config_hash:
            validators = {}
            self._by_plugin[route.plugin_id] = (route.config_hash, validators)
        found = validators.get(tool.name)
        if found is None:
            found = validators[tool.name] = tool_validator(tool.schema())
        return found

    async def refusal(self, route: RouteSpec, tool: ToolSpec, payload: Any, *, size: int = 0) -> Refusal | None:
        """The 422 for ``payload`` (``size``: its JSON's length), or None when it fits or the tool has no schema."""
        if tool.input_schema is None:
            return None
        check = self.validator(route, tool)  # compiled here: the cache is only ever touched from the loop
        errors = await asyncio.to_thread(check, payload) if size >= OFF_LOOP_BYTES else check(payload)
        if not errors:
            return None
        first = errors[0]
        where = first["path"] or "input"
        extra: dict[str, Any] = {"errors": errors[:MAX_ERRORS], "plugin": route.plugin_id, "tool": tool.name}
        if len(errors) > MAX_ERRORS:
            extra["more_errors"] = len(errors) - MAX_ERRORS
        return Refusal(422, "invalid_input", f"{where}: {first['message']}", extra)
