"""The Ray placement of each local plugin from the declaration, and the one problem it can have on this machine:
``backend = "ray"`` without Ray installed (``validate`` names the install command; nothing imports Ray)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..declaration.config import Config
from ..errors import Problem
from .envs import normalize
from .desired import ModelSpec

if TYPE_CHECKING:
    from .placement import RayPlacement

__all__ = ["ray_placement", "ray_problems"]


def ray_placement(config: Config, pconf: Any, requirements: tuple[str, ...],
                  models: Sequence[tuple[str, ModelSpec]]) -> RayPlacement | None:
    """The placement of one local plugin (None for processes, the default). ``models``: (env key, model) of each
    model reference of its manifest."""
    if pconf.backend != "ray":
        return None
    from .placement import RayModel, RayPlacement  # for plugins on Ray only

    ray = config.settings.ray
    own = tuple(RayModel(m.filename, m.url, m.sha256, m.size, (key,)) for key, m in models)
    return RayPlacement(address=ray.address, local_cpus=ray.num_cpus if ray.address is None else None,
                        num_cpus=pconf.resources.num_cpus, num_gpus=pconf.resources.num_gpus,
                        requirements=normalize(requirements), models=own)


def ray_problems(config: Config, local: Mapping[str, Any]) -> list[Problem]:
    """``local``: plugin id -> settings of the enabled local plugins. Ray must be installed for those on Ray."""
    on_ray = sorted(pid for pid, pconf in local.items() if pconf.backend == "ray")
    if not on_ray:
        return []
    from .placement import RAY_INSTALL, ray_installed

    if ray_installed():
        return []
    problems = []
    for pid in on_ray:
        source, line, col = config.position(f"plugins.{pid}.backend")
        problems.append(Problem(source, f'backend = "ray" needs Ray, which is not installed here: {RAY_INSTALL}',
                                f"plugins.{pid}.backend", line, col))
    return problems
