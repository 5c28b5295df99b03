"""Where each key of a TOML document stands, so errors can say ``aiplugs.toml:14:11``.

``tomllib`` parses values but forgets positions. tomlkit's parser stands on a value's first character when it starts
reading the value, and on the ``[`` of a header when it starts a table: ``locate`` lets tomlkit parse and notes those
offsets as it goes, each under the key path being parsed. Nothing here reads TOML syntax itself, so strings, escapes,
comments, multi-line values and CRLF cannot shift a position.

Why not walk tomlkit's parsed document instead: it is not a faithful record of the text. Depending on the tomlkit
version it deep-copies tables while merging ``[a.b]`` and ``[a.c]`` (so values lose their identity), and it renders
``{ a = 2000-01-01 }`` without the space before ``}`` (so summing rendered lengths drifts). The parser's own offsets
have neither problem; the one piece of TOML meaning kept here is which element of an array of tables a header
belongs to (``_resolve``).

What each key path maps to, as a 1-based ``(line, column)``; columns count characters, not bytes:

- a key: its value's first character. ``p = {a = 1}`` gives ``("p",)`` at ``{`` and ``("p", "a")`` at ``1``.
- a ``[table]``: the ``[`` of its header.
- an array of tables: elements by their index as a string, ``("plugins", "x", "models", "0", "key")``; the array
  itself at its first ``[[header]]``. Plain arrays index their elements the same way: ``("hosts", "1")``.
- a table that is only implied: its first position inside. ``plugins`` in ``[plugins.word-count]`` maps to that
  header; ``env`` in ``env.HF_HOME = "/x"`` to ``"/x"``. A table both implied and declared maps to its declaration.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Item, Key, Table
from tomlkit.parser import Parser

from ..errors import Problem

__all__ = ["KeyPath", "Position", "locate", "syntax_problem"]

KeyPath = tuple[str, ...]
Position = tuple[int, int]
Found = list[tuple[KeyPath, int]]  # key paths relative to some value, with their offsets


def locate(text: str) -> dict[KeyPath, Position]:
    """1-based (line, column) of every key path in ``text``, in document order.

    Positions are a courtesy for error messages: text tomlkit cannot parse (invalid TOML, which the caller reports
    through ``tomllib`` anyway) has none, so the result is ``{}`` rather than an exception.
    """
    parser = _RecordingParser(text)
    try:
        parser.parse()
    except TOMLKitError:
        return {}
    offsets = {**_implied(parser.declared), **parser.declared}
    lines = _Lines(text)
    return {path: lines.position(offset) for path, offset in sorted(offsets.items(), key=lambda found: found[1])}


class _Scope:
    """A value being parsed: what was found inside it so far, and, for an array, how many elements."""

    def __init__(self) -> None:
        self.found: Found = []
        self.elements: int | None = None

    def add(self, prefix: KeyPath, found: Found) -> None:
        self.found += [((*prefix, *path), offset) for path, offset in found]


class _RecordingParser(Parser):
    """tomlkit's parser, noting in ``declared`` where each value and each table header starts."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.declared: dict[KeyPath, int] = {}
        self._table: KeyPath = ()  # the table the header last opened
        self._arrays: dict[KeyPath, int] = {}  # each array of tables met so far -> its number of elements
        self._scopes: list[_Scope] = []  # the values being parsed, innermost last
        self._value: Found = []  # the value just parsed, and the keys inside it

    def _parse_table(self, parent_name: Key | None = None, parent: Table | None = None) -> tuple[Key, Table | AoT]:
        start = self._idx  # on the "[" (the indent before it is behind us)
        is_array, key = self._peek_table()
        self._table = self._resolve(tuple(part.key for part in key), is_array)
        self.declared[self._table] = start
        if is_array:
            self.declared.setdefault(self._table[:-1], start)
        return super()._parse_table(parent_name, parent)

    def _resolve(self, names: KeyPath, is_array: bool) -> KeyPath:
        """The path a header opens: a name that is an array of tables means its last element so far."""
        path: KeyPath = ()
        for name in names[:-1]:
            path = (*path, name)
            if path in self._arrays:
                path = (*path, str(self._arrays[path] - 1))
        path = (*path, names[-1])
        if is_array:
            self._arrays[path] = self._arrays.get(path, 0) + 1
            path = (*path, str(self._arrays[path] - 1))
        return path

    def _parse_key_value(self, parse_comment: bool = False) -> tuple[Key, Item]:
        key, item = super()._parse_key_value(parse_comment)
        names = tuple(part.key for part in key)
        if self._scopes:  # a key of an inline table
            self._scopes[-1].add(names, self._value)
        else:
            self.declared.update(((*self._table, *names, *path), offset) for path, offset in self._value)
        return key, item

    def _parse_value(self) -> Item:
        start, scope = self._idx, _Scope()
        self._scopes.append(scope)
        try:  # some tomlkit versions try a value inside an array and carry on when it fails
            item = super()._parse_value()
        finally:
            self._scopes.pop()
        found = [((), start), *scope.found]
        outer = self._scopes[-1] if self._scopes else None
        if outer is not None and outer.elements is not None:  # an array element
            outer.add((str(outer.elements),), found)
            outer.elements += 1
        else:
            self._value = found
        return item

    def _parse_array(self) -> Array:
        self._scopes[-1].elements = 0
        return super()._parse_array()


def _implied(declared: dict[KeyPath, int]) -> dict[KeyPath, int]:
    """Tables only implied by headers or dotted keys below them, each at the first position inside."""
    implied: dict[KeyPath, int] = {}
    for path, offset in declared.items():
        for end in range(1, len(path)):
            if path[:end] not in declared:
                implied[path[:end]] = min(implied.get(path[:end], offset), offset)
    return implied


class _Lines:
    """Offsets to 1-based (line, column). Only ``\\n`` ends a line in TOML; a CRLF's ``\\r`` ends its line's text."""

    def __init__(self, text: str) -> None:
        self.starts = [0]
        newline = text.find("\n")
        while newline >= 0:
            self.starts.append(newline + 1)
            newline = text.find("\n", newline + 1)

    def position(self, offset: int) -> Position:
        line = bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1


def syntax_problem(error: Exception, shown: str, hint: str = "") -> Problem:
    """A ``tomllib`` syntax error as a Problem: tomllib puts the position in its message ("Invalid value (at line
    3, column 9)"), a Problem keeps it apart so it prints as ``file:3:9``."""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)", str(error))
    message = (str(error)[: match.start()] if match else str(error)) or "invalid TOML"
    line, col = (int(match[1]), int(match[2])) if match else (None, None)
    return Problem(shown, f"TOML syntax error: {message}{'; ' + hint if hint else ''}", line=line, col=col)
