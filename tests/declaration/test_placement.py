"""``[ray]`` and ``[plugins.<id>] backend`` / ``resources``: parsed, validated with positions, overridable by env."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplugs.declaration.config import load_config
from aiplugs.errors import ConfigError


def config_of(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    (tmp_path / "plugins" / "det").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "aiplugs.toml"
    path.write_text(text)
    return load_config(path, env=env or {})


def test_defaults_are_processes_and_a_local_instance(tmp_path: Path) -> None:
    settings = config_of(tmp_path, "[plugins.det]\n").settings
    assert settings.plugins["det"].backend == "process"
    assert settings.ray.address is None and settings.ray.num_cpus is None
    assert (settings.plugins["det"].resources.num_cpus, settings.plugins["det"].resources.num_gpus) == (None, None)


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "ray://10.0.0.5", "10.0.0.5:6379"])
def test_cluster_addresses(tmp_path: Path, address: str) -> None:
    assert config_of(tmp_path, f'[ray]\naddress = "{address}"\n').settings.ray.address == address


def test_bad_values_name_their_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config_of(tmp_path, '[ray]\naddress = "http://head"\n\n[plugins.det]\nbackend = "k8s"\n\n'
                            "[plugins.det.resources]\nnum_gpus = -1\n")
    text = str(raised.value)
    assert 'aiplugs.toml:2:11: ray.address: must be "auto", "ray://host:10001" or "host:6379"' in text
    assert "aiplugs.toml:5:11: plugins.det.backend: must be one of 'process' or 'ray'" in text
    assert "aiplugs.toml:8:12: plugins.det.resources.num_gpus:" in text


def test_the_environment_moves_a_plugin_and_sizes_it(tmp_path: Path) -> None:
    config = config_of(tmp_path, "[plugins.det]\n", env={"AIPLUGS_PLUGINS__DET__BACKEND": "ray",
                                                          "AIPLUGS_PLUGINS__DET__RESOURCES__NUM_GPUS": "1",
                                                          "AIPLUGS_RAY__ADDRESS": "auto"})
    det = config.settings.plugins["det"]
    assert (det.backend, det.resources.num_gpus, config.settings.ray.address) == ("ray", 1.0, "auto")
    assert config.origin("plugins.det.backend") == "env AIPLUGS_PLUGINS__DET__BACKEND"
