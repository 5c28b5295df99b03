"""Where each key of a TOML document stands, so errors can say ``aiplugs.toml:14:11``.

``tomllib`` parses values but forgets positions; this scanner reads the same (already valid) text once more and
maps every key path to the 1-based line and column of its value. Tables map to their header.
"""

from __future__ import annotations

import re
import tomllib

__all__ = ["locate"]

Position = tuple[int, int]
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def locate(text: str) -> dict[tuple[str, ...], Position]:
    positions: dict[tuple[str, ...], Position] = {}
    lines = text.splitlines()
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if stripped.startswith("[["):
            keys, _ = _parse_key(stripped, 2)
            index = array_counts.get(keys, 0)
            array_counts[keys] = index + 1
            table = (*keys, str(index))
            positions.setdefault(keys, (i + 1, indent + 1))
            positions[table] = (i + 1, indent + 1)
            i += 1
            continue
        if stripped.startswith("["):
            keys, _ = _parse_key(stripped, 1)
            table = keys
            positions[table] = (i + 1, indent + 1)
            i += 1
            continue
        try:
            keys, end = _parse_key(line, indent)
        except ValueError:
            i += 1
            continue
        eq = line.find("=", end)
        if eq < 0:
            i += 1
            continue
        value_col = eq + 1
        while value_col < len(line) and line[value_col] in " \t":
            value_col += 1
        full = (*table, *keys)
        positions[full] = (i + 1, value_col + 1)
        i = _record_value(lines, i, value_col, full, positions)
    return positions


def _parse_key(text: str, start: int) -> tuple[tuple[str, ...], int]:
    keys: list[str] = []
    pos = start
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos >= len(text):
            raise ValueError("no key")
        quote = text[pos]
        if quote in "\"'":
            close = text.find(quote, pos + 1)
            while quote == '"' and close > 0 and _escaped(text, close):
                close = text.find(quote, close + 1)
            if close < 0:
                raise ValueError("unterminated key")
            raw = text[pos : close + 1]
            keys.append(tomllib.loads(f"k = {raw}")["k"] if "\\" in raw else raw[1:-1])
            pos = close + 1
        else:
            match = _BARE.match(text, pos)
            if not match:
                raise ValueError("no key")
            keys.append(match.group())
            pos = match.end()
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return tuple(keys), pos


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` is escaped by an odd run of backslashes."""
    run = 0
    while index - run - 1 >= 0 and text[index - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _record_value(
    lines: list[str], row: int, col: int, keys: tuple[str, ...], positions: dict[tuple[str, ...], Position]
) -> int:
    """Records keys inside an inline table and returns the index of the first line after the value."""
    line = lines[row]
    if line.startswith("{", col):
        _record_inline_table(line, row, col + 1, keys, positions)
    depth = 0
    r, c = row, col
    while r < len(lines):
        text = lines[r]
        while c < len(text):
            ch = text[c]
            if text.startswith(('"""', "'''"), c):
                delim = text[c : c + 3]
                end = text.find(delim, c + 3)
                while end < 0 and r + 1 < len(lines):
                    r, c = r + 1, 0
                    text = lines[r]
                    end = text.find(delim)
                c = (end + 3) if end >= 0 else len(text)
                continue
            if ch in "\"'":
                end = c + 1
                while end < len(text) and text[end] != ch:
                    end += 2 if (ch == '"' and text[end] == "\\") else 1
                c = end + 1
                continue
            if ch == "#":
                break
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            c += 1
        r, c = r + 1, 0
        if depth <= 0:
            return r
    return r


def _record_inline_table(
    line: str, row: int, col: int, prefix: tuple[str, ...], positions: dict[tuple[str, ...], Position]
) -> None:
    pos = col
    while pos < len(line):
        try:
            keys, end = _parse_key(line, pos)
        except ValueError:
            return
        if end >= len(line) or line[end] != "=":
            return
        value = end + 1
        while value < len(line) and line[value] in " \t":
            value += 1
        positions[(*prefix, *keys)] = (row + 1, value + 1)
        comma = _skip_value(line, value)
        if comma >= len(line) or line[comma] != ",":
            return
        pos = comma + 1


def _skip_value(line: str, pos: int) -> int:
    depth = 0
    while pos < len(line):
        ch = line[pos]
        if ch in "\"'":
            end = line.find(ch, pos + 1)
            pos = end + 1 if end >= 0 else len(line)
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth == 0:
                return pos
            depth -= 1
        elif ch == "," and depth == 0:
            return pos
        pos += 1
    return pos
