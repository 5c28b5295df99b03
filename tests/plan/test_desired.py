"""The desired-state data: its JSON form and hashes (the same text as through dataclasses.asdict, so hashes recorded
in a state.json stay valid), and lookups by id."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from aiplugs.declaration.autotune import AutotuneConfig
from aiplugs.plan import DesiredState, PluginSpec, ToolSpec
from aiplugs.plan.desired import _hash, _jsonable


def hashed_through_asdict(data: Any) -> str:
    """How the hashes were computed before: asdict first, then _jsonable, then json.dumps."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    text = json.dumps(_jsonable(plain(data)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_json_form_and_hashes_match_asdict(desired: DesiredState) -> None:
    units = [*desired.plugins, *desired.workers, *desired.routes, *desired.relays, *desired.models,
             *desired.proxy.scripts, desired.proxy, desired.cloud, desired.metrics, desired]
    for unit in units:
        assert _jsonable(unit) == _jsonable(dataclasses.asdict(unit)), unit
        assert _hash(unit) == hashed_through_asdict(unit), unit
    mixed = {"path": Path("/x"), "key": SecretStr("s"), "autotune": AutotuneConfig(), "pairs": (("a", 1),),
             "tools": (ToolSpec("run"),), "none": None, "flag": True, "ratio": 0.5}
    assert _hash(mixed) == hashed_through_asdict(mixed)


def test_what_json_cannot_hold_is_refused_as_before() -> None:
    for data in ({"s": {1, 2}}, {"b": b"x"}):
        for how in (_hash, hashed_through_asdict):
            try:
                how(data)
            except TypeError as e:
                assert "is not JSON serializable" in str(e)
            else:
                raise AssertionError(f"{how.__name__} hashed {data!r}")


def test_lookups_by_id_find_the_first_of_an_id(desired: DesiredState) -> None:
    for plugin in desired.plugins:
        assert desired.plugin(plugin.id) is plugin
        assert desired.worker(plugin.id) is next((w for w in desired.workers if w.plugin_id == plugin.id), None)
        assert desired.route(plugin.id) is next(r for r in desired.routes if r.plugin_id == plugin.id)
    assert (desired.plugin("nope"), desired.worker("nope"), desired.route("nope")) == (None, None, None)
    first, again = desired.plugins[0], dataclasses.replace(desired.plugins[0], name="again")
    twice = dataclasses.replace(desired, plugins=(first, again))
    assert twice.plugin(first.id) is first and isinstance(again, PluginSpec)
