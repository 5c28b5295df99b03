"""Plugins that need other plugins: the order to start them in, and everything that keeps a need from being met.

A need is met when the plugin it names is there, enabled and of a version its specifiers allow. When one is not,
the problem points where the fix is: the manifest field for a version or a missing plugin, the ``enabled = false``
in ``aiplugs.toml`` for a disabled one (naming every plugin that needs it, since all of them are affected).
A cycle is always a problem: there is no order to start its plugins in.
"""

from __future__ import annotations

from typing import Callable, Collection, Mapping

from ..errors import Problem, did_you_mean
from .manifest import LoadedPlugin

__all__ = ["Locate", "dependency_order", "dependency_problems"]

Locate = Callable[[str], tuple[str, int | None, int | None]]  # a dotted aiplugs.toml path -> (source, line, col)


def _unknown(dotted: str) -> tuple[str, int | None, int | None]:
    return ("aiplugs.toml", None, None)


def dependency_order(
    plugins: Mapping[str, LoadedPlugin], enabled: Collection[str], *, unloadable: Collection[str] = frozenset(),
    locate: Locate = _unknown,
) -> tuple[list[str], list[Problem]]:
    """Enabled plugin ids, dependencies first (ties broken by id), and every problem with their dependencies.

    ``unloadable``: plugins whose manifests failed or whose packages are not installed yet (their own problems are
    reported elsewhere; needing them is not one more). ``locate``: positions in aiplugs.toml, ``Config.position``.
    """
    problems = dependency_problems(plugins, enabled, unloadable=unloadable, locate=locate)
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done
    stack: list[str] = []

    def visit(pid: str) -> None:
        if state.get(pid) == 2:
            return
        if state.get(pid) == 1:
            problems.append(_cycle(plugins, stack[stack.index(pid):] + [pid]))
            return
        state[pid] = 1
        stack.append(pid)
        for dep in sorted(set(plugins[pid].manifest.dependencies)):
            if dep in enabled and dep in plugins:
                visit(dep)
        stack.pop()
        state[pid] = 2
        order.append(pid)

    for pid in sorted(enabled):
        if pid in plugins:
            visit(pid)
    return order, problems


def _cycle(plugins: Mapping[str, LoadedPlugin], cycle: list[str]) -> Problem:
    first = plugins[cycle[0]]
    index = first.manifest.dependencies.index(cycle[1])
    return Problem(str(first.manifest_path), "dependency cycle: " + " -> ".join(cycle) + " (no order can start "
                   "them; remove one of these dependencies)", f"dependencies.{index}")


def dependency_problems(
    plugins: Mapping[str, LoadedPlugin], enabled: Collection[str], *, unloadable: Collection[str] = frozenset(),
    locate: Locate = _unknown,
) -> list[Problem]:
    """Missing and disabled dependencies of enabled plugins (one problem per dependency, naming every plugin that
    needs it) and versions their specifiers do not allow (one per need)."""
    needers: dict[str, list[tuple[str, int]]] = {}  # dependency -> (needing plugin, index in its manifest)
    problems: list[Problem] = []
    for pid in sorted(p for p in enabled if p in plugins):
        for i, need in enumerate(plugins[pid].manifest.dependency_specs):
            if need.id in unloadable:
                continue
            needers.setdefault(need.id, []).append((pid, i))
            dep = plugins.get(need.id)
            if dep is not None and not need.allows(dep.manifest.version):
                problems.append(Problem(
                    str(plugins[pid].manifest_path),
                    f"{pid} needs {need.id} {need.version}, but {need.id} {dep.manifest.version} is installed "
                    f"({dep.manifest_path})", f"dependencies.{i}.version"))
    for dep, needs in sorted(needers.items()):
        names = _names(dict.fromkeys(pid for pid, _ in needs))
        verb = "needs" if len({pid for pid, _ in needs}) == 1 else "need"
        if dep not in plugins:
            pid, i = needs[0]
            problems.append(Problem(
                str(plugins[pid].manifest_path),
                f"{names} {verb} {dep}, which is missing: no plugin folder or [plugins.{dep}] source declares it"
                + did_you_mean(dep, plugins), f"dependencies.{i}"))
        elif dep not in enabled:
            source, line, col = locate(f"plugins.{dep}.enabled")
            problems.append(Problem(source, f"{names} {verb} {dep}, which is disabled here (enable {dep}, or "
                                            f"disable {names} too)", f"plugins.{dep}.enabled", line, col))
    return problems


def _names(ids: Collection[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    listed = list(ids)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]
