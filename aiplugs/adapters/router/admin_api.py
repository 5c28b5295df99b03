"""What the admin routes served by a daemon component share: reading a JSON-object body, and one endpoint wrapper
that finds the component, turns its errors into HTTP answers and masks secrets in what goes out.

An error the component raises carries its HTTP status (``status``: 404 unknown id, 409 wrong state); other
AiplugsErrors and a body that is not a JSON object are 400; no component (a router without a daemon) is 503.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import AiplugsError
from ...util.redact import redact
from .context import RouterContext
from .plugins import error_response

__all__ = ["json_object", "served_by"]

Call = Callable[[Any, Request], Awaitable[Any]]  # (the component, the request) → the answer's JSON


async def json_object(request: Request, shape: str = "", *, empty_is_object: bool = True) -> dict[str, Any]:
    """The request's body as a JSON object; an empty body is ``{}`` unless ``empty_is_object`` is False. Raises
    ``ValueError`` (a 400 from :func:`served_by`) naming ``shape``, the object the route expects."""
    raw = await request.body()
    if not raw.strip() and empty_is_object:
        return {}
    try:
        data = json.loads(raw) if raw.strip() else None
    except ValueError as e:
        raise ValueError(f"request body is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"request body must be a JSON object{': ' + shape if shape else ''}")
    return data


def served_by(component: Callable[[RouterContext], Any], missing: str, call: Call,
              status: int = 200) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint running ``call(component(ctx), request)``; ``missing`` is the 503's message when there is none."""
    async def endpoint(request: Request) -> Response:
        ctx: RouterContext = request.app.state.ctx
        target = component(ctx)
        if target is None:
            return error_response(503, "unavailable", missing)
        try:
            result = await call(target, request)
        except AiplugsError as e:
            code = getattr(e, "status", 400)
            return error_response(code if isinstance(code, int) else 400, type(e).__name__,
                                  redact(str(e), ctx.secrets()))
        except ValueError as e:  # the body is not a JSON object
            return error_response(400, "bad_request", str(e))
        return JSONResponse(redact(result, ctx.secrets()), status_code=status)

    return endpoint
