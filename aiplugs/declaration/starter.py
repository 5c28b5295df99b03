"""``aiplugs init``: a commented starter ``aiplugs.toml``, and (``--examples``) the example plugins beside it.

Both come from the package itself (``aiplugs/examples/``: in a checkout these are links to the repository's own
``aiplugs.toml`` and ``plugins/``, which a wheel carries as real files), so ``pip install aiplugs && aiplugs init
--examples && aiplugs apply`` runs the same example a clone runs. Nothing existing is ever overwritten.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import AiplugsError
from ..util.atomic import temp_path_for

__all__ = ["InitResult", "example_plugins", "init_project", "starter_text"]

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
    plugins: tuple[Path, ...]  # example plugin folders written


def example_plugins() -> list[str]:
    return sorted(entry.name for entry in (EXAMPLES / "plugins").iterdir()
                  if entry.is_dir() and not entry.name.startswith((".", "_")))


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
    plugins_dir = config_path.parent / "plugins"
    targets = [config_path] + ([plugins_dir / name for name in example_plugins()] if examples else [])
    taken = [str(t) for t in targets if t.exists()]
    if taken:
        raise AiplugsError(f"not overwriting what exists: {', '.join(taken)}")
    text = starter_text(with_examples=examples)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if examples:
        for name in example_plugins():
            staging = temp_path_for(plugins_dir / name)  # a folder appears whole or not at all
            try:
                with resources.as_file(EXAMPLES / "plugins" / name) as source:
                    shutil.copytree(source, staging, ignore=IGNORED)
                os.replace(staging, plugins_dir / name)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            written.append(plugins_dir / name)
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return InitResult(config_path, tuple(written))
