"""Declaring plugins in ``aiplugs.toml`` as a person would by hand, and the decisions ``plugins install`` and
``plugins remove`` make before they edit anything.

Pure: the edits change a ``ConfigEdit`` in memory (the caller shows its diff, saves and applies), and the verdicts
are computed from plain values.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping

if TYPE_CHECKING:  # the edits are handed one; `plan` reads ``Current`` from here without loading tomlkit
    from .edit import ConfigEdit

__all__ = ["REFUSED", "Current", "Verdict", "declare_package", "dependents", "install_verdict", "set_enabled", "undeclare",
           "written_source"]

Verdict = Literal["install", "update", "reinstall", "replace-folder", "already-installed", "same-version",
                  "folder"]
REFUSED: frozenset[Verdict] = frozenset({"same-version", "folder"})  # unless --force; the others proceed
_DEPENDENCY_ID = re.compile(r"^\s*([a-z0-9][a-z0-9_-]*)")


@dataclass(frozen=True)
class Current:
    """What the declaration holds for an id before an install: a package (with the version and sha256 it pins,
    when known) or a plugin folder."""

    kind: Literal["package", "folder"]
    version: str | None
    sha256: str | None


def install_verdict(current: Current | None, version: str, sha256: str, *, force: bool = False) -> Verdict:
    """``already-installed``: the same content is declared. ``same-version`` (refused): the same version with
    other content — a re-release under the same number is a mistake or an attack, unless ``force``. ``folder``
    (refused): a plugin folder of that id would be replaced by the package, unless ``force``."""
    from packaging.version import InvalidVersion, Version

    if current is None:
        return "install"
    if current.kind == "folder":
        return "replace-folder" if force else "folder"
    if current.sha256 == sha256:
        return "already-installed"
    try:
        same = current.version is not None and Version(current.version) == Version(version)
    except InvalidVersion:
        same = current.version == version
    if same:
        return "reinstall" if force else "same-version"
    return "update"


def written_source(uri: str, config_dir: Path, cwd: Path) -> str:
    """``uri`` as aiplugs.toml should hold it: a URL as it is, an absolute path as it is, and a path relative to
    ``cwd`` (where the person typed it) rewritten relative to aiplugs.toml's folder, where the file resolves it."""
    if "://" in uri:
        return uri
    path = Path(uri).expanduser()
    if path.is_absolute():
        return str(path)
    absolute = os.path.normpath(cwd / path)
    try:
        return Path(os.path.relpath(absolute, config_dir)).as_posix()
    except ValueError:  # another drive (Windows): no relative path exists
        return absolute


def declare_package(edit: ConfigEdit, plugin_id: str, source: str, sha256: str) -> None:
    """``[plugins.<id>] source`` and ``sha256`` set; the table's other keys and comments stay as they are."""
    if edit.get(("plugins", plugin_id)) is None:
        # a new table in one step: it is laid out (and spaced from a following section) as a whole
        edit.set(("plugins", plugin_id), {"source": source, "sha256": sha256})
        return
    edit.set(("plugins", plugin_id, "source"), source)
    edit.set(("plugins", plugin_id, "sha256"), sha256)


def undeclare(edit: ConfigEdit, plugin_id: str) -> None:
    """The ``[plugins.<id>]`` table with its sub-tables and the comment block directly above it."""
    edit.remove(("plugins", plugin_id))


def set_enabled(edit: ConfigEdit, plugin_id: str, enabled: bool) -> None:
    edit.set(("plugins", plugin_id, "enabled"), enabled)


def dependents(plugin_id: str, dependencies: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The plugins (of ``dependencies``: id → its manifest's dependencies) that depend on ``plugin_id``; a
    dependency may carry a version requirement (``other>=1.2``)."""
    found = []
    for pid, deps in sorted(dependencies.items()):
        ids = {m.group(1) for m in map(_DEPENDENCY_ID.match, deps) if m}
        if pid != plugin_id and plugin_id in ids:
            found.append(pid)
    return found
