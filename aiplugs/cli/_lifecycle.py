"""Commands over the running system: apply, status, down, logs."""

from __future__ import annotations

import argparse
import re
import sys
import time

from ..errors import AiplugsError
from ..events.catalogue import PROXY_RULES_SWAPPED, PROXY_STARTED, WORKER_EXITED, WORKER_FAILED, WORKER_STARTED
from ._common import add_config_option, add_locked_option, load, print_json, state_dir_of, use_color

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "apply", help="converge the running system to aiplugs.toml",
        description="Validate, plan, confirm (when interactive), hand the desired state to the daemon (starting it "
        "if none runs), show progress, and exit 0 only when everything is converged and healthy.")
    add_config_option(p)
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument("--foreground", action="store_true",
                   help="run the daemon in this process with logs until Ctrl-C (graceful stop, exit 0)")
    p.add_argument("--wait-timeout", type=float, default=600.0, metavar="S",
                   help="how long to wait for convergence (default 600)")
    p.add_argument("--lock-timeout", type=float, default=30.0, metavar="S",
                   help="how long to wait for another apply on the same state dir (default 30)")
    p.add_argument("--json", action="store_true", help="print the plan and the result as JSON")
    add_locked_option(p)
    p.set_defaults(handler=cmd_apply)

    p = commands.add_parser("status", help="what runs: daemon, ports, plugins, models",
                            description="Exit 0 when healthy, 3 when degraded or failed, 4 when no daemon runs.")
    add_config_option(p)
    p.add_argument("--json", action="store_true", help="print the status as JSON (format_version 1)")
    p.set_defaults(handler=cmd_status)

    p = commands.add_parser("down", help="stop everything apply started (models and CA stay)",
                            description="Gracefully stop the proxy, the router and every worker of this state dir.")
    add_config_option(p)
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="grace period before killing")
    p.set_defaults(handler=cmd_down)

    p = commands.add_parser("logs", help="daemon and worker logs",
                            description="Print the daemon's log, or a plugin's worker logs; -f follows them.")
    add_config_option(p)
    p.add_argument("plugin", nargs="?", help="a plugin id (default: the daemon's log)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.add_argument("-n", "--lines", type=int, default=50, help="how many last lines to show (default 50)")
    p.set_defaults(handler=cmd_logs)


# ---- apply ---------------------------------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace) -> int:
    config, desired = load(args)
    if args.foreground:
        return _foreground(args, desired)
    code, _ = run_apply(args, desired)
    return code


def run_apply(args: argparse.Namespace, desired) -> tuple[int, dict | None]:
    """Plan, confirm, converge with progress, print the outcome: (exit code, status). ``args`` carries
    auto_approve, json, wait_timeout and lock_timeout."""
    from ..client import lifecycle

    def show_plan(plan) -> None:
        if not args.json:
            print(plan.to_text(color=use_color()))

    def starting() -> None:
        if not args.json:
            print("\nStarting the aiplugs daemon...")

    progress = None if args.json else _Progress()
    try:
        outcome = lifecycle.apply(
            desired, wait_timeout=args.wait_timeout, lock_timeout=args.lock_timeout,
            confirm=None if args.auto_approve or args.json else _confirm,
            on_plan=show_plan, on_start=starting, on_event=progress.show if progress else None,
        )
    finally:
        if progress is not None:
            progress.close()
    if outcome is None:
        print("Apply cancelled; nothing was changed.")
        return 1, None
    if args.json:
        print_json(outcome.to_dict())
        return (0 if outcome.ok else 1), outcome.status
    if outcome.result is not None:
        result, counts = outcome.result, outcome.plan.counts()
        if result["ok"]:
            print(f"\nApply complete: {counts['add']} added, {counts['change']} changed, "
                  f"{counts['destroy']} destroyed ({result['seconds']:.1f}s).")
        else:
            print("\nApply failed:", file=sys.stderr)
            for failure in result["failures"]:
                print(f"  {failure['unit']}: {failure['error']}", file=sys.stderr)
    _print_addresses(outcome.status)
    return (0 if outcome.ok else 1), outcome.status


def _confirm(plan) -> bool:
    from ..client.lifecycle import ask_to_apply

    return ask_to_apply() if sys.stdin.isatty() else True


def _print_addresses(status: dict) -> None:
    proxy, api = status.get("proxy"), status.get("api")
    if proxy:
        print(f"Proxy:   {proxy['host']}:{proxy['port']}   (your browser's HTTP and HTTPS proxy)")
    if status.get("pac_url"):
        print(f"PAC:     {status['pac_url']}   (or this proxy auto-config URL: only matched sites use the proxy)")
    if api:
        print(f"API:     http://{api['host']}:{api['port']}")
    if status.get("ca_cert"):
        print(f"CA cert: {status['ca_cert']}   (`aiplugs cert` shows how to trust it)")
    if proxy:
        print("See the plugins on a page: `aiplugs browser` (a throwaway browser profile, proxy and CA set up).")
    bad = [p for p in status.get("plugins", []) if p["state"] not in ("ready", "disabled")]
    for plugin in bad:
        print(f"plugin {plugin['id']}: {plugin['state']}: {plugin.get('last_error') or ''}".rstrip(": "),
              file=sys.stderr)


class _Progress:
    """Prints daemon events while apply waits: model download bars, worker starts and failures, the proxy."""

    LINES = {WORKER_STARTED: "started", WORKER_FAILED: "failed to start", WORKER_EXITED: "exited"}

    def __init__(self) -> None:
        from ..client.progress import ModelBars  # only apply draws bars: other commands skip tqdm

        self.bars = ModelBars()

    def show(self, event: dict) -> None:
        kind, data = event.get("type", ""), event.get("data") or {}
        self.bars(event)
        if kind in self.LINES:
            pid = f" (pid {data['pid']})" if data.get("pid") else ""
            print(f"  worker {data['plugin_id']}#{data['index']} {self.LINES[kind]}{pid}", file=sys.stderr)
        elif kind == PROXY_STARTED:
            print(f"  proxy listening on {data['host']}:{data['port']}", file=sys.stderr)
        elif kind == PROXY_RULES_SWAPPED:
            print(f"  proxy rules swapped ({len(data['plugins'])} plugins)", file=sys.stderr)

    def close(self) -> None:
        self.bars.close()


def _foreground(args, desired) -> int:
    import asyncio
    import logging

    from ..store.locks import ApplyLock
    from ..client import DaemonClient
    from ..runtime.daemon import Daemon
    from ..util import eventloop
    from ..client.lifecycle import plan_for

    with ApplyLock(desired.state_dir, timeout=args.lock_timeout):
        client = DaemonClient.find(desired.state_dir)
        if client is not None:
            raise AiplugsError(f"a daemon already runs (pid {client.pid}); `aiplugs down` first to run it "
                               "in the foreground")
        plan = plan_for(desired)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(plan.to_text(color=use_color()))

    async def main() -> int:
        daemon = Daemon(desired, own_process=True)
        ready = asyncio.Event()
        task = asyncio.create_task(daemon.run(on_ready=lambda d: ready.set()))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            waiter.cancel()
            await task  # raises why it could not start
            return 1
        result = await daemon.apply_desired(desired)
        status = await daemon.status()
        if result.ok:
            print(f"\nApply complete ({result.seconds:.1f}s). Running in the foreground; Ctrl-C stops.")
        else:
            for failure in result.failures:
                print(f"  {failure.unit}: {failure.error}", file=sys.stderr)
        _print_addresses(status)
        sys.stdout.flush()
        await task
        return 0

    return eventloop.run(main())  # the daemon's loop, as detached


# ---- status / down / logs ------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from ..client import DaemonClient
    from ..runtime.status import EXIT_NO_DAEMON, exit_code, format_status

    state_dir = state_dir_of(args)
    client = DaemonClient.find(state_dir)
    if client is None:
        if args.json:
            print_json({"format_version": "1", "healthy": False, "daemon": None, "state_dir": str(state_dir)})
        else:
            print(f"No aiplugs daemon runs for {state_dir}. Start one with `aiplugs apply`.")
        return EXIT_NO_DAEMON
    status = client.status()
    if args.json:
        print_json(status)
    else:
        print(format_status(status))
    return exit_code(status)


def cmd_down(args: argparse.Namespace) -> int:
    from ..client.lifecycle import down

    state_dir = state_dir_of(args)
    pid = down(state_dir, timeout=args.timeout)
    if pid is None:
        print(f"No aiplugs daemon runs for {state_dir}; nothing to stop.")
    else:
        print(f"Stopped the aiplugs daemon (pid {pid}). Models and the CA certificate stay.")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from ..client import DAEMON_LOG, LOG_DIR

    logs = state_dir_of(args) / LOG_DIR
    if args.plugin:
        name = re.compile(rf"{re.escape(args.plugin)}-\d+\.log")  # <plugin>-<index>.log; not rotated .log.1
        files = sorted(p for p in logs.glob(f"{args.plugin}-*.log") if name.fullmatch(p.name))
        if not files:
            raise AiplugsError(f"no logs for plugin {args.plugin!r} in {logs}")
    else:
        files = [logs / DAEMON_LOG]
        if not files[0].exists():
            raise AiplugsError(f"no daemon log at {files[0]} (has `aiplugs apply` run here?)")
    positions = {}
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(files) > 1:
            print(f"==> {path.name} <==")
        tail = text.splitlines()[-args.lines:] if args.lines > 0 else []
        print("\n".join(tail))
        positions[path] = len(text.encode("utf-8", errors="replace"))
    if not args.follow:
        return 0
    try:
        while True:
            time.sleep(0.5)
            for path in files:
                size = path.stat().st_size if path.exists() else 0
                if size < positions[path]:
                    positions[path] = 0  # rotated
                if size > positions[path]:
                    with open(path, "rb") as handle:
                        handle.seek(positions[path])
                        chunk = handle.read()
                    positions[path] += len(chunk)
                    prefix = f"[{path.stem}] " if len(files) > 1 else ""
                    for line in chunk.decode("utf-8", "replace").splitlines():
                        print(prefix + line, flush=True)
    except KeyboardInterrupt:
        return 0
