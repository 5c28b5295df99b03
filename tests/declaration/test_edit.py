"""Edits of aiplugs.toml keep every comment and untouched line, show an exact diff, and never overwrite a change."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import tomllib
from pathlib import Path

import pytest

from aiplugs.declaration.edit import ConfigEdit, key_path
from aiplugs.errors import AiplugsError, ConfigError

REPO = Path(__file__).resolve().parents[2]
SHA = "e" * 64


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the shipped aiplugs.toml."""
    path = tmp_path / "aiplugs.toml"
    shutil.copy(REPO / "aiplugs.toml", path)
    return path


def changes(before: str, after: str) -> list[str]:
    """Every line that differs, as ``-old`` / ``+new``; all other lines are byte-for-byte the same, in order."""
    diff = difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True))
    return [line[0] + line[2:].rstrip("\n") for line in diff if line[0] in "+-"]


def line_of(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


def test_set_existing_value_changes_only_that_line(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.set("plugins.word-count.workers", 2)
    assert changes(original, edit.text()) == ["-workers = 1", "+workers = 2"]
    assert edit.text() == original.replace("[plugins.word-count]\nworkers = 1\n", "[plugins.word-count]\nworkers = 2\n")
    assert edit.get("plugins.word-count.workers") == 2 and edit.changed


def test_end_of_line_comment_is_kept_in_its_column(config: Path) -> None:
    original = config.read_text()
    old_line = line_of(original, "provision = ")
    edit = ConfigEdit.load(config)
    edit.set(("plugins", "sentiment", "provision"), "lazy")
    new_line = line_of(edit.text(), "provision = ")
    assert changes(original, edit.text()) == [f"-{old_line}", f"+{new_line}"]
    assert new_line.startswith('provision = "lazy" ') and new_line.index("#") == old_line.index("#")
    assert new_line[new_line.index("#"):] == old_line[old_line.index("#"):]


def test_toggling_enabled_keeps_the_comment_and_toggles_back_exactly(config: Path) -> None:
    original = config.read_text()
    old_line = line_of(original, "enabled = false")
    edit = ConfigEdit.load(config)
    edit.set("plugins.summarize.enabled", True)
    new_line = line_of(edit.text(), "enabled = ")
    assert changes(original, edit.text()) == [f"-{old_line}", f"+{new_line}"]
    assert new_line.index("#") == old_line.index("#") and new_line.startswith("enabled = true ")
    assert edit.get("plugins.summarize.enabled") is True
    edit.set("plugins.summarize.enabled", False)
    assert edit.text() == original and not edit.changed and edit.diff() == ""


def test_new_plugin_is_a_real_table_after_the_other_plugins(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.set("plugins.new-one", {"source": "https://x/y.zip", "sha256": SHA})
    assert edit.text() == original + f'\n[plugins.new-one]\nsource = "https://x/y.zip"\nsha256 = "{SHA}"\n'
    assert tomllib.loads(edit.text())["plugins"]["new-one"] == {"source": "https://x/y.zip", "sha256": SHA}
    one_by_one = ConfigEdit.load(config)
    one_by_one.set(("plugins", "new-one", "source"), "https://x/y.zip")
    one_by_one.set("plugins.new-one.sha256", SHA)
    assert one_by_one.text() == edit.text()


def test_new_plugin_goes_after_the_last_plugin_table_when_sections_follow(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[plugins.a]\nworkers = 1\n\n[api]\nport = 5000\n\n[plugins.b]\nworkers = 2\n\n[proxy]\ncsp = 'keep'\n")
    edit = ConfigEdit.load(path)
    edit.set("plugins.c.workers", 3)
    assert edit.text() == ("[plugins.a]\nworkers = 1\n\n[api]\nport = 5000\n\n[plugins.b]\nworkers = 2\n\n"
                           "[plugins.c]\nworkers = 3\n\n[proxy]\ncsp = 'keep'\n")


def test_keys_added_one_by_one_join_their_table_not_the_blank_line_before_the_next(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[plugins.a]\nworkers = 1\n\n[api]\nport = 5000\n")
    edit = ConfigEdit.load(path)
    edit.set("plugins.b.source", "https://x.example/b.zip")
    edit.set("plugins.b.sha256", "ab" * 32)
    edit.set("plugins.a.enabled", False)
    assert edit.text() == ("[plugins.a]\nworkers = 1\nenabled = false\n\n[plugins.b]\nsource = "
                           f"\"https://x.example/b.zip\"\nsha256 = \"{'ab' * 32}\"\n\n[api]\nport = 5000\n")


def test_first_plugin_in_a_file_without_plugins(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text('# mine\nplugins_dir = "p"\n\n[api]\nport = 5000 # fixed\n')
    edit = ConfigEdit.load(path)
    edit.set("plugins.word-count.workers", 2)
    assert edit.text() == '# mine\nplugins_dir = "p"\n\n[api]\nport = 5000 # fixed\n\n[plugins.word-count]\nworkers = 2\n'


def test_workers_range_is_an_inline_table(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.set("plugins.word-count.workers", {"min": 1, "max": 4})
    assert changes(original, edit.text()) == ["-workers = 1", "+workers = {min = 1, max = 4}"]
    assert edit.get("plugins.word-count.workers") == {"min": 1, "max": 4}


def test_a_settings_table_is_edited_in_place(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.set("plugins.sentiment.settings", {"threshold": 0.2})
    assert changes(original, edit.text()) == ["-threshold = 0.15", "+threshold = 0.2"]


def test_removing_a_plugin_takes_its_sub_tables_and_nothing_else(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.remove("plugins.sentiment")
    start, end = original.index("[plugins.sentiment]\n"), original.index("[plugins.summarize]\n")
    assert "[plugins.sentiment.settings]" in original[start:end]
    assert edit.text() == original[:start] + original[end:]
    assert "sentiment" not in tomllib.loads(edit.text())["plugins"]
    assert all(line[0] == "-" for line in changes(original, edit.text()))


def test_removing_the_last_plugin_leaves_no_trailing_blank_line(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    last = list(tomllib.loads(original)["plugins"])[-1]
    edit.remove(("plugins", last))
    before = original[: original.index(f"\n[plugins.{last}]\n") + 1].splitlines()
    while before and before[-1].startswith("#"):  # the comment right above a table goes with it
        before.pop()
    assert edit.text() == "\n".join(before).rstrip("\n") + "\n"


def test_removal_keeps_the_comments_of_the_next_table(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[plugins.a]\nworkers = 1\n# workers = 3 (kept with a)\n\n# about b\n[plugins.b]\nworkers = 2\n\n"
                    "# about c, which stays\n# (two lines)\n[plugins.c]\nworkers = 3 # three\n")
    edit = ConfigEdit.load(path)
    edit.remove("plugins.b")
    assert edit.text() == ("[plugins.a]\nworkers = 1\n# workers = 3 (kept with a)\n\n"
                           "# about c, which stays\n# (two lines)\n[plugins.c]\nworkers = 3 # three\n")
    edit.remove("plugins.a")
    assert edit.text() == "# about c, which stays\n# (two lines)\n[plugins.c]\nworkers = 3 # three\n"


def test_removing_keys_and_missing_keys(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.remove("plugins.sentiment.provision")
    assert changes(original, edit.text()) == [f"-{line_of(original, 'provision = ')}"]
    with pytest.raises(AiplugsError, match=r"plugins\.nothing: no such key"):
        edit.remove("plugins.nothing")
    edit.remove("plugins.nothing.workers", missing_ok=True)
    assert edit.get("plugins.nothing.workers", "unset") == "unset"


def test_diff_shows_exactly_the_changed_lines(config: Path) -> None:
    edit = ConfigEdit.load(config)
    assert edit.diff() == ""
    edit.set("plugins.word-count.workers", 2)
    diff = edit.diff().splitlines()
    assert diff[:2] == ["--- aiplugs.toml", "+++ aiplugs.toml"]
    assert [line for line in diff[2:] if line[:1] in "+-"] == ["-workers = 1", "+workers = 2"]


def test_save_writes_keeps_mode_and_parses(config: Path) -> None:
    os.chmod(config, 0o640)
    edit = ConfigEdit.load(config)
    edit.set("plugins.word-count.workers", 2)
    assert edit.save() is True
    assert config.read_text() == edit.text()
    assert tomllib.loads(config.read_text())["plugins"]["word-count"]["workers"] == 2
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert sorted(p.name for p in config.parent.iterdir()) == ["aiplugs.toml"]
    assert edit.save() is False and edit.diff() == ""  # the saved text is the new starting point
    edit.set("plugins.word-count.workers", 3)
    assert edit.save() is True and ConfigEdit.load(config).get("plugins.word-count.workers") == 3


def test_save_refuses_when_the_file_changed_on_disk(config: Path) -> None:
    edit = ConfigEdit.load(config)
    edit.set("plugins.word-count.workers", 2)
    theirs = config.read_text().replace("timeout_s = 60", "timeout_s = 30")
    config.write_text(theirs)
    with pytest.raises(AiplugsError, match="aiplugs.toml changed since it was read; nothing was written"):
        edit.save()
    assert config.read_text() == theirs
    config.unlink()
    with pytest.raises(AiplugsError, match="changed since it was read"):
        edit.save()
    assert not config.exists()


def test_revert_by_replacing_the_text(config: Path) -> None:
    original = config.read_text()
    edit = ConfigEdit.load(config)
    edit.remove("plugins.sentiment")
    edit.save()
    revert = ConfigEdit.load(config)
    revert.replace_text(original)
    assert [line for line in revert.diff().splitlines() if line.startswith("+")][1:3] == [
        "+[plugins.sentiment]", "+workers = 1"]
    revert.save()
    assert config.read_text() == original
    stale = ConfigEdit.load(config)
    stale.replace_text(original.replace("workers = 1", "workers = 5", 1))
    config.write_text(original + "\n")
    with pytest.raises(AiplugsError, match="changed since it was read"):
        stale.save()


def test_ids_with_dots_and_dashes_round_trip(config: Path) -> None:
    edit = ConfigEdit.load(config)
    edit.set(("plugins", "acme.summarize-v2", "workers"), 2)
    edit.set(("plugins", "acme.summarize-v2", "settings"), {"lang": "en"})
    assert '\n[plugins."acme.summarize-v2"]\nworkers = 2\nsettings = {lang = "en"}\n' in edit.text()
    edit.save()
    again = ConfigEdit.load(config)
    assert tomllib.loads(config.read_text())["plugins"]["acme.summarize-v2"]["workers"] == 2
    assert again.get('plugins."acme.summarize-v2".workers') == 2
    assert again.get(("plugins", "acme.summarize-v2", "settings")) == {"lang": "en"}
    again.remove(("plugins", "acme.summarize-v2"))
    assert again.text() == (REPO / "aiplugs.toml").read_text()


def test_key_paths() -> None:
    assert key_path("plugins.word-count.workers") == ("plugins", "word-count", "workers")
    assert key_path('plugins."a.b".workers') == ("plugins", "a.b", "workers")
    assert key_path(["plugins", "a.b"]) == ("plugins", "a.b")
    for bad in ("", "a b", "a = 1\nb", "a..b", ()):
        with pytest.raises(AiplugsError):
            key_path(bad)


def test_setting_below_a_value_is_refused(config: Path) -> None:
    edit = ConfigEdit.load(config)
    with pytest.raises(AiplugsError, match=r"plugins\.word-count\.workers is a value, not a table"):
        edit.set("plugins.word-count.workers.min", 1)
    with pytest.raises(AiplugsError, match="cannot be written in TOML"):
        edit.set("plugins.word-count.workers", None)


def test_crlf_files_keep_their_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_bytes(b"[plugins.a]\r\nworkers = 1 # one\r\n\r\n[plugins.b]\r\nworkers = 2\r\n")
    edit = ConfigEdit.load(path)
    edit.set("plugins.a.workers", 2)
    edit.set("plugins.c.workers", 3)
    edit.remove("plugins.b")
    edit.save()
    assert path.read_bytes() == b"[plugins.a]\r\nworkers = 2 # one\r\n\r\n[plugins.c]\r\nworkers = 3\r\n"


def test_missing_file_is_created_and_bad_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    edit = ConfigEdit.load(path)
    assert edit.text() == "" and edit.get("plugins", {}) == {}
    edit.set("plugins.word-count.workers", 2)
    assert edit.save() and path.read_text() == "[plugins.word-count]\nworkers = 2\n"
    path.write_text("[api]\nport = \n")
    with pytest.raises(ConfigError) as caught:
        ConfigEdit.load(path)
    problem = caught.value.problems[0]
    assert (problem.line, problem.col) == (2, 8) and "TOML syntax error" in problem.message
    path.write_bytes(b"# \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        ConfigEdit.load(path)
