"""Commands: aiplugs models list | pull | verify | gc — the model store from the command line."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import AiplugsError, did_you_mean
from ._common import add_config_option, load, print_json

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("models", help="list, pull, verify and clean the model store",
                            description="The central model store (models_dir): what the enabled plugins declare, "
                            "what is on disk, and verified by sha256.")
    add_config_option(p)
    actions = p.add_subparsers(dest="models_action", metavar="ACTION", required=True)

    a = actions.add_parser("list", help="show each declared model and its state",
                           description="Show each declared model: env key, file, size, state (missing, ready, "
                           "corrupt, downloading, unverified) and the plugins that use it. Cheap: never hashes.")
    add_config_option(a)
    a.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a.set_defaults(handler=cmd_list)

    a = actions.add_parser("pull", help="download and verify models now",
                           description="Download (or verify in place) the given models, or every declared model, "
                           "including those of lazy plugins. Already verified models cost nothing.")
    add_config_option(a)
    a.add_argument("keys", nargs="*", metavar="KEY", help="model env key or filename (default: all)")
    a.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="always show progress bars (default: only on a terminal)")
    a.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress bars")
    a.set_defaults(handler=cmd_pull)

    a = actions.add_parser("verify", help="re-hash model files and report drift",
                           description="Re-hash every (or the given) model file, record the result and report "
                           "files that are missing, corrupt or changed since last verified. Exit 1 if any is "
                           "not ready.")
    add_config_option(a)
    a.add_argument("keys", nargs="*", metavar="KEY", help="model env key or filename (default: all)")
    a.set_defaults(handler=cmd_verify)

    a = actions.add_parser("gc", help="remove files no enabled plugin declares, stale temp files and locks",
                           description="Remove files in models_dir that no enabled plugin declares, temp files "
                           "of processes that are gone and lock files nobody holds.")
    add_config_option(a)
    a.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    a.set_defaults(handler=cmd_gc)


def _store(desired: Any, bars: Any = None) -> Any:
    """The model store of ``desired``; its download events drive ``bars`` (a ModelBars) when given."""
    from ..adapters.models import ModelStore
    from ..events import NULL_BUS, EventBus

    events = NULL_BUS
    if bars is not None:
        events = EventBus()
        events.listen(bars)
    return ModelStore(desired.models_dir, desired.state_dir, events=events)


def _select(desired: Any, keys: list[str]) -> list[Any]:
    if not keys:
        return list(desired.models)
    by_name = {}
    for model in desired.models:
        by_name[model.filename] = model
        for key in model.keys:
            by_name[key] = model
    unknown = [k for k in keys if k not in by_name]
    if unknown:
        raise AiplugsError(f"no enabled plugin declares a model {unknown[0]!r}" + did_you_mean(unknown[0], by_name)
                           + "; see `aiplugs models list`")
    return list({by_name[k].filename: by_name[k] for k in keys}.values())


def _human(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)  # pragma: no cover


def cmd_list(args: argparse.Namespace) -> int:
    from ..util.redact import redact_url

    _, desired = load(args)
    store = _store(desired)
    rows = []
    for model in desired.models:
        try:
            size: int | None = store.path_for(model).stat().st_size
        except OSError:
            size = model.size
        rows.append({"keys": list(model.keys), "file": model.filename, "size": size, "state": store.status(model).value,
                     "used_by": list(model.used_by), "lazy": model.lazy, "path": str(store.path_for(model)),
                     "url": redact_url(model.url)})
    if args.json:
        print_json({"format_version": "1", "models_dir": str(desired.models_dir), "models": rows})
        return 0
    if not rows:
        print(f"No enabled plugin declares a model (models_dir {desired.models_dir}).")
        return 0
    table = [("KEY", "FILE", "SIZE", "STATE", "USED BY")]
    for r in rows:
        used = ", ".join(r["used_by"]) + (" (lazy)" if r["lazy"] else "")
        table.append((",".join(r["keys"]), r["file"], _human(r["size"]), r["state"], used))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    import asyncio

    _, desired = load(args)
    models = _select(desired, args.keys)
    from ..plan import ModelState
    from ..runtime.models import pull

    from ..client.progress import ModelBars

    bars = ModelBars(bars=args.progress)
    store = _store(desired, bars)
    before = {m.filename: store.status(m) for m in models}
    try:
        paths = asyncio.run(pull(store, models))
    finally:
        bars.close()
    for model, path in zip(models, paths):
        note = "already verified" if before[model.filename] is ModelState.READY else "verified"
        print(f"ready  {model.filename}  {path}  ({note})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import asyncio

    _, desired = load(args)
    models = _select(desired, args.keys)
    store = _store(desired)

    async def run() -> list[Any]:
        return [await store.verify(m) for m in models]

    failed = 0
    for result in asyncio.run(run()):
        drift = "  (changed since last verified)" if result.drift else ""
        if result.ok:
            print(f"ok       {result.filename}  sha256 {result.actual_sha256}{drift}")
        elif result.state.value == "missing":
            failed += 1
            print(f"missing  {result.filename}  (run `aiplugs models pull {result.filename}`){drift}")
        else:
            failed += 1
            print(f"CORRUPT  {result.filename}  expected sha256 {result.expected_sha256}, got "
                  f"{result.actual_sha256}{drift}; `aiplugs models pull {result.filename}` replaces it")
    if failed:
        print(f"{failed} of {len(models)} model(s) not ready.")
    return 1 if failed else 0


def cmd_gc(args: argparse.Namespace) -> int:
    _, desired = load(args)
    removed = _store(desired).gc(desired, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in removed:
        print(f"{verb}  {path}")
    if not removed:
        print(f"nothing to remove in {desired.models_dir}")
    return 0
