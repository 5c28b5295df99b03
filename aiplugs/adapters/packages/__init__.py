"""Plugin packages: a plugin folder as one ``.zip`` or ``.tar.gz`` file (manifest.json at its root or inside its
single top folder), built reproducibly by ``pack`` and taken apart safely by ``unpack``.

``unpack`` refuses path escapes, links, special files, duplicates and bombs (see ``Limits``) before writing
anything, and leaves its staging folder empty when it refuses midway. ``read_manifest`` reads the manifest of a
package in memory; ``inspect_source`` sums up what a package would do before it is installed (``plugins inspect``;
``inspect_kept`` keeps the download for the install that follows), and ``check_update`` asks a plugin's release
index for a newer version (``plugins outdated``).
"""

from __future__ import annotations

from ._types import Limits, PackageError, PackageMismatch, Packed
from .archive import pack, read_manifest, sha256_file, unpack
from .index import Release, UpdateCheck, check_update, fetch_index, newest, parse_index, read_checks, write_checks
from .inspect import Inspection, ModelInfo, inspect_archive, inspect_kept, inspect_source
from .store import Fetched, PackageStore

__all__ = sorted(["Fetched", "Inspection", "Limits", "ModelInfo", "PackageError", "PackageMismatch", "PackageStore",
                  "Packed", "Release", "UpdateCheck", "check_update", "fetch_index", "inspect_archive",
                  "inspect_kept", "inspect_source", "newest", "pack", "parse_index", "read_checks", "read_manifest",
                  "sha256_file", "unpack", "write_checks"])
