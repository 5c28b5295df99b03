"""Fixtures for the runtime tests: the shipped project's desired state, and the ActualState converging leaves."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplugs.plan import (ActualState, DesiredState, ModelState, ObservedEndpoint, ObservedModel, ObservedRoute,
                          ObservedWorker, load_desired_state)


@pytest.fixture
def desired(project: Path, clean_env: dict[str, str]) -> DesiredState:
    return load_desired_state(project / "aiplugs.toml", env=clean_env)[1]


def converged(desired: DesiredState, now: float = 1000.0) -> ActualState:
    """The ActualState a successful converge of ``desired`` leaves (auto ports take the first in range)."""

    def endpoint(spec) -> ObservedEndpoint:
        return ObservedEndpoint(spec.host, spec.port if spec.port is not None else spec.port_range[0])

    return ActualState(
        daemon_pid=1, api=endpoint(desired.api), api_hash=desired.api_hash, proxy=endpoint(desired.proxy.endpoint),
        rules_hash=desired.proxy.rules_hash,
        models=tuple(ObservedModel(m.filename, ModelState.READY, m.sha256) for m in desired.models if not m.lazy),
        workers=tuple(ObservedWorker(w.plugin_id, i, 100 + i, True, w.config_hash)
                      for w in desired.workers for i in range(w.count)
                      if desired.plugin(w.plugin_id).provision == "eager"),
        routes=tuple(ObservedRoute(r.plugin_id, r.config_hash) for r in desired.routes),
        now=now)
