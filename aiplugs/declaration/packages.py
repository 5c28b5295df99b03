"""Where installed plugin packages live, and which are there: the ``plugins_dir`` of plugins with a ``source``.

``<state_dir>/packages/<id>/<version>-<sha12>/`` holds one unpacked version (versions side by side), with a
marker file the installer writes last: a folder without a readable marker is an unfinished install, not a
package. The desired state uses the version whose sha256 the declaration or ``aiplugs.lock`` wants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MARKER", "InstalledPackage", "find_installed", "installed_packages", "package_dir", "packages_root",
           "resolve_source"]

PACKAGES_DIR = "packages"
MARKER = ".aiplugs-package.json"


@dataclass(frozen=True)
class InstalledPackage:
    plugin_id: str
    version: str
    sha256: str
    source: str
    size: int
    path: Path  # the plugin's folder (manifest.json inside)


def packages_root(state_dir: Path) -> Path:
    return state_dir / PACKAGES_DIR


def package_dir(state_dir: Path, plugin_id: str, version: str, sha256: str) -> Path:
    return packages_root(state_dir) / plugin_id / f"{version}-{sha256[:12]}"


def _read(folder: Path, plugin_id: str) -> InstalledPackage | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return InstalledPackage(plugin_id, str(data["version"]), str(data["sha256"]), str(data["source"]),
                                int(data["size"]), folder)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def installed_packages(state_dir: Path, plugin_id: str | None = None) -> list[InstalledPackage]:
    """Every complete install (of one plugin, or of all), sorted by plugin id then folder name."""
    root = packages_root(state_dir)
    ids = [plugin_id] if plugin_id is not None else sorted(
        p.name for p in _children(root) if not p.name.startswith("."))
    found = []
    for pid in ids:
        for folder in sorted(_children(root / pid)):
            if not folder.name.startswith(".") and (package := _read(folder, pid)) is not None:
                found.append(package)
    return found


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []


def find_installed(state_dir: Path, plugin_id: str, sha256: str | None) -> InstalledPackage | None:
    if sha256 is None:
        return None
    return next((p for p in installed_packages(state_dir, plugin_id) if p.sha256 == sha256), None)


def resolve_source(source: str, config_dir: Path) -> str:
    """A URL as it is; a path (relative to aiplugs.toml's folder) made absolute."""
    if "://" in source:
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else (config_dir / path).resolve())
