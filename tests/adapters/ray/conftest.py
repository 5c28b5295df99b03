"""One local Ray instance for the whole test session (starting one takes seconds), and the contract plugin's worker
spec for either backend: ``process`` (worker processes) or ``ray`` (replicas of a Ray Serve deployment)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from aiplugs.adapters.ray import RayBackend, RayInstance
from aiplugs.adapters.workers import WorkerManager
from aiplugs.plan import WorkerSpec
from aiplugs.plan.placement import RayModel, RayPlacement

BACKENDS = Path(__file__).resolve().parent / "backends"
MODEL_TEXT = "contract model v1"
# In the environment Ray's processes inherit: a replica must not pass it on to the plugin
PARENT_SECRET = "CONTRACT_PARENT_SECRET"


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[RayInstance]:
    """A local Ray instance aiplugs owns (2 CPUs), shared by every test that needs Ray."""
    instance = RayInstance(num_cpus=2)
    os.environ[PARENT_SECRET] = "s3cret"  # inherited by the instance's processes at start
    try:
        instance.start_sync()
    finally:
        del os.environ[PARENT_SECRET]
    yield instance
    instance.stop_sync()


@dataclass
class Project:
    """A state dir, a models dir holding the contract model (as apply provisions it) and its source file."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def source(self) -> Path:
        return self.root / "source" / "model.txt"

    def spec(self, backend: str, name: str = "contract", *, count: int = 1, timeout_s: float = 60.0,
             salt: str = "", provisioned: bool = True, plugin_id: str | None = None, model: str = "model.txt",
             source_text: str = MODEL_TEXT, address: str | None = None) -> WorkerSpec:
        """The contract plugin as the planner would specify it, on ``backend``. ``provisioned``: its model is in
        the models folder already (apply put it there); ``source_text``: what its declared URL serves."""
        self.source.parent.mkdir(parents=True, exist_ok=True)
        self.source.write_text(source_text)
        sha = hashlib.sha256(MODEL_TEXT.encode()).hexdigest()
        target = self.models / model
        if provisioned:
            self.models.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.source, target)
        pid = plugin_id or name.replace("_", "-")
        env = {"AIPLUGS_PLUGIN_ID": pid, "AIPLUGS_PLUGIN_VERSION": "1.2", "AIPLUGS_PLUGIN_DIR": str(BACKENDS),
               "AIPLUGS_SETTINGS": json.dumps({"level": 3}), "CONTRACT_MODEL": str(target),
               "AIPLUGS_MODELS": json.dumps({"CONTRACT_MODEL": str(target)}),
               "AIPLUGS_DATA_DIR": str(self.state / "data" / pid), "AIPLUGS_CACHE_DIR": str(self.state / "cache" / pid)}
        ray = None
        if backend == "ray":
            ray = RayPlacement(address=address, num_cpus=0.25,
                               models=(RayModel(model, str(self.source), sha, len(MODEL_TEXT), ("CONTRACT_MODEL",)),))
        digest = hashlib.sha256(f"{name}|{sorted(env.items())}|{timeout_s}|{salt}|{ray}".encode()).hexdigest()[:16]
        return WorkerSpec(pid, count, BACKENDS / f"{name}.py", BACKENDS, tuple(sorted(env.items())),
                          ("CONTRACT_PASSED",), (model,), timeout_s, digest, version="1.2",
                          data_dir=self.state / "data" / pid, cache_dir=self.state / "cache" / pid,
                          hooks=("init", "shutdown"), hooks_timeout_s=10.0, ray=ray)


PARENT_ENV = {"CONTRACT_PASSED": "yes", PARENT_SECRET: "s3cret", "PATH": os.environ.get("PATH", "")}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture(params=["process", "ray"])
async def backend(request: pytest.FixtureRequest, project: Project) -> AsyncIterator[tuple[str, object]]:
    """(name, backend): a WorkerManager, or a RayBackend on the session's Ray instance; closed afterwards."""
    if request.param == "process":
        made: object = WorkerManager(project.state, grace_s=3.0, ready_timeout_s=30.0, parent_env=PARENT_ENV)
    else:
        made = RayBackend(project.state, models_dir=project.models, instance=request.getfixturevalue("ray_instance"),
                          poll_s=0.2, ready_timeout_s=120.0, parent_env=PARENT_ENV)
    try:
        yield request.param, made
    finally:
        await made.close()  # type: ignore[attr-defined]


def moved(spec: WorkerSpec, **changes: object) -> WorkerSpec:
    return replace(spec, **changes)  # type: ignore[arg-type]
