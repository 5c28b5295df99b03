"""``aiplugs top``: a live view of the local plugins, like ``docker stats`` — workers, CPU, memory, requests/s,
p50/p95 latency, error %, calls in flight and the wait for a worker, refreshed every second until Ctrl-C.

On a terminal each frame replaces the last; without one (a pipe, a log) frames are printed one after another
with no escape codes. ``--once`` prints one frame (two readings ``--interval`` apart) and exits; with ``--json``
it is ``{time, interval_s, plugins: [...]}`` (``aiplugs.client.top`` names the keys); without ``--once``,
``--json`` prints one such object per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Sequence

from ._common import add_config_option, daemon_client, print_json

__all__ = ["format_table", "register"]

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen
COLUMNS = (("PLUGIN", "id"), ("WORKERS", "workers"), ("CPU %", "cpu_pct"), ("MEM", "rss_bytes"),
           ("REQ/S", "rps"), ("P50 MS", "p50_ms"), ("P95 MS", "p95_ms"), ("ERR %", "error_pct"),
           ("IN-FLIGHT", "inflight"), ("WAIT MS", "wait_ms"))


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "top", help="live CPU, memory, requests/s, latency and errors per plugin",
        description="Shows each local plugin's workers (ready/total), CPU % of their process trees (100 = one "
        "core), resident memory, requests/s, p50/p95 latency and error % of the calls in the last interval, "
        "calls in flight now, and the mean wait for a ready worker; refreshed every --interval seconds until "
        "Ctrl-C. --once prints one frame and exits; --json prints it as JSON.")
    add_config_option(p)
    p.add_argument("--once", action="store_true", help="print one frame and exit")
    p.add_argument("--json", action="store_true", help="JSON instead of a table (one object per frame)")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="seconds between frames (default 1)")
    p.add_argument("-n", "--iterations", type=int, default=None, metavar="N",
                   help="stop after N frames (default: until Ctrl-C)")
    p.set_defaults(handler=cmd_top)


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return "-"


def _cell(key: str, row: dict[str, Any]) -> str:
    value = row.get(key)
    if key == "workers":
        return f"{row.get('workers', 0)}/{row.get('slots', 0)}"
    if key == "rss_bytes":
        return _size(value)
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The frame as aligned text; a line saying so when no plugin runs local workers."""
    if not rows:
        return "No local plugins are running (`aiplugs status` shows why)."
    grid = [[title for title, _ in COLUMNS]] + [[_cell(key, row) for _, key in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in grid)


def cmd_top(args: argparse.Namespace) -> int:
    from ..client.top import top_report

    if args.interval <= 0:
        raise SystemExit("error: --interval must be positive")
    client = daemon_client(args)
    live = sys.stdout.isatty() and not args.json and not args.once
    frames = 1 if args.once else args.iterations
    before = client.top()
    shown = 0
    try:
        while frames is None or shown < frames:
            time.sleep(args.interval)
            after = client.top()
            report = top_report(before, after)
            before = after
            shown += 1
            if args.json and frames == 1:
                print_json(report)
            elif args.json:  # a stream of frames: one JSON object per line
                sys.stdout.write(json.dumps(report) + "\n")
            else:
                text = format_table(report["plugins"])
                sys.stdout.write(f"{CLEAR}{text}\n" if live else f"{text}\n\n" if frames != 1 else f"{text}\n")
            sys.stdout.flush()
    except KeyboardInterrupt:  # Ctrl-C is how a live view ends
        return 0
    return 0
