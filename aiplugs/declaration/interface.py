"""What a plugin offers and needs beyond its files, as its manifest declares it: tools (the functions its backend
exposes), dependencies on other plugins (with version ranges) and its hooks' time limit.

The models live here so ``manifest.py`` stays the document and its loading; each one checks only itself, and
``Manifest`` checks what needs the whole document (unique tool names, topics in the plugin's namespace).
"""

from __future__ import annotations

import keyword
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

from .schemas import schema_problem

__all__ = ["Dependency", "Hooks", "PLUGIN_ID", "RESERVED_TOOL_NAMES", "Tool"]

PLUGIN_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"

# Backend functions aiplugs itself calls: a tool of that name would be reachable from pages.
RESERVED_TOOL_NAMES = frozenset({"init", "shutdown", "install", "uninstall", "on_event", "on_message"})


# The config of every model here: a constant, not a base model (one more model class to build at import)
_STRICT = ConfigDict(extra="forbid", frozen=True)


class Tool(BaseModel):
    """A backend function pages may call by name. ``run`` is always a tool; listing it gives it a description and
    an input schema."""

    model_config = _STRICT

    name: str
    description: str = ""
    input_schema: dict[str, Any] | None = Field(default=None, description="JSON Schema (Draft 2020-12) of the input")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.isidentifier() or keyword.iskeyword(value):
            raise ValueError(f"must be a Python function name (got {value!r})")
        if value.startswith("_"):
            raise ValueError(f"must not start with '_': such functions stay private to the backend (got {value!r})")
        if value in RESERVED_TOOL_NAMES:
            raise ValueError(f"{value!r} is reserved for a hook aiplugs calls itself; choose another name")
        return value

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if value is None else schema_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class Dependency(BaseModel):
    """Another plugin this one needs, written ``"summarize"`` or ``{"id": "summarize", "version": ">=1.2"}``."""

    model_config = _STRICT

    id: str = Field(pattern=PLUGIN_ID)
    version: str | None = Field(default=None, description="PEP 440 version specifiers, like '>=1.2,<2'")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"id": value}
        if not isinstance(value, dict):
            raise ValueError(f'must be a plugin id or {{"id": ..., "version": ...}} (got {value!r})')
        return value

    @field_validator("version")
    @classmethod
    def _specifiers(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from packaging.specifiers import InvalidSpecifier, SpecifierSet  # ~3 ms of import and regex: when used

        try:
            SpecifierSet(value)
        except InvalidSpecifier:
            raise ValueError(f"must be version specifiers like '>=1.2' or '>=1.2,<2' (PEP 440), got {value!r}"
                             ) from None
        return value

    def allows(self, version: str) -> bool:
        """Whether ``version`` of the dependency satisfies this requirement; an installed pre-release counts like a
        release (it is what is there, not a candidate to choose)."""
        if self.version is None:
            return True
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(self.version).contains(version, prereleases=True)

    @model_serializer(mode="plain")
    def _dump(self) -> Any:
        """The form it was written in: a bare id when there is no version, so a dump reads back unchanged."""
        return self.id if self.version is None else {"id": self.id, "version": self.version}


class Hooks(BaseModel):
    """Limits for the hooks aiplugs calls in a backend (``init``, ``install``, ``on_event``...)."""

    model_config = _STRICT

    timeout_s: float = Field(default=60.0, gt=0, le=3600, strict=True)
