"""Turns pydantic's ValidationError into Problems that name the field path, the bad value and a fix."""

from __future__ import annotations

from typing import Any, Callable, Sequence, get_args

from pydantic import BaseModel, ValidationError

from ..errors import Problem, did_you_mean, format_loc

__all__ = ["problems_from_validation_error"]

Locate = Callable[[tuple[str, ...]], tuple[str, int | None, int | None]]


def problems_from_validation_error(
    error: ValidationError, *, source: str, model: type[BaseModel], locate: Locate | None = None
) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(str(part) for part in item["loc"])
        message = _message(item, model)
        where, line, col = locate(loc) if locate else (source, None, None)
        problems.append(Problem(where, message, format_loc(loc), line, col))
    return problems


def _message(item: Any, model: type[BaseModel]) -> str:
    kind, ctx, value = item["type"], item.get("ctx") or {}, item.get("input")
    loc = item["loc"]
    if kind == "extra_forbidden":
        return "unknown key" + did_you_mean(str(loc[-1]), _fields_at(model, loc[:-1]))
    if kind == "missing":
        return "required key is missing"
    comparisons = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in comparisons:
        bound = next(iter(ctx.values()))
        return f"must be {comparisons[kind]} {bound} (got {value!r})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {value!r})"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind == "string_pattern_mismatch":
        return f"must match {ctx.get('pattern')} (got {value!r})"
    text = item["msg"][0].lower() + item["msg"][1:]
    return f"{text} (got {_short(value)})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the (nested) model at ``loc``, for "did you mean"; [] where it cannot tell."""
    current: Any = model
    for part in loc:
        fields = _keys(getattr(current, "model_fields", None))
        if fields is not None:
            info = fields.get(str(part))
            if info is None:
                return []
            current = _without_none(info.annotation)
            continue
        # dict[str, Model] or tuple[Model, ...]: the part is a key or an index, the value type comes next
        args = [a for a in get_args(current) if a is not Ellipsis]
        if not args:
            return []
        current = _without_none(args[-1])
    fields = _keys(getattr(current, "model_fields", None))
    return list(fields) if fields else []


def _keys(fields: Any) -> dict[str, Any] | None:
    """Fields by the key the document uses: a field with an alias (``Manifest.dependency_specs``) is written
    under its alias (``dependencies``)."""
    return None if fields is None else {info.alias or name: info for name, info in fields.items()}


def _without_none(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation
