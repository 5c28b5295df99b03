"""What Serve's controller reports, as plain values, and the start errors read from it."""

from __future__ import annotations

from aiplugs.adapters.ray._serve import app_view
from aiplugs.adapters.ray.backend import _start_error
from aiplugs.adapters.ray.replica import FAILURE
from aiplugs.adapters.workers import HookFailed, WorkerError

from .conftest import Project

DETAILS = {
    "status": "RUNNING", "message": "",
    "deployments": {"plugin": {
        "status": "HEALTHY", "message": "", "target_num_replicas": 2,
        "replicas": [
            {"replica_id": "b", "state": "RUNNING", "pid": 22, "node_id": "n1", "start_time_s": 20.0},
            {"replica_id": "a", "state": "RUNNING", "pid": 11, "node_id": "n1", "start_time_s": 10.0},
            {"replica_id": "c", "state": "STARTING", "node_id": "n1", "start_time_s": 30.0},
        ],
        "recent_dead_replicas": [{"replica_id": "z", "state": "STOPPED", "pid": 9, "start_time_s": 1.0}],
    }},
}


def test_replicas_run_in_start_order() -> None:
    view = app_view("app", DETAILS)
    assert (view.status, view.deployment_status, view.target) == ("RUNNING", "HEALTHY", 2)
    assert [(r.replica_id, r.pid) for r in view.running] == [("a", 11), ("b", 22)]
    assert [r.replica_id for r in view.replicas] == ["b", "a", "c"] and view.replicas[2].pid is None
    assert [r.pid for r in view.dead] == [9]


def test_an_application_without_its_deployment_has_no_replicas() -> None:
    view = app_view("app", {"status": "DEPLOYING"})
    assert view.running == () and view.target == 0


def test_a_failed_init_hook_is_a_hook_failure_with_the_plugins_own_lines(project: Project) -> None:
    message = "\n".join(["Traceback (most recent call last):", '  File "ray/serve/_private/replica.py"',
                         f"RuntimeError: {FAILURE}", '  File "backend.py", line 2, in init',
                         "RuntimeError: nope", "init hook failed: RuntimeError: nope"])
    details = {**DETAILS, "status": "DEPLOY_FAILED"}
    details["deployments"] = {"plugin": {**DETAILS["deployments"]["plugin"], "status": "DEPLOY_FAILED",
                                         "message": message}}
    error = _start_error(project.spec("ray"), app_view("app", details), RuntimeError("Deploying failed"))
    assert isinstance(error, HookFailed) and error.hook == "init"
    assert error.message == "worker contract (on Ray) init hook failed: RuntimeError: nope"
    assert error.stderr_tail == ('  File "backend.py", line 2, in init', "RuntimeError: nope",
                                 "init hook failed: RuntimeError: nope")


def test_another_failure_says_its_last_line(project: Project) -> None:
    error = _start_error(project.spec("ray"), None, RuntimeError("Deploying application x failed: no resources"))
    assert type(error) is WorkerError
    assert error.message == "plugin 'contract' did not start on Ray: Deploying application x failed: no resources"
