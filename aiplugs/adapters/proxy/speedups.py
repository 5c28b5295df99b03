"""How aiplugs loads and runs the embedded mitmproxy more cheaply than mitmproxy's own tools, same behaviour.

``lean_addons()``: importing any ``mitmproxy.addons.<name>`` runs the package's ``__init__``, which imports all
~30 default addons of mitmdump and through them flask, werkzeug, ldap3, passlib, asgiref (~320 modules, ~16 MB
of the daemon's resident memory) for the six addons ``ProxyServer`` runs: registered without its ``__init__``
(``util.lean_import``; the first use of ``default_addons`` still works, it runs the ``__init__`` then).

``lean_commands()``: mitmproxy's command manager imports ``command_lexer``, which builds a pyparsing grammar at
import (pyparsing ~3.4 MB resident, ~13 ms) for parsing typed command lines, which the daemon never does. The
lexer is registered with only its plain functions (``quote``, ``unquote``: what ``mitmproxy.command`` takes from
it at import) and pyparsing without its ``__init__`` (``util.lean_import``); the first use of any other name of
the lexer, or of pyparsing, runs the whole module then (pyparsing with it). Only for the reviewed source of
``command_lexer``.

``install()`` replaces a few functions that every HTTP request through mitmproxy runs, each with one that returns
the same values and raises the same errors (py-spy on the proxy, ``benchmarks/bench_injection.py``, 10 KB pages):

- ``fork``: ``Context.fork`` (once per request, for its stream layer) built a complete ``connection.Server`` - a
  uuid4 and ~25 attribute assignments through ``Server.__setattr__`` - and threw it away on the next line (~10 %
  of the proxy's CPU). The replacement builds the same forked context without it.
- ``authority`` and ``valid_host``: parsing a request line checks its host through Python's ``idna`` codec, twice
  (``url.parse_authority`` and ``url.parse``), ~8 % of the CPU for hosts a browser asks for again and again. Both
  are pure functions of a string; they are memoised (bounded LRU; values too long to be a host are not cached,
  errors are never cached, so they are raised afresh each time).
- ``hook_args``: ``Hook.args`` ran ``dataclasses.fields`` on every hook of every flow (~3 %); the field names
  of each hook class are now read once.
- ``trigger_event``: every hook (and the ``update`` hook mitmproxy fires after each flow hook) walked every addon
  through a context manager, a coroutine and two generators even when the addon has no handler for it; an addon
  with neither the handler nor sub-addons is now skipped, one without either would have run nothing.
- ``post_init``: every ``Request`` and ``Response`` checks the types of its data's fields in
  ``MessageData.__post_init__`` through ``typecheck.check_option_type``, which calls ``dataclasses.fields`` and
  ``typing.get_origin`` and builds a ``TypeError`` for every field, raised or not (~8 %). The check now reads each
  class's fields once into the tuple of types ``isinstance`` accepts (a union's members; ``int`` where ``float`` is
  declared, as ``check_option_type`` allows) and raises the same ``TypeError`` with the same message; a class with
  a field type ``check_option_type`` treats otherwise (``Any``, tuples, sequences, IO) keeps mitmproxy's check.

Each replacement is put in place only when the function it replaces has exactly the source reviewed here
(``_REVIEWED``: sha256 of the dedented source), so a mitmproxy release that changes one keeps its own. mitmproxy
is pinned ``>=11,<12``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import textwrap
from typing import Any, Callable

from ...util.lean_import import without_init

__all__ = ["install", "lean_addons", "lean_commands"]

# sha256 (first 16 hex digits) of the dedented source of each function a speedup replaces, as reviewed.
_REVIEWED = {
    "fork": "a8561fdbce31c14b",
    "authority": "d8338265c05d8491",
    "valid_host": "76efad3bee98e9b5",
    "hook_args": "c8180528126b87ab",
    "trigger_event": "58789e378391cb37",
    "post_init": "dd4a02a58bf8a1d2",
    "command_lexer": "e7f1632784b541f9",  # the whole module's source
}
# A host is at most 255 bytes; with a port and IPv6 brackets an authority a little more. Longer input is not
# cached (it is invalid anyway, and a cache of 1024 such keys must stay small).
_MAX_CACHED_LEN = 270
_CACHE_SIZE = 1024


def source_digest(func: Callable[..., Any]) -> str | None:
    """The reviewed-form digest of ``func``'s source; None when it has no readable source."""
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def install() -> frozenset[str]:
    """Puts every speedup whose target reads as reviewed in place (idempotent); the names of those in place."""
    from mitmproxy import addonmanager, hooks, http
    from mitmproxy.net import check
    from mitmproxy.net.http import url
    from mitmproxy.proxy import context

    done = set()
    for name, owner, attr, make in (
        ("fork", context.Context, "fork", _fork),
        ("authority", url, "parse_authority", _memoised),
        ("valid_host", check, "is_valid_host", _memoised),
        ("hook_args", hooks.Hook, "args", _hook_args),
        ("trigger_event", addonmanager.AddonManager, "trigger_event", _trigger_event),
        ("post_init", http.MessageData, "__post_init__", _post_init),
    ):
        if _replace(name, owner, attr, make):
            done.add(name)
    if "valid_host" in done and not getattr(url.is_valid_host, "_aiplugs", False) \
            and source_digest(url.is_valid_host) == _REVIEWED["valid_host"]:
        url.is_valid_host = check.is_valid_host  # url.py imported the name itself; parse_authority calls that one
    return frozenset(done)


def _replace(name: str, owner: Any, attr: str, make: Callable[[Any], Any]) -> bool:
    current = getattr(owner, attr, None)  # None: not there (``MessageData`` checks types only ``if __debug__``)
    if getattr(current, "_aiplugs", False):
        return True
    if source_digest(current) != _REVIEWED[name]:
        return False
    new = make(current)
    new._aiplugs = True
    new.__doc__ = current.__doc__
    new.__wrapped__ = current
    setattr(owner, attr, new)
    return True


