"""Plain-value pieces of the worker process: environment, log rotation, the frame codec."""

from __future__ import annotations

import json
import struct

import pytest

from aiplugs.adapters.workers.harness import MAX_FRAME, encode_frame
from aiplugs.adapters.workers.protocol import FrameLink
from aiplugs.adapters.workers.process import RotatingLog, worker_env

from .conftest import backend_spec


def test_worker_env_is_minimal() -> None:
    spec = backend_spec("echo_sync", env={"MODEL": "/m/x.bin"}, pass_env=("HF_HOME",))
    parent = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "SYSTEM_API_KEY": "sk-1",
              "AIPLUGS_CLOUD__API_KEY": "sk-2", "HF_HOME": "/cache", "AWS_SECRET_ACCESS_KEY": "x"}
    env = worker_env(spec, parent)
    assert env["MODEL"] == "/m/x.bin" and env["HF_HOME"] == "/cache" and env["PATH"] == "/usr/bin"
    assert env["AIPLUGS_PLUGIN_ID"] == "echo-sync" and env["PYTHONUNBUFFERED"] == "1"
    assert not {"SYSTEM_API_KEY", "AIPLUGS_CLOUD__API_KEY", "AWS_SECRET_ACCESS_KEY"} & set(env)


def test_declared_pass_env_may_include_a_secret() -> None:
    spec = backend_spec("echo_sync", pass_env=("SYSTEM_API_KEY",))
    assert worker_env(spec, {"SYSTEM_API_KEY": "sk-1"})["SYSTEM_API_KEY"] == "sk-1"


def test_rotating_log(tmp_path) -> None:
    log = RotatingLog(tmp_path / "logs" / "w-0.log", max_bytes=100, backups=2)
    for i in range(12):
        log.write(f"line {i:02d} ".encode() + b"x" * 20 + b"\n")
    log.close()
    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["w-0.log", "w-0.log.1", "w-0.log.2"]
    assert all(p.stat().st_size <= 100 for p in (tmp_path / "logs").iterdir())
    assert "line 11" in (tmp_path / "logs" / "w-0.log").read_text()


def _read(data: bytes) -> tuple[list[object], list[BaseException | None]]:
    """The messages a FrameLink (what both ends of the channel read with) takes from ``data``, then EOF."""
    got: list[object] = []
    ended: list[BaseException | None] = []
    link = FrameLink(lambda body: got.append(json.loads(body)), ended.append)
    buf = link.get_buffer(-1)
    buf[:len(data)] = data
    link.buffer_updated(len(data))
    link.connection_lost(None)
    return got, ended


def test_frames_round_trip() -> None:
    message = {"id": 3, "kind": "item", "value": {"text": "naïve ☃", "n": [1, 2.5, None]}}
    got, ended = _read(encode_frame(message) + encode_frame({"id": 4}))
    assert got == [message, {"id": 4}]
    assert ended == [None]  # then EOF


def test_oversized_frame_is_rejected() -> None:
    got, ended = _read(struct.pack("!I", MAX_FRAME + 1))
    assert got == [] and isinstance(ended[0], ValueError) and "exceeds" in str(ended[0])
    with pytest.raises(ValueError):
        encode_frame({"nan": float("nan")})
    assert json.loads(encode_frame({"a": 1})[4:]) == {"a": 1}
