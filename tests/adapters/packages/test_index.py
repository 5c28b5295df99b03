"""Release indexes: parsing (a bad index names what is wrong), the newest release by PEP 440, reading an index from
a path, file:// and a real HTTP server, and the cache ``plugins list`` reads."""

from __future__ import annotations

import asyncio
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from aiplugs.adapters.packages import (PackageError, Release, UpdateCheck, check_update, fetch_index, newest,
                                       parse_index, read_checks, write_checks)
from aiplugs.adapters.packages.index import CHECKS_FILE

SHA = "c" * 64


def releases(*versions: str) -> tuple[Release, ...]:
    return parse_index([{"version": v, "url": f"https://p.example/{v}.zip", "sha256": SHA} for v in versions],
                       "https://p.example/index.json")


def test_newest_by_pep_440_not_by_text() -> None:
    assert newest(releases("1.2.0", "1.10.0", "1.9.9")).version == "1.10.0"
    assert newest(releases("1.0", "1.0.1", "1.0.0.post1")).version == "1.0.1"


def test_pre_releases_only_when_there_is_nothing_else() -> None:
    assert newest(releases("1.0.0", "2.0.0rc1", "2.0.0.dev3", "1.1.0b1")).version == "1.0.0"
    assert newest(releases("2.0.0a1", "2.0.0b2", "1.0.0rc1")).version == "2.0.0b2"
    assert newest(releases()) is None


def test_release_urls_are_resolved_against_the_index() -> None:
    entries = [{"version": "1", "url": "pkgs/p-1.zip", "sha256": SHA}, {"version": "2", "url": "/abs/p-2.zip",
                                                                          "sha256": SHA.upper()}]
    assert [r.url for r in parse_index(entries, "https://h.example/p/index.json")] == [
        "https://h.example/p/pkgs/p-1.zip", "https://h.example/abs/p-2.zip"]
    assert parse_index(entries, "/srv/p/index.json")[0].url == "/srv/p/pkgs/p-1.zip"
    assert parse_index(entries, "file:///srv/p/index.json")[0].url == "file:///srv/p/pkgs/p-1.zip"
    assert [r.url for r in parse_index(entries, "s3://bucket/p/index.json")] == [
        "s3://bucket/p/pkgs/p-1.zip", "s3://bucket/abs/p-2.zip"]
    assert parse_index(entries, "x")[1].sha256 == SHA  # lower-cased
    absolute = [{"version": "1", "url": "s3://other/p.zip", "sha256": SHA}]
    assert parse_index(absolute, "https://h.example/i.json")[0].url == "s3://other/p.zip"


@pytest.mark.parametrize("data, message", [
    ({"releases": []}, r"must be a JSON list of releases.*got a JSON dict"),
    (["1.0.0"], r"release #0: must be an object, got '1.0.0'"),
    ([{"version": "banana", "url": "u", "sha256": SHA}], r"release #0: version must be a PEP 440 version.*'banana'"),
    ([{"version": "1.0", "sha256": SHA}], r"release 1.0: url must be a non-empty string, got None"),
    ([{"version": "1.0", "url": "u", "sha256": "abc"}], r"release 1.0: sha256 must be 64 hex digits, got 'abc'"),
])
def test_a_bad_index_says_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(PackageError, match=f"update index https://p.example/i.json: {message}"):
        parse_index(data, "https://p.example/i.json")


# ---- reading ---------------------------------------------------------------------------------------------------

def write_index(folder: Path, entries: object) -> Path:
    path = folder / "index.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


def test_fetch_from_a_path_and_file_url(tmp_path: Path) -> None:
    path = write_index(tmp_path, [{"version": "1.1.0", "url": "p-1.1.0.zip", "sha256": SHA}])
    assert asyncio.run(fetch_index(str(path))) == (Release("1.1.0", str(tmp_path / "p-1.1.0.zip"), SHA),)
    assert asyncio.run(fetch_index(path.as_uri()))[0].url == (tmp_path / "p-1.1.0.zip").as_uri()


def test_not_json_and_missing(tmp_path: Path) -> None:
    (tmp_path / "index.json").write_text("<html>nope</html>")
    with pytest.raises(PackageError, match=r"index.json: not JSON .* it must be a JSON list of releases"):
        asyncio.run(fetch_index(str(tmp_path / "index.json")))
    with pytest.raises(PackageError, match=r"absent.json: cannot read it \(FileNotFoundError"):
        asyncio.run(fetch_index(str(tmp_path / "absent.json")))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path):
    served = tmp_path / "www"
    served.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_over_http(http_dir) -> None:
    served, base = http_dir
    write_index(served, [{"version": "1.0.0", "url": "p-1.0.0.zip", "sha256": SHA},
                         {"version": "1.1.0", "url": f"{base}/x/p-1.1.0.zip", "sha256": SHA}])
    found = asyncio.run(fetch_index(f"{base}/index.json"))
    assert [r.url for r in found] == [f"{base}/p-1.0.0.zip", f"{base}/x/p-1.1.0.zip"]
    with pytest.raises(PackageError, match=r"absent.json: HTTP 404"):
        asyncio.run(fetch_index(f"{base}/absent.json"))
    (served / "big.json").write_bytes(b"[" + b" " * (1024 * 1024 + 10) + b"]")
    with pytest.raises(PackageError, match="larger than 1048576 bytes"):
        asyncio.run(fetch_index(f"{base}/big.json"))


def test_check_carries_errors_instead_of_raising(tmp_path: Path) -> None:
    path = write_index(tmp_path, [{"version": "1.0.0", "url": "a.zip", "sha256": SHA},
                                  {"version": "1.2.0", "url": "b.zip", "sha256": SHA}])
    found = asyncio.run(check_update("p", "1.0.0", str(path)))
    assert found.update_available and found.latest.version == "1.2.0" and found.error is None
    assert not asyncio.run(check_update("p", "1.2.0", str(path))).update_available
    assert not asyncio.run(check_update("p", "1.10.0", str(path))).update_available  # newer than the index
    broken = asyncio.run(check_update("p", "1.0.0", str(tmp_path / "absent.json")))
    assert broken.latest is None and not broken.update_available and "cannot read it" in broken.error


def test_cache_round_trip_merges_and_survives_damage(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert read_checks(state) == {}
    one = UpdateCheck("a", "1.0.0", "https://x/i.json", Release("1.1.0", "https://x/a.zip", SHA), 100.0)
    two = UpdateCheck("b", "2.0.0", "https://y/i.json", None, 101.0, "update index https://y/i.json: HTTP 500")
    write_checks(state, [one])
    write_checks(state, [two])  # a later check of b keeps what is known about a
    assert read_checks(state) == {"a": one, "b": two}
    assert one.to_dict()["update_available"] is True and two.to_dict()["update_available"] is False
    (state / CHECKS_FILE).write_text("{damaged")
    assert read_checks(state) == {}