def _fork(original: Callable[..., Any]) -> Callable[..., Any]:
    from mitmproxy.proxy import context

    cls: Any = context.Context

    def fork(self: Any) -> Any:
        ret = cls.__new__(cls)
        ret.client, ret.options, ret.server, ret.layers = self.client, self.options, self.server, self.layers.copy()
        return ret

    return fork


def _memoised(original: Callable[..., Any]) -> Callable[..., Any]:
    cached = functools.lru_cache(maxsize=_CACHE_SIZE)(original)

    def memoised(value: Any, *args: Any, **kwargs: Any) -> Any:
        if len(value) <= _MAX_CACHED_LEN:
            return cached(value, *args, **kwargs)
        return original(value, *args, **kwargs)

    memoised.cache_info = cached.cache_info  # type: ignore[attr-defined]
    return memoised


def _hook_args(original: Callable[..., Any]) -> Callable[..., Any]:
    from dataclasses import fields

    names: dict[type, tuple[str, ...]] = {}

    def args(self: Any) -> list[Any]:
        cls = type(self)
        field_names = names.get(cls)
        if field_names is None:
            field_names = names[cls] = tuple(f.name for f in fields(self))
        return [getattr(self, n) for n in field_names]

    return args


def _trigger_event(original: Callable[..., Any]) -> Callable[..., Any]:
    from mitmproxy import exceptions
    from mitmproxy.addonmanager import safecall

    async def trigger_event(self: Any, event: Any) -> None:
        name = event.name
        for addon in self.chain:
            if not getattr(addon, name, None) and not hasattr(addon, "addons"):
                continue  # mitmproxy would walk it and call nothing
            try:
                with safecall():
                    await self.invoke_addon(addon, event)
            except exceptions.AddonHalt:
                return

    return trigger_event


def _post_init(original: Callable[..., Any]) -> Callable[..., Any]:
    from dataclasses import fields

    checks: dict[type, tuple[tuple[str, tuple[type, ...], Any], ...] | None] = {}

    def plan(instance: Any) -> tuple[tuple[str, tuple[type, ...], Any], ...] | None:
        out = []
        for field in fields(instance):
            accepted = isinstance_types(field.type)
            if accepted is None:
                return None
            out.append((field.name, accepted, field.type))
        return tuple(out)

    def __post_init__(self: Any) -> None:
        cls = type(self)
        try:
            fields_ = checks[cls]
        except KeyError:
            fields_ = checks[cls] = plan(self)
        if fields_ is None:
            return original(self)
        for name, accepted, declared in fields_:
            value = getattr(self, name)
            if not isinstance(value, accepted):
                raise TypeError(f"Expected {declared} for {name}, but got {type(value)}.")
        return None

    return __post_init__


def isinstance_types(declared: Any) -> tuple[type, ...] | None:
    """The classes ``isinstance`` must accept to answer as ``typecheck.check_option_type(_, value, declared)``
    does: a plain class (and ``int`` for ``float``), or a union of them; None for any other type it checks
    its own way (``Any``, tuples, sequences, IO)."""
    import types
    import typing

    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        members = [isinstance_types(member) for member in typing.get_args(declared)]
        if any(m is None for m in members):
            return None
        return tuple(dict.fromkeys(t for m in members for t in m))  # type: ignore[union-attr]
    if not isinstance(declared, type) or typing.get_origin(declared) is not None \
            or declared in (typing.Any, typing.TextIO, typing.BinaryIO) or issubclass(declared, typing.IO):
        return None
    return (float, int) if declared is float else (declared,)


def lean_addons() -> bool:
    """Makes ``mitmproxy.addons`` importable without its ``__init__``; call before importing ``mitmproxy.master``.
    True when the package is (now) registered that way."""
    return without_init("mitmproxy.addons")


def lean_commands() -> bool:
    """Registers ``mitmproxy.command_lexer`` without its pyparsing grammar, and pyparsing lazily (see the module
    docstring); call before importing ``mitmproxy.master``. True when the lexer is (now) registered that way."""
    import ast
    import importlib.util
    import sys

    name = "mitmproxy.command_lexer"
    if name in sys.modules:
        return bool(getattr(sys.modules[name], "_aiplugs", False))
    if "pyparsing" in sys.modules:  # loaded already: nothing left to save
        return False
    spec = importlib.util.find_spec(name)
    loader: Any = spec.loader if spec is not None else None
    source = loader.get_source(name) if loader is not None else None
    if spec is None or source is None or hashlib.sha256(source.encode()).hexdigest()[:16] != _REVIEWED["command_lexer"]:
        return False
    lexer = importlib.util.module_from_spec(spec)
    origin = spec.origin or name
    plain = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.FunctionDef))
             and not (isinstance(node, ast.Import) and any(a.name == "pyparsing" for a in node.names))]
    exec(compile(ast.Module(plain, type_ignores=[]), origin, "exec"), lexer.__dict__)

    def __getattr__(attr: str) -> Any:  # a name beyond the plain functions: run the whole module, once
        if attr.startswith("__"):
            raise AttributeError(attr)
        del lexer.__dict__["__getattr__"]
        exec(compile(source, origin, "exec"), lexer.__dict__)
        try:
            return lexer.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    lexer.__dict__["__getattr__"] = __getattr__
    lexer.__dict__["_aiplugs"] = True
    if not without_init("pyparsing"):  # its names come from its __init__: run on the first one read
        return False
    sys.modules[name] = lexer
    import mitmproxy

    mitmproxy.command_lexer = lexer  # type: ignore[attr-defined]
    return True
