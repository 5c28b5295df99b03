"""The ``[autotune]`` section and the ``workers = {min, max}`` range: every window and threshold the suggestion
rules and the autoscaler use, with the defaults the README documents.

Windows are seconds, so a test (or a busy team) can shorten them; the rules count the samples inside a window,
not minutes. The defaults are chosen against the complaints about autoscalers: a scale-down waits a whole
stabilisation window, a setting that just changed is left alone for ``cooldown_s``, and what scaling aims for
(``target_utilization``) sits between the scale-down and scale-up thresholds, so acting on one can never
immediately trigger the other.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = ["AutotuneConfig", "WORKER_COUNT", "WorkersRange", "validate_workers"]

MAX_RANGE = 64


class WorkersRange(BaseModel):
    """``workers = {min = 1, max = 4}``: the daemon picks the count inside the bounds from the same signals the
    suggestions use; the count it runs is runtime state (``aiplugs status`` shows it and why)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(ge=1, le=MAX_RANGE)
    max: int = Field(ge=1, le=MAX_RANGE)

    @model_validator(mode="after")
    def _ordered(self) -> WorkersRange:
        if self.min > self.max:
            raise ValueError(f"min must be <= max (got min = {self.min}, max = {self.max})")
        return self


WORKER_COUNT: TypeAdapter[int] = TypeAdapter(int)


def validate_workers(value: Any) -> int | WorkersRange:
    """A count (``>= 0``) or a range; one error naming the field, not one per union member."""
    if isinstance(value, WorkersRange):
        return value
    if isinstance(value, dict):
        return WorkersRange.model_validate(value)
    count = WORKER_COUNT.validate_python(value)
    if count < 0:
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("greater_than_equal", "Input should be greater than or equal to {ge}", {"ge": 0})
    return count


class AutotuneConfig(BaseModel):
    """``[autotune]``: when suggestions appear and when the daemon scales a ranged plugin."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="evaluate the rules and scale plugins with a workers range")
    interval_s: float = Field(default=60.0, gt=0, description="how often the daemon evaluates the rules")
    min_samples: int = Field(default=5, ge=1, description="samples a rule needs inside its window")
    sustained: float = Field(default=0.8, gt=0, le=1,
                             description="share of a window's samples that must cross a threshold")
    cooldown_s: float = Field(default=900.0, ge=0,
                              description="a setting that changed is not touched again for this long")
    verify_after_s: float = Field(default=600.0, gt=0,
                                  description="after an applied suggestion, metrics are compared this much later")
    reject_for_s: float = Field(default=7 * 86400.0, ge=0, description="a rejected suggestion stays hidden")
    # scaling: utilization = busy worker-seconds / (seconds x workers)
    scale_up_window_s: float = Field(default=300.0, gt=0)
    scale_up_utilization: float = Field(default=0.8, gt=0, le=1)
    scale_up_contended_pct: float = Field(default=25.0, ge=0, le=100,
                                          description="calls that found every worker busy")
    scale_up_cpu_pct: float = Field(default=85.0, gt=0, description="CPU % per worker (100 = one core)")
    scale_up_wait_ms: float = Field(default=250.0, gt=0, description="p95 wait for a ready worker")
    target_utilization: float = Field(default=0.6, gt=0, le=1, description="what a scale decision aims for")
    scale_down_window_s: float = Field(default=600.0, gt=0, description="stabilisation window of a scale-down")
    scale_down_utilization: float = Field(default=0.2, ge=0, lt=1)
    max_workers: int = Field(default=8, ge=1, description="the most workers a suggestion proposes")
    # errors
    error_window_s: float = Field(default=300.0, gt=0)
    error_pct: float = Field(default=5.0, gt=0, le=100)
    error_min_calls: int = Field(default=20, ge=1)
    # memory: RSS per worker growing steadily
    memory_window_s: float = Field(default=1800.0, gt=0)
    memory_growth_pct: float = Field(default=20.0, gt=0, description="RSS per worker growth across the window")
    memory_fit: float = Field(default=0.8, ge=0, le=1, description="R^2 of the RSS trend line: growth, not noise")
    # cache: identical (tool, payload) calls
    cache_window_s: float = Field(default=600.0, gt=0)
    cache_repeat_pct: float = Field(default=30.0, gt=0, le=100)
    cache_min_calls: int = Field(default=50, ge=1)
    cache_ttl_s: float = Field(default=60.0, gt=0, description="the cache_ttl_s a cache suggestion proposes")
    # timeout
    timeout_window_s: float = Field(default=600.0, gt=0)
    timeout_ratio: float = Field(default=0.8, gt=0, le=1, description="p99 at or above this share of timeout_s")
    timeout_headroom: float = Field(default=2.0, gt=1, description="proposed timeout_s = p99 x this")

    @model_validator(mode="after")
    def _bands(self) -> AutotuneConfig:
        if not self.scale_down_utilization < self.target_utilization < self.scale_up_utilization:
            raise ValueError("scale_down_utilization < target_utilization < scale_up_utilization must hold (got "
                             f"{self.scale_down_utilization}, {self.target_utilization}, {self.scale_up_utilization}):"
                             " otherwise one scaling step can trigger the opposite one")
        return self
