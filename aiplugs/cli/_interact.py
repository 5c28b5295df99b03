"""Commands that talk to the running plugins: call a tool, follow the events between plugins, restart one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import AiplugsError
from ._common import add_config_option, daemon_client, print_json

__all__ = ["register"]


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "call", help="call a plugin's tool (run by default) and print its answer",
        description="Calls TOOL of PLUGIN with a JSON payload, as a content script would, and prints the answer as "
        "JSON. A streaming tool prints one JSON line per item with --stream. Input the tool's schema refuses "
        "is answered with each field path (exit 1).")
    add_config_option(p)
    p.add_argument("plugin", help="a plugin id (see `aiplugs status`)")
    p.add_argument("tool", nargs="?", default="run", help="a tool its manifest declares (default: run)")
    p.add_argument("--json", dest="payload", metavar="JSON", default=None,
                   help="the payload as JSON text, or @FILE to read it from a file (default: {})")
    p.add_argument("--stream", action="store_true", help="print each item of a streaming answer as it comes")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="seconds to wait (default 120)")
    p.set_defaults(handler=cmd_call)

    p = commands.add_parser(
        "events", help="the events plugins publish to each other (and system events)",
        description="Prints plugin events ({type, source, data, time}) from the running daemon: the recent ones, "
        "and with -f every new one until Ctrl-C. --topic filters by topic pattern (`word-count/*`, "
        "`aiplugs/*`).")
    add_config_option(p)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events until Ctrl-C")
    p.add_argument("--topic", action="append", default=[], metavar="PATTERN",
                   help="only topics matching PATTERN (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(handler=cmd_events)

    p = commands.add_parser("restart", help="replace a plugin's workers (and retry what failed for it)",
                            description="Replace every worker of PLUGIN, one at a time, each after its calls "
                            "drained; forgets its crash-loop history, a failed install hook and a failed build of "
                            "its Python environment. Exit 0 when its workers run again.")
    add_config_option(p)
    p.add_argument("plugin", help="a plugin id (see `aiplugs status`)")
    p.add_argument("--json", action="store_true", help="print the plugin's status row as JSON")
    p.set_defaults(handler=cmd_restart)


def _payload(text: str | None) -> Any:
    if text is None:
        return {}
    where = "--json"
    if text.startswith("@"):
        where = text[1:]
        try:
            text = Path(where).read_text(encoding="utf-8")
        except OSError as e:
            raise AiplugsError(f"cannot read the payload from {where}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise AiplugsError(f"{where}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None


def cmd_call(args: argparse.Namespace) -> int:
    from ..client import DaemonError

    payload = _payload(args.payload)
    client = daemon_client(args)
    tool = None if args.tool == "run" else args.tool
    try:
        if args.stream:
            with client.stream(args.plugin, payload, tool=tool, timeout=args.timeout) as feed:
                for item in feed:
                    print(json.dumps(item, ensure_ascii=False), flush=True)
            return 0
        print_json(client.call(args.plugin, payload, tool=tool, timeout=args.timeout))
    except DaemonError as e:
        error = e.payload.get("error") if isinstance(getattr(e, "payload", None), dict) else None
        fields = error.get("errors") if isinstance(error, dict) else None
        if fields:
            lines = "\n".join(f"  {f['path'] or '(the payload)'}: {f['message']}" for f in fields)
            raise AiplugsError(f"{args.plugin} {args.tool}: the input does not fit its schema:\n{lines}") from None
        raise
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from ..declaration.topics import topic_matches
    from ..events.catalogue import PLUGIN_EVENT

    client = daemon_client(args)

    def wanted(event: dict[str, Any]) -> bool:
        if event.get("type") != PLUGIN_EVENT:
            return False
        return not args.topic or any(topic_matches(p, event["data"]["topic"]) for p in args.topic)

    def show(event: dict[str, Any]) -> None:
        data = event["data"]
        if args.json:
            print(json.dumps({"type": data["topic"], "source": data["source"], "data": data["data"],
                              "time": event.get("ts")}, ensure_ascii=False), flush=True)
        else:
            print(f"{_clock(event.get('ts'))}  {data['topic']:<32} from {data['source']:<16} "
                  f"{json.dumps(data['data'], ensure_ascii=False)}", flush=True)

    if not args.follow:
        for event in client.recent_events():
            if wanted(event):
                show(event)
        return 0
    try:
        with client.events(replay=True) as feed:
            for event in feed:
                if wanted(event):
                    show(event)
    except KeyboardInterrupt:
        return 0
    return 0


def _clock(when: Any) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(when)) if isinstance(when, (int, float)) else "--:--:--"


def cmd_restart(args: argparse.Namespace) -> int:
    client = daemon_client(args)
    client.restart(args.plugin)
    row = next((p for p in client.status()["plugins"] if p["id"] == args.plugin), None)
    if args.json:
        print_json(row)
    elif row is not None:
        pids = ", ".join(str(p) for p in row["worker_pids"]) or "none"
        print(f"Restarted {args.plugin}: {row['state']}, workers {row['workers_ready']}/{row['workers_desired']} "
              f"(pids {pids}).")
    return 0
