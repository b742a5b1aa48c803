"""Mutual TLS 1.3 on 127.0.0.1 against two independent peers: Python's ssl client and
``openssl s_client``.  Each refusal is asserted on the server's side (in TLS 1.3 a refused
client only learns it on its first read).  Servers accept one connection, with timeouts,
and stop by themselves."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from edgekit import _telemetry
from edgekit.errors import CertificateError
from edgekit.secure import (
    TrustStore,
    certificate_pem,
    private_key_pem,
)
from edgekit.secure.tls import accept, client_context, connect, peer_identity, server_context
from tests.secure.fleet import make_fleet

OPENSSL = shutil.which("openssl")
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def fleet():
    return make_fleet()


@pytest.fixture(scope="module")
def trust(fleet):
    # before Python 3.13 the server only sees the client's leaf: it knows the intermediate
    return TrustStore((fleet.root.certificate,), intermediates=(fleet.site.certificate,))


class OneShotServer:
    """Accepts one TLS connection with :func:`accept`, answers one line, stops."""

    def __init__(self, ctx: ssl.SSLContext, trust: TrustStore) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.identity = None
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(ctx, trust), daemon=True)
        self.thread.start()

    def _run(self, ctx, trust) -> None:
        try:
            tls, ident = accept(self.listener, ctx, trust, timeout=TIMEOUT)
            with tls:
                line = tls.recv(1024)
                tls.sendall(b"hello " + ident.device_id.encode() + b", got " + line)
            self.identity = ident
        except Exception as err:  # recorded for the test to assert on
            self.error = err
        finally:
            self.listener.close()

    def join(self):
        self.thread.join(TIMEOUT + 5)
        assert not self.thread.is_alive()
        return self


def _server(fleet, trust) -> OneShotServer:
    ctx = server_context(fleet.server_cert, fleet.server_key, trust,
                         chain=[fleet.site.certificate])
    return OneShotServer(ctx, trust)


def _python_client(fleet, port, name, *, trust=None, with_cert=True):
    dev = fleet.devices.get(name)
    ctx = client_context(dev.cert if with_cert else None, dev.key if with_cert else None,
                         trust or fleet.root.certificate, chain=dev.chain)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"reading 21.5\n")
            return tls.recv(1024)
    except (ssl.SSLError, OSError) as err:
        return err


def test_python_client_mutual_tls(fleet, trust):
    srv = _server(fleet, trust)
    reply = _python_client(fleet, srv.port, "good")
    srv.join()
    assert srv.error is None
    assert srv.identity.device_id == "good"
    assert reply == b"hello good, got reading 21.5\n"


def test_connect_returns_the_gateway_identity(fleet, trust):
    srv = _server(fleet, trust)
    dev = fleet.devices["good"]
    ctx = client_context(dev.cert, dev.key, fleet.root.certificate, chain=dev.chain)
    tls, gw = connect(("127.0.0.1", srv.port), ctx, trust, server_hostname="localhost")
    with tls:
        tls.sendall(b"x\n")
        assert tls.recv(1024).startswith(b"hello good")
    srv.join()
    assert "localhost" in gw.dns_names and gw.device_id is None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("name, reason", [
    ("rogue", "untrusted"),
    ("expired", "expired"),
    ("server-only", "purpose"),
])
def test_python_client_refused(fleet, trust, name, reason):
    srv = _server(fleet, trust)
    _python_client(fleet, srv.port, name)
    srv.join()
    assert isinstance(srv.error, CertificateError), srv.error
    assert srv.error.reason == reason
    assert srv.identity is None


def test_refused_no_client_certificate(fleet, trust):
    srv = _server(fleet, trust)
    _python_client(fleet, srv.port, "good", with_cert=False)
    srv.join()
    assert isinstance(srv.error, CertificateError) and srv.identity is None


def test_refused_revoked(fleet, trust):
    store = trust.with_crls(fleet.site.crl([fleet.devices["revoked"].cert]))
    srv = _server(fleet, store)
    _python_client(fleet, srv.port, "revoked")
    srv.join()
    assert isinstance(srv.error, CertificateError) and srv.error.reason == "revoked"
    # the same server configuration accepts a device that is not revoked
    srv = _server(fleet, store)
    assert _python_client(fleet, srv.port, "good").startswith(b"hello good")
    srv.join()


def test_refused_client_trusting_another_ca(fleet, trust):
    srv = _server(fleet, trust)
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    dev = fleet.devices["good"]
    ctx = client_context(dev.cert, dev.key, fleet.rogue.certificate, chain=dev.chain)
    _telemetry.add_sink(sink)
    try:
        with pytest.raises(CertificateError) as err:
            connect(("127.0.0.1", srv.port), ctx, fleet.rogue.certificate,
                    server_hostname="localhost")
    finally:
        _telemetry.remove_sink(sink)
    srv.join()
    assert err.value.reason == "untrusted"
    assert isinstance(srv.error, CertificateError)  # the server saw the client's alert
    assert ("secure.failure", {"kind": "tls", "reason": "untrusted"}) in events


def test_asyncio_streams(fleet, trust):
    dev = fleet.devices["good"]
    sctx = server_context(fleet.server_cert, fleet.server_key, trust,
                          chain=[fleet.site.certificate])
    cctx = client_context(dev.cert, dev.key, fleet.root.certificate, chain=dev.chain)
    seen = []

    async def handle(reader, writer):
        seen.append(peer_identity(writer, trust).device_id)
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=cctx,
                                                           server_hostname="localhost")
            writer.write(b"ping\n")
            echoed = await reader.readline()
            writer.close()
            return echoed

    assert asyncio.run(asyncio.wait_for(main(), TIMEOUT)) == b"ping\n"
    assert seen == ["good"]


# --- openssl s_client as the independent peer -------------------------------------------------


def _s_client(fleet, tmp_path, port, name, *, ca=None, with_cert=True):
    dev = fleet.devices[name]
    (tmp_path / "cert.pem").write_bytes(certificate_pem(dev.cert))
    (tmp_path / "chain.pem").write_bytes(certificate_pem(dev.chain) or b"")
    (tmp_path / "key.pem").write_bytes(private_key_pem(dev.key))
    (tmp_path / "ca.pem").write_bytes(certificate_pem(ca or fleet.root.certificate))
    cmd = [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
           "-CAfile", str(tmp_path / "ca.pem"), "-verify_return_error",
           "-servername", "localhost", "-quiet", "-ign_eof"]
    if with_cert:
        cmd += ["-cert", str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem")]
        if dev.chain:
            cmd += ["-cert_chain", str(tmp_path / "chain.pem")]
    return subprocess.run(cmd, input=b"reading 21.5\n", capture_output=True,
                          timeout=TIMEOUT)


needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


@needs_openssl
def test_openssl_client_mutual_tls(fleet, trust, tmp_path):
    srv = _server(fleet, trust)
    proc = _s_client(fleet, tmp_path, srv.port, "good")
    srv.join()
    assert srv.error is None, srv.error
    assert srv.identity.device_id == "good"
    assert b"hello good, got reading 21.5" in proc.stdout


@needs_openssl
def test_openssl_client_with_ed25519_device_key(fleet, trust, tmp_path):
    srv = _server(fleet, trust)
    _s_client(fleet, tmp_path, srv.port, "good-ed25519")
    srv.join()
    assert srv.error is None, srv.error
    assert srv.identity.key_type == "ed25519"


@needs_openssl
@pytest.mark.parametrize("name, reason", [
    ("rogue", "untrusted"),
    ("expired", "expired"),
    ("server-only", "purpose"),
    ("revoked", "revoked"),
])
def test_openssl_client_refused(fleet, trust, tmp_path, name, reason):
    store = trust.with_crls(fleet.site.crl([fleet.devices["revoked"].cert]))
    srv = _server(fleet, store)
    proc = _s_client(fleet, tmp_path, srv.port, name)
    srv.join()
    assert isinstance(srv.error, CertificateError), srv.error
    assert srv.error.reason == reason
    assert b"hello" not in proc.stdout


@needs_openssl
def test_openssl_client_without_certificate_refused(fleet, trust, tmp_path):
    srv = _server(fleet, trust)
    proc = _s_client(fleet, tmp_path, srv.port, "good", with_cert=False)
    srv.join()
    assert isinstance(srv.error, CertificateError) and b"hello" not in proc.stdout


@needs_openssl
def test_openssl_client_trusting_another_ca_refuses_the_gateway(fleet, trust, tmp_path):
    srv = _server(fleet, trust)
    proc = _s_client(fleet, tmp_path, srv.port, "good", ca=fleet.rogue.certificate)
    srv.join()
    assert proc.returncode != 0 and b"hello" not in proc.stdout
    assert isinstance(srv.error, CertificateError)


def test_server_key_never_left_on_disk(fleet, trust, tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ctx = server_context(fleet.server_cert, fleet.server_key, trust)
    assert list(tmp_path.iterdir()) == []  # the temporary key file is gone
    assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_aiohttp_server_and_client(fleet, trust):
    aiohttp = pytest.importorskip("aiohttp")
    from aiohttp import web

    dev = fleet.devices["good"]
    sctx = server_context(fleet.server_cert, fleet.server_key, trust,
                          chain=[fleet.site.certificate])
    cctx = client_context(dev.cert, dev.key, fleet.root.certificate, chain=dev.chain)
    rogue = fleet.devices["rogue"]
    rogue_ctx = client_context(rogue.cert, rogue.key, fleet.root.certificate)

    async def reading(request):
        ident = peer_identity(request.transport, trust)
        return web.Response(text=f"{ident.device_id}:{await request.text()}")

    async def main():
        app = web.Application()
        app.router.add_post("/reading", reading)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=sctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        url = f"https://localhost:{port}/reading"
        try:
            async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=cctx),
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
                async with http.post(url, data=b"21.5") as resp:
                    good = await resp.text()
            refused = None
            try:
                async with aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(ssl=rogue_ctx),
                        timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as http:
                    async with http.post(url, data=b"1") as resp:
                        await resp.text()
            except (aiohttp.ClientError, ssl.SSLError, OSError) as err:
                refused = err
            return good, refused
        finally:
            await runner.cleanup()

    good, refused = asyncio.run(asyncio.wait_for(main(), 2 * TIMEOUT))
    assert good == "good:21.5"
    assert refused is not None  # a device of another CA gets no answer
