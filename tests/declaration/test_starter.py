"""The starter aiplugs.toml and the example plugins `aiplugs init` writes (plain values, a temp folder)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.declaration.starter import example_plugins, example_sources, init_project, starter_text

REPO = Path(__file__).resolve().parents[2]


def test_the_examples_are_the_repository_s_own() -> None:
    assert starter_text(with_examples=True) == (REPO / "aiplugs.toml").read_text()
    assert example_plugins() == sorted(p.name for p in (REPO / "plugins").iterdir() if p.is_dir())
    assert example_sources() == sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())
    assert "page-topic" in example_sources()


def test_without_examples_the_plugin_tables_go_and_the_comments_stay() -> None:
    text = starter_text(with_examples=False)
    data = tomllib.loads(text)
    assert "plugins" not in data
    assert data["proxy"]["intercept"] == "matched"
    assert "# amend | strip | keep" in text and "# [plugins.my-plugin]" in text


def test_init_refuses_before_writing_anything(tmp_path: Path) -> None:
    (tmp_path / "plugins" / "word-count").mkdir(parents=True)
    with pytest.raises(AiplugsError, match="word-count"):
        init_project(tmp_path / "aiplugs.toml", examples=True)
    assert not (tmp_path / "aiplugs.toml").exists()
    assert [p.name for p in (tmp_path / "plugins").iterdir()] == ["word-count"]


def test_init_with_examples_copies_whole_folders(tmp_path: Path) -> None:
    result = init_project(tmp_path / "project" / "aiplugs.toml", examples=True)
    assert [p.relative_to(tmp_path / "project").as_posix() for p in result.plugins] == (
        [f"plugins/{name}" for name in example_plugins()] + [f"examples/{name}" for name in example_sources()])
    for folder in result.plugins:
        source = REPO / folder.parent.name / folder.name  # the same path beside aiplugs.toml as in the repository
        expected = sorted(p.relative_to(source) for p in source.rglob("*") if "__pycache__" not in p.parts)
        assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == expected
    assert not [p for p in (tmp_path / "project" / "plugins").iterdir() if p.name.startswith(".")]
    assert not [p for p in (tmp_path / "project" / "examples").iterdir() if p.name.startswith(".")]
