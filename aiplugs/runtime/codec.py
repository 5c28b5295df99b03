"""DesiredState ⇄ JSON, for handing a computed desired state to the daemon over its control API.

Unlike ``DesiredState.to_dict`` (for people), this keeps the API key: it travels only over loopback to an
endpoint that requires the admin token.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ..errors import AiplugsError
from ..plan import DesiredState

__all__ = ["CODEC_VERSION", "decode_desired", "encode_desired"]

CODEC_VERSION = 1


def encode_desired(desired: DesiredState) -> dict[str, Any]:
    return {"codec_version": CODEC_VERSION, "desired": _encode(desired)}


def decode_desired(data: dict[str, Any]) -> DesiredState:
    if not isinstance(data, dict) or data.get("codec_version") != CODEC_VERSION:
        raise AiplugsError(f"desired state in an unknown format (want codec_version {CODEC_VERSION}); "
                           "the CLI and the daemon are different aiplugs versions — run `aiplugs down` first")
    try:
        return _decode(DesiredState, data["desired"])
    except (KeyError, TypeError, ValueError) as e:
        raise AiplugsError(f"malformed desired state: {e}") from None


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(kind: Any, value: Any) -> Any:
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value)
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.init})
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value, strict=True))
    if kind is Path:
        return Path(value)
    if kind is SecretStr:
        return SecretStr(value)
    return value
