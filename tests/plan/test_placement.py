"""Where a plugin's workers run, as the plan sees it: the Ray placement in its worker spec, the plan lines that
say where a unit runs, the config hash that moves with it, and validate's word when Ray is not installed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

from aiplugs.errors import ConfigError
from aiplugs.plan import ActualState, ObservedWorker, diff
from aiplugs.plan.placement import RayModel, RayPlacement

from .test_build import SHA_A, build, local, model, worker

ON_RAY = '[plugins.det]\nbackend = "ray"\nworkers = 2\n\n[plugins.det.resources]\nnum_gpus = 0.5\nnum_cpus = 2\n'


@pytest.fixture
def plugins(tmp_path: Path, write_plugin: Callable[..., Path]) -> Path:
    folder = tmp_path / "plugins"
    write_plugin(folder, "det", inference=local(model("DET_MODEL", "det.bin", SHA_A, size=10)),
                 python={"requirements": ["NumPy >= 1.26"]})
    write_plugin(folder, "plain")
    return folder


def test_a_plugin_on_ray_carries_resources_models_and_requirements(tmp_path: Path, plugins: Path) -> None:
    desired = build(tmp_path, '[ray]\naddress = "ray://head:10001"\n\n' + ON_RAY)
    spec = worker(desired, "det")
    url = str(plugins / "det" / "data" / "model.bin")
    assert spec.backend == "ray" and spec.count == 2
    assert spec.ray == RayPlacement(address="ray://head:10001", num_cpus=2.0, num_gpus=0.5,
                                    requirements=("numpy>=1.26",),
                                    models=(RayModel("det.bin", url, SHA_A, 10, ("DET_MODEL",)),))
    assert spec.python is None and desired.envs == ()  # Ray builds the environment on each node, not aiplugs
    assert worker(desired, "plain").ray is None and worker(desired, "plain").backend == "process"


def test_the_local_instance_takes_its_cpus_from_the_ray_table(tmp_path: Path, plugins: Path) -> None:
    spec = worker(build(tmp_path, "[ray]\nnum_cpus = 3\n\n" + ON_RAY), "det")
    assert spec.ray.address is None and spec.ray.local_cpus == 3 and spec.ray.where == "ray: local"
    spec = worker(build(tmp_path, '[ray]\nnum_cpus = 3\naddress = "auto"\n\n' + ON_RAY), "det")
    assert spec.ray.address == "auto" and spec.ray.local_cpus is None and spec.ray.where == "ray: auto"


def test_plan_lines_say_where_workers_run(tmp_path: Path, plugins: Path) -> None:
    desired = build(tmp_path, ON_RAY)
    text = diff(desired, ActualState()).to_text()
    assert "+ worker det#0  (start, ray: local)" in text and "+ worker det#1  (start, ray: local)" in text
    assert "+ worker plain#0  (start)" in text  # processes read as before
    one = ActualState(workers=(ObservedWorker("det", 0, 7, True, worker(desired, "det").config_hash),))
    lines = [str(a) for a in diff(desired, one).actions if a.type == "worker" and a.plugin_id == "det"]
    assert lines == ["  worker det#0  (running (pid 7), ray: local)", "+ worker det#1  (scale 1→2, ray: local)"]


def test_moving_resizing_or_another_cluster_restarts_only_that_plugin(tmp_path: Path, plugins: Path) -> None:
    on_processes = build(tmp_path, "")
    on_ray = build(tmp_path, ON_RAY)
    resized = build(tmp_path, ON_RAY.replace("num_gpus = 0.5", "num_gpus = 1"))
    elsewhere = build(tmp_path, '[ray]\naddress = "auto"\n\n' + ON_RAY)
    hashes = [worker(d, "det").config_hash for d in (on_processes, on_ray, resized, elsewhere)]
    assert len(set(hashes)) == 4
    assert len({worker(d, "plain").config_hash for d in (on_processes, on_ray, resized, elsewhere)}) == 1


def test_without_ray_installed_validate_names_the_install_command(tmp_path: Path, plugins: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # how Python spells "not installed"
    with pytest.raises(ConfigError) as raised:
        build(tmp_path, ON_RAY)
    (problem,) = raised.value.problems
    assert problem.path == "plugins.det.backend" and problem.line == 3
    assert 'pip install "aiplugs[ray]"' in problem.message
    build(tmp_path, "")  # processes need no Ray
