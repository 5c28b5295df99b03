"""The proxy server: a mitmproxy master embedded in the caller's running asyncio loop.

We do by hand what ``mitmproxy.master.Master.run`` does, minus the parts that do not belong in a host process:

- no ``TermLog`` / ``Dumper`` (nothing printed), no ``ErrorCheck`` addon (whose startup check calls ``sys.exit``),
  no loop-wide exception handler or task factory, and a ``NullHandler`` on the ``mitmproxy`` logger so Python's
  last-resort handler never prints mitmproxy's warnings either (a host that configures logging still gets them);
- only the addons a plain HTTP(S) proxy needs: core, block (refuses non-local clients), proxyserver, next_layer,
  tlsconfig, disable_h2c, plus ours; no onboarding app, no scripting, no flow saving;
- a listen failure is reported as ``AiplugsError`` naming the address instead of a log line and an exit.

mitmproxy keeps its master in a module global (``mitmproxy.ctx``), so one proxy runs per process at a time.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, ClassVar, Mapping

from ...util.version import VERSION
from ...errors import AiplugsError
from ...events import NULL_BUS, EventBus
from ...plan import ProxySpec
from .certs import CA_CERT_FILE
from .hostmap import HostMap
from .hosts import scope_for
from .inject import InjectConfig, Injector

__all__ = ["ProxyServer"]

logging.getLogger("mitmproxy").addHandler(logging.NullHandler())


class _Capture(logging.Handler):
    """Collects the error lines mitmproxy logs while it binds, to put them in our exception."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class ProxyServer:
    """The aiplugs proxy. ``start`` listens, ``update`` hot-swaps rules/scope/CSP mode, ``stop`` closes everything.

    ``options`` are extra mitmproxy options (e.g. ``ssl_verify_upstream_trusted_ca`` for a test CA).
    """

    _running: ClassVar[ProxyServer | None] = None

    def __init__(self, spec: ProxySpec, *, confdir: Path, api_address: tuple[str, int] | None, page_token: str,
                 events: EventBus = NULL_BUS, options: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.confdir = Path(confdir)
        self.api_address = api_address
        self.events = events
        self._token = page_token
        self._extra_options = dict(options or {})
        self.injector = Injector(self._config(spec), events)
        self.hostmap = HostMap(spec.hosts)
        self._master: Any = None
        self._proxyserver: Any = None
        self._address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _config(self, spec: ProxySpec) -> InjectConfig:
        return InjectConfig.from_spec(spec, api_address=self.api_address, token=self._token, version=VERSION)

    @property
    def ca_cert_path(self) -> Path:
        return self.confdir / CA_CERT_FILE

    @property
    def address(self) -> tuple[str, int] | None:
        return self._address

    @property
    def connections(self) -> int:
        return len(self._proxyserver.connections) if self._proxyserver is not None else 0

    async def start(self, host: str, port: int) -> None:
        if self._master is not None:
            raise AiplugsError(f"the proxy is already listening on {self._address}")
        running = ProxyServer._running
        if running is not None and running._loop is not None and running._loop.is_closed():
            ProxyServer._running = None  # its event loop is gone (a thread or a test that ended): it runs no more
        if ProxyServer._running is not None:
            raise AiplugsError("another aiplugs proxy already runs in this process (mitmproxy allows one master "
                               "per process); stop it first")
        from . import speedups

        speedups.lean_addons()  # before mitmproxy.master: it imports the addons package
        speedups.lean_commands()  # and the command lexer
        from mitmproxy import master, options
        from mitmproxy.addons import block, core, disable_h2c, next_layer, proxyserver, tlsconfig
        from mitmproxy.exceptions import OptionsError

        speedups.install()

        self.confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        opts = options.Options(listen_host=host, listen_port=port, confdir=str(self.confdir))
        self._loop = asyncio.get_running_loop()
        m = master.Master(opts, event_loop=self._loop, with_termlog=False)
        ps = proxyserver.Proxyserver()
        ProxyServer._running = self
        started = False
        try:  # whatever ends the start early (a bad option, a taken port, a cancellation) leaves nothing running
            try:
                m.addons.add(core.Core(), block.Block(), ps, next_layer.NextLayer(), tlsconfig.TlsConfig(),
                             disable_h2c.DisableH2C(), self.hostmap, self.injector)
                scope = scope_for(self.spec)
                # No stream_large_bodies: the addon streams every body itself (spliced pages included).
                opts.update(allow_hosts=list(scope.allow_hosts), ignore_hosts=list(scope.ignore_hosts),
                            **_upstream(self.spec), **self._extra_options)
            except (OptionsError, OSError, ValueError, KeyError) as e:
                raise AiplugsError(f"cannot configure the proxy (confdir {self.confdir}): {e}") from e
            capture = _Capture()
            ps_logger = logging.getLogger("mitmproxy.addons.proxyserver")
            ps_logger.addHandler(capture)
            try:
                listening = await ps.setup_servers()
            finally:
                ps_logger.removeHandler(capture)
            if not listening or not ps.listen_addrs():
                detail = "; ".join(capture.messages) or "unknown error"
                raise AiplugsError(f"the proxy cannot listen on {host}:{port}: {detail}")
            await m.running()
            started = True
        finally:
            if not started:
                await self._teardown(m, ps)
        self._master, self._proxyserver = m, ps
        listen_host, listen_port, *_ = ps.listen_addrs()[0]
        self._address = (host if host else listen_host, listen_port)

    def update(self, spec: ProxySpec, *, api_address: tuple[str, int] | None = None) -> None:
        """Swaps rules, interception scope and CSP mode in place: no restart, open connections keep going."""
        if api_address is not None:
            self.api_address = api_address
        self._apply(spec, self._config(spec), scope_for(spec))

    async def swap(self, spec: ProxySpec, *, api_address: tuple[str, int] | None = None) -> None:
        """``update`` for a running proxy: the new rules are compiled in a worker thread and take effect in one
        step, so pages in flight never wait for a compile (a manifest with thousands of patterns takes a while)."""
        if api_address is not None:
            self.api_address = api_address
        config, scope = await asyncio.to_thread(lambda: (self._config(spec), scope_for(spec)))
        self._apply(spec, config, scope)

    def _apply(self, spec: ProxySpec, config: InjectConfig, scope: Any) -> None:
        self.spec = spec
        self.injector.set_config(config)
        self.hostmap.set_hosts(spec.hosts)
        if self._master is not None:
            self._master.options.update(allow_hosts=list(scope.allow_hosts), ignore_hosts=list(scope.ignore_hosts),
                                        **_upstream(spec))

    async def stop(self) -> None:
        if self._master is None:
            return
        m, ps = self._master, self._proxyserver
        self._master = self._proxyserver = None
        self._address = None
        await self._teardown(m, ps)

    async def _teardown(self, m: Any, ps: Any) -> None:
        try:
            await ps.servers.update([])  # closes the listening sockets
            # Cancel each client's connection task; mitmproxy's own per-client task then runs its disconnect
            # hooks and unregisters, so wait for that rather than leaving tasks for the loop to reap.
            for conn in list(ps.connections.values()):
                io = conn.transports.get(conn.client)
                if io is not None and io.handler is not None:
                    io.handler.cancel("aiplugs proxy stopping")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while ps.connections and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await m.done()
        finally:
            if ProxyServer._running is self:
                ProxyServer._running = None


def _upstream(spec: ProxySpec) -> dict[str, Any]:
    """mitmproxy's option for the CA bundle origins are verified with (``proxy.upstream_ca``), when one is set."""
    return {"ssl_verify_upstream_trusted_ca": str(spec.upstream_ca)} if spec.upstream_ca else {}
