"""The ``[metrics]`` section: whether the daemon collects metrics, how often it samples and how long it keeps the
one-minute history (``<state_dir>/metrics.sqlite``), with the defaults the README documents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MetricsConfig"]


class MetricsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="count calls, sample worker CPU and memory, keep the history")
    sample_s: float = Field(default=5.0, ge=0.1, le=60.0,
                            description="seconds between two samples of worker CPU and memory")
    retention_days: float = Field(default=7.0, gt=0, le=366, description="days of one-minute history kept")
