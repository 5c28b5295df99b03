"""Post/redirect/get: a message shown once on the page a redirect lands on, and redirects that stay on this server."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from aiplugs.adapters.router.dashboard.forms import Flash, local_path, redirect


@pytest.mark.parametrize("target,ours", [("/ui/plugins", True), ("/ui/installs#job-1", True), ("//evil.example", False),
                                         ("/\\evil.example", False), ("https://evil.example/", False), ("ui", False)])
def test_only_paths_of_this_server_are_redirect_targets(target: str, ours: bool) -> None:
    assert local_path(target) is ours


def test_a_message_waits_once_for_the_page_and_the_url_carries_only_its_id() -> None:
    flash = Flash(keep=2)
    answer = redirect(flash, "/ui/installs#job-7", "ok", "Install job 7 queued.")
    location = answer.headers["location"]
    assert answer.status_code == 303 and location.startswith("/ui/installs?done=") and location.endswith("#job-7")
    assert "queued" not in location
    key = location.split("done=")[1].split("#")[0]
    request = SimpleNamespace(query_params={"done": key})
    message = flash.take(request)  # type: ignore[arg-type]
    assert message is not None and message.text == "Install job 7 queued." and message.level == "ok"
    assert flash.take(request) is None  # type: ignore[arg-type]
    elsewhere = redirect(flash, "https://evil.example/", "error", "x").headers["location"]
    assert elsewhere.startswith("/?done=")
