"""The event catalogue is the whole truth: every publish in the package names a catalogue event with exactly its
fields, and the documented table lists every event."""

from __future__ import annotations

import ast
from pathlib import Path

from aiplugs.events import catalogue
from aiplugs.events.catalogue import CATALOGUE, EventType

PACKAGE = Path(catalogue.__file__).resolve().parents[1]


def publish_calls() -> list[tuple[str, int, str, set[str]]]:
    """(file, line, event constant or literal, keyword names) of every ``.publish(...)`` in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "publish" and node.args):
                continue
            first = node.args[0]
            names = {first.id} if isinstance(first, ast.Name) else set()
            if isinstance(first, ast.IfExp):
                names = {n.id for n in (first.body, first.orelse) if isinstance(n, ast.Name)}
            if isinstance(first, ast.Constant):
                names = {f"literal:{first.value}"}
            for name in names or {"<expression>"}:
                found.append((str(path.relative_to(PACKAGE)), node.lineno, name, {k.arg for k in node.keywords}))
    return found


def test_every_publish_names_a_catalogue_event_with_its_fields() -> None:
    calls = publish_calls()
    assert len(calls) > 15
    problems = []
    for where, line, name, fields in calls:
        kind = getattr(catalogue, name, None)
        if not isinstance(kind, EventType):
            problems.append(f"{where}:{line}: publishes {name}, not a catalogue constant")
        elif None not in fields and fields != set(kind.fields):
            problems.append(f"{where}:{line}: {kind} with {sorted(fields)}, the catalogue says {list(kind.fields)}")
    assert not problems, "\n".join(problems)


def test_the_documented_table_lists_every_event() -> None:
    table = {line.split()[0] for line in catalogue.__doc__.splitlines() if "." in line.split(" ")[0]}
    assert table == set(CATALOGUE)


def test_topics() -> None:
    assert catalogue.MODEL_READY.topic == "model" and catalogue.MODEL_READY == "model.ready"
