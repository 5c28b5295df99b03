"""``aiplugs graph``: the plugins and what each depends on, with their states when a daemon runs."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_config_option, load, print_json

__all__ = ["register"]

COLORS = {"ready": "darkgreen", "idle": "gray40", "starting": "darkorange", "degraded": "darkorange",
          "failed": "red", "blocked": "red", "stopped": "gray40", "disabled": "gray70"}


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "graph", help="the plugin dependency graph, with states",
        description="Prints each plugin (in the order apply starts them: dependencies first) with what it needs "
        "and, when a daemon runs, its state. --dot writes Graphviz (`aiplugs graph --dot | dot -Tsvg > g.svg`).")
    add_config_option(p)
    form = p.add_mutually_exclusive_group()
    form.add_argument("--dot", action="store_true", help="Graphviz dot text")
    form.add_argument("--json", action="store_true", help="{nodes, edges} as JSON")
    p.set_defaults(handler=cmd_graph)


def graph(desired: Any, status: dict[str, Any] | None) -> dict[str, Any]:
    """Nodes in start order (disabled ones last) and one edge per dependency: ``from`` needs ``to``."""
    states = {p["id"]: p["state"] for p in status["plugins"]} if status else {}
    nodes = [{"id": p.id, "version": p.version, "mode": p.mode, "state": states.get(p.id)} for p in desired.plugins]
    nodes += [{"id": pid, "version": None, "mode": None, "state": "disabled"} for pid in desired.disabled]
    edges = [{"from": p.id, "to": dep} for p in desired.plugins for dep in p.dependencies]
    return {"nodes": nodes, "edges": edges}


def to_text(data: dict[str, Any]) -> str:
    needs: dict[str, list[str]] = {}
    for edge in data["edges"]:
        needs.setdefault(edge["from"], []).append(edge["to"])
    width = max((len(n["id"]) + len(n["version"] or "") for n in data["nodes"]), default=0) + 2
    lines = []
    for node in data["nodes"]:
        name = f"{node['id']} {node['version'] or ''}".rstrip()
        state = node["state"] or "(no daemon)"
        wants = needs.get(node["id"])
        lines.append((f"{name:<{width}} {state:<10}" + (f" needs {', '.join(wants)}" if wants else "")).rstrip())
    return "\n".join(lines) if lines else "No plugins are declared."


def to_dot(data: dict[str, Any]) -> str:
    lines = ["digraph aiplugs {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node in data["nodes"]:
        label = "\\n".join(x for x in (node["id"], node["version"], node["state"]) if x)
        color = COLORS.get(node["state"] or "", "black")
        lines.append(f'  "{node["id"]}" [label="{label}", color="{color}"];')
    lines += [f'  "{e["from"]}" -> "{e["to"]}";' for e in data["edges"]]
    return "\n".join([*lines, "}"])


def cmd_graph(args: argparse.Namespace) -> int:
    from ..client import DaemonClient

    config, desired = load(args)
    client = DaemonClient.find(config.state_dir)
    data = graph(desired, client.status() if client is not None else None)
    if args.json:
        print_json(data)
    elif args.dot:
        print(to_dot(data))
    else:
        print(to_text(data))
    return 0
