"""Plugin packages: a plugin folder as one ``.zip`` or ``.tar.gz`` file (manifest.json at its root or inside its
single top folder), built reproducibly by ``pack`` and taken apart safely by ``unpack``.

``unpack`` refuses path escapes, links, special files, duplicates and bombs (see ``Limits``) before writing
anything, and leaves its staging folder empty when it refuses midway. ``read_manifest`` reads the manifest of a
package in memory, for ``plugins inspect``.
"""

from __future__ import annotations

from ._types import Limits, PackageError, Packed
from .archive import pack, read_manifest, sha256_file, unpack

__all__ = sorted(["Limits", "PackageError", "Packed", "pack", "read_manifest", "sha256_file", "unpack"])
