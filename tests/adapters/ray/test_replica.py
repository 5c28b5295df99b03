"""What only a Ray replica does: provisioning its models itself (verified by sha256, into its node's store),
trusting none of the daemon's paths on another node, writing the log ``aiplugs logs`` reads, and reporting
replica states from Ray."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
import uuid
from pathlib import Path

import pytest

from aiplugs.adapters.ray import RayBackend, deployment
from aiplugs.adapters.ray.replica import node_dir
from aiplugs.adapters.workers import WorkerError
from aiplugs.store.state import read_state

from .conftest import BACKENDS, MODEL_TEXT, PARENT_ENV, Project


@pytest.fixture
async def ray_backend(project: Project, ray_instance) -> RayBackend:
    made = RayBackend(project.state, models_dir=project.models, instance=ray_instance, poll_s=0.2,
                      ready_timeout_s=120.0, parent_env=PARENT_ENV)
    yield made
    await made.close()


async def value(backend: RayBackend, plugin_id: str, tool: str, payload=None):
    return (await backend.request(plugin_id, payload, tool=tool)).value


async def test_a_missing_model_is_fetched_and_verified_into_the_store(ray_backend, project: Project) -> None:
    await ray_backend.start(project.spec("ray", provisioned=False), 0)
    seen = await value(ray_backend, "contract", "model")
    assert seen["text"] == MODEL_TEXT and seen["path"] == str(project.models / "model.txt")
    record = read_state(project.state).models["model.txt"]  # verified by the same fetcher apply uses
    assert record.size == len(MODEL_TEXT)


async def test_a_model_whose_bytes_differ_from_its_sha256_fails_the_start(ray_backend, project: Project) -> None:
    spec = project.spec("ray", provisioned=False, source_text="contract model v2")
    with pytest.raises(WorkerError, match="sha256 mismatch"):
        await ray_backend.start(spec, 0)
    assert not (project.models / "model.txt").exists()
    assert "sha256 mismatch" in ray_backend.observe()[1][0].last_error


async def test_on_another_node_no_planned_path_is_trusted(ray_backend, project: Project, monkeypatch) -> None:
    """The daemon plans on another machine (its host key differs): the replica runs the copy of the plugin
    folder and fetches the model by sha256 into its node's own store."""
    monkeypatch.setattr(deployment, "host_key", lambda: "another-machine/boot")
    plugin_id, model = f"remote-{uuid.uuid4().hex[:8]}", f"model-{uuid.uuid4().hex[:8]}.txt"
    spec = project.spec("ray", plugin_id=plugin_id, model=model, address="auto")  # a cluster: the folder travels
    node = node_dir()
    try:
        await ray_backend.start(spec, 0)
        seen = await value(ray_backend, plugin_id, "where")
        assert seen["file"].startswith(str(node / "plugins" / plugin_id))  # the copy that came with it
        assert not seen["file"].startswith(str(BACKENDS))
        assert seen["data_dir"] == seen["cwd"] == str(node / "data" / plugin_id)
        assert seen["model"] == str(node / "models" / model) != spec.env_dict["CONTRACT_MODEL"]
        assert Path(seen["model"]).read_text() == MODEL_TEXT
        assert (await value(ray_backend, plugin_id, "model"))["env"] == seen["model"]
    finally:
        await ray_backend.close()
        for leftover in (node / "data" / plugin_id, node / "cache" / plugin_id, node / "plugins" / plugin_id):
            shutil.rmtree(leftover, ignore_errors=True)
        for leftover in (node / "models" / model, node / "logs" / f"{plugin_id}-0.log"):
            leftover.unlink(missing_ok=True)


async def test_output_goes_to_the_log_aiplugs_logs_reads(ray_backend, project: Project) -> None:
    await ray_backend.start(project.spec("ray"), 0)
    assert await value(ray_backend, "contract", "log_line", "hello") is True
    log = project.state / "logs" / "contract-0.log"
    text = log.read_text()
    assert "a line for the log: hello" in text and "printed: hello" in text


async def test_status_comes_from_ray(ray_backend, project: Project) -> None:
    await ray_backend.start(project.spec("ray"), 0)
    stats = ray_backend.stats("contract")
    assert stats["backend"] == "ray: local"
    assert [r["state"] for r in stats["replicas"]] == ["RUNNING"]
    assert stats["pids"] == [ray_backend.observe()[0][0].pid]
    json.dumps(stats)  # status and /metrics serve it as JSON


async def test_a_range_is_left_to_serve_autoscaling(ray_backend, project: Project) -> None:
    spec = replace(project.spec("ray"), count_range=(1, 2))
    await ray_backend.start(spec, 0)
    assert ray_backend.serving("contract") and [w.alive for w in ray_backend.observe()[0]] == [True]
    assert (await value(ray_backend, "contract", "whoami"))["plugin"] == "contract"
    assert 1 <= ray_backend.stats("contract")["ready"] <= 2
