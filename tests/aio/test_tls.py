"""fetch_all over real mutual TLS on 127.0.0.1: a CA, a server certificate and a device
(client) certificate made with `cryptography`; the server requires the client certificate.
The mutual-TLS context of edgekit.secure plugs in as the same `ssl=` argument."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest

pytest.importorskip("aiohttp")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

from edgekit.aio import FetchError, Response, fetch_all  # noqa: E402
from edgekit.aio._loopback import LoopbackServer  # noqa: E402
from tests.aio.common import run_clean  # noqa: E402


def _cert(subject, key, issuer, issuer_key, *, ca=False, usage=None, ip=None):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5))
         .not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                          False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    if ip:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address(ip))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, cert, key):
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("edgekit test CA", ca_key, "edgekit test CA", ca_key, ca=True)
    srv_key, dev_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    srv = _cert("gateway", srv_key, "edgekit test CA", ca_key,
                usage=ExtendedKeyUsageOID.SERVER_AUTH, ip="127.0.0.1")
    dev = _cert("device-42", dev_key, "edgekit test CA", ca_key,
                usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return {"ca": _write(d / "ca", ca, ca_key)[0], "server": _write(d / "server", srv, srv_key),
            "device": _write(d / "device", dev, dev_key)}


@pytest.fixture(scope="module")
def tls_server(pki):
    cert, key = pki["server"]
    with LoopbackServer(lifetime_s=120, max_requests=1000, certfile=cert, keyfile=key,
                        client_cafile=pki["ca"]) as srv:
        yield srv


def test_mutual_tls_fetch(pki, tls_server):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    ctx.load_cert_chain(*pki["device"])
    urls = [tls_server.url(f"tls{i}", delay=0.01) for i in range(20)]
    results = run_clean(fetch_all(urls, ssl=ctx, concurrency=5))
    assert all(isinstance(r, Response) and r.data["key"] == f"tls{i}"
               for i, r in enumerate(results))


def test_refused_without_the_device_certificate_or_the_ca(pki, tls_server):
    url = tls_server.url("x")
    no_client_cert = ssl.create_default_context(cafile=pki["ca"])
    r = run_clean(fetch_all([url], ssl=no_client_cert, retries=0))[0]
    assert isinstance(r, FetchError), r
    untrusted = ssl.create_default_context()  # the system CAs do not know the test CA
    untrusted.load_cert_chain(*pki["device"])
    r = run_clean(fetch_all([url], ssl=untrusted, retries=0))[0]
    assert isinstance(r, FetchError) and r.reason == "tls", r
    assert isinstance(r.__cause__, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(r)
