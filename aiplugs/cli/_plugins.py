"""``aiplugs plugins ...``: build, inspect, install, list, update, enable, disable and remove plugin packages.

Every change is an edit of aiplugs.toml (comments kept, the diff shown) followed by ``apply``: the declaration stays
the one truth, and the daemon does the installing. The handlers live in ``_plugins_view`` (pack, inspect, list),
``_plugins_change`` (install, remove, enable, disable) and ``_plugins_update`` (outdated, update).
"""

from __future__ import annotations

import argparse

from . import _plugins_change, _plugins_update, _plugins_view
from ._common import add_config_option

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser(
        "plugins", help="install, inspect, update and remove plugin packages",
        description="Plugins installed from packages: `[plugins.<id>] source = \"<URI>\"` (+ `sha256`) in "
        "aiplugs.toml. Every change edits aiplugs.toml (comments kept) and applies it.",
        epilog="Run `aiplugs plugins COMMAND --help` for the options of one command.")
    add_config_option(group)
    sub = group.add_subparsers(dest="plugins_command", metavar="COMMAND", required=True)
    _view(sub)
    _change(sub)
    _updates(sub)


def _leaf(sub: argparse._SubParsersAction, name: str, help: str, description: str, handler, *,
          json: bool = False) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description)
    add_config_option(p)
    if json:
        p.add_argument("--json", action="store_true", help="print JSON (format_version 1) instead of text")
    p.set_defaults(handler=handler)
    return p


def _applying(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait-timeout", type=float, default=600.0, metavar="S",
                   help="how long apply waits for convergence (default 600)")


def _view(sub: argparse._SubParsersAction) -> None:
    p = _leaf(sub, "pack", "build a package (.zip or .tar.gz) from a plugin folder",
              "Archive a plugin folder reproducibly (the same files give the same bytes and sha256) and print its "
              "sha256 and size: publish the file and pin the sha256 in aiplugs.toml.", _plugins_view.cmd_pack,
              json=True)
    p.add_argument("folder", metavar="DIR", help="the plugin folder (manifest.json inside)")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="the archive file, or a folder for <id>-<version>.zip (default: the current folder)")
    p.add_argument("--format", choices=("zip", "tar.gz"), default="zip", help="archive format (default zip)")

    p = _leaf(sub, "inspect", "show what a package would do, without installing it",
              "Fetch a package (any URL fsspec reads, a path, or a plugin folder) into a temp folder, read its "
              "manifest and show its version, size, sha256, the hosts its content scripts see, whether the proxy "
              "would decrypt every site for it, its models and Python requirements. Nothing is installed or run.",
              _plugins_view.cmd_inspect, json=True)
    p.add_argument("uri", metavar="URI", help="http(s)://..., s3://..., file://..., a path or a plugin folder")
    p.add_argument("--sha256", metavar="H", help="refuse unless the package has this sha256")

    _leaf(sub, "list", "the plugins, where they come from, their state and available updates",
          "One row per plugin: id, version, source (or folder), state (from the running daemon, if any) and "
          "the update `aiplugs plugins outdated` last found. Makes no network call.",
          _plugins_view.cmd_list, json=True)


def _change(sub: argparse._SubParsersAction) -> None:
    p = _leaf(sub, "install", "inspect a package, confirm, declare it in aiplugs.toml and apply",
              "Show what `plugins inspect` shows and the permissions, ask for confirmation, add [plugins.<id>] "
              "with source and the sha256 just seen (comments in aiplugs.toml kept), then apply. The package's "
              "code runs only after you confirmed. A relative path is written relative to aiplugs.toml's folder.",
              _plugins_change.cmd_install)
    p.add_argument("uri", metavar="URI", help="http(s)://..., s3://..., file://..., a path or a plugin folder")
    p.add_argument("--id", help="the plugin id (default: the manifest's; must equal it)")
    p.add_argument("--sha256", metavar="H", help="refuse unless the package has this sha256")
    p.add_argument("--force", action="store_true",
                   help="install even when the same version with other content is declared, or a plugin folder "
                   "of that id exists")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--detach", action="store_true",
                   help="have the running daemon install it as a job and print the job id")
    _applying(p)

    p = _leaf(sub, "remove", "remove a plugin's table from aiplugs.toml and apply",
              "Remove [plugins.<id>] (comments kept) and apply: its workers stop, its package and its aiplugs.lock "
              "entry go. Refused while an enabled plugin depends on it. Models stay (`aiplugs models gc`).",
              _plugins_change.cmd_remove)
    p.add_argument("plugin", metavar="ID")
    p.add_argument("--purge", action="store_true", help="also delete its data folder <state_dir>/data/<id>/")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _applying(p)

    for name, verb in (("enable", "enabled = true"), ("disable", "enabled = false")):
        p = _leaf(sub, name, f"set {verb} in a plugin's table and apply",
                  f"Set `{verb}` in [plugins.<id>] of aiplugs.toml (comments kept), show the diff, then apply.",
                  _plugins_change.cmd_enable if name == "enable" else _plugins_change.cmd_disable)
        p.add_argument("plugin", metavar="ID")
        _applying(p)


def _updates(sub: argparse._SubParsersAction) -> None:
    p = _leaf(sub, "outdated", "ask the release index of each installed package for a newer version",
              "For every plugin installed from a package whose manifest has an update_url, read its index "
              "([{version, url, sha256}]) and show the newest release (PEP 440; pre-releases only if there is "
              "nothing else). Changes nothing; the result is cached for `plugins list`.",
              _plugins_update.cmd_outdated, json=True)
    p.add_argument("plugin", metavar="ID", nargs="?", help="only this plugin")

    p = _leaf(sub, "update", "move installed packages to their newest release and apply",
              "For the given plugin (default: every plugin installed from a package with an update_url), read its "
              "index, inspect the newest release, show its permissions, confirm, set source and sha256 of its "
              "table to that release (comments kept) and apply.", _plugins_update.cmd_update)
    p.add_argument("plugin", metavar="ID", nargs="?", help="only this plugin")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    _applying(p)
