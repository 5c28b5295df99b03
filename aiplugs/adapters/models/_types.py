"""The small values the model store hands out: its error and a verify result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from ...errors import AiplugsError
from ...plan import ModelState

__all__ = ["ModelError", "VerifyResult"]


class ModelError(AiplugsError):
    """A model could not be provisioned or verified; the message says which, from where, and what to do."""

    expected: str | None = None  # set for a sha256 mismatch: what was wanted and what arrived
    actual: str | None = None

    @classmethod
    def mismatch(cls, expected: str, actual: str, message: str) -> ModelError:
        error = cls(message)
        error.expected, error.actual = expected, actual
        return error


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of re-hashing one model file on demand."""

    filename: str
    path: Path
    state: ModelState  # READY, CORRUPT or MISSING
    expected_sha256: str
    actual_sha256: str | None  # None when the file is missing
    size: int | None
    drift: bool  # the file no longer matches what state.json recorded (changed on disk since verified)

    @property
    def ok(self) -> bool:
        return self.state is ModelState.READY
