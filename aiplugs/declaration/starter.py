"""``aiplugs init``: a commented starter ``aiplugs.toml``, and (``--examples``) the example plugins beside it.

Both come from the package itself (``aiplugs/examples/``: in a checkout these are links to the repository's own
``aiplugs.toml``, ``plugins/`` and ``examples/``, which a wheel carries as real files), so ``pip install aiplugs &&
aiplugs init --examples && aiplugs apply`` runs the same example a clone runs. ``examples/`` holds plugin folders
that aiplugs.toml installs as packages (``source = "examples/page-topic"``); they land beside it at the same
relative path. Nothing existing is ever overwritten.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import AiplugsError
from ..util.atomic import temp_path_for

__all__ = ["InitResult", "example_plugins", "example_sources", "init_project", "starter_text"]

EXAMPLES = resources.files("aiplugs") / "examples"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
NO_PLUGINS = """
# One table per plugin folder under plugins_dir (every folder is enabled unless `enabled = false`):
# [plugins.my-plugin]
# workers = 1
"""


@dataclass(frozen=True)
class InitResult:
    config: Path
    plugins: tuple[Path, ...]  # example plugin folders written: plugins/ ones, then examples/ ones


def _folders(parent: str) -> list[str]:
    folder = EXAMPLES / parent
    if not folder.is_dir():
        return []
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith((".", "_")))


def example_plugins() -> list[str]:
    """The example plugin folders under ``plugins/`` (each is a plugin of the project)."""
    return _folders("plugins")


def example_sources() -> list[str]:
    """The example plugin folders under ``examples/`` (aiplugs.toml installs them from there as packages)."""
    return _folders("examples")


def starter_text(*, with_examples: bool) -> str:
    """The shipped aiplugs.toml; without the examples its plugin tables go (they would name missing folders)."""
    text = (EXAMPLES / "aiplugs.toml").read_text(encoding="utf-8")
    if with_examples:
        return text
    import tomlkit

    document = tomlkit.parse(text)
    document.pop("plugins", None)
    return tomlkit.dumps(document).rstrip("\n") + "\n" + NO_PLUGINS


def init_project(config_path: Path, *, examples: bool = False) -> InitResult:
    """Writes the starter (and the example plugins); refuses before writing anything if any target exists."""
    config_path = Path(config_path)
    folders = ([("plugins", name) for name in example_plugins()]
               + [("examples", name) for name in example_sources()]) if examples else []
    targets = [config_path] + [config_path.parent / parent / name for parent, name in folders]
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise AiplugsError(f"not overwriting what exists: {', '.join(taken)}")
    text = starter_text(with_examples=examples)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for parent, name in folders:
        target = config_path.parent / parent / name
        staging = temp_path_for(target)  # a folder appears whole or not at all
        try:
            with resources.as_file(EXAMPLES / parent / name) as source:
                shutil.copytree(source, staging, ignore=IGNORED)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        written.append(target)
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return InitResult(config_path, tuple(written))
