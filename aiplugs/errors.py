"""Errors users see: each one points at a file position or a field path and names the bad value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = ["AiplugsError", "ConfigError", "Problem", "did_you_mean", "format_loc"]


class AiplugsError(Exception):
    """Base of every error aiplugs raises on purpose; the CLI prints it without a traceback."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the declaration: ``aiplugs.toml:14:11: plugins.word-count.workers: must be >= 0 (got -1)``."""

    source: str  # a file path, or "env AIPLUGS_X" / "default"
    message: str
    path: str = ""  # dotted field path
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(AiplugsError):
    """One or more problems with aiplugs.toml, the environment or plugin manifests, reported together."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_loc(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    import difflib  # for a message only

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
