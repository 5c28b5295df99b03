"""The cloud relay: cloud-mode plugin calls go to ``cloud.base_url + path`` over one pooled aiohttp session.

Default upstream is OpenAI-compatible ``POST /v1/chat/completions``; the plugin's ``cloud_model`` fills ``model``
when the payload has none. Streaming answers (``text/event-stream``, or ``"stream": true``) are relayed chunk by
chunk as they arrive. Failures become JSON 502 (unreachable, 5xx) or 504 (timeout) naming the upstream URL
(without any userinfo); the API key is sent only upstream and scrubbed from anything relayed back.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response, StreamingResponse

from ...plan import RelaySpec
from ...util.redact import MASK, redact_url
from ...util.sse import encode

__all__ = ["Relay"]

ERROR_DETAIL_BYTES = 500


def _error(http_status: int, kind: str, message: str, upstream: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, "upstream": upstream, **extra}},
                        status_code=http_status)


class Relay:
    def __init__(self, limit: int = 100) -> None:
        self._limit = limit
        self._session: Any = None  # aiohttp.ClientSession, created on first use inside the serving loop

    def _client(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def forward(self, spec: RelaySpec, payload: Any, wants_stream: bool) -> Response:
        import aiohttp

        cloud = spec.cloud
        if not cloud.base_url:
            return JSONResponse({"error": {"type": "not_configured", "message":
                                           f"plugin {spec.plugin_id!r} is cloud-mode but cloud.base_url is not set "
                                           "(aiplugs.toml [cloud] base_url, or env CLOUD_BASE_URL)"}},
                                status_code=503)
        url = cloud.base_url.rstrip("/") + spec.path
        name = redact_url(url)
        key = cloud.api_key.get_secret_value() if cloud.api_key is not None else ""
        body = dict(payload) if isinstance(payload, dict) else {"input": payload}
        if spec.model and "model" not in body:
            body["model"] = spec.model
        if wants_stream and "stream" not in body:
            body["stream"] = True
        streaming = bool(body.get("stream"))
        headers = {"Accept": "text/event-stream" if streaming else "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
            if urlsplit(url).username is not None:  # the bearer key wins over user:password@ in base_url
                url = name
        timeout = aiohttp.ClientTimeout(total=None if streaming else spec.timeout_s,
                                        sock_connect=min(10.0, spec.timeout_s), sock_read=spec.timeout_s)
        try:
            response = await self._client().post(url, json=body, headers=headers, timeout=timeout)
        except TimeoutError:
            return _error(504, "upstream_timeout", f"upstream {name} did not answer within {spec.timeout_s:g} s",
                          name)
        except (aiohttp.ClientError, ValueError) as e:
            return _error(502, "upstream_unreachable", f"upstream {name} is unreachable: {type(e).__name__}",
                          name)
        try:
            if response.status >= 500:
                detail = _scrub((await response.content.read(ERROR_DETAIL_BYTES)).decode("utf-8", "replace"), key)
                response.release()
                return _error(502, "upstream_error", f"upstream {name} answered HTTP {response.status}", name,
                              status=response.status, detail=detail)
            content_type = response.headers.get("Content-Type", "application/json")
            if response.content_type == "text/event-stream" or (streaming and response.status < 300):
                return StreamingResponse(self._chunks(response, key, name, spec.timeout_s),
                                         status_code=response.status, media_type=content_type,
                                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            data = await response.read()
            response.release()
        except TimeoutError:
            response.close()
            return _error(504, "upstream_timeout", f"upstream {name} did not answer within {spec.timeout_s:g} s",
                          name)
        except aiohttp.ClientError as e:
            response.close()
            return _error(502, "upstream_unreachable", f"upstream {name} broke the connection: {type(e).__name__}",
                          name)
        if key and key.encode() in data:
            data = data.replace(key.encode(), MASK.encode())
        return Response(data, status_code=response.status, media_type=content_type)

    async def _chunks(self, response: Any, key: str, name: str, timeout_s: float) -> AsyncIterator[bytes]:
        import aiohttp

        secret = key.encode() if key else b""
        try:
            async for chunk in response.content.iter_any():
                yield chunk.replace(secret, MASK.encode()) if secret and secret in chunk else chunk
        except (TimeoutError, aiohttp.ClientError) as e:
            kind = "upstream_timeout" if isinstance(e, asyncio.TimeoutError) else "upstream_unreachable"
            error = {"type": kind, "message": f"upstream {name} stopped mid-stream ({type(e).__name__})",
                     "upstream": name}
            yield encode(error, event="error")
        finally:
            response.close()


def _scrub(text: str, key: str) -> str:
    return text.replace(key, MASK) if key else text
