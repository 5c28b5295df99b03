"""Real servers for proxy tests: run an aiohttp app on a free loopback port, and the stand-in router.

The stand-in router implements just the page-facing routes the loader uses (the real router is another module):
``GET /v1/plugins/{id}/assets/{path}``, ``POST /v1/plugins/{id}/run`` (JSON, or SSE when asked) and
``WS /v1/plugins/{id}/ws``. Like the real one it insists on a loopback Host header and the page token.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import WSMsgType, web

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass
class Server:
    runner: web.AppRunner
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_app(app: web.Application, *, host: str = "127.0.0.1", ssl: Any = None) -> Server:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return Server(runner, host, port, "https" if ssl else "http")


@dataclass
class StandInRouter:
    token: str
    plugin_dirs: dict[str, Path]
    requests: list[dict[str, Any]] = field(default_factory=list)
    run: Callable[[str, Any], Any] | None = None  # plugin_id, payload -> result (raise ValueError for a 400)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/v1/plugins/{id}/assets/{path:.+}", self._asset)
        app.router.add_post("/v1/plugins/{id}/run", self._run)
        app.router.add_get("/v1/plugins/{id}/ws", self._ws)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        self.requests.append({"method": request.method, "path": request.path_qs, "host": request.host,
                              "headers": dict(request.headers)})
        host = request.host.rsplit(":", 1)[0]
        if host not in LOOPBACK_HOSTS:
            return web.json_response({"error": {"message": f"bad host {request.host}"}}, status=421)
        return await handler(request)

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        folder = self.plugin_dirs.get(request.match_info["id"])
        rel = request.match_info["path"]
        if folder is None or ".." in rel.split("/"):
            return web.json_response({"error": {"message": "no such asset"}}, status=404)
        path = folder / rel
        if not path.is_file():
            return web.json_response({"error": {"message": "no such asset"}}, status=404)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            kind = "text/javascript"
        return web.Response(body=path.read_bytes(), content_type=kind)

    async def _run(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-AIPlugs-Token") != self.token:
            return web.json_response({"error": {"message": "missing or wrong page token"}}, status=401)
        plugin_id = request.match_info["id"]
        payload = await request.json()
        if "text/event-stream" in request.headers.get("Accept", ""):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(3):
                await response.write(f"event: chunk\ndata: {json.dumps({'i': i, 'plugin': plugin_id})}\n\n".encode())
                await asyncio.sleep(0.01)
            if plugin_id == "fail":  # the real router's mid-stream failure
                await response.write(b'event: error\ndata: {"type": "RuntimeError", "message": "broke mid-stream"}\n\n')
            else:
                await response.write(b"event: done\ndata: {}\n\n")
            await response.write_eof()
            return response
        try:
            result = self.run(plugin_id, payload) if self.run else {"plugin": plugin_id, "echo": payload}
        except ValueError as e:
            return web.json_response({"error": {"message": str(e)}}, status=400)
        return web.json_response(result)

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("token") != self.token:
            return web.json_response({"error": {"message": "missing or wrong page token"}}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        client = request.query.get("client_id", "")
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(json.dumps({"client_id": client, "plugin": request.match_info["id"],
                                              "echo": msg.data}))
        return ws


@dataclass(frozen=True)
class OriginCA:
    """A throwaway CA and a leaf for localhost/127.0.0.1/*.test/shop.test, written as PEM files."""

    ca_cert: Path
    leaf_cert: Path
    leaf_key: Path
    name: str

    def server_context(self):
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.leaf_cert, self.leaf_key)
        return ctx


def make_test_ca(folder: Path, name: str = "aiplugs test origin CA") -> OriginCA:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName("*.test"), x509.DNSName("*.localhost"),
                x509.DNSName("shop.test"),  # OpenSSL matches no wildcard directly under a top-level name
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = OriginCA(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key", name)
    paths.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.leaf_cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.leaf_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return paths


def peer_issuer_via_proxy(proxy: tuple[str, int], host: str, port: int) -> str:
    """CONNECTs through the proxy and returns the common name of the issuer of the certificate it is shown."""
    import socket
    import ssl

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    with socket.create_connection(proxy, timeout=10) as sock:
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"proxy closed the CONNECT: {reply!r}")
            reply += chunk
        if b" 200 " not in reply.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(f"CONNECT refused: {reply!r}")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    cert = x509.load_der_x509_certificate(der)
    return cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
