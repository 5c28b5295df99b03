"""Secrets kept in the state dir: the admin token (control API) and the page token (page-facing API)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import AiplugsError
from ..util.atomic import atomic_write_text

__all__ = ["ADMIN_TOKEN_FILE", "PAGE_TOKEN_FILE", "load_or_create_token", "read_token"]

ADMIN_TOKEN_FILE = "admin.token"
PAGE_TOKEN_FILE = "page.token"


def read_token(state_dir: Path, name: str = ADMIN_TOKEN_FILE) -> str | None:
    """The token, or None when there is none yet; a damaged token file is an error saying what to do."""
    path = state_dir / name
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, OSError) as e:
        why = "not ASCII text" if isinstance(e, UnicodeDecodeError) else (e.strerror or str(e))
        raise AiplugsError(f"{path}: token file is damaged ({why}); stop the daemon (`aiplugs down`), delete the "
                           "file and run `aiplugs apply`: a new token is made") from None


def load_or_create_token(state_dir: Path, name: str = ADMIN_TOKEN_FILE) -> str:
    """The token in ``state_dir/name`` (mode 0600), created on first use."""
    existing = read_token(state_dir, name)
    if existing:
        path = state_dir / name
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    atomic_write_text(state_dir / name, token + "\n", mode=0o600)
    return token
