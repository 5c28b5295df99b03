"""What a local backend needs to run: its entry file, its models (URL + sha256) and its Python requirements, with
the path rules that keep every file a manifest names inside its folder."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["Inference", "Mode", "ModelRef", "Python", "safe_filename", "safe_relative_path"]

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DRIVE = re.compile(r"[A-Za-z]:")  # C:, a Windows drive
Mode = Literal["local", "cloud"]


# The config of every model here: a constant, not a base model (one more model class to build at import)
_STRICT = ConfigDict(extra="forbid", frozen=True)


def safe_relative_path(value: str, what: str) -> str:
    """A path that stays inside its folder: relative, forward slashes, no ``..``, no empty parts."""
    if not value or value.startswith(("/", "\\")) or _DRIVE.match(value) or "\\" in value:
        raise ValueError(f"{what} must be a relative path inside the plugin folder, got {value!r}")
    if ".." in value.split("/"):  # PurePosixPath(value).parts, plus the "" and "." parts it drops
        raise ValueError(f"{what} must not contain '..', got {value!r}")
    return value


def safe_filename(value: str) -> str:
    """A bare file name for the models folder: no separators, no ``..``, not hidden, not a temp name."""
    if not value or "/" in value or "\\" in value or "\x00" in value:
        raise ValueError(f"filename must be a bare file name without path separators, got {value!r}")
    if value in (".", "..") or value.startswith("."):
        raise ValueError(f"filename must not start with '.', got {value!r}")
    if value.endswith((".part", ".lock")):
        raise ValueError(f"filename must not end with .part or .lock (reserved for downloads), got {value!r}")
    return value


class ModelRef(BaseModel):
    model_config = _STRICT

    key: str = Field(pattern=ENV_NAME, description="environment variable that carries the model's absolute path")
    filename: str
    source_url: str = Field(min_length=1, description="any fsspec URL; a relative path resolves against the plugin")
    sha256: str
    size: int | None = Field(default=None, ge=0)

    @field_validator("filename")
    @classmethod
    def _filename(cls, value: str) -> str:
        return safe_filename(value)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str) -> str:
        value = value.lower()
        if not SHA256.match(value):
            raise ValueError(f"sha256 must be 64 hex digits, got {value!r}")
        return value


class Inference(BaseModel):
    model_config = _STRICT

    default_mode: Mode = "local"
    local_entry: str | None = "backend.py"
    models: tuple[ModelRef, ...] = ()
    cloud_path: str = Field(default="/v1/chat/completions", pattern=r"^/")
    cloud_model: str | None = None
    pass_env: tuple[str, ...] = Field(default=(), description="parent environment variables the workers may see")

    @field_validator("local_entry")
    @classmethod
    def _entry(cls, value: str | None) -> str | None:
        return None if value is None else safe_relative_path(value, "local_entry")

    @model_validator(mode="after")
    def _unique_keys(self) -> Inference:
        seen: dict[str, ModelRef] = {}
        for model in self.models:
            if model.key in seen and seen[model.key] != model:
                raise ValueError(f"model key {model.key!r} is declared twice with different content")
            seen[model.key] = model
        return self


class Python(BaseModel):
    """What a local backend needs installed: pip requirement specifiers (``"numpy>=1.26"``). Plugins with the same
    set share one virtualenv."""

    model_config = _STRICT

    requirements: tuple[str, ...] = ()

    @field_validator("requirements")
    @classmethod
    def _specifiers(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        from packaging.requirements import InvalidRequirement, Requirement

        for value in values:
            try:
                Requirement(value)
            except InvalidRequirement as e:
                raise ValueError(f"not a pip requirement: {value!r} ({e})") from None
        return values
