"""The install-job routes on the real router, with a plain-object controller: statuses (202, 404, 409, 400), what
reaches the controller, the admin token, and secrets kept out of the answers."""

from __future__ import annotations

from typing import Any

import pytest

from aiplugs.errors import AiplugsError
from aiplugs.runtime.jobs import JobConflict, JobNotFound

from .conftest import ADMIN, PAGE


class JobsController:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def start_install(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("start", body))
        if "uri" not in body:
            raise AiplugsError("\"uri\" must be the package's URL or path, got None")
        return {"job_id": "j1", "job": {"job_id": "j1", "state": "queued"}}

    async def install_jobs(self) -> dict[str, Any]:
        self.calls.append(("list", None))
        return {"jobs": [{"job_id": "j2"}, {"job_id": "j1"}]}

    async def install_job(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("get", job_id))
        if job_id != "j1":
            raise JobNotFound(f"no install job {job_id!r}")
        return {"job_id": "j1", "state": "failed", "error": f"fetch failed with {ADMIN}"}

    async def cancel_install(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("cancel", job_id))
        if job_id == "done":
            raise JobConflict("job done is succeeded: too late to cancel")
        return {"job_id": job_id, "state": "cancelled"}

    async def retry_install(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("retry", job_id))
        return {"job_id": "j3", "job": {"job_id": "j3", "retry_of": job_id}}


async def test_without_a_daemon_the_routes_are_unavailable(router):
    r = await router.client.get("/api/installs", headers=router.admin())
    assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable"


async def test_each_route_reaches_the_controller_with_its_status(router):
    controller = router.ctx.control = JobsController()
    r = await router.client.post("/api/installs", json={"uri": "https://x/p.zip", "sha256": "a" * 64},
                                 headers=router.admin())
    assert r.status_code == 202 and r.json()["job_id"] == "j1"
    r = await router.client.get("/api/installs", headers=router.admin())
    assert r.status_code == 200 and [j["job_id"] for j in r.json()["jobs"]] == ["j2", "j1"]
    r = await router.client.get("/api/installs/j1", headers=router.admin())
    assert r.status_code == 200 and r.json()["state"] == "failed"
    r = await router.client.post("/api/installs/j1/cancel", headers=router.admin())
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    r = await router.client.post("/api/installs/j1/retry", headers=router.admin())
    assert r.status_code == 202 and r.json()["job"]["retry_of"] == "j1"
    assert controller.calls == [("start", {"uri": "https://x/p.zip", "sha256": "a" * 64}), ("list", None),
                                ("get", "j1"), ("cancel", "j1"), ("retry", "j1")]


async def test_errors_keep_their_status(router):
    router.ctx.control = JobsController()
    r = await router.client.get("/api/installs/nope", headers=router.admin())
    assert r.status_code == 404 and r.json()["error"] == {"type": "JobNotFound", "message": "no install job 'nope'"}
    r = await router.client.post("/api/installs/done/cancel", headers=router.admin())
    assert r.status_code == 409 and "too late" in r.json()["error"]["message"]
    r = await router.client.post("/api/installs", json={"id": "x"}, headers=router.admin())
    assert r.status_code == 400 and '"uri"' in r.json()["error"]["message"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]"])
async def test_a_body_that_is_not_a_json_object_is_a_400(router, body):
    controller = router.ctx.control = JobsController()
    r = await router.client.post("/api/installs", content=body, headers=router.admin())
    assert r.status_code == 400 and r.json()["error"]["type"] == "bad_request"
    assert controller.calls == []


async def test_answers_never_carry_the_tokens(router):
    router.ctx.control = JobsController()
    r = await router.client.get("/api/installs/j1", headers=router.admin())
    assert ADMIN not in r.text and "**********" in r.json()["error"]


@pytest.mark.parametrize("method, path", [("GET", "/api/installs"), ("POST", "/api/installs"),
                                          ("GET", "/api/installs/j1"), ("POST", "/api/installs/j1/cancel"),
                                          ("POST", "/api/installs/j1/retry")])
async def test_every_route_needs_the_admin_token(router, method, path):
    controller = router.ctx.control = JobsController()
    for headers in ({}, router.page(), {"Authorization": f"Bearer {PAGE}"}):
        r = await router.client.request(method, path, json={"uri": "x"}, headers=headers)
        assert r.status_code == 401, (headers, r.text)
    assert controller.calls == []
