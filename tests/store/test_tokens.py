"""Tokens in the state dir: created once, private (0600), stable, re-tightened if loosened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aiplugs.store.tokens import ADMIN_TOKEN_FILE, PAGE_TOKEN_FILE, load_or_create_token, read_token


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    state_dir = tmp_path / ".aiplugs"
    assert read_token(state_dir) is None
    token = load_or_create_token(state_dir)
    assert len(token) >= 40
    path = state_dir / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert load_or_create_token(state_dir) == token == read_token(state_dir)
    assert sorted(p.name for p in state_dir.iterdir()) == [ADMIN_TOKEN_FILE]


def test_page_and_admin_tokens_differ(tmp_path: Path) -> None:
    assert load_or_create_token(tmp_path, PAGE_TOKEN_FILE) != load_or_create_token(tmp_path, ADMIN_TOKEN_FILE)


def test_loose_permissions_are_tightened(tmp_path: Path) -> None:
    token = load_or_create_token(tmp_path)
    os.chmod(tmp_path / ADMIN_TOKEN_FILE, 0o644)
    assert load_or_create_token(tmp_path) == token
    assert stat.S_IMODE((tmp_path / ADMIN_TOKEN_FILE).stat().st_mode) == 0o600


def test_empty_token_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / ADMIN_TOKEN_FILE).write_text("\n")
    assert read_token(tmp_path) is None
    token = load_or_create_token(tmp_path)
    assert token and read_token(tmp_path) == token
