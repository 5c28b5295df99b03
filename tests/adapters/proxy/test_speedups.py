"""speedups: the lighter ``Context.fork`` (same meaning as mitmproxy's own) and the lean addons package."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

from mitmproxy import connection, options
from mitmproxy.proxy import context

from aiplugs.adapters.proxy import speedups


def _context() -> context.Context:
    client = connection.Client(peername=("127.0.0.1", 5), sockname=("127.0.0.1", 8080), timestamp_start=0)
    ctx = context.Context(client, options.Options())
    ctx.server = connection.Server(address=("example.test", 80))
    ctx.layers = ["outer"]  # type: ignore[list-item]
    return ctx


def test_installed_fork_shares_server_and_client_and_copies_layers() -> None:
    assert speedups.install() is True and speedups.install() is True  # idempotent
    assert getattr(context.Context.fork, "_aiplugs", False)
    ctx = _context()
    forked = ctx.fork()
    assert type(forked) is context.Context and vars(forked).keys() == vars(ctx).keys()
    assert forked.server is ctx.server and forked.client is ctx.client and forked.options is ctx.options
    assert forked.layers == ["outer"] and forked.layers is not ctx.layers


def test_an_unknown_fork_is_left_alone(monkeypatch) -> None:
    def fork(self):  # a future mitmproxy's different code
        return self

    monkeypatch.setattr(context.Context, "fork", fork)
    assert speedups.install() is False
    assert context.Context.fork is fork


def test_the_expected_source_is_mitmproxys_own() -> None:
    """Fails when the pinned mitmproxy changes fork: then look again at what the speedup replaces."""
    module_source = inspect.getsource(context)  # the file as shipped, whatever is installed on the class now
    assert textwrap.indent(speedups._EXPECTED.strip(), "    ") in module_source


LEAN = """
import sys
from aiplugs.adapters.proxy import speedups
assert speedups.lean_addons() is True
from mitmproxy import master, options
from mitmproxy.addons import block, core, disable_h2c, next_layer, proxyserver, tlsconfig
heavy = sorted(m for m in ("flask", "werkzeug", "ldap3", "passlib", "asgiref") if m in sys.modules)
print("heavy", heavy)
import mitmproxy.addons
names = [type(a).__name__ for a in mitmproxy.addons.default_addons()]  # the __init__ runs on first use
print("defaults", len(names), "Core" in names, "flask" in sys.modules)
"""


def test_lean_addons_import_only_the_addons_used_until_the_defaults_are_asked_for() -> None:
    out = subprocess.run([sys.executable, "-c", LEAN], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "heavy []"
    count, has_core, flask = lines[1].split()[1:]
    assert int(count) > 20 and has_core == "True" and flask == "True"


def test_lean_addons_leaves_an_imported_package_alone() -> None:
    code = "import mitmproxy.addons\nfrom aiplugs.adapters.proxy import speedups\nprint(speedups.lean_addons())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["False"], out.stderr
