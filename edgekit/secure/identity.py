"""Verifying a device's certificate chain, and what a verified device is.

:func:`verify_device` runs ``cryptography.x509.verification`` (chain building to a trusted
root, validity at a given time, Basic Constraints, key usage, RFC 5280 profile), then checks
what that verifier leaves to the caller: ExtendedKeyUsage must be *present* and name the
purpose (the verifier accepts a leaf without EKU), and no certificate of the chain may be on a
CRL of its issuer.  Every refusal is a :class:`~edgekit.errors.CertificateError` whose
``reason`` names it.

:func:`verify_device_cert` is the fixed drop-in for the article's function of the same name:
it validates the certificate first, then verifies the signature with its key (RSA-PSS, ECDSA
or Ed25519), and raises instead of returning ``False``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    DNSName,
    IPAddress,
    PolicyBuilder,
    Store,
    VerificationError,
)

from edgekit import _telemetry
from edgekit.errors import CertificateError, InputError, InputTypeError, SecurityError
from edgekit.secure import _keys
from edgekit.secure.pki import DEVICE_URI_PREFIX, load_certificates

__all__ = ["DeviceIdentity", "TrustStore", "verify_device", "verify_device_cert"]

_PURPOSE_OID = {"client": ExtendedKeyUsageOID.CLIENT_AUTH,
                "server": ExtendedKeyUsageOID.SERVER_AUTH}


@dataclass(frozen=True, slots=True)
class TrustStore:
    """What a verifier trusts: root certificates, known intermediates (a TLS peer may send
    only its leaf), and CRLs.  With ``require_crl``, a chain whose issuers have no current
    CRL here is refused (reason ``"revoked"``: revocation status unknown)."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    require_crl: bool = False

    def __post_init__(self) -> None:
        for name in ("roots", "intermediates", "crls"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.roots:
            raise InputError("a trust store needs at least one root", name="roots")
        for c in (*self.roots, *self.intermediates):
            if not isinstance(c, x509.Certificate):
                raise InputTypeError("roots and intermediates must be x509.Certificate",
                                     name="roots", got=type(c).__name__)
        for c in self.crls:
            if not isinstance(c, x509.CertificateRevocationList):
                raise InputTypeError("crls must be x509.CertificateRevocationList",
                                     name="crls", got=type(c).__name__)

    @classmethod
    def of(cls, trust: TrustStore | x509.Certificate | Iterable[x509.Certificate]
           | bytes | str | os.PathLike[str]) -> TrustStore:
        """A trust store from a store, one root, several roots, or a PEM bundle (bytes, text
        or a path)."""
        if isinstance(trust, TrustStore):
            return trust
        if isinstance(trust, x509.Certificate):
            return cls((trust,))
        if isinstance(trust, (bytes, str, os.PathLike)):
            return cls(tuple(load_certificates(trust)))
        return cls(tuple(trust))

    def with_crls(self, *crls: x509.CertificateRevocationList) -> TrustStore:
        """A copy with ``crls`` added."""
        return TrustStore(self.roots, self.intermediates, (*self.crls, *crls), self.require_crl)


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A verified peer.

    Attributes:
        device_id: from the ``urn:edgekit:device:`` URI, or ``None`` (e.g. a server).
        common_name: the subject's CN (or ``""``).
        uris, dns_names: the SubjectAlternativeName entries.
        serial_number: the certificate's serial.
        fingerprint_sha256: SHA-256 of the DER certificate, hex.
        not_before, not_after: validity (UTC).
        issuer: the issuer's name (RFC 4514).
        key_type: ``"ec-p256"``, ``"ec-p384"``, ``"ed25519"``, ``"rsa-2048"``...
        chain: the verified chain, leaf first, root last.
    """

    device_id: str | None
    common_name: str
    uris: tuple[str, ...]
    dns_names: tuple[str, ...]
    serial_number: int
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    issuer: str
    key_type: str
    chain: tuple[x509.Certificate, ...]

    @classmethod
    def from_chain(cls, chain: Sequence[x509.Certificate]) -> DeviceIdentity:
        leaf = chain[0]
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            uris = tuple(san.get_values_for_type(x509.UniformResourceIdentifier))
            dns = tuple(san.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            uris, dns = (), ()
        device = next((u[len(DEVICE_URI_PREFIX):] for u in uris
                       if u.startswith(DEVICE_URI_PREFIX)), None)
        cns = leaf.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        return cls(
            device_id=device, common_name=str(cns[0].value) if cns else "",
            uris=uris, dns_names=dns, serial_number=leaf.serial_number,
            fingerprint_sha256=hashlib.sha256(
                leaf.public_bytes(Encoding.DER)).hexdigest(),
            not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
            issuer=leaf.issuer.rfc4514_string(), key_type=_key_type(leaf.public_key()),
            chain=tuple(chain),
        )


def _key_type(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec-p{key.curve.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    return type(key).__name__


def _as_chain(chain: object) -> list[x509.Certificate]:
    if isinstance(chain, x509.Certificate):
        return [chain]
    if isinstance(chain, (bytes, bytearray, str)):
        return load_certificates(bytes(chain) if not isinstance(chain, str) else chain)
    if isinstance(chain, (list, tuple)) and chain and all(
            isinstance(c, x509.Certificate) for c in chain):
        return list(chain)
    raise InputTypeError("chain must be a certificate, a non-empty sequence of certificates "
                         "(leaf first) or PEM", name="chain", got=type(chain).__name__)


def _refuse(message: str, reason: str) -> CertificateError:
    return CertificateError(message, reason=reason)


def verify_device(
    chain: x509.Certificate | Sequence[x509.Certificate] | bytes | str,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    *,
    at: datetime | None = None,
    purpose: str = "client",
    server_name: str | None = None,
) -> DeviceIdentity:
    """Verify a peer's certificate chain (leaf first; intermediates optional when the trust
    store knows them) and return its :class:`DeviceIdentity`.

    Args:
        trust: a :class:`TrustStore` or the trusted root certificate(s).
        at: the time of validation (default now; timezone-aware).
        purpose: ``"client"`` (a device logging in: EKU clientAuth) or ``"server"`` (a
            gateway: EKU serverAuth, and ``server_name``, a DNS name or IP, must match).

    Raises:
        CertificateError: ``reason`` is ``"untrusted"`` (no chain to a trusted root, e.g. a
            rogue CA; also certificates signed by an Ed25519 CA, which the verifier
            does not accept),
            ``"expired"``, ``"not-yet-valid"``, ``"purpose"`` (no or wrong EKU, or a
            server name mismatch), ``"revoked"``, ``"malformed"``.
    """
    try:
        return _verify_device(chain, trust, at, purpose, server_name)
    except CertificateError as err:
        _telemetry.emit("secure.failure", kind="certificate", reason=err.reason)
        raise


def _verify_device(chain, trust, at, purpose, server_name) -> DeviceIdentity:
    if purpose not in _PURPOSE_OID:
        raise InputError("purpose must be 'client' or 'server'", name="purpose", got=purpose)
    store = TrustStore.of(trust)
    certs = _as_chain(chain)
    when = at if at is not None else datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise InputError("at must be timezone-aware", name="at", got=at)
    leaf, presented = certs[0], certs[1:]
    builder = PolicyBuilder().store(Store(list(store.roots))).time(when)
    if purpose == "client":
        verifier = builder.build_client_verifier()
    else:
        if server_name is None:
            raise InputError("server_name is needed for purpose='server'", name="server_name")
        try:
            import ipaddress
            subject = IPAddress(ipaddress.ip_address(server_name))
        except ValueError:
            subject = DNSName(server_name)
        verifier = builder.build_server_verifier(subject)
    try:
        verified = verifier.verify(leaf, [*presented, *store.intermediates])
    except VerificationError as err:
        raise _classify(str(err), [*certs, *store.intermediates], when) from None
    path = list(verified.chain if hasattr(verified, "chain") else verified)
    _check_purpose(path[0], purpose)
    _check_revocation(path, store, when)
    return DeviceIdentity.from_chain(path)


def _classify(message: str, certs: list[x509.Certificate], when: datetime) -> CertificateError:
    if "not valid at validation time" in message:
        for c in certs:
            if when < c.not_valid_before_utc:
                return _refuse(f"certificate {c.subject.rfc4514_string()} is not valid "
                               f"before {c.not_valid_before_utc:%Y-%m-%d %H:%M}Z",
                               "not-yet-valid")
        for c in certs:
            if when > c.not_valid_after_utc:
                return _refuse(f"certificate {c.subject.rfc4514_string()} expired at "
                               f"{c.not_valid_after_utc:%Y-%m-%d %H:%M}Z", "expired")
        return _refuse("a certificate of the chain is outside its validity period", "expired")
    if "EKU" in message:
        return _refuse("the certificate is not for this purpose (extended key usage)",
                       "purpose")
    if "Forbidden public key algorithm" in message or "Forbidden signature" in message:
        return _refuse("the chain uses an algorithm that cryptography's X.509 verifier does "
                       "not accept (certificates *signed* with Ed25519, i.e. by an Ed25519 CA, are "
                       "refused by its Web PKI profile: use an ECDSA P-256 CA; Ed25519 device "
                       "keys under an ECDSA CA are fine)", "untrusted")
    if "missing required extension" in message or "invalid extension" in message:
        return _refuse(f"the certificate is not a valid end-entity certificate ({message})",
                       "malformed")
    if "subject" in message.lower() or "name" in message.lower():
        return _refuse(f"the certificate does not name this server ({message})", "purpose")
    return _refuse("no chain to a trusted root", "untrusted")


def _check_purpose(leaf: x509.Certificate, purpose: str) -> None:
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise _refuse("the certificate has no extended key usage: its purpose is unknown",
                      "purpose") from None
    if _PURPOSE_OID[purpose] not in eku:
        raise _refuse(f"the certificate is not for {purpose} authentication", "purpose")


def _check_revocation(path: list[x509.Certificate], store: TrustStore, when: datetime) -> None:
    for cert, issuer in zip(path, path[1:], strict=False):
        crls = [c for c in store.crls
                if c.issuer == issuer.subject and c.is_signature_valid(issuer.public_key())]
        if any(c.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
               for c in crls):
            raise _refuse(f"certificate {cert.subject.rfc4514_string()} (serial "
                          f"{cert.serial_number:x}) is revoked", "revoked")
        if store.require_crl and not any(
                c.next_update_utc is not None and c.next_update_utc >= when
                and c.last_update_utc <= when for c in crls):
            raise _refuse(f"no current CRL from {issuer.subject.rfc4514_string()}: revocation "
                          "status unknown", "revoked")


def verify_device_cert(
    cert_pem: bytes | str,
    signature: bytes,
    data: bytes | str,
    *,
    trust: TrustStore | x509.Certificate | Iterable[x509.Certificate],
    at: datetime | None = None,
    purpose: str = "client",
) -> DeviceIdentity:
    """The article's ``verify_device_cert(cert_pem, signature, data)``, fixed.

    Validates the certificate (``cert_pem`` may carry intermediates after the leaf) against
    ``trust`` as :func:`verify_device` does, *then* verifies ``signature`` over ``data``
    with its key: ECDSA with SHA-256, Ed25519, or RSA-PSS with SHA-256 (any salt length).
    Returns the signer's :class:`DeviceIdentity`; raises :class:`CertificateError` or
    :class:`~edgekit.errors.SignatureError` (never returns ``False``)."""
    identity = verify_device(cert_pem, trust, at=at, purpose=purpose)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(signature, (bytes, bytearray)):
        raise InputTypeError("signature must be bytes", name="signature",
                             got=type(signature).__name__)
    try:
        _keys.verify(_keys.check_public(identity.chain[0].public_key()), bytes(signature),
                     bytes(data))
    except SecurityError as err:
        _telemetry.emit("secure.failure", kind="certificate", reason="signature")
        raise err
    return identity
