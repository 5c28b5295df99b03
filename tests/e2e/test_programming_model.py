"""The plugin programming model through a real daemon: a three-plugin dependency chain whose middle plugin fails
and recovers (its dependent blocked, then started by itself), lifecycle hooks in order with an uninstall hook that
still sees its files, named tools and events from the CLI, and two plugins that see nothing of each other."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from ..support import free_port, wait_for
from .test_lifecycle import Project


def write(plugins: Path, plugin_id: str, backend: str, **manifest: Any) -> Path:
    folder = plugins / plugin_id
    folder.mkdir(parents=True, exist_ok=True)
    data = {"manifest_version": 3, "id": plugin_id, "name": plugin_id, "version": "1.0.0",
            "inference": {"default_mode": "local", "local_entry": "backend.py"}, **manifest}
    (folder / "manifest.json").write_text(json.dumps(data, indent=2))
    (folder / "backend.py").write_text(backend)
    return folder


def project_with(tmp_path: Path, tables: str) -> Project:
    (tmp_path / "plugins").mkdir(parents=True)
    proj = Project(tmp_path)
    proj.config.write_text(f"[api]\nport = {proj.api_port}\n\n[proxy]\nport = {proj.proxy_port}\n\n{tables}")
    return proj


def rows(proj: Project) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in proj.status()["plugins"]}


CHAIN = """
import os


def init(ctx):
    flag = ctx.settings.get("fail_while")
    if flag and os.path.exists(flag):
        raise RuntimeError("not today: " + flag)


def run(payload, ctx):
    return {"me": ctx.plugin_id}
"""


def test_a_failed_dependency_blocks_its_dependent_until_it_recovers(tmp_path: Path) -> None:
    flag = tmp_path / "middle-is-broken"
    flag.write_text("x")
    proj = project_with(tmp_path, f'[plugins.middle.settings]\nfail_while = "{flag}"\n')
    write(proj.root / "plugins", "base", CHAIN)
    write(proj.root / "plugins", "middle", CHAIN, dependencies=["base"])
    write(proj.root / "plugins", "top", CHAIN, dependencies=[{"id": "middle", "version": ">=1.0"}])
    try:
        graph = proj.cli("graph", check=True).stdout.splitlines()
        assert [line.split()[0] for line in graph] == ["base", "middle", "top"]
        assert graph[2].endswith("needs middle")
        applied = proj.cli("apply", "--auto-approve")
        assert applied.returncode != 0
        state = wait_for(lambda: (r := rows(proj))["middle"]["state"] == "failed" and r, timeout=30)
        assert "init hook failed: RuntimeError: not today" in state["middle"]["last_error"]
        assert state["base"]["state"] == "ready"
        assert state["top"]["state"] == "blocked" and state["top"]["needs"] == ["middle"]
        assert state["top"]["worker_pids"] == []
        flag.unlink()  # the middle plugin's next restart (its backoff) succeeds; top then starts by itself
        wait_for(lambda: all(p["state"] == "ready" for p in rows(proj).values()), timeout=60)
        assert json.loads(proj.cli("call", "top", check=True).stdout) == {"me": "top"}
        dot = proj.cli("graph", "--dot", check=True).stdout
        assert '"top" -> "middle";' in dot and '"middle" -> "base";' in dot and "ready" in dot
    finally:
        proj.cli("down", timeout=60)


HOOKED = """
import json
import os


def _log(ctx, line):
    with open(ctx.data_dir / "hooks.log", "a") as f:
        f.write(line + "\\n")


def install(ctx):
    _log(ctx, f"install {ctx.version}")


def init(ctx):
    _log(ctx, "init")


def shutdown(ctx):
    _log(ctx, "shutdown")


def uninstall(ctx):
    _log(ctx, f"uninstall files={os.path.exists(__file__)} cwd={os.getcwd() == str(ctx.data_dir)}")


def run(payload, ctx):
    return {"cwd": os.getcwd()}


def shout(payload, ctx):
    ctx.publish("shouted", {"text": payload["text"].upper()})
    return payload["text"].upper()


async def count(payload):
    for i in range(payload["n"]):
        yield i
