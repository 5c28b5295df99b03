"""What a plugin package would do, read before it is installed: ``inspect_source`` fetches it into a throwaway
folder, reads its manifest (nothing is unpacked, nothing runs) and sums it up as an ``Inspection``;
``inspect_kept`` does the same into the project's package store and keeps the download for the install that may
follow in another request (the dashboard's form).

``Inspection.permissions()`` is the text a person agrees to before ``plugins install`` edits anything: the hosts
its content scripts see, whether the proxy would decrypt every site for it, the models it downloads and the Python
packages its backend needs. A broken manifest is inspected too (its problems are listed), so a person can see why
it would be refused.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from ...declaration.manifest import Manifest
from ...declaration.rules import MatchPattern, PatternError
from ...declaration.validation import problems_from_validation_error
from ...util.redact import redact_url
from ._types import PackageError
from .archive import read_manifest, sha256_file
from .store import PackageStore

__all__ = ["Inspection", "ModelInfo", "inspect_archive", "inspect_kept", "inspect_source"]


@dataclass(frozen=True)
class ModelInfo:
    key: str
    filename: str
    size: int | None  # bytes, as the manifest declares it (None: not declared)
    source_url: str


@dataclass(frozen=True)
class Inspection:
    source: str  # as given, with any credentials in it masked
    sha256: str
    size: int  # bytes of the archive
    plugin_id: str | None
    name: str | None
    version: str | None
    description: str
    mode: str | None  # "local": its backend.py runs as worker processes; "cloud": calls go to the cloud relay
    matches: tuple[str, ...]  # the match patterns of its content scripts, in manifest order
    decrypts_all: bool  # some pattern matches every host: the proxy would decrypt every HTTPS site
    models: tuple[ModelInfo, ...]
    requirements: tuple[str, ...]
    dependencies: tuple[str, ...]
    update_url: str | None
    problems: tuple[str, ...]  # why the manifest is not valid; () when it is
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The host part of every pattern (``*`` for all hosts), deduplicated in manifest order."""
        seen: dict[str, None] = {}
        for pattern in self.matches:
            seen.setdefault(_host_of(pattern), None)
        return tuple(seen)

    @property
    def models_size(self) -> int | None:
        sizes = [m.size for m in self.models]
        return None if None in sizes else sum(s for s in sizes if s is not None)

    def permissions(self) -> str:
        """What installing it allows, one line per kind, for a person to read before confirming."""
        runs = {"local": "its backend.py, as worker processes on this machine",
                "cloud": "nothing locally; its calls are relayed to [cloud] base_url"}.get(self.mode or "", "unknown")
        if self.decrypts_all:
            decrypts = ("EVERY HTTPS SITE you visit through the proxy (it matches all hosts: "
                        + ", ".join(p for p in self.matches if _host_of(p) == "*") + ")")
        elif self.hosts:
            decrypts = "only the hosts above; TLS to every other site stays untouched"
        else:
            decrypts = "nothing (no content scripts)"
        models = [f"{m.filename} ({_size(m.size)}) from {redact_url(m.source_url)}" for m in self.models]
        if len(models) > 1:
            models.append(f"{_size(self.models_size)} in all" if self.models_size is not None else
                          "total size unknown: not every model declares its size")
        lines = [f"  sees pages on:    {', '.join(self.hosts) or 'no pages (no content scripts)'}",
                 f"  decrypts:         {decrypts}",
                 f"  runs:             {runs}",
                 f"  models:           {_listing(models)}",
                 f"  python packages:  {_listing(list(self.requirements))}"]
        return "\n".join(lines)

    def to_text(self) -> str:
        head = [f"{self.plugin_id or '?'} {self.version or '?'}" + (f" — {self.name}" if self.name else ""),
                *([f"  {self.description}"] if self.description else []),
                f"  source:           {self.source}",
                f"  size:             {_size(self.size)}",
                f"  sha256:           {self.sha256}",
                f"  depends on:       {', '.join(self.dependencies) or 'nothing'}",
                f"  updates from:     {redact_url(self.update_url) if self.update_url else 'nowhere (no update_url)'}",
                "Permissions:", self.permissions()]
        if self.problems:
            head += ["Problems (this package cannot be installed):", *(f"  {p}" for p in self.problems)]
        return "\n".join(head)

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": "1", "source": self.source, "sha256": self.sha256, "size": self.size,
                "id": self.plugin_id, "name": self.name, "version": self.version, "description": self.description,
                "mode": self.mode, "matches": list(self.matches), "hosts": list(self.hosts),
                "decrypts_all_hosts": self.decrypts_all,
                "models": [{"key": m.key, "filename": m.filename, "size": m.size,
                            "source_url": redact_url(m.source_url)} for m in self.models],
                "models_size": self.models_size, "python_requirements": list(self.requirements),
                "dependencies": list(self.dependencies), "update_url": self.update_url,
                "problems": list(self.problems), "valid": not self.problems, "manifest": dict(self.manifest)}


