"""What an install job decides, from plain values: whether to install (the verdict of ``aiplugs plugins install``,
``declaration.plugins.install_verdict``, so the daemon and the CLI never disagree) and whether the plugin serves
after the apply. Reading what the declaration holds now is here too: it is what the verdict is made from.
"""

from __future__ import annotations

from typing import Any, Literal

from ..declaration.plugins import Current, install_verdict
from ..plan import DesiredState, PluginState
from .converge import ConvergeResult

__all__ = ["Decision", "judge", "readiness_problem"]

Decision = Literal["install", "already", "refuse"]


def judge(current: Current | None, plugin_id: str, version: str, sha256: str,
          force: bool) -> tuple[Decision, str | None]:
    """The verdict as a job acts on it, with the note (or the refusal) a person reads."""
    verdict = install_verdict(current, version, sha256, force=force)
    if verdict == "already-installed":
        return "already", "already installed: aiplugs.toml declares this sha256"
    if verdict == "same-version":
        assert current is not None
        return "refuse", (f"{plugin_id} {version} is already declared with other content (sha256 {current.sha256}; "
                          f"this package has {sha256}); the same version with different content is a re-release "
                          "or a tampered package: pass force to install it anyway. Nothing was changed.")
    if verdict == "folder":
        return "refuse", (f"plugins_dir has a plugin folder {plugin_id}, which this package would replace: pass force "
                          "to install it anyway (the folder stays on disk, ignored). Nothing was changed.")
    notes = {"update": f"replaces {plugin_id} {current.version or '(version unknown)'}" if current else None,
             "reinstall": f"replaces the content of {plugin_id} {version} (force)",
             "replace-folder": f"replaces the plugin folder {plugin_id} (force)"}
    return "install", notes.get(verdict)


def readiness_problem(plugin_id: str, desired: DesiredState, result: ConvergeResult, status: dict[str, Any],
                      routed: bool) -> str | None:
    """Why ``plugin_id`` is not serving after the apply, or None: its units failed, it is not ready, or the router
    has no route for it. A package that is in place but whose plugin does not start is not installed."""
    models = {f"model {m.filename}" for m in desired.models if plugin_id in m.used_by}
    mine = [f for f in result.failures
            if f.unit in {f"package {plugin_id}", f"route {plugin_id}"} | models
            or f.unit.startswith(f"worker {plugin_id}#")]
    if mine:
        return "; ".join(f"{f.unit}: {f.error}" for f in mine)
    row = next((p for p in status.get("plugins", ()) if p.get("id") == plugin_id), None)
    if row is None:
        return f"{plugin_id} is not in the applied declaration"
    state = row.get("state")
    if state == PluginState.DISABLED.value:
        return f"{plugin_id} is installed but disabled (enabled = false in [plugins.{plugin_id}])"
    if state not in (PluginState.READY.value, PluginState.IDLE.value, PluginState.STOPPED.value):
        detail = row.get("last_error") or "; ".join(row.get("stderr_tail") or ()) or "no error recorded"
        return f"{plugin_id} is {state} after the apply: {detail}"
    if not routed:
        return f"{plugin_id} has no route in the router after the apply"
    return None