"""


def test_hooks_run_in_order_and_uninstall_still_sees_the_files(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write(source, "hooked", HOOKED, tools=[
        {"name": "shout", "input_schema": {"type": "object", "required": ["text"],
                                           "properties": {"text": {"type": "string"}}}},
        {"name": "count"}])
    proj = project_with(tmp_path / "p", f'[plugins.hooked]\nsource = "{source / "hooked"}"\n')
    log = proj.state_dir / "data" / "hooked" / "hooks.log"
    try:
        proj.cli("apply", "--auto-approve", check=True)
        assert log.read_text().splitlines() == ["install 1.0.0", "init"]
        assert json.loads(proj.cli("call", "hooked", check=True).stdout) == {
            "cwd": str(proj.state_dir / "data" / "hooked")}
        assert stat.S_IMODE(os.stat(proj.state_dir / "data" / "hooked").st_mode) == 0o700
        # named tools from the CLI: schema errors name the field; streams print one line per item
        refused = proj.cli("call", "hooked", "shout", "--json", '{"text": 3}')
        assert refused.returncode == 1 and "text: " in refused.stderr and "string" in refused.stderr
        assert json.loads(proj.cli("call", "hooked", "shout", "--json", '{"text": "hi"}', check=True).stdout) == "HI"
        streamed = proj.cli("call", "hooked", "count", "--json", '{"n": 3}', "--stream", check=True).stdout
        assert streamed.splitlines() == ["0", "1", "2"]
        events = proj.cli("events", "--topic", "hooked/*", "--json", check=True).stdout.splitlines()
        assert [json.loads(e)["data"] for e in events] == [{"text": "HI"}]
        assert json.loads(events[0])["source"] == "hooked"
        # an apply with nothing new runs no hook again
        proj.cli("apply", "--auto-approve", check=True)
        assert log.read_text().splitlines() == ["install 1.0.0", "init"]
        removed = proj.cli("plugins", "remove", "hooked", "--yes")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert "+ hook hooked uninstall  (plugin removed: runs before its files are deleted)" in removed.stdout
        assert log.read_text().splitlines() == ["install 1.0.0", "init", "shutdown",
                                                "uninstall files=True cwd=True"]
        assert not (proj.state_dir / "packages" / "hooked").exists()
    finally:
        proj.cli("down", timeout=60)


SNOOP = """
import os


def run(payload, ctx):
    return {"env": dict(os.environ), "settings": ctx.settings, "models": {k: str(v) for k, v in ctx.models.items()},
            "cwd": os.getcwd()}
"""


def test_two_plugins_see_nothing_of_each_other(tmp_path: Path) -> None:
    secret_schema = {"type": "object", "properties": {
        "token": {"type": "string", "writeOnly": True}, "level": {"type": "integer", "default": 2}}}
    proj = project_with(tmp_path, '[plugins.alpha.settings]\nlevel = 7\n\n[plugins.beta.env]\nBETA_ONLY = "b"\n')
    write(proj.root / "plugins", "alpha", SNOOP, settings_schema=secret_schema)
    write(proj.root / "plugins", "beta", SNOOP, settings_schema=secret_schema)
    secret = f"s3cr3t-{free_port()}"
    proj.env["AIPLUGS_PLUGINS__BETA__SETTINGS__TOKEN"] = secret
    try:
        proj.cli("apply", "--auto-approve", check=True)
        alpha = json.loads(proj.cli("call", "alpha", check=True).stdout)
        beta = json.loads(proj.cli("call", "beta", check=True).stdout)
        assert alpha["settings"] == {"level": 7} and beta["settings"] == {"level": 2, "token": secret}
        assert secret not in json.dumps(alpha) and "BETA_ONLY" not in alpha["env"] and beta["env"]["BETA_ONLY"] == "b"
        assert alpha["cwd"] != beta["cwd"] and alpha["cwd"].endswith("/data/alpha")
        assert not any(k.startswith("AIPLUGS_PLUGINS__") for k in alpha["env"])  # no other plugin's overrides
        # the secret is never printed
        for args in (["config"], ["config", "--json"], ["status", "--json"], ["plan"]):
            assert secret not in proj.cli(*args).stdout, args
        assert secret not in (proj.state_dir / "state.json").read_text()
        from aiplugs.client import DaemonClient

        client = DaemonClient.find(proj.state_dir)
        for path in ("/api/state", "/api/status", "/api/plugins/beta", "/metrics", "/api/events?follow=0"):
            answer = client.request("GET", path)
            assert secret not in (answer if isinstance(answer, str) else json.dumps(answer)), path
        logs = "".join(p.read_text(errors="replace") for p in (proj.state_dir / "logs").glob("*.log"))
        assert secret not in logs
    finally:
        proj.cli("down", timeout=60)
