"""Worker specs: the hooks a backend defines (read, never imported), the folders and environment each plugin's
workers get, and that nothing of one plugin reaches another's workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from aiplugs.plan.workers import backend_hooks

from .test_build import SHA_A, SHA_B, build, local, model, worker


def test_hooks_are_the_top_level_functions_with_a_hook_name() -> None:
    source = b"""
import os

def init(ctx): pass
async def shutdown(ctx): pass
def run(payload): return payload
class Helper:
    def install(self): pass          # a method, not a hook
def outer():
    def uninstall(ctx): pass         # nested, not a hook
on_event = None                      # not a function
"""
    assert backend_hooks(source) == ("init", "shutdown")
    assert backend_hooks(b"def on_event(event, ctx): pass\ndef install(ctx): pass\n") == ("install", "on_event")
    assert backend_hooks(b"def broken(:\n") == ()
    assert backend_hooks(b"") == ()


def test_each_plugin_gets_its_own_folders_settings_and_model_paths(tmp_path: Path,
                                                                  write_plugin: Callable[..., Path]) -> None:
    plugins = tmp_path / "plugins"
    write_plugin(plugins, "a", inference=local(model("A_MODEL", "a.bin", SHA_A)), version="1.2.0",
                 backend="def install(ctx): pass\ndef run(payload): return payload\n")
    write_plugin(plugins, "b", inference=local(model("B_MODEL", "b.bin", SHA_B)))
    desired = build(tmp_path, '[plugins.a.settings]\nlevel = 3\n\n[plugins.b.settings]\ntoken_hint = "b-only"\n'
                              '[plugins.b.env]\nB_FLAG = "1"\n')
    a, b = worker(desired, "a"), worker(desired, "b")
    state = desired.state_dir
    assert (a.data_dir, a.cache_dir) == (state / "data" / "a", state / "cache" / "a")
    assert (a.version, a.hooks, a.hooks_timeout_s) == ("1.2.0", ("install",), 60.0)
    env_a, env_b = a.env_dict, b.env_dict
    assert env_a["AIPLUGS_DATA_DIR"] == str(state / "data" / "a")
    assert env_a["AIPLUGS_CACHE_DIR"] == str(state / "cache" / "a")
    assert env_a["AIPLUGS_PLUGIN_VERSION"] == "1.2.0"
    assert json.loads(env_a["AIPLUGS_SETTINGS"]) == {"level": 3}
    assert json.loads(env_a["AIPLUGS_MODELS"]) == {"A_MODEL": str(desired.model("a.bin").path)}
    # isolation: nothing of b in a's environment, and the other way round
    text_a, text_b = json.dumps(env_a), json.dumps(env_b)
    assert "b-only" not in text_a and "B_MODEL" not in text_a and "B_FLAG" not in text_a and "b.bin" not in text_a
    assert "A_MODEL" not in text_b and "a.bin" not in text_b and '"level"' not in text_b
