"""Edits of the user's ``aiplugs.toml`` that keep every comment and leave untouched lines byte for byte.

``aiplugs plugins install``, ``plugins enable/disable`` and applied suggestions all change the file a person wrote,
so an edit must read like one a careful person would make: tomlkit changes only the lines it must, an existing
value keeps its end-of-line comment (in the same column), a new plugin gets a real ``[plugins.<id>]`` table after
the other plugin tables, and removing a table takes its sub-tables and the comment lines directly above it, but not
the comment lines directly above the next table. Nothing is written until :meth:`ConfigEdit.save`, which refuses
when someone changed the file after it was read, so the diff a person approved is the change that lands.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Sequence

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, InlineTable, Item, Table, Whitespace
from tomlkit.toml_document import TOMLDocument

from ..errors import AiplugsError, ConfigError, Problem
from ..util.atomic import atomic_write_text
from .positions import syntax_problem
from .sources import shown_path

__all__ = ["ConfigEdit", "KeyPath", "key_path"]

KeyPath = tuple[str, ...]
_MISSING = object()


def key_path(path: str | Sequence[str]) -> KeyPath:
    """``"plugins.word-count.workers"`` or ``'plugins."a.b".workers'`` (TOML's dotted-key syntax) or a tuple of keys.

    A tuple is never split: ``("plugins", "a.b")`` is the plugin ``a.b``, whatever characters an id holds.
    """
    if not isinstance(path, str):
        keys = tuple(path)
        if not keys or not all(isinstance(key, str) for key in keys):
            raise AiplugsError(f"{path!r}: a key path is a non-empty tuple of strings")
        return keys
    # TOML's own grammar decides what a dotted key means (bare, "quoted", 'literal'); no second parser here
    try:
        node: Any = tomllib.loads(f"{path} = 0")
    except tomllib.TOMLDecodeError:
        node = None
    keys = ()
    while isinstance(node, dict) and len(node) == 1:
        (key, node), = node.items()
        keys = (*keys, key)
    if node != 0 or not keys:  # not exactly one key path: "a = 1\nb", "", "a b"
        raise AiplugsError(f"{path!r}: not a TOML key path (quote keys that hold dots: plugins.\"a.b\".workers)")
    return keys


class ConfigEdit:
    """The text of ``aiplugs.toml`` as read, and a tomlkit document being edited; ``save`` writes the result."""

    def __init__(self, path: Path, original: str, original_sha256: str | None) -> None:
        self.path = path
        self.original = original
        self._sha256 = original_sha256  # None: the file did not exist when read
        self.replace_text(original)

    @classmethod
    def load(cls, path: Path) -> ConfigEdit:
        """The file at ``path``; a missing file is an empty document (``save`` creates it unless one appears)."""
        try:
            data = path.read_bytes()  # bytes, not read_text: newline translation would turn CRLF files into LF
        except FileNotFoundError:
            return cls(path, "", None)
        except OSError as e:
            raise ConfigError([Problem(shown_path(path), f"cannot read: {e.strerror or e}")]) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError([Problem(shown_path(path), f"not UTF-8 text (byte {e.start})")]) from None
        return cls(path, text, hashlib.sha256(data).hexdigest())

    def get(self, path: str | Sequence[str], default: Any = None) -> Any:
        """The plain Python value at ``path`` (dicts, lists, str, int...), or ``default``."""
        found = self._lookup(key_path(path))
        if found is _MISSING:
            return default
        return found.unwrap() if hasattr(found, "unwrap") else found  # tomlkit hands out booleans as plain bool

    def set(self, path: str | Sequence[str], value: Any) -> None:
        """Set ``path`` to ``value``, creating the tables on the way; a dict becomes a table (see ``_item``)."""
        keys = key_path(path)
        node: Any = self._doc
        depth = 0
        while depth < len(keys) - 1 and keys[depth] in node:
            node = node[keys[depth]]
            if not isinstance(node, dict):
                raise AiplugsError(f"{self._shown()}: {_dotted(keys[: depth + 1])} is a value, not a table; "
                                   f"cannot set {_dotted(keys)}")
            depth += 1
        for key in reversed(keys[depth + 1 :]):  # the tables that do not exist yet are made around the value
            value = {key: value}
        self._put(node, keys[: depth + 1], value)

    def remove(self, path: str | Sequence[str], *, missing_ok: bool = False) -> None:
        """Remove the key or table at ``path``; a table goes with all its sub-tables (``[plugins.x.settings]``)."""
        keys = key_path(path)
        parent = self._lookup(keys[:-1]) if len(keys) > 1 else self._doc
        if not isinstance(parent, dict) or keys[-1] not in parent:
            if missing_ok:
                return
            raise AiplugsError(f"{self._shown()}: {_dotted(keys)}: no such key; nothing to remove")
        before = self._doc.as_string()
        del parent[keys[-1]]
        after = self._doc.as_string()
        kept = _keep_comments(before, after)
        if kept != after:
            self._doc = _parse(kept, self._shown())

    def replace_text(self, text: str) -> None:
        """Edit towards ``text`` as a whole (a revert to an earlier text); ``save`` checks the file as usual."""
        self._doc = _parse(text, self._shown())
        self._crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")

    def text(self) -> str:
        text = self._doc.as_string()
        # tomlkit writes the lines it adds with "\n"; a CRLF file (Windows, git autocrlf) keeps one line ending
        return re.sub(r"(?<!\r)\n", "\r\n", text) if self._crlf else text

    @property
    def changed(self) -> bool:
        return self.text() != self.original

    def diff(self) -> str:
        """A unified diff of the file as read against the edited text; "" when nothing changed."""
        name = self.path.name
        return "".join(difflib.unified_diff(_diff_lines(self.original), _diff_lines(self.text()), name, name))

    def save(self) -> bool:
        """Write the edited text atomically, keeping the file's mode; False when there was nothing to write.
        Refuses when the file no longer has the bytes it had when read: the person approved a diff of those."""
        text = self.text()
        if text == self.original:
            return False
        try:
            tomllib.loads(text)  # tomlkit can render what TOML forbids; such a text must never reach the disk
        except tomllib.TOMLDecodeError as e:
            raise AiplugsError(f"{self._shown()}: the edit would not be valid TOML ({e}); nothing was written")
        target = self.path.resolve()  # a symlinked aiplugs.toml stays a symlink; its target gets the new text
        try:
            current: str | None = hashlib.sha256(target.read_bytes()).hexdigest()
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            current, mode = None, 0o644
        # A small window stays between this check and the rename; closing it would need every writer to lock.
        if current != self._sha256:
            raise AiplugsError(f"{self._shown()} changed since it was read; nothing was written")
        atomic_write_text(target, text, mode)
        if stat.S_IMODE(target.stat().st_mode) != mode:  # the umask narrowed the new file's mode; restore it
            os.chmod(target, mode)
        self.original, self._sha256 = text, hashlib.sha256(text.encode("utf-8")).hexdigest()
        return True

    def _shown(self) -> str:
        return shown_path(self.path)

    def _lookup(self, keys: KeyPath) -> Any:
        node: Any = self._doc
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        return node

    def _put(self, node: Any, keys: KeyPath, value: Any) -> None:
        """Set ``keys[-1]`` of ``node`` (the table at ``keys[:-1]``) to ``value``."""
        key = keys[-1]
        old = node.get(key, _MISSING)
        inline = isinstance(node, InlineTable) or isinstance(old, InlineTable)  # an inline table stays one
        if isinstance(value, dict) and isinstance(old, Table):
            # A real table (with its [header]) is edited key by key: its comments and layout stay, and it keeps
            # its place in the file instead of moving to the end as a new table would.
            for stale in [k for k in old if k not in value]:
                del old[stale]
            for child_key, child in value.items():
                self._put(old, (*keys, child_key), child)
            return
        item = _item(keys, value, inline)
        if old is not _MISSING:
            # the item itself, with its comment: reading through [] gives a plain bool for a boolean
            _keep_comment_column(node.item(key) if hasattr(node, "item") else old, item)
            node[key] = item
        elif keys[:1] == ("plugins",) and len(keys) == 2 and isinstance(item, Table):
            self._add_plugin_table(key, item)
        elif isinstance(node, Table) and not isinstance(item, Table):
            _add_before_trailing_blank_lines(node, key, item)
        else:
            node[key] = item

    def _add_plugin_table(self, plugin_id: str, table: Table) -> None:
        """A new ``[plugins.<id>]`` goes after the last plugin table, even when the plugins are spread out."""
        body = self._doc.body
        at = max(i for i, (key, _) in enumerate(body) if key is not None and key.key == "plugins")
        if at + 1 < len(body) and isinstance(body[at + 1][1], (Table, AoT)):
            table.add(tomlkit.nl())  # a section follows right after: keep a blank line before its header
        body[at][1][plugin_id] = table


def _add_before_trailing_blank_lines(table: Table, key: str, item: Item) -> None:
    """A new key joins its table's last key, not the blank lines that separate the table from the next header."""
    body = table.value.body
    at = len(body)
    while at and isinstance(body[at - 1][1], Whitespace):
        at -= 1
    if at == len(body):
        table[key] = item
    else:
        table.value._insert_at(at, key, item)  # tomlkit has no public insert; stable since 0.7


def _item(keys: KeyPath, value: Any, inline: bool) -> Item:
    """A dict is a real table where people write one, a section (``[api]``; ``plugins`` has no header of its own)
    or a plugin (``[plugins.word-count]``), and an inline table below: ``workers = {min = 1, max = 4}``."""
    if isinstance(value, dict):
        real = not inline and (len(keys) == 1 or (len(keys) == 2 and keys[0] == "plugins"))
        table: Table | InlineTable = tomlkit.table(is_super_table=keys == ("plugins",)) if real \
            else tomlkit.inline_table()
        for key, child in value.items():
            table.add(key, _item((*keys, key), child, inline=not real))
        return table
    try:
        return tomlkit.item(value)
    except (TypeError, ValueError) as e:
        raise AiplugsError(f"{_dotted(keys)}: {value!r} cannot be written in TOML ({e})") from None


def _keep_comment_column(old: Any, new: Item) -> None:
    """An end-of-line comment stays in its column when a value changes width, as aligned comments are meant to."""
    trivia = getattr(old, "trivia", None)
    if trivia is None or not trivia.comment or isinstance(old, Table) or isinstance(new, Table):
        return
    before, after = old.as_string(), new.as_string()
    if "\n" in before + after or trivia.comment_ws.strip(" "):  # multi-line values and tabs have no one column
        return
    new.trivia.comment_ws = " " * max(1, len(trivia.comment_ws) + len(before) - len(after))


def _keep_comments(before: str, after: str) -> str:
    """``after`` (``before`` with a table removed by tomlkit) with the comment lines moved back where they belong.

    tomlkit keeps the comment lines between two tables in the body of the first, so removing a table drops the
    comments written directly above the next header and keeps the ones that described the removed table. Here a
    comment block directly above a header (no blank line between) belongs to that header. Moving comments cannot
    change any value: a result that would parse differently is discarded.
    """
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            while _is_header(old[i1]) and out and _is_comment(out[-1]):  # the removed table's own comment block
                out.pop()
            following = old[i2] if i2 < len(old) else "#"
            start = i2
            while _is_header(following) and start > i1 and _is_comment(old[start - 1]):
                start -= 1
            out += old[start:i2]  # the comment block of the header that stays
            if out and not out[-1].strip() and not following.strip():
                out.pop()  # the blank lines on both sides of the removed lines would otherwise meet
        out += new[j1:j2]
    if old and old[-1].strip():  # removing the last table leaves no blank line the file did not end with
        while out and not out[-1].strip():
            out.pop()
    kept = "".join(out)
    try:
        return kept if tomllib.loads(kept) == tomllib.loads(after) else after
    except tomllib.TOMLDecodeError:
        return after


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_header(line: str) -> bool:  # a line inside a multi-line array may look like one: see the check above
    return line.lstrip().startswith("[")


def _diff_lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):  # as diff(1) and git say it, so the last line is not glued on
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _dotted(keys: KeyPath) -> str:
    return ".".join(key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"' for key in keys)


def _parse(text: str, shown: str) -> TOMLDocument:
    try:
        tomllib.loads(text)  # first, for its clear message: "Invalid value (at line 3, column 9)"
        return tomlkit.parse(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([syntax_problem(e, shown)]) from None
    except TOMLKitError as e:
        raise ConfigError([Problem(shown, f"TOML syntax error: {e}")]) from None
