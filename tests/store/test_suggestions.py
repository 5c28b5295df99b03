"""The suggestion store: history, settings' change times, rejections and autoscaled counts survive a new store
(a daemon restart); a damaged file is set aside and memory starts again."""

from __future__ import annotations

from pathlib import Path

from aiplugs.store.suggestions import SuggestionStore, suggestions_path

SUGGESTION = {"id": "scale-up:p:abcdef", "plugin": "p", "rule": "scale-up", "title": "scale p up: 1 → 2 workers",
              "change": {"plugin": "p", "setting": "workers", "old": 1, "new": 2}}


def test_history_settings_rejections_and_scaling_survive_a_new_store(tmp_path: Path) -> None:
    store = SuggestionStore(suggestions_path(tmp_path))
    entry = store.record_apply(SUGGESTION, 100.0, "-workers = 1\n+workers = 2\n", "workers = 1\n", "aa", "bb",
                               {"calls": 10})
    assert (entry.id, entry.suggestion_id, entry.verdict, entry.to_dict()["revertible"]) == (1, SUGGESTION["id"],
                                                                                           None, True)
    assert store.observe_settings({("p", "workers"): 1}, 50.0) == {}  # first sight: nothing to cool down from
    assert store.observe_settings({("p", "workers"): 1}, 60.0) == {}
    assert store.observe_settings({("p", "workers"): 2}, 70.0) == {("p", "workers"): 70.0}
    store.reject({**SUGGESTION, "id": "cache:p:000000"}, 80.0)
    store.set_scaling("q", 3, "1 → 3: load", 90.0)

    again = SuggestionStore(suggestions_path(tmp_path))
    assert [e.id for e in again.unverified()] == [1]
    again.set_verdict(1, {"calls": 20}, "improved", "p95 down", 200.0)
    assert again.unverified() == [] and again.entry(1).metrics_after == {"calls": 20}
    again.set_reverted(1, 300.0, "-workers = 2\n+workers = 1\n")
    assert again.entries()[0].reverted_at == 300.0 and not again.entries()[0].to_dict()["revertible"]
    assert again.observe_settings({("p", "workers"): 2}, 400.0) == {("p", "workers"): 70.0}
    assert again.rejections() == {"cache:p:000000": 80.0}
    assert again.scaling() == {"q": (3, "1 → 3: load", 90.0)}


def test_a_damaged_file_is_set_aside(tmp_path: Path) -> None:
    path = suggestions_path(tmp_path)
    path.write_bytes(b"this is not a database" * 100)
    store = SuggestionStore(path)
    assert store.entries() == [] and store.rejections() == {}
    assert (tmp_path / "suggestions.sqlite.broken").read_bytes().startswith(b"this is not")
