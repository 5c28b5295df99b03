"""tomlpos.locate: 1-based (line, col) of every value, so errors can say aiplugs.toml:L:C."""

from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from aiplugs.declaration.tomlpos import locate


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

    text = (Path(__file__).resolve().parents[2] / "aiplugs.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    pos = locate(text)
    for keys, value in [(("proxy", "csp"), data["proxy"]["csp"]), (("plugins_dir",), data["plugins_dir"])]:
        line, col = pos[keys]
        assert lines[line - 1][col - 1 :].startswith(f'"{value}"')


KEYS = st.text(alphabet="ab-_. '\"\\=#[]{}é", min_size=1, max_size=6)
SCALARS = st.one_of(st.integers(-5, 5), st.booleans(), st.text(alphabet="ab\"'#=[]{},\n\\ ", max_size=8),
                    st.lists(st.integers(0, 3), max_size=3))
TREES = st.recursive(SCALARS, lambda inner: st.dictionaries(KEYS, inner, min_size=1, max_size=3), max_leaves=8)


def leaves(doc: dict, prefix: tuple[str, ...] = ()):  # type: ignore[no-untyped-def,type-arg]
    for key, value in doc.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, TREES, min_size=1, max_size=4))
def test_every_leaf_points_at_its_value(doc: dict) -> None:  # type: ignore[type-arg]
    text = tomli_w.dumps(doc, multiline_strings=True)
    assert tomllib.loads(text) == doc
    lines = text.splitlines()
    positions = locate(text)
    for path, value in leaves(doc):
        line, col = positions[path]
        shown = tomli_w.dumps({"x": value}, multiline_strings=True)[4:].split("\n")[0]
        assert lines[line - 1][col - 1 :].startswith(shown), (path, text)


def test_quoted_keys_with_escapes() -> None:
    text = '"a\\"b" = 1\n"c\\\\" = 2\n\'d\\e\' = 3\n"\\u00e9" = 4\n'
    assert tomllib.loads(text) == {'a"b': 1, "c\\": 2, "d\\e": 3, "é": 4}
    pos = locate(text)
    assert pos[('a"b',)] == (1, 10) and pos[("c\\",)] == (2, 9) and pos[("d\\e",)] == (3, 9) and pos[("é",)] == (4, 12)
