"""state.json: atomic writes, locked updates across processes, pid checks, and observing what runs."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.store.state import (
    EndpointRecord,
    StateDamaged,
    StateFile,
    WorkerRecord,
    read_state,
    state_path,
    update_state,
    write_state,
)


def test_missing_state_is_empty(tmp_path: Path) -> None:
    assert read_state(tmp_path / "nothing") == StateFile()


def test_write_then_read_round_trips_with_private_modes(tmp_path: Path) -> None:
    state_dir = tmp_path / ".aiplugs"
    state = StateFile(api=EndpointRecord(host="127.0.0.1", port=5001), rules_hash="r",
                      workers={"p": WorkerRecord(config_hash="h", pids=[1, None])}, routes={"c": "h2"})
    write_state(state_dir, state)
    assert read_state(state_dir) == state
    assert stat.S_IMODE(state_path(state_dir).stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert [p.name for p in state_dir.iterdir()] == ["state.json"]  # no temp files left behind
    assert json.loads(state_path(state_dir).read_text())["format_version"] == 1


def test_unknown_fields_are_ignored_for_forward_compatibility(tmp_path: Path) -> None:
    tmp_path.joinpath("state.json").write_text('{"format_version": 1, "future": {"x": 1}, "rules_hash": "r"}')
    assert read_state(tmp_path).rules_hash == "r"


@pytest.mark.parametrize("content", [b"{not json", b'{"format_version": 99}', b'{"api": {"host": 1}}',
                                     b'{"api": ', b"\xff\xfe\x00garbage", "dir"])
def test_damaged_state_is_one_clear_error_naming_the_file_and_the_way_out(tmp_path: Path, content) -> None:
    path = tmp_path / "state.json"
    if content == "dir":
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(StateDamaged) as info:
        read_state(tmp_path)
    message = str(info.value)
    assert isinstance(info.value, AiplugsError) and str(path) in message and "damaged" in message
    assert "mv " in message and "aiplugs down" in message


def test_a_recovering_writer_replaces_a_damaged_file_and_keeps_it_aside(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_bytes(b"\x00\x01 cut sh")
    with pytest.raises(StateDamaged):
        update_state(tmp_path, lambda s: setattr(s, "rules_hash", "r"))
    update_state(tmp_path, lambda s: setattr(s, "rules_hash", "r"), recover=True)
    assert read_state(tmp_path).rules_hash == "r"
    assert (tmp_path / "state.json.broken").read_bytes() == b"\x00\x01 cut sh"


def test_update_state_is_serialised_across_threads(tmp_path: Path) -> None:
    def add(n: int) -> None:
        update_state(tmp_path, lambda s: s.routes.__setitem__(f"t{n}", str(n)))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_state(tmp_path).routes == {f"t{n}": str(n) for n in range(16)}


UPDATER = """
import sys
from pathlib import Path
from aiplugs.store.state import update_state
name = sys.argv[2]
for i in range(15):
    update_state(Path(sys.argv[1]), lambda s: s.routes.__setitem__(f"{name}{i}", "x"))
"""


def test_update_state_is_serialised_across_processes(tmp_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", UPDATER, str(tmp_path), name]) for name in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert len(read_state(tmp_path).routes) == 30
