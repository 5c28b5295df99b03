"""Environment mapping: the path a worker finds in its env is exactly the file ModelStore verified."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from aiplugs.adapters.models import ModelStore
from aiplugs.plan import load_desired_state

from .conftest import provision

REPO = Path(__file__).resolve().parents[3]


async def test_worker_env_points_at_the_verified_file(tmp_path):
    shutil.copytree(REPO / "plugins" / "sentiment", tmp_path / "plugins" / "sentiment")
    (tmp_path / "aiplugs.toml").write_text('models_dir = "store"\n[plugins.sentiment]\nprovision = "lazy"\n')
    _, desired = load_desired_state(tmp_path / "aiplugs.toml", env={})
    (model,) = desired.models
    assert model.lazy
    store = ModelStore(desired.models_dir, desired.state_dir)
    path = await provision(store, model)
    env = {k: v for k, v in desired.worker("sentiment").env_dict.items() if k in model.keys}
    assert env == {"SENTIMENT_LEXICON": str(path)}
    assert os.path.isabs(env["SENTIMENT_LEXICON"]) and path.parent == tmp_path / "store"
    worker = desired.workers[0]
    assert worker.env_dict["SENTIMENT_LEXICON"] == str(path)
