"""Acting on suggestions: applying one is an edit of ``aiplugs.toml`` (tomlkit through ``ConfigEdit``: comments and
layout stay, untouched lines stay byte for byte) followed by the daemon's own apply; reverting one is the
opposite edit and an apply. Both are recorded in the suggestion history.

The diff a person approved is the change that lands: ``expect_sha256`` (of the file the diff was made from)
refuses a file changed since, and ``ConfigEdit.save`` refuses one changed between reading and writing. A value
set through the environment cannot be changed by editing the file, so such a suggestion is refused with the
variable's name. When the edited declaration does not apply (it no longer validates), the file gets its old
text back.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from ..declaration.config import load_config
from ..errors import AiplugsError
from ..plan.autotune import Suggestion
from ..store.suggestions import HistoryEntry, SuggestionStore

if TYPE_CHECKING:
    from ..declaration.edit import ConfigEdit

__all__ = ["Apply", "apply_suggestion", "preview", "revert_entry", "SuggestionError"]

Apply = Callable[[], Awaitable[dict[str, Any]]]  # the daemon's apply of the declaration as it is on disk now
_MISSING = object()


class SuggestionError(AiplugsError):
    """``status``: the HTTP status the API answers with (404 unknown, 409 not applicable now)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _config_edit() -> type[ConfigEdit]:
    """``ConfigEdit``, imported when a suggestion is first previewed, applied or reverted: it brings tomlkit, which
    an idle daemon does not load otherwise."""
    from ..declaration.edit import ConfigEdit

    return ConfigEdit


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def preview(path: Path, suggestions: tuple[Suggestion, ...]) -> tuple[str | None, dict[str, str]]:
    """The file's sha256 and each applicable suggestion's diff against it (the file is read once)."""
    try:
        base = _config_edit().load(path)
    except AiplugsError:  # the file does not parse right now: diffs appear once it does again
        return None, {}
    diffs = {}
    for s in suggestions:
        if s.change is None:
            continue
        edit = _config_edit()(path, base.original, _sha(base.original))
        edit.set(s.change.path, s.change.new)
        diffs[s.id] = edit.diff()
    return _sha(base.original), diffs


async def apply_suggestion(suggestion: Suggestion, path: Path, env: Mapping[str, str], store: SuggestionStore,
                           apply: Apply, now: float, expect_sha256: str | None = None) -> tuple[HistoryEntry, dict]:
    change = suggestion.change
    if change is None:
        raise SuggestionError(f"{suggestion.id} proposes no change to apply: {suggestion.expected}")
    _refuse_env(path, env, change.path)
    edit = _config_edit().load(path)
    if expect_sha256 is not None and _sha(edit.original) != expect_sha256:
        raise SuggestionError(f"{path.name} changed since the suggestion's diff was shown; look at it again "
                              "(`aiplugs suggest show`)")
    current = edit.get(change.path, None)
    if current is not None and current != change.old:
        raise SuggestionError(f"plugins.{change.plugin}.{change.setting} is {current!r} in {path.name} now, the "
                              f"suggestion was made for {change.old!r}; the next evaluation sees the new value")
    edit.set(change.path, change.new)
    text_before, hash_before = edit.original, _sha(edit.original) if edit.original else None
    diff = edit.diff()
    edit.save()
    result = await _apply_or_restore(path, text_before, apply)
    entry = store.record_apply(suggestion.to_dict(), now, diff, text_before, hash_before, _sha(edit.text()),
                               dict(suggestion.evidence.numbers))
    store.observe_settings({(change.plugin, change.setting): change.new}, now)  # its cooldown starts now
    return entry, result


async def revert_entry(entry: HistoryEntry, path: Path, env: Mapping[str, str], store: SuggestionStore,
                       apply: Apply, now: float) -> tuple[str, dict]:
    """Puts the setting back as it was before the entry's edit (removed if it was not in the file); refused when
    someone changed it since. Returns the diff and the apply's result."""
    if entry.reverted_at is not None:
        raise SuggestionError(f"history entry {entry.id} ({entry.suggestion_id}) was reverted already")
    change = entry.suggestion.get("change")
    if not change:
        raise SuggestionError(f"{entry.suggestion_id} changed nothing: nothing to revert")
    keys = ("plugins", change["plugin"], change["setting"])
    _refuse_env(path, env, keys)
    edit = _config_edit().load(path)
    current = edit.get(keys, _MISSING)
    if current is _MISSING or current != change["new"]:
        shown = "not set" if current is _MISSING else repr(current)
        raise SuggestionError(f"plugins.{change['plugin']}.{change['setting']} is {shown} in {path.name}, not the "
                              f"{change['new']!r} {entry.suggestion_id} set; someone changed it since — edit it "
                              "by hand")
    before = _config_edit()(path, entry.text_before, None).get(keys, _MISSING)
    if before is _MISSING:
        edit.remove(keys)
    else:
        edit.set(keys, before)
    diff, text_before = edit.diff(), edit.original
    edit.save()
    result = await _apply_or_restore(path, text_before, apply)
    store.set_reverted(entry.id, now, diff)
    store.observe_settings({(change["plugin"], change["setting"]): change["old"]}, now)
    return diff, result


async def _apply_or_restore(path: Path, text_before: str, apply: Apply) -> dict[str, Any]:
    """The daemon's apply of the edited file; when the declaration is refused, the file gets its text back."""
    try:
        return await apply()
    except AiplugsError:
        edit = _config_edit().load(path)
        edit.replace_text(text_before)
        edit.save()
        raise


def _refuse_env(path: Path, env: Mapping[str, str], keys: tuple[str, str, str]) -> None:
    try:
        origin = load_config(path, env=env).origin(".".join(keys))
    except AiplugsError:
        return  # the apply that follows names what is wrong with the file
    if origin.startswith("env "):
        raise SuggestionError(f"{'.'.join(keys)} is set by the environment ({origin[4:]}); editing {path.name} "
                              "would change nothing — change the variable instead")
