"""Plugin Python environments as plain values: normalized requirement sets, shared by plugins that ask alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement

from aiplugs.plan.envs import env_id, envs_for, normalize


def test_normalize_spells_each_requirement_one_way() -> None:
    assert normalize(["NumPy >= 1.26", "numpy>=1.26", "scikit_learn==1.5"]) == ("numpy>=1.26", "scikit-learn==1.5")
    assert normalize(['tomli; python_version < "3.11"']) == ('tomli; python_version < "3.11"',)
    assert normalize([]) == ()
    with pytest.raises(InvalidRequirement):
        normalize(["numpy >>= 1"])


def test_plugins_asking_alike_share_one_environment(tmp_path: Path) -> None:
    envs = envs_for({"a": ("numpy>=1.26",), "b": ("NumPy >= 1.26",), "c": ("numpy>=2",), "d": ()}, tmp_path)
    assert set(envs) == {"a", "b", "c"}  # no requirements: the daemon's own interpreter
    assert envs["a"] is envs["b"] and envs["a"].used_by == ("a", "b")
    assert envs["c"].id != envs["a"].id and envs["c"].used_by == ("c",)
    assert envs["a"].path == tmp_path / "envs" / envs["a"].id
    assert envs["a"].python == envs["a"].path / "bin" / "python"


def test_the_id_follows_the_set_alone() -> None:
    assert env_id(("numpy>=1.26",)) == env_id(normalize(["NumPy>=1.26"]))
    assert len(env_id(("numpy>=1.26",))) == 12
    assert env_id(("numpy>=1.26",)) != env_id(("numpy>=1.26", "scipy"))
