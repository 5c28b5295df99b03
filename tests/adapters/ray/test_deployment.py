"""The Ray Serve deployment of a plugin as plain data: options, the replica's constructor argument, names."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aiplugs.adapters.ray.bundle import unpack
from aiplugs.adapters.ray.deployment import (DEPLOYMENT, app_name, app_prefix, deployment_options, host_key,
                                             replica_config, runtime_env)
from aiplugs.plan.placement import RayPlacement

from .conftest import BACKENDS, Project


def test_a_fixed_count_is_the_replica_count_with_the_declared_resources(project: Project) -> None:
    spec = replace(project.spec("ray"), ray=RayPlacement(num_cpus=2.0, num_gpus=0.5))
    options = deployment_options(spec, 3)
    assert options["name"] == DEPLOYMENT and options["num_replicas"] == 3
    assert options["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.5}
    assert "autoscaling_config" not in options
    assert options["logging_config"] == {"enable_access_log": False}
    assert options["graceful_shutdown_timeout_s"] >= spec.hooks_timeout_s  # the shutdown hook has its time


def test_unset_resources_leave_ray_serves_defaults(project: Project) -> None:
    spec = replace(project.spec("ray"), ray=RayPlacement())
    assert deployment_options(spec, 1)["ray_actor_options"] == {}


def test_a_range_is_serve_autoscaling_starting_where_the_plan_is(project: Project) -> None:
    spec = replace(project.spec("ray"), count_range=(1, 4))
    options = deployment_options(spec, 2)
    assert "num_replicas" not in options
    assert options["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 4, "initial_replicas": 2}


def test_requirements_are_the_runtime_env_pip_list(project: Project) -> None:
    spec = replace(project.spec("ray"), ray=RayPlacement(requirements=("numpy>=1.26", "scipy")))
    assert runtime_env(spec) == {"pip": ["numpy>=1.26", "scipy"]}
    assert deployment_options(spec, 1)["ray_actor_options"]["runtime_env"] == {"pip": ["numpy>=1.26", "scipy"]}
    assert runtime_env(project.spec("ray")) == {}


def test_the_replica_gets_its_env_pass_env_and_no_other_parent_variable(project: Project) -> None:
    spec = project.spec("ray")
    config = replica_config(spec, models_dir=project.models, state_dir=project.state,
                            parent_env={"CONTRACT_PASSED": "yes", "SYSTEM_API_KEY": "secret"})
    assert config["env"]["CONTRACT_PASSED"] == "yes" and "SYSTEM_API_KEY" not in config["env"]
    assert config["env"]["AIPLUGS_PLUGIN_ID"] == "contract"
    assert config["entry_name"] == "contract.py" and config["host"] == host_key()
    assert config["models"] == [{"filename": "model.txt", "url": str(project.source), "sha256": spec.ray.models[0].sha256,
                                 "size": 17, "keys": ("CONTRACT_MODEL",)}]
    assert config["bundle"] is None  # a local instance shares this disk


def test_on_a_cluster_the_plugin_folder_travels_with_the_replica(project: Project, tmp_path: Path) -> None:
    spec = project.spec("ray", address="ray://head:10001")
    data, sha = replica_config(spec, models_dir=project.models, state_dir=project.state)["bundle"]
    folder = unpack(data, sha, tmp_path / "node")
    assert (folder / "contract.py").read_bytes() == (BACKENDS / "contract.py").read_bytes()
    assert not list(folder.rglob("__pycache__"))


def test_application_names_are_per_state_dir(tmp_path: Path) -> None:
    assert app_name(tmp_path / "a", "x") == app_prefix(tmp_path / "a") + "x"
    assert app_prefix(tmp_path / "a") != app_prefix(tmp_path / "b")
    assert app_prefix(tmp_path / "a") == app_prefix(tmp_path / "a")
