"""The declaration side of autotuning: ``workers = {min, max}``, ``max_calls_per_worker``, ``cache_ttl_s`` and the
``[autotune]`` section, with errors at their position; and what reaches the desired state."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplugs.declaration.config import load_config
from aiplugs.errors import ConfigError
from aiplugs.plan import load_desired_state


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    return [str(p) for p in info.value.problems]


def test_a_range_and_the_new_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text("[autotune]\ncooldown_s = 30\n\n[plugins.a]\nworkers = { min = 1, max = 4 }\n"
                    "max_calls_per_worker = 500\ncache_ttl_s = 30\n")
    settings = load_config(path, env={}).settings
    plugin = settings.plugins["a"]
    assert (plugin.workers.min, plugin.workers.max) == (1, 4)
    assert (plugin.max_calls_per_worker, plugin.cache_ttl_s, plugin.cache_max_entries) == (500, 30.0, 1024)
    assert settings.autotune.cooldown_s == 30 and settings.autotune.scale_down_window_s == 600
    env = {"AIPLUGS_PLUGINS__A__WORKERS": '{"min": 2, "max": 3}'}
    assert load_config(path, env=env).settings.plugins["a"].workers.min == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("[plugins.a]\nworkers = -1\n", "aiplugs.toml:2:11: plugins.a.workers: must be >= 0 (got -1)"),
    ("[plugins.a]\nworkers = { min = 3, max = 2 }\n",
     "aiplugs.toml:2:19: plugins.a.workers: min must be <= max (got min = 3, max = 2)"),
    ("[plugins.a]\nworkers = { min = 0, max = 2 }\n", "plugins.a.workers.min: must be >= 1 (got 0)"),
    ("[plugins.a]\nworkers = { min = 1, top = 2 }\n", "plugins.a.workers.top: unknown key"),
    ("[plugins.a]\nmax_calls_per_worker = 0\n", "plugins.a.max_calls_per_worker: must be >= 1 (got 0)"),
    ("[autotune]\ncooldown = 5\n", "autotune.cooldown: unknown key (did you mean 'cooldown_s'?)"),
    ("[autotune]\ntarget_utilization = 0.9\n", "scale_down_utilization < target_utilization < scale_up_utilization"),
])
def test_errors_name_the_field_and_the_value(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "aiplugs.toml"
    path.write_text(text)
    found = problems(path)
    assert any(expected in p for p in found), found


def test_the_desired_state_carries_range_recycling_cache_and_autotune(project: Path, clean_env) -> None:
    config = project / "aiplugs.toml"
    text = config.read_text().replace("[plugins.word-count]\nworkers = 1\n",
                                      "[plugins.word-count]\nworkers = { min = 2, max = 3 }\n"
                                      "max_calls_per_worker = 100\ncache_ttl_s = 5\n")
    config.write_text(text + "\n[autotune]\ninterval_s = 5\n")
    desired = load_desired_state(config, env=clean_env)[1]
    spec, route = desired.worker("word-count"), desired.route("word-count")
    assert (spec.count, spec.count_range, spec.max_calls_per_worker) == (2, (2, 3), 100)
    assert (route.cache_ttl_s, route.cache_max_entries) == (5.0, 1024)
    assert desired.autotune.interval_s == 5 and desired.to_dict()["autotune"]["interval_s"] == 5
    env = {**clean_env, "AIPLUGS_PLUGINS__WORD_COUNT__CACHE_TTL_S": "0",
           "AIPLUGS_PLUGINS__WORD_COUNT__MAX_CALLS_PER_WORKER": "200"}
    plain = load_desired_state(project / "aiplugs.toml", env=env)[1]
    assert plain.worker("word-count").config_hash != spec.config_hash  # recycling is part of the workers' config
    assert plain.route("word-count").config_hash != route.config_hash  # the cache is the route's
