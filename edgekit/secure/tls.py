"""Mutual TLS 1.3 contexts for devices and gateways, and the peer's identity after the
handshake.

:func:`server_context` requires a client certificate chaining to the fleet's root, valid now,
with clientAuth (OpenSSL's purpose check) and, when the trust store carries CRLs, not revoked;
:func:`client_context` requires the gateway's certificate to chain to the fleet's root and to
name the host.  Both are plain :class:`ssl.SSLContext` objects: use them with sockets,
``asyncio.start_server(ssl=...)``/``asyncio.open_connection(ssl=...)`` or aiohttp.

After the handshake, :func:`peer_identity` re-verifies the peer's certificate with
:func:`~edgekit.secure.verify_device` (cryptography's verifier, EKU presence, CRLs) and
returns its :class:`~edgekit.secure.DeviceIdentity`: two independent verifiers must agree.
:func:`accept` and :func:`connect` do handshake + identity for blocking sockets, turning
OpenSSL's verification failures into :class:`~edgekit.errors.CertificateError` reasons.

In TLS 1.3 the client finishes its handshake before the server has checked the client's
certificate: a refused client sees the server's alert on its first read, not in
``connect``.  The server's side is where the refusal is certain.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from edgekit import _telemetry
from edgekit.errors import CertificateError, InputTypeError, SecurityError
from edgekit.secure._keys import PrivateKey
from edgekit.secure.identity import DeviceIdentity, TrustStore, verify_device
from edgekit.secure.keys import private_key_pem
from edgekit.secure.pki import certificate_pem

__all__ = ["accept", "client_context", "connect", "peer_identity", "server_context"]

# OpenSSL X509_V_ERR_* codes -> CertificateError reasons
_VERIFY_REASONS = {
    9: "not-yet-valid", 10: "expired", 23: "revoked", 26: "purpose", 62: "purpose",
    64: "purpose", 7: "signature", 8: "signature", 13: "not-yet-valid", 14: "expired",
    3: "revoked", 12: "revoked", 11: "revoked",
}


def _load_identity(ctx: ssl.SSLContext, certificate, private_key, chain) -> None:
    """Load a certificate (+ chain) and key into ``ctx`` from objects or paths: objects go
    through a private temporary directory (0700), removed at once."""
    if isinstance(certificate, (str, os.PathLike)) and isinstance(private_key,
                                                                   (str, os.PathLike)):
        ctx.load_cert_chain(os.fspath(certificate), os.fspath(private_key))
        return
    if not isinstance(certificate, x509.Certificate):
        raise InputTypeError("certificate must be an x509.Certificate or a path",
                             name="certificate", got=type(certificate).__name__)
    tmp = tempfile.mkdtemp(prefix="edgekit-tls-")
    try:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(certificate_pem([certificate, *chain]))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_key_pem(private_key))
        ctx.load_cert_chain(str(cert_path), str(key_path))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load_trust(ctx: ssl.SSLContext, trust: TrustStore) -> None:
    ctx.load_verify_locations(cadata=certificate_pem([*trust.roots, *trust.intermediates])
                              .decode("ascii"))
    if trust.crls:
        tmp = tempfile.mkdtemp(prefix="edgekit-crl-")
        try:
            path = Path(tmp) / "crls.pem"
            path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                                      for c in trust.crls))
            ctx.load_verify_locations(cafile=str(path))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        ctx.verify_flags |= (ssl.VERIFY_CRL_CHECK_CHAIN if trust.require_crl
                             else ssl.VERIFY_CRL_CHECK_LEAF)


def _base(protocol: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_context(
    certificate: x509.Certificate | str | os.PathLike,
    private_key: PrivateKey | str | os.PathLike,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    chain: Sequence[x509.Certificate] = (),
) -> ssl.SSLContext:
    """A TLS 1.3 server context that requires a client certificate.

    Args:
        certificate, private_key: the gateway's certificate and key (objects, or PEM paths).
        trust: the roots client certificates must chain to; its CRLs, when it has any, are
            checked by OpenSSL for the client's certificate (its issuer must then have a CRL
            in the store; with ``require_crl`` every level must).
        chain: intermediates to send after ``certificate``.
    """
    store = TrustStore.of(trust)
    ctx = _base(ssl.PROTOCOL_TLS_SERVER)
    _load_identity(ctx, certificate, private_key, chain)
    _load_trust(ctx, store)
    return ctx


def client_context(
    certificate: x509.Certificate | str | os.PathLike | None,
    private_key: PrivateKey | str | os.PathLike | None,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    chain: Sequence[x509.Certificate] = (),
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A TLS 1.3 client (device) context presenting ``certificate`` (+ ``chain``) and
    verifying the gateway against ``trust`` (hostname checked unless ``check_hostname`` is
    False).  ``certificate=None`` makes a context without a client certificate (which a
    :func:`server_context` refuses)."""
    store = TrustStore.of(trust)
    ctx = _base(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_hostname
    if certificate is not None:
        _load_identity(ctx, certificate, private_key, chain)
    _load_trust(ctx, store)
    return ctx


def _peer_der(conn: object) -> bytes | None:
    getter = getattr(conn, "getpeercert", None)
    if getter is None and hasattr(conn, "get_extra_info"):  # asyncio StreamWriter/transport
        ssl_object = conn.get_extra_info("ssl_object")
        getter = getattr(ssl_object, "getpeercert", None)
    if getter is None:
        raise InputTypeError("conn must be an SSLSocket, SSLObject or asyncio stream writer",
                             name="conn", got=type(conn).__name__)
    return getter(binary_form=True)


def _peer_chain(conn: object) -> list[x509.Certificate]:
    der = _peer_der(conn)
    if not der:
        raise CertificateError("the peer presented no certificate", reason="untrusted")
    chain = [x509.load_der_x509_certificate(der)]
    get_verified = getattr(conn, "get_verified_chain", None)  # Python >= 3.13
    if get_verified is not None:
        verified = get_verified()
        chain += [x509.load_der_x509_certificate(c if isinstance(c, bytes)
                                                 else c.public_bytes())
                  for c in verified[1:-1]]
    return chain


def peer_identity(
    conn: object,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    purpose: str = "client",
    server_name: str | None = None,
    at: datetime | None = None,
) -> DeviceIdentity:
    """The verified identity of the peer of a TLS connection (an :class:`ssl.SSLSocket`,
    :class:`ssl.SSLObject` or asyncio stream writer), re-verified with
    :func:`~edgekit.secure.verify_device`.  Before Python 3.13 only the peer's leaf is
    available: the trust store must then list the intermediates."""
    return verify_device(_peer_chain(conn), trust, at=at, purpose=purpose,
                         server_name=server_name)


def _tls_error(err: Exception) -> CertificateError:
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = _VERIFY_REASONS.get(err.verify_code, "untrusted")
        return CertificateError(f"TLS peer refused: {err.verify_message}", reason=reason)
    text = str(err)
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in text.upper() or "CERTIFICATE_REQUIRED" in \
            text.upper():
        return CertificateError("the peer presented no certificate", reason="untrusted")
    for code, reason in (("EXPIRED", "expired"), ("REVOKED", "revoked"),
                         ("UNSUPPORTED_CERTIFICATE", "purpose"), ("UNKNOWN_CA", "untrusted"),
                         ("BAD_CERTIFICATE", "untrusted")):
        if code in text.upper():
            return CertificateError(f"TLS handshake refused: {text}", reason=reason)
    return CertificateError(f"TLS handshake failed: {text}", reason="untrusted")


def _handshake(raw: socket.socket, wrap, verify) -> tuple[ssl.SSLSocket, DeviceIdentity]:
    """Wrap ``raw`` (closing it on failure), then ``verify`` the peer; every refusal is a
    :class:`CertificateError` and one ``secure.failure`` event."""
    try:
        tls = wrap(raw)
    except (ssl.SSLError, OSError) as err:
        raw.close()
        cert_err = _tls_error(err) if isinstance(err, ssl.SSLError) else CertificateError(
            f"TLS handshake failed: {err}", reason="untrusted")
        _telemetry.emit("secure.failure", kind="tls", reason=cert_err.reason)
        raise cert_err from None
    try:
        return tls, verify(tls)
    except SecurityError as err:
        tls.close()
        _telemetry.emit("secure.failure", kind="tls", reason=getattr(err, "reason", "peer"))
        raise


def accept(
    listener: socket.socket,
    context: ssl.SSLContext,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    timeout: float = 10.0,
) -> tuple[ssl.SSLSocket, DeviceIdentity]:
    """Accept one connection on ``listener``, complete the TLS handshake within ``timeout``
    seconds and return ``(tls_socket, client_identity)``.  A refused client raises
    :class:`CertificateError` (reason from OpenSSL's verification, e.g. ``"expired"``)
    after closing the connection; one ``secure.failure`` event (``kind="tls"``) is sent."""
    raw, _addr = listener.accept()
    raw.settimeout(timeout)
    return _handshake(raw, lambda r: context.wrap_socket(r, server_side=True),
                      lambda t: peer_identity(t, trust))


def connect(
    address: tuple[str, int],
    context: ssl.SSLContext,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    server_hostname: str,
    timeout: float = 10.0,
) -> tuple[ssl.SSLSocket, DeviceIdentity]:
    """Connect to a gateway, complete the handshake and return ``(tls_socket,
    server_identity)`` (the gateway verified for ``server_hostname``, EKU serverAuth).
    A gateway the device does not trust raises :class:`CertificateError`."""
    raw = socket.create_connection(address, timeout=timeout)
    return _handshake(raw, lambda r: context.wrap_socket(r, server_hostname=server_hostname),
                      lambda t: peer_identity(t, trust, purpose="server",
                                              server_name=server_hostname))
