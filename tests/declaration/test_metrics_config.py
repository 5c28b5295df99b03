"""The ``[metrics]`` section: documented defaults, the file and the environment, errors with positions, and the
desired state's MetricsSpec."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplugs.declaration.config import load_config
from aiplugs.errors import ConfigError
from aiplugs.plan import MetricsSpec, load_desired_state


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_defaults_are_on_every_five_seconds_for_seven_days(tmp_path: Path) -> None:
    (tmp_path / "aiplugs.toml").write_text("")
    metrics = load_config(tmp_path / "aiplugs.toml", env={}).settings.metrics
    assert (metrics.enabled, metrics.sample_s, metrics.retention_days) == (True, 5.0, 7.0)
    assert MetricsSpec() == MetricsSpec(True, 5.0, 7.0)


def test_the_file_and_the_environment_set_it(tmp_path: Path) -> None:
    (tmp_path / "aiplugs.toml").write_text("[metrics]\nenabled = false\nretention_days = 2\n")
    config = load_config(tmp_path / "aiplugs.toml", env={"AIPLUGS_METRICS__SAMPLE_S": "2.5"})
    metrics = config.settings.metrics
    assert (metrics.enabled, metrics.sample_s, metrics.retention_days) == (False, 2.5, 2.0)
    assert config.origin("metrics.sample_s") == "env AIPLUGS_METRICS__SAMPLE_S"
    (tmp_path / "plugins").mkdir()
    _, desired = load_desired_state(tmp_path / "aiplugs.toml", env={"AIPLUGS_METRICS__SAMPLE_S": "2.5"})
    assert desired.metrics == MetricsSpec(False, 2.5, 2.0)


def test_bad_values_are_named_with_their_position(tmp_path: Path) -> None:
    (tmp_path / "aiplugs.toml").write_text("[metrics]\nsample_s = 0\nretention_days = -1\nkeep = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "aiplugs.toml", env={})
    text = "\n".join(str(p) for p in info.value.problems)
    assert "aiplugs.toml:2:12: metrics.sample_s" in text
    assert "aiplugs.toml:3:18: metrics.retention_days" in text
    assert "metrics.keep: unknown key" in text
