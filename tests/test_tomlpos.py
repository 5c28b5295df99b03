"""tomlpos.locate: 1-based (line, col) of every value, so errors can say aiplugs.toml:L:C."""

from __future__ import annotations

import tomllib

from aiplugs.tomlpos import locate


def test_top_level_keys_and_tables() -> None:
    text = 'a = 1\n\n# comment\n[api]\nport   = 5000\n  host = "x"  # trailing\n'
    pos = locate(text)
    assert pos[("a",)] == (1, 5)
    assert pos[("api",)] == (4, 1)
    assert pos[("api", "port")] == (5, 10)
    assert pos[("api", "host")] == (6, 10)


def test_dotted_and_quoted_keys() -> None:
    text = '[plugins.word-count]\nenv.HF_HOME = "/x"\n"odd key" = 1\n[plugins."dotted.id"]\nworkers = 2\n'
    pos = locate(text)
    assert pos[("plugins", "word-count")] == (1, 1)
    assert pos[("plugins", "word-count", "env", "HF_HOME")] == (2, 15)
    assert pos[("plugins", "word-count", "odd key")] == (3, 13)
    assert pos[("plugins", "dotted.id", "workers")] == (5, 11)


def test_inline_tables_record_their_keys() -> None:
    text = 'api = { host = "127.0.0.1", port = 5001 }\n'
    pos = locate(text)
    assert pos[("api",)] == (1, 7)
    assert pos[("api", "host")] == (1, 16)
    assert pos[("api", "port")] == (1, 36)


def test_multiline_values_do_not_shift_later_keys() -> None:
    text = (
        "passthrough = [\n"
        '  "a.example",  # a comment with = sign\n'
        '  "b.example",\n'
        "]\n"
        'doc = """\n'
        "port = 1\n"
        '"""\n'
        "after = 3\n"
        "s = 'x = [' \n"
        "last = 4\n"
    )
    assert tomllib.loads(text)["after"] == 3
    pos = locate(text)
    assert pos[("passthrough",)] == (1, 15)
    assert ("port",) not in pos
    assert pos[("after",)] == (8, 9)
    assert pos[("last",)] == (10, 8)


def test_arrays_of_tables_are_indexed() -> None:
    text = "[[item]]\nname = 1\n[[item]]\nname = 2\n"
    pos = locate(text)
    assert pos[("item", "0", "name")] == (2, 8)
    assert pos[("item", "1", "name")] == (4, 8)
    assert pos[("item",)] == (1, 1)


def test_shipped_config_positions_match_its_values() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "aiplugs.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    pos = locate(text)
    for keys, value in [(("proxy", "csp"), data["proxy"]["csp"]), (("plugins_dir",), data["plugins_dir"])]:
        line, col = pos[keys]
        assert lines[line - 1][col - 1 :].startswith(f'"{value}"')
