"""positions.locate: 1-based (line, col) of every value, so errors can say aiplugs.toml:L:C."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w
import tomlkit
from hypothesis import given, settings
from hypothesis import strategies as st
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import AoT, Array, InlineTable, Table

from aiplugs.declaration.positions import locate

ROOT = Path(__file__).resolve().parents[2]


def offset(text: str, position: tuple[int, int]) -> int:
    line, col = position
    return sum(len(row) + 1 for row in text.split("\n")[: line - 1]) + col - 1


def paths(data: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of parsed TOML, tables and array elements included."""
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield (*prefix, str(key))
        yield from paths(value, (*prefix, str(key)))


def navigate(document: Any, path: tuple[str, ...]) -> Any:
    node = document
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def assert_positions_exact(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """Every key path of ``text`` (as tomllib reads it) has a position, and the text there is the item itself.

    Values: their TOML text as tomlkit keeps it; arrays and inline tables just their bracket (their elements are
    checked one by one, and tomlkit renders ``{ a = 2000-01-01 }`` without the space before ``}``). Arrays of
    tables: ``[[``. Tables: a ``[`` header, or (implied tables) the position of something inside them.
    """
    positions = locate(text)
    assert set(positions) == set(paths(tomllib.loads(text))), text
    document = tomlkit.parse(text)
    starts = {path: offset(text, position) for path, position in positions.items()}
    for path, start in starts.items():
        node = navigate(document, path)
        if isinstance(node, AoT):
            assert text.startswith("[[", start), (path, text)
        elif isinstance(node, (InlineTable, Array)):
            assert text.startswith("{" if isinstance(node, InlineTable) else "[", start), (path, text)
        elif isinstance(node, (Table, OutOfOrderTableProxy)):
            inside = {at for other, at in starts.items() if other[: len(path)] == path and other != path}
            assert text.startswith("[", start) or start in inside, (path, text)
        else:
            shown = ("true" if node else "false") if isinstance(node, bool) else node.as_string()
            assert text.startswith(shown, start), (path, shown, text)
    return positions


# Ported from tests for the scanner this module replaces (aiplugs.tomlpos), same expectations.


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
    text = (ROOT / "aiplugs.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    pos = locate(text)
    for keys, value in [(("proxy", "csp"), data["proxy"]["csp"]), (("plugins_dir",), data["plugins_dir"])]:
        line, col = pos[keys]
        assert lines[line - 1][col - 1 :].startswith(f'"{value}"')


KEYS = st.text(alphabet="ab-_. '\"\\=#[]{}é", min_size=1, max_size=6)
SCALARS = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.text(alphabet="ab\"'#=[]{},\n\\ ", max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
)
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


# Beyond the old scanner.


def test_inline_tables_with_escaped_quotes_and_nesting() -> None:
    text = 'p = {a = "x\\"y", b = 2}\nq = {r = {s = "}", t = [1, {u = 2}]}, v.w = 3}\n'
    pos = assert_positions_exact(text)
    assert pos[("p", "b")] == (1, 22)
    assert pos[("q", "r")] == (2, 10)
    assert pos[("q", "r", "s")] == (2, 15)
    assert pos[("q", "r", "t", "1", "u")] == (2, 33)
    assert pos[("q", "v", "w")] == (2, 45)
    assert pos[("q", "v")] == (2, 45)  # implied by the dotted key: where its first value is


def test_arrays_of_tables_nest_and_the_array_maps_to_its_first_header() -> None:
    text = (
        "[plugins.x]\n"
        "[[plugins.x.models]]\nkey = 1\n"
        "[[plugins.x.models.files]]\nname = 'a'\n"
        "[[plugins.x.models]]\nkey = 2\n"
        "[[plugins.x.models.files]]\nname = 'b'\n"
        "[[plugins.x.models.files]]\nname = 'c'\n"
        "[plugins.x.models.extra]\nn = 3\n"
    )
    pos = assert_positions_exact(text)
    assert pos[("plugins", "x", "models")] == (2, 1)
    assert pos[("plugins", "x", "models", "0", "key")] == (3, 7)
    assert pos[("plugins", "x", "models", "1")] == (6, 1)
    assert pos[("plugins", "x", "models", "1", "files", "1", "name")] == (11, 8)
    assert pos[("plugins", "x", "models", "1", "extra", "n")] == (13, 5)


def test_dotted_keys_are_split_and_quoted_dots_are_not() -> None:
    text = '[plugins.word-count]\nenv.HF_HOME = "/x"\nenv . "a.b" = 1\n"a.b" = 2\nsite."x.y".z = 3\n'
    pos = assert_positions_exact(text)
    assert pos[("plugins",)] == (1, 1)  # implied by the header
    assert pos[("plugins", "word-count", "env")] == (2, 15)  # implied by the dotted keys: their first value
    assert pos[("plugins", "word-count", "env", "a.b")] == (3, 15)
    assert pos[("plugins", "word-count", "a.b")] == (4, 9)
    assert pos[("plugins", "word-count", "site", "x.y", "z")] == (5, 16)


def test_arrays_index_their_elements() -> None:
    text = 'hosts = [\n  "a",  # [x] = 1\n  "b",\n]\nmodels = [{name = "m", size = 1}]\n'
    pos = assert_positions_exact(text)
    assert pos[("hosts", "1")] == (3, 3)
    assert pos[("models", "0", "size")] == (5, 31)


def test_crlf_line_endings() -> None:
    text = '[api]\r\nport = 1\r\nnote = """\r\nx = 2\r\n"""\r\n[proxy]\r\nhost = "h"  # = [\r\n'
    pos = assert_positions_exact(text)
    assert pos[("api", "port")] == (2, 8)
    assert pos[("proxy",)] == (6, 1)
    assert pos[("proxy", "host")] == (7, 8)
    assert locate(text.replace("\r\n", "\n")) == pos


def test_columns_count_characters_not_bytes() -> None:
    text = 'p = {name = "héllo wörld 🙂", port = 1}\n"ключ" = {"ß" = 2}\n'
    pos = assert_positions_exact(text)
    assert pos[("p", "port")] == (1, 37)
    assert pos[("ключ", "ß")] == (2, 17)


def test_out_of_order_tables() -> None:
    text = "[a.b]\nx = 1\n[c]\ny = 2\n[a]\nz = 3\n[a.d]\nw = 4\n[[e]]\n[f]\n[e.g]\nv = 5\n"
    pos = assert_positions_exact(text)
    assert pos[("a",)] == (5, 1)  # declared by [a], though implied earlier by [a.b]
    assert pos[("a", "b", "x")] == (2, 5)
    assert pos[("a", "d", "w")] == (8, 5)
    assert pos[("e", "0", "g", "v")] == (12, 5)  # [e.g] extends the last [[e]], after [f]


def test_headers_with_spaces_comments_and_indent() -> None:
    text = '  [ api . "x y" ]  # [not] = a header\n\tport=1\n'
    pos = assert_positions_exact(text)
    assert pos[("api", "x y")] == (1, 3)
    assert pos[("api", "x y", "port")] == (2, 7)


def test_positions_come_from_the_parser_not_from_rendering() -> None:
    text = "x = { a = 2000-01-01 , b = 1 }\ny = [2000-01-01 , 1]\n"
    assert tomlkit.dumps(tomlkit.parse(text)) != text  # tomlkit drops the space after these dates
    pos = assert_positions_exact(text)
    assert pos[("x", "b")] == (1, 28)
    assert pos[("y", "1")] == (2, 19)


def test_invalid_toml_has_no_positions() -> None:
    assert locate("a = = 1\n") == {}
    assert locate("a = 1\na = 2\n") == {}


def test_every_toml_file_in_the_repository() -> None:
    for path in [ROOT / "aiplugs.toml", ROOT / "pyproject.toml", ROOT / "ruff.toml"]:
        assert assert_positions_exact(path.read_text(encoding="utf-8"))


NAMES = st.text(alphabet="az-_. '\"\\=#[]{}é🙂\t", min_size=1, max_size=5)
VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.floats(allow_nan=False),
    st.dates(),
    st.text(alphabet="ab\"'#=[]{},\n\r\t\\ é🙂", max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
)
DICTS = st.recursive(
    st.dictionaries(NAMES, VALUES, min_size=1, max_size=3),
    lambda inner: st.dictionaries(
        NAMES, st.one_of(VALUES, inner, st.lists(inner, min_size=1, max_size=2)), min_size=1, max_size=3
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(DICTS, st.booleans(), st.booleans())
def test_tomli_w_documents(doc: dict[str, Any], multiline: bool, crlf: bool) -> None:
    text = tomli_w.dumps(doc, multiline_strings=multiline)
    assert_positions_exact(text.replace("\n", "\r\n") if crlf else text)


@st.composite
def tomlkit_documents(draw: st.DrawFn) -> str:
    """Documents built with tomlkit: inline tables (nested), arrays of them, dotted keys, comments, indents."""
    document = tomlkit.document()
    fill(draw, document, depth=0, inline=False)
    return tomlkit.dumps(document)


def fill(draw: st.DrawFn, table: Any, depth: int, inline: bool) -> None:
    kinds = ["value"] + ["inline", "inlines"] * (depth < 3) + ([] if inline else ["dotted", "comment"])
    kinds += ["table", "aot"] * (not inline and depth < 2)
    for name in draw(st.lists(NAMES, min_size=1, max_size=4, unique=True)):
        kind = draw(st.sampled_from(kinds))
        if kind == "comment":
            table.add(tomlkit.comment(draw(st.text(alphabet='a=[]{}#" ', max_size=6))))
            continue
        key: Any = tomlkit.key([name, draw(NAMES)]) if kind == "dotted" else name
        if kind in ("value", "dotted"):
            item: Any = tomlkit.item(draw(VALUES))
        elif kind == "inlines":
            item = tomlkit.array()
            for _ in range(draw(st.integers(1, 2))):
                item.append(inline_table(draw, depth))
            item.multiline(draw(st.booleans()))
        elif kind == "inline":
            item = inline_table(draw, depth)
        else:
            item = tomlkit.table()
            fill(draw, item, depth + 1, inline=False)
            if kind == "aot":
                item = tomlkit.aot()
                item.append(tomlkit.table())
                fill(draw, item[0], depth + 1, inline=False)
        if not inline and kind not in ("table", "aot") and draw(st.booleans()):
            item.comment(draw(st.text(alphabet='a=[]{}#" ', max_size=6)))
            item.indent(draw(st.integers(0, 3)))
        table.add(key, item)


def inline_table(draw: st.DrawFn, depth: int) -> Any:
    table = tomlkit.inline_table()
    fill(draw, table, depth + 1, inline=True)
    return table


@settings(max_examples=300, deadline=None)
@given(tomlkit_documents(), st.booleans())
def test_tomlkit_documents(text: str, crlf: bool) -> None:
    assert_positions_exact(text.replace("\n", "\r\n") if crlf else text)