def inspect_archive(archive: Path, *, source: str | None = None, sha256: str | None = None) -> Inspection:
    """The Inspection of a package file on disk (``sha256``: already known, else computed)."""
    archive = Path(archive)
    raw = read_manifest(archive)
    digest = sha256 or sha256_file(archive)
    return summarize(raw, source=redact_url(source or str(archive)), sha256=digest, size=archive.stat().st_size)


async def inspect_source(source: str, *, work_dir: Path | None = None, sha256: str | None = None,
                         storage_options: dict[str, Any] | None = None) -> Inspection:
    """Fetches ``source`` (any fsspec URL, an archive path or a plugin folder; verified against ``sha256`` when
    given) into a temp folder under ``work_dir`` (default: the system's), inspects it and removes the folder."""
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".inspect-", dir=work_dir))
    try:
        # its own state dir: the download's records and locks go with the scratch folder, never into the project's
        fetched = await PackageStore(scratch, storage_options=storage_options).fetch("inspect", source, sha256)
        return await asyncio.to_thread(inspect_archive, fetched.path, source=source, sha256=fetched.sha256)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def inspect_kept(store: PackageStore, source: str, *, sha256: str | None = None) -> Inspection:
    """The Inspection of ``source``, fetched into ``store`` (the project's) under a stand-in name and then kept as
    its plugin's download: an install of that plugin with the sha256 shown finds it there, verified, and fetches
    nothing again. A package whose manifest does not validate is dropped (no install would take it). One inspected
    and never installed stays as that plugin's download until the plugin is installed or removed."""
    stand_in = f"_inspect-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fetched = await store.fetch(stand_in, source, sha256)
    except PackageError as e:  # said of the package, not of the stand-in name it was fetched under
        raise PackageError(str(e).replace(f"{stand_in}: ", "", 1)) from None
    try:
        seen = await asyncio.to_thread(inspect_archive, fetched.path, source=source, sha256=fetched.sha256)
        if seen.plugin_id and not seen.problems:
            await store.keep_as(seen.plugin_id, fetched)
            return seen
    except BaseException:
        await store.discard(fetched)
        raise
    await store.discard(fetched)
    return seen


def summarize(raw: Mapping[str, Any], *, source: str, sha256: str, size: int) -> Inspection:
    """Read tolerantly, so a broken manifest still shows what it asks for; its problems come from validation."""
    problems: tuple[str, ...] = ()
    try:
        manifest: Any = Manifest.model_validate(raw)
        data: Mapping[str, Any] = manifest.model_dump(mode="json")
    except ValidationError as e:
        problems = tuple(str(p) for p in problems_from_validation_error(e, source="manifest.json", model=Manifest))
        data = raw
    inference = _dict(data.get("inference"))
    scripts = [_dict(s) for s in _list(data.get("content_scripts"))]
    matches = tuple(str(p) for s in scripts for p in _list(s.get("matches")))
    models = tuple(ModelInfo(str(m.get("key", "?")), str(m.get("filename", "?")),
                             m["size"] if isinstance(m.get("size"), int) else None, str(m.get("source_url", "?")))
                   for m in map(_dict, _list(inference.get("models"))))
    return Inspection(
        source=source, sha256=sha256, size=size, plugin_id=_str(data.get("id")), name=_str(data.get("name")),
        version=_str(data.get("version")), description=_str(data.get("description")) or "",
        mode=_str(inference.get("default_mode", "local")), matches=matches,
        decrypts_all=any(_host_of(p) == "*" for p in matches), models=models,
        requirements=tuple(str(r) for r in _list(_dict(data.get("python")).get("requirements"))),
        dependencies=tuple(_dependency(d) for d in _list(data.get("dependencies"))),
        update_url=_str(data.get("update_url")), problems=problems, manifest=dict(raw))


def _dependency(value: Any) -> str:
    """``"base"`` or ``{"id": "base", "version": ">=1.2"}`` as one requirement text: ``base>=1.2``."""
    if isinstance(value, dict):
        return f"{value.get('id')}{value.get('version') or ''}"
    return str(value)


def _host_of(pattern: str) -> str:
    try:
        return MatchPattern(pattern).host_pattern()
    except PatternError:
        return pattern  # shown as written: validation lists it as a problem


def _size(n: int | None) -> str:
    if n is None:
        return "size not declared"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _listing(items: list[str]) -> str:
    return ("\n" + " " * 20).join(items) if items else "none"


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
