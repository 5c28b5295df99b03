"""The small values the model store hands out: its error, the status of a model file, a verify result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ...errors import AiplugsError

__all__ = ["ModelError", "ModelStatus", "VerifyResult"]

ModelStatus = Literal["missing", "ready", "corrupt", "downloading", "unverified"]


class ModelError(AiplugsError):
    """A model could not be provisioned or verified; the message says which, from where, and what to do."""


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of re-hashing one model file on demand."""

    filename: str
    path: Path
    state: Literal["ready", "corrupt", "missing"]
    expected_sha256: str
    actual_sha256: str | None  # None when the file is missing
    size: int | None
    drift: bool  # the file no longer matches what state.json recorded (changed on disk since verified)

    @property
    def ok(self) -> bool:
        return self.state == "ready"
