"""The autoscaler's counts in the desired state: plugins declared with a worker range get the count chosen for
them as ``WorkerSpec.count`` before ``diff`` runs, so the plan stays the only decider of what starts and stops
(``+ worker x#1 (scale 1→2)``), and nothing runs that the desired state does not say."""

from __future__ import annotations

import dataclasses
from typing import Mapping

from ..desired import DesiredState

__all__ = ["with_counts"]


def with_counts(desired: DesiredState, counts: Mapping[str, int]) -> DesiredState:
    """``desired`` with each ranged plugin's count set from ``counts`` (clamped to its range; a plugin with no
    count keeps its minimum). Fixed counts are never touched: only a person changes those."""
    changed = False
    workers = []
    for spec in desired.workers:
        # a range on Ray is Ray Serve's to scale (its autoscaling bounds), not the daemon's
        if spec.count_range is not None and spec.plugin_id in counts and getattr(spec, "ray", None) is None:
            low, high = spec.count_range
            count = min(max(counts[spec.plugin_id], low), high)
            if count != spec.count:
                spec, changed = dataclasses.replace(spec, count=count), True
        workers.append(spec)
    return dataclasses.replace(desired, workers=tuple(workers)) if changed else desired
