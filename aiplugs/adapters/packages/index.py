"""Release indexes: a plugin's manifest ``update_url`` answers a JSON list of ``{version, url, sha256}``, and the
newest release (PEP 440; pre-releases only when there is nothing else) is what ``plugins update`` moves to.

``check_update`` asks one index (the only network call of ``plugins outdated``); the results are cached in the
state dir (``write_checks``), so ``plugins list`` shows available updates without asking anybody.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urljoin

from ...util.atomic import atomic_write_text
from ...util.redact import redact_url
from ._types import PackageError

__all__ = ["CHECKS_FILE", "Release", "UpdateCheck", "check_update", "fetch_index", "newest", "parse_index",
           "read_checks", "write_checks"]

CHECKS_FILE = "plugins-outdated.json"
MAX_INDEX_BYTES = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_FORMAT = 'a JSON list of releases: [{"version": "1.2.0", "url": "<package URL>", "sha256": "<64 hex digits>"}]'


@dataclass(frozen=True)
class Release:
    version: str
    url: str  # absolute: a URL relative to the index is resolved against it
    sha256: str


def parse_index(data: Any, where: str) -> tuple[Release, ...]:
    """The releases of a parsed index; anything else is a PackageError naming the index and the bad entry."""
    from packaging.version import InvalidVersion, Version

    if not isinstance(data, list):
        raise PackageError(f"update index {where}: must be {_FORMAT}; got a JSON {type(data).__name__}")
    releases = []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise PackageError(f"update index {where}: release #{i}: must be an object, got {entry!r}")
        version, url, sha256 = entry.get("version"), entry.get("url"), entry.get("sha256")
        try:
            Version(str(version))
        except InvalidVersion:
            raise PackageError(f"update index {where}: release #{i}: version must be a PEP 440 version like 1.2.0, "
                               f"got {version!r}") from None
        if not isinstance(url, str) or not url.strip():
            raise PackageError(f"update index {where}: release {version}: url must be a non-empty string, "
                               f"got {url!r}")
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise PackageError(f"update index {where}: release {version}: sha256 must be 64 hex digits, "
                               f"got {sha256!r}")
        releases.append(Release(str(version), _absolute(url.strip(), where), sha256.lower()))
    return tuple(releases)


def newest(releases: tuple[Release, ...] | list[Release]) -> Release | None:
    """The highest version; pre-releases (and dev releases) count only when the index has nothing else."""
    from packaging.version import Version

    final = [r for r in releases if not Version(r.version).is_prerelease]
    chosen = final or list(releases)
    return max(chosen, key=lambda r: Version(r.version), default=None)


def _absolute(url: str, index: str) -> str:
    """``url`` as written in the index, resolved against the index's own location when it is relative."""
    if "://" in url:
        return url
    scheme, sep, path = index.partition("://")
    if not sep:  # the index is a local path
        return url if url.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(index), url))
    if scheme.lower() in ("http", "https", "file"):
        return urljoin(index, url)
    # other fsspec URLs (s3://bucket/key): "/x" is the root of the bucket, "x" the index's folder
    root = path.split("/", 1)[0] if url.startswith("/") else posixpath.dirname(path)
    return f"{scheme}://{posixpath.normpath(root + '/' + url.lstrip('/'))}"


async def fetch_index(url: str, *, storage_options: Mapping[str, Any] | None = None,
                      timeout: float = 30.0) -> tuple[Release, ...]:
    """Reads the index at ``url`` (http(s) through aiohttp, anything else through fsspec: paths, file://, s3://)."""
    shown = redact_url(url)
    if url.split("://", 1)[0].lower() in ("http", "https") and "://" in url:
        raw = await _http(url, shown, dict((storage_options or {}).get("http") or {}), timeout)
    else:
        raw = await asyncio.wait_for(asyncio.to_thread(_fsspec, url, shown, storage_options), timeout)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PackageError(f"update index {shown}: not JSON ({e}); it must be {_FORMAT}") from None
    return parse_index(data, shown)


async def _http(url: str, shown: str, options: dict[str, Any], timeout: float) -> bytes:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, headers=options.get("headers")) as response:
                if response.status != 200:
                    raise PackageError(f"update index {shown}: HTTP {response.status}; check the manifest's "
                                       "update_url")
                raw = b""
                async for chunk in response.content.iter_chunked(64 * 1024):  # read(n) may stop short of n
                    raw += chunk
                    if len(raw) > MAX_INDEX_BYTES:
                        break
    except (TimeoutError, aiohttp.ClientError) as e:
        raise PackageError(f"update index {shown}: cannot fetch it ({type(e).__name__}: {e})") from None
    return _bounded(raw, shown)


def _fsspec(url: str, shown: str, storage_options: Mapping[str, Any] | None) -> bytes:
    import fsspec

    protocol = url.split("://", 1)[0].lower() if "://" in url else "file"
    try:
        with fsspec.open(url, "rb", **dict((storage_options or {}).get(protocol) or {})) as handle:
            raw = handle.read(MAX_INDEX_BYTES + 1)
    except (OSError, ValueError, ImportError) as e:
        raise PackageError(f"update index {shown}: cannot read it ({type(e).__name__}: {e})") from None
    return _bounded(raw, shown)


def _bounded(raw: bytes, shown: str) -> bytes:
    if len(raw) > MAX_INDEX_BYTES:
        raise PackageError(f"update index {shown}: larger than {MAX_INDEX_BYTES} bytes; an index lists releases, "
                           "not their content")
    return raw


# ---- checks and their cache ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateCheck:
    """What ``plugins outdated`` found for one installed plugin."""

    plugin_id: str
    current: str  # the installed version
    update_url: str
    latest: Release | None  # None: the index lists nothing, or could not be read (``error``)
    checked_at: float
    error: str | None = None

    @property
    def update_available(self) -> bool:
        from packaging.version import Version

        return self.latest is not None and Version(self.latest.version) > Version(self.current)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "update_available": self.update_available}


async def check_update(plugin_id: str, current: str, update_url: str, *,
                storage_options: Mapping[str, Any] | None = None, timeout: float = 30.0) -> UpdateCheck:
    """Never raises for a bad index: the check carries the error, so one broken index does not hide the others."""
    try:
        latest, error = newest(await fetch_index(update_url, storage_options=storage_options, timeout=timeout)), None
    except PackageError as e:
        latest, error = None, str(e)
    except TimeoutError:
        latest, error = None, f"update index {redact_url(update_url)}: no answer within {timeout:g}s"
    return UpdateCheck(plugin_id, current, update_url, latest, time.time(), error)


def write_checks(state_dir: Path, checks: list[UpdateCheck]) -> None:
    """Merged into the cache: a check of one plugin keeps what is known about the others."""
    known = read_checks(state_dir)
    known.update({c.plugin_id: c for c in checks})
    data = {"format_version": 1, "plugins": {pid: asdict(c) for pid, c in sorted(known.items())}}
    state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(state_dir / CHECKS_FILE, json.dumps(data, indent=2) + "\n")


def read_checks(state_dir: Path) -> dict[str, UpdateCheck]:
    """The cached checks by plugin id; a missing or damaged cache is an empty one (it is only a cache)."""
    try:
        data = json.loads((state_dir / CHECKS_FILE).read_text(encoding="utf-8"))
        checks = {}
        for pid, c in data["plugins"].items():
            latest = Release(**c["latest"]) if c.get("latest") else None
            checks[pid] = UpdateCheck(pid, str(c["current"]), str(c["update_url"]), latest,
                                      float(c["checked_at"]), c.get("error"))
        return checks
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
