"""When a worker that exited is started again: capped exponential backoff, and a crash loop gives up.

Pure arithmetic on the failure times the runtime observed, so the plan (the only decider) can say "restart",
"restart in 3.2 s" or "failed: crash loop" — and tests can drive it with a fake clock.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["BACKOFF_BASE_S", "BACKOFF_CAP_S", "FAILURE_WINDOW_S", "MAX_FAILURES", "RestartDecision", "restart_decision"]

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
FAILURE_WINDOW_S = 60.0
MAX_FAILURES = 5  # more failures than this within the window: a crash loop, no more restarts


class RestartDecision(NamedTuple):
    give_up: bool
    wait_s: float  # 0: restart now
    recent: int  # failures within the window


def restart_decision(failures: tuple[float, ...], now: float) -> RestartDecision:
    recent = [t for t in failures if now - t <= FAILURE_WINDOW_S]
    if len(recent) > MAX_FAILURES:
        return RestartDecision(True, 0.0, len(recent))
    if not recent:
        return RestartDecision(False, 0.0, 0)
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (len(recent) - 1))
    return RestartDecision(False, max(0.0, max(recent) + delay - now), len(recent))
