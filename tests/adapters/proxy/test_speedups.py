"""speedups: each replacement answers as mitmproxy's own function does, only for the reviewed source; and the
lean addons package."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing

import pytest

from mitmproxy import connection, options
from mitmproxy.proxy import context

from aiplugs.adapters.proxy import speedups


def _context() -> context.Context:
    client = connection.Client(peername=("127.0.0.1", 5), sockname=("127.0.0.1", 8080), timestamp_start=0)
    ctx = context.Context(client, options.Options())
    ctx.server = connection.Server(address=("example.test", 80))
    ctx.layers = ["outer"]  # type: ignore[list-item]
    return ctx


ALL = {"fork", "authority", "valid_host", "hook_args", "trigger_event", "post_init"}


def test_every_speedup_installs_on_the_pinned_mitmproxy_once() -> None:
    assert speedups.install() == ALL and speedups.install() == ALL  # idempotent
    from mitmproxy.net import check
    from mitmproxy.net.http import url

    assert url.is_valid_host is check.is_valid_host  # the name url.py imported for itself is the fast one too


def test_reviewed_digests_are_of_mitmproxys_own_functions() -> None:
    """Fails when the pinned mitmproxy changes a replaced function: then look again at what the speedup does."""
    from mitmproxy import addonmanager, hooks, http
    from mitmproxy.net import check
    from mitmproxy.net.http import url

    speedups.install()
    for name, func in (("fork", context.Context.fork), ("authority", url.parse_authority),
                       ("valid_host", check.is_valid_host), ("hook_args", hooks.Hook.args),
                       ("trigger_event", addonmanager.AddonManager.trigger_event),
                       ("post_init", http.MessageData.__post_init__)):
        assert getattr(func, "_aiplugs", False), name
        assert speedups.source_digest(func.__wrapped__) == speedups._REVIEWED[name], name


def test_installed_fork_shares_server_and_client_and_copies_layers() -> None:
    speedups.install()
    assert getattr(context.Context.fork, "_aiplugs", False)
    ctx = _context()
    forked = ctx.fork()
    assert type(forked) is context.Context and vars(forked).keys() == vars(ctx).keys()
    assert forked.server is ctx.server and forked.client is ctx.client and forked.options is ctx.options
    assert forked.layers == ["outer"] and forked.layers is not ctx.layers


def test_a_function_that_reads_differently_is_left_alone(monkeypatch) -> None:
    from mitmproxy.net.http import url

    def fork(self):  # a future mitmproxy's different code
        return self

    def parse_authority(authority, check):
        return "x", None

    monkeypatch.setattr(context.Context, "fork", fork)
    monkeypatch.setattr(url, "parse_authority", parse_authority)
    assert speedups.install() == ALL - {"fork", "authority"}
    assert context.Context.fork is fork and url.parse_authority is parse_authority


AUTHORITIES = [b"example.test", b"example.test:8080", "example.test:443", b"[::1]:8443", b"127.0.0.1:80",
               "bücher.example", "xn--bcher-kva.example:81", b"bad host:1", b"host:99999", b":80", b"a..b",
               b"x" * 300 + b".test", b"example.test:", "-leading.test"]


@pytest.mark.parametrize("check", [True, False])
def test_memoised_parse_authority_answers_and_raises_as_mitmproxys(check: bool) -> None:
    from mitmproxy.net.http import url

    speedups.install()
    original = url.parse_authority.__wrapped__
    for authority in AUTHORITIES * 2:  # the second round comes from the cache
        assert _outcome(url.parse_authority, authority, check=check) == _outcome(original, authority, check=check)
    assert url.parse_authority.cache_info().hits > 0


def test_memoised_is_valid_host_answers_as_mitmproxys() -> None:
    from mitmproxy.net import check

    speedups.install()
    hosts = [b"example.test", "example.test", "bücher.example", b"\xff\xfe", b"::1", "256.1.1.1", b"a_b.test",
             b"x" * 64 + b".test", b"a" * 300, "", b"trailing.dot."]
    for host in hosts * 2:
        assert check.is_valid_host(host) == check.is_valid_host.__wrapped__(host), host


def _outcome(func, *args, **kwargs):
    try:
        return ("ok", func(*args, **kwargs))
    except Exception as e:  # the same error type is part of the same behaviour
        return ("error", type(e))


def test_hook_args_are_the_hooks_fields_in_order() -> None:
    from mitmproxy import hooks
    from mitmproxy.proxy.layers.http import HttpRequestHook
    from mitmproxy.test import tflow

    speedups.install()
    flow = tflow.tflow()
    assert HttpRequestHook(flow).args() == [flow]

    @dataclasses.dataclass
    class TwoHook(hooks.Hook):
        name = "aiplugs_test_two"
        first: int
        second: str

    try:
        assert TwoHook(1, "b").args() == [1, "b"] and TwoHook(2, "c").args() == [2, "c"]
    finally:
        hooks.all_hooks.pop("aiplugs_test_two", None)


OPTIONAL_BYTES = typing.Optional[bytes]  # noqa: UP045 (typing.Union on purpose, beside the X | None ones)
TYPES = [bytes, str, int, float, bool, type(None), "Headers", float | None, "Headers | None", int | str | None,
         OPTIONAL_BYTES, typing.Any, tuple[int, int], typing.Sequence[str], typing.TextIO, list, tuple]
VALUES = [b"x", "x", 0, 7, 1.5, True, None, (1, 2), [1, 2], ("a",), ["a"], "HEADERS", object()]


@pytest.mark.parametrize("declared", TYPES, ids=str)
def test_the_post_init_types_accept_what_check_option_type_accepts(declared) -> None:
    from mitmproxy import http
    from mitmproxy.utils.typecheck import check_option_type

    declared = {"Headers": http.Headers, "Headers | None": http.Headers | None}.get(declared, declared)
    accepted = speedups.isinstance_types(declared)
    if accepted is None:  # checked mitmproxy's way
        assert declared in (typing.Any, tuple[int, int], typing.Sequence[str], typing.TextIO)
        return
    for value in VALUES:
        value = http.Headers(a="1") if value == "HEADERS" else value
        assert isinstance(value, accepted) == (_outcome(check_option_type, "f", value, declared)[0] == "ok"), value


def test_requests_and_responses_check_their_fields_as_mitmproxy_does() -> None:
    from mitmproxy import http

    speedups.install()
    assert getattr(http.MessageData.__post_init__, "_aiplugs", False)
    original = http.MessageData.__post_init__.__wrapped__
    good = http.Response(b"HTTP/1.1", 200, b"OK", http.Headers(), b"", None, 0, None)  # an int for a float
    assert good.timestamp_start == 0 and good.status_code == 200
    assert http.Request("h", 80, b"GET", b"http", b"", b"/", b"HTTP/1.1", http.Headers(), None, None, 1.0, 2.0)
    response = dict(http_version=b"HTTP/1.1", status_code=200, reason=b"OK", headers=http.Headers(), content=b"",
                    trailers=None, timestamp_start=0.0, timestamp_end=None)
    request = dict(host="h", port=80, method=b"GET", scheme=b"http", authority=b"", path=b"/",
                   http_version=b"HTTP/1.1", headers=http.Headers(), content=None, trailers=None,
                   timestamp_start=0.0, timestamp_end=None)
    for make in (lambda: http.ResponseData(**{**response, "status_code": "200"}),
                 lambda: http.ResponseData(**{**response, "headers": {}}),
                 lambda: http.RequestData(**{**request, "content": "body"}),
                 lambda: http.RequestData(**{**request, "trailers": ()}),
                 lambda: http.RequestData(**{**request, "timestamp_end": "late"})):
        with pytest.raises(TypeError) as fast:
            make()
        http.MessageData.__post_init__ = original
        try:
            with pytest.raises(TypeError) as slow:
                make()
        finally:
            speedups._replace("post_init", http.MessageData, "__post_init__", speedups._post_init)
        assert str(fast.value) == str(slow.value) and "Expected" in str(fast.value)
    assert getattr(http.MessageData.__post_init__, "_aiplugs", False)


class _Handler:
    def __init__(self, calls, label, halt=False, fail=False):
        self.calls, self.label, self.halt, self.fail = calls, label, halt, fail
        self.name = f"handler-{label}"  # mitmproxy's addon name: unique in a chain

    def requestheaders(self, flow):
        self.calls.append(self.label)
        if self.fail:
            raise RuntimeError("addon bug")
        if self.halt:
            from mitmproxy import exceptions

            raise exceptions.AddonHalt()


class _Parent:
    def __init__(self, calls):
        self.addons = [_Handler(calls, "child")]


class _Nothing:
    pass


async def test_trigger_event_calls_every_handler_in_order_skipping_addons_without_one(caplog) -> None:
    from mitmproxy.proxy.layers.http import HttpRequestHeadersHook
    from mitmproxy.test import taddons, tflow

    speedups.install()
    calls: list[str] = []
    with taddons.context() as tctx:
        tctx.master.addons.add(_Nothing(), _Handler(calls, "one"), _Handler(calls, "broken", fail=True),
                               _Parent(calls), _Handler(calls, "halt", halt=True), _Handler(calls, "never"))
        await tctx.master.addons.trigger_event(HttpRequestHeadersHook(tflow.tflow()))
    assert calls == ["one", "broken", "child", "halt"]  # an addon's error is logged and the rest still run
    assert any("addon bug" in r.getMessage() for r in caplog.records)


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


LEAN_COMMANDS = """
import sys
from aiplugs.adapters.proxy import speedups
assert speedups.lean_addons() is True and speedups.lean_commands() is True and speedups.lean_commands() is True
from mitmproxy import master, options
from mitmproxy.addons import block, core, disable_h2c, next_layer, proxyserver, tlsconfig
import asyncio
m = master.Master(options.Options(), event_loop=asyncio.new_event_loop(), with_termlog=False)
m.addons.add(core.Core())  # its commands are collected without parsing anything
print("idle", "pyparsing.core" in sys.modules, "options.reset" in m.commands.commands)
from mitmproxy import command_lexer
samples = ["", "a", "a b", "'x'", '"y"', "it's", 'say "hi"', "both ' and \\""]
plain = [(command_lexer.quote(v), command_lexer.unquote(v)) for v in samples]
quote, unquote = command_lexer.quote, command_lexer.unquote
print("plain", "pyparsing.core" in sys.modules)
print("grammar", command_lexer.expr.parseString("a 'b c'", parseAll=True).asList(), "pyparsing.core" in sys.modules)
print("same", plain == [(command_lexer.quote(v), command_lexer.unquote(v)) for v in samples],
      command_lexer.quote is not quote)  # the whole module ran: its own functions answer alike
print("parsed", m.commands.parse_partial("options.reset  'x y'")[0][0].value)
"""


def test_lean_commands_keep_pyparsing_out_until_a_command_line_is_parsed() -> None:
    out = subprocess.run([sys.executable, "-c", LEAN_COMMANDS], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "idle False True"  # the master and its commands, no pyparsing
    assert lines[1] == "plain False"  # quote and unquote need none either
    assert lines[2] == "grammar ['a', ' ', \"'b c'\"] True"  # the grammar loads it, then parses as mitmproxy's
    assert lines[3] == "same True True"
    assert lines[4] == "parsed options.reset"


def test_lean_commands_leave_a_loaded_pyparsing_alone() -> None:
    code = "import pyparsing\nfrom aiplugs.adapters.proxy import speedups\nprint(speedups.lean_commands())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["False"], out.stderr


def test_the_reviewed_command_lexer_is_mitmproxys() -> None:
    """Fails when the pinned mitmproxy changes command_lexer: then look again at what lean_commands keeps."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("mitmproxy.command_lexer")
    source = spec.loader.get_source("mitmproxy.command_lexer")
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == speedups._REVIEWED["command_lexer"]
