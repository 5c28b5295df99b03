"""Every dashboard page renders on the server (no JavaScript needed to read it), masks secrets, and its actions
are the library calls the CLI makes: edits of aiplugs.toml that keep comments, then the daemon's apply."""

from __future__ import annotations

import tomllib

import pytest

from aiplugs.adapters.packages import pack

from .conftest import ADMIN, CONFIG, OWN, PAGE, Dash

PAGES = ["/", "/ui/plugins", "/ui/models", "/ui/installs", "/ui/logs", "/ui/logs?source=echo", "/ui/metrics",
         "/ui/suggestions", "/login"]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_renders_with_its_guard_headers_and_no_secret(dash: Dash, path: str) -> None:
    dash.daemon.secret_in_status = ADMIN + " and " + PAGE  # a backend that printed them
    logs = dash.ctx.workers.log_dir
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "echo-0.log").write_text(f"started\nleaked {PAGE}\n")
    await dash.sign_in()
    page = await dash.client.get(path, follow_redirects=True)  # /login, signed in: on to the overview
    assert page.status_code == 200, page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert ADMIN not in page.text and PAGE not in page.text
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline: the CSP allows none


async def test_overview_plugins_and_models_show_the_status(dash: Dash) -> None:
    await dash.sign_in()
    overview = (await dash.client.get("/")).text
    assert "pid 4242" in overview and "127.0.0.1:8099" in overview and "/proxy.pac" in overview
    plugins = (await dash.client.get("/ui/plugins")).text
    assert 'data-plugin="echo" data-state="failed"' in plugins and "0/1" in plugins and "Traceback" in plugins
    assert "echo echoes" in plugins  # its tool
    assert 'id="disable-echo"' in plugins and 'id="restart-echo"' in plugins
    models = (await dash.client.get("/ui/models")).text
    assert "lexicon.tsv" in models and "missing" in models and 'action="/ui/models/lexicon.tsv/pull"' in models


async def test_disable_and_enable_edit_aiplugs_toml_keeping_comments_and_apply(dash: Dash) -> None:
    await dash.sign_in()
    config = dash.root / "aiplugs.toml"
    answer = await dash.client.post("/ui/plugins/base/disable", headers=OWN)
    assert answer.status_code == 303
    text = config.read_text()
    assert tomllib.loads(text)["plugins"]["base"]["enabled"] is False
    assert "# the declaration of the dashboard tests" in text and "workers = 1  # one is plenty" in text
    assert dash.daemon.calls == [("apply", {"config": str(config), "env": {}})]
    shown = await dash.client.get(answer.headers["location"])
    assert "Disabled base" in shown.text and 'role="status"' in shown.text
    assert "Disabled base" not in (await dash.client.get(answer.headers["location"])).text  # shown once

    await dash.client.post("/ui/plugins/base/enable", headers=OWN)
    assert config.read_text() == CONFIG  # tomlkit changed the value back in place


async def test_a_plugin_others_depend_on_is_not_disabled(dash: Dash) -> None:
    await dash.sign_in()
    answer = await dash.client.post("/ui/plugins/echo/disable", headers=OWN)
    shown = await dash.client.get(answer.headers["location"])
    assert "cannot disable echo" in shown.text and 'role="alert"' in shown.text
    assert (dash.root / "aiplugs.toml").read_text() == CONFIG and dash.daemon.calls == []


async def test_an_install_shows_the_permission_summary_then_starts_the_job(dash: Dash) -> None:
    await dash.sign_in()
    packed = pack(dash.root / "plugins" / "echo", dash.root / "dist")
    summary = await dash.client.post("/ui/installs/inspect", data={"uri": str(packed.path)}, headers=OWN)
    assert summary.status_code == 200
    assert "sees pages on:" in summary.text and "echo.example" in summary.text and packed.sha256 in summary.text
    assert 'id="install"' in summary.text
    started = await dash.client.post("/ui/installs", headers=OWN,
                                     data={"uri": str(packed.path), "id": "echo", "sha256": packed.sha256})
    assert started.status_code == 303 and started.headers["location"].endswith("#job-j2")
    assert dash.daemon.calls == [("install", {"uri": str(packed.path), "id": "echo", "sha256": packed.sha256})]


async def test_an_install_that_cannot_be_inspected_says_why(dash: Dash) -> None:
    await dash.sign_in()
    answer = await dash.client.post("/ui/installs/inspect", data={"uri": "missing.zip"}, headers=OWN)
    assert answer.status_code == 400 and "Cannot inspect missing.zip" in answer.text and 'id="install"' not in answer.text


async def test_jobs_are_listed_with_retry_and_actions_reach_the_daemon(dash: Dash) -> None:
    await dash.sign_in()
    page = (await dash.client.get("/ui/installs")).text
    assert 'id="job-j1"' in page and 'id="retry-j1"' in page and "nope" in page
    await dash.client.post("/ui/installs/j1/retry", headers=OWN)
    await dash.client.post("/ui/models/lexicon.tsv/pull", headers=OWN)
    assert dash.daemon.calls == [("retry", "j1"), ("pull", ["lexicon.tsv"])]


async def test_logs_render_the_last_lines_of_a_plugin(dash: Dash) -> None:
    logs = dash.ctx.workers.log_dir
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "echo-0.log").write_text("one\ntwo <b>bold</b>\nthree\n")
    await dash.sign_in()
    page = (await dash.client.get("/ui/logs", params={"source": "echo", "q": "two"})).text
    assert "two &lt;b&gt;bold&lt;/b&gt;" in page and ">one<" not in page and ">three<" not in page


async def test_suggestions_say_when_the_daemon_has_none_to_offer(dash: Dash) -> None:
    await dash.sign_in()
    page = (await dash.client.get("/ui/suggestions")).text
    assert ('id="not-available"' in page) != ('id="region-suggestions"' in page)
