"""Rich results: HTML tables with the expected rows, plain data back out, and views of a project with no daemon."""

from __future__ import annotations

import time

import pytest

from aiplugs import Session
from aiplugs.notebook import ConfigView, ModelsView, PlanView, PluginsView, StatusView
from aiplugs.plan import Action, ActionKind, Plan

from .conftest import clean_env, make_project

STATUS = {
    "format_version": "1", "healthy": False,
    "daemon": {"pid": 4242, "started_at": time.time() - 30, "uptime_s": 30.0},
    "api": {"host": "127.0.0.1", "port": 5001}, "proxy": {"host": "127.0.0.1", "port": 8081},
    "ca_cert": "/tmp/ca.pem", "config": "/tmp/aiplugs.toml",
    "plugins": [
        {"id": "word-count", "mode": "local", "state": "ready", "workers_desired": 2, "workers_ready": 2,
         "worker_pids": [1, 2], "restarts": 0, "last_error": None, "requests": 7, "errors": 1, "p50_ms": 2.5},
        {"id": "sentiment", "mode": "local", "state": "failed", "workers_desired": 1, "workers_ready": 0,
         "worker_pids": [], "restarts": 5, "last_error": "ImportError: <no module>\nmore", "requests": 0,
         "errors": 0, "p50_ms": None},
    ],
    "models": [{"key": "LEX", "keys": ["LEX"], "filename": "lex.tsv", "path": "/m/lex.tsv", "size": 910,
                "state": "corrupt", "used_by": ["sentiment"], "lazy": False}],
    "conditions": [{"type": "WorkersReady", "ok": False, "reason": "sentiment failed", "since": time.time()}],
}


def test_plan_html_has_a_coloured_row_per_change_and_the_summary():
    plan = Plan((Action(ActionKind.CREATE, "worker", "word-count#1", "scale 1→2"),
                 Action(ActionKind.DELETE, "model", "old.bin", "no longer declared"),
                 Action(ActionKind.NOOP, "api", "", "listening on 127.0.0.1:5000")))
    view = PlanView(plan)
    html = view._repr_html_()
    assert "worker word-count#1" in html and "scale 1→2" in html and "color:#1a7f37" in html
    assert "model old.bin" in html and "color:#cf222e" in html
    assert "listening on" not in html  # no-ops are hidden by default
    assert "listening on" in view._repr_html_(show_noop=True)
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in html
    assert view.to_dict() == plan.to_dict() and view.changes_present  # attribute access reaches the plan
    assert repr(view) == plan.to_text()


def test_plan_html_escapes_reasons():
    view = PlanView(Plan((Action(ActionKind.UPDATE, "relay", "x", "<script>alert(1)</script>"),)))
    assert "<script>" not in view._repr_html_() and "&lt;script&gt;" in view._repr_html_()


def test_status_html_has_addresses_plugin_and_model_rows_and_failed_conditions():
    view = StatusView(STATUS)
    html = view._repr_html_()
    for expected in ("pid 4242", "127.0.0.1:5001", "127.0.0.1:8081", "/tmp/ca.pem", "word-count", "2/2",
                     "sentiment", "0/1", "ImportError: &lt;no module&gt;", "lex.tsv", "corrupt", "WorkersReady",
                     "sentiment failed", "degraded"):
        assert expected in html, expected
    assert "more" not in html.split("ImportError")[1][:40]  # only the first line of an error
    assert view.to_dict() == STATUS and view.api == ("127.0.0.1", 5001) and not view.healthy
    assert view.plugins["sentiment"]["restarts"] == 5 and len(view.plugins) == 2
    assert "word-count" in repr(view)


def test_status_without_daemon():
    view = StatusView(None, "/somewhere/.aiplugs")
    assert not view.running and not view.healthy
    assert "No aiplugs daemon" in view._repr_html_() and "/somewhere/.aiplugs" in repr(view)
    assert view.to_dict() == {"format_version": "1", "healthy": False, "daemon": None,
                              "state_dir": "/somewhere/.aiplugs"}
    assert len(view.plugins) == 0


def test_table_views_index_and_convert():
    plugins = PluginsView(STATUS["plugins"])
    assert plugins[0]["id"] == "word-count" and plugins["sentiment"]["state"] == "failed"
    with pytest.raises(KeyError):
        plugins["nope"]
    assert plugins.to_dict() == STATUS["plugins"]
    models = ModelsView(STATUS["models"])
    assert models["lex.tsv"]["size"] == 910 and "sentiment" in models._repr_html_()


def test_to_pandas_is_optional():
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            PluginsView(STATUS["plugins"]).to_pandas()
    else:
        frame = PluginsView(STATUS["plugins"]).to_pandas()
        assert list(frame["id"]) == ["word-count", "sentiment"]


def test_offline_session_views(tmp_path, monkeypatch):
    config = make_project(tmp_path / "p")
    monkeypatch.setenv("AIPLUGS_PLUGINS__WORD_COUNT__WORKERS", "3")
    s = Session(config)  # reads os.environ: the override above shows up with its origin
    view = s.config
    assert isinstance(view, ConfigView)
    assert view["plugins.word-count.workers"] == 3
    assert view.origin("plugins.word-count.workers") == "env AIPLUGS_PLUGINS__WORD_COUNT__WORKERS"
    assert view.origin("proxy.csp").endswith(tuple(f":{n}" for n in range(1, 100)))  # file:line:col
    assert view.origin("api.max_body_bytes") == "default"
    html = view._repr_html_()
    assert "plugins.word-count.workers" in html and "env AIPLUGS_PLUGINS__WORD_COUNT__WORKERS" in html
    plan = s.plan()
    text = repr(plan)
    assert "+ worker word-count#2" in text and "+ model sentiment-lexicon-v1.tsv" in text
    assert "worker word-count#2" in plan._repr_html_()
    assert plan.to_dict()["summary"]["add"] >= 6
    assert s.plugins["word-count"]["workers_desired"] == 3 and s.plugins["word-count"]["state"] == "stopped"
    assert s.models["sentiment-lexicon-v1.tsv"]["state"] == "missing"
    assert not s.status().running


def test_offline_model_pull_and_verify(tmp_path):
    s = Session(make_project(tmp_path / "p"), env=clean_env())
    models = s.pull_models(progress=False)  # no daemon: pulled in this process
    assert models["sentiment-lexicon-v1.tsv"]["state"] == "ready"
    target = s.desired.models[0].path
    target.write_bytes(b"tampered")
    verify = s.verify_models()
    assert not verify.ok and verify[0]["state"] == "corrupt" and verify[0]["drift"]
    assert "corrupt" in verify._repr_html_()
