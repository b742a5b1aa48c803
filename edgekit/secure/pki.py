"""A small fleet PKI on :mod:`cryptography`: root and intermediate CAs, device certificates
issued from a CSR (the device's private key never leaves it), server certificates, CRLs, PEM.

Defaults: ECDSA P-256 with SHA-256 everywhere (what cryptography's X.509 verifier, OpenSSL
and every TLS stack accept).  Ed25519 *device keys* under an ECDSA CA work everywhere
(:func:`~edgekit.secure.verify_device`, TLS 1.3).  An Ed25519 *CA* can be created and its
certificates work for TLS 1.3 between OpenSSL peers, but ``cryptography.x509.verification``
(hence ``verify_device``) refuses certificates signed with Ed25519: its Web PKI profile does
not allow that signature algorithm.

Every certificate carries: BasicConstraints (critical), KeyUsage (critical), Subject and
Authority Key Identifiers; end-entity certificates add ExtendedKeyUsage (clientAuth for a
device, serverAuth for a server) and a SubjectAlternativeName: the device URI
``urn:edgekit:device:<device_id>`` for a device, DNS names / IP addresses for a server.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edgekit.errors import CertificateError, InputError, InputTypeError
from edgekit.secure import _keys
from edgekit.secure._keys import PrivateKey
from edgekit.secure.keys import generate_key

__all__ = [
    "DEVICE_URI_PREFIX",
    "CertificateAuthority",
    "certificate_pem",
    "create_csr",
    "device_uri",
    "load_certificates",
    "load_crl",
]

DEVICE_URI_PREFIX = "urn:edgekit:device:"
_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PURPOSES = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}
_SKEW = timedelta(minutes=5)  # not_before is backdated by this, for clocks slightly behind

PathLike = str | os.PathLike


def device_uri(device_id: str) -> str:
    """``urn:edgekit:device:<device_id>``; ids are 1-128 of ``A-Z a-z 0-9 . _ : -``."""
    if not isinstance(device_id, str) or not _DEVICE_ID.match(device_id):
        raise InputError("device_id must be 1-128 characters of A-Z a-z 0-9 . _ : - "
                         "(starting with a letter or digit)", name="device_id", got=device_id)
    return DEVICE_URI_PREFIX + device_id


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    if not isinstance(common_name, str) or not common_name or len(common_name) > 64:
        raise InputError("common name must be 1-64 characters", name="common_name",
                         got=common_name)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _hash_for(key: PrivateKey) -> hashes.HashAlgorithm | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _validity(not_before: datetime | None, not_after: datetime | None,
              valid_days: float) -> tuple[datetime, datetime]:
    nb = not_before if not_before is not None else _now() - _SKEW
    na = not_after if not_after is not None else nb + _SKEW + timedelta(days=valid_days)
    for name, t in (("not_before", nb), ("not_after", na)):
        if t.tzinfo is None:
            raise InputError(f"{name} must be timezone-aware", name=name, got=t)
    if na <= nb:
        raise InputError("not_after must be later than not_before", name="not_after", got=na)
    return nb, na


def create_csr(key: PrivateKey, device_id: str, *, organization: str | None = None
               ) -> x509.CertificateSigningRequest:
    """On the device: a CSR for ``device_id``, signed with the device's own ``key`` (which
    stays on the device).  It names the device URI in a SubjectAlternativeName."""
    key = _keys.check_private(key)
    uri = device_uri(device_id)
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(_name(device_id, organization))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]),
                           critical=False)
            .sign(key, _hash_for(key)))


def _csr_device_id(csr: x509.CertificateSigningRequest) -> str | None:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(DEVICE_URI_PREFIX):
            return uri[len(DEVICE_URI_PREFIX):]
    return None


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A CA: its certificate, its private key, and the certificates between it and the root
    (``chain``, nearest first; empty for a root).  Revocation state is the caller's: pass the
    revoked certificates or serials to :meth:`crl`."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.certificate, x509.Certificate):
            raise InputTypeError("certificate must be an x509.Certificate", name="certificate")
        _keys.check_private(self.private_key, "private_key")
        object.__setattr__(self, "chain", tuple(self.chain))

    # --- creating CAs --------------------------------------------------------------------

    @classmethod
    def create_root(cls, common_name: str, *, key: PrivateKey | None = None,
                    organization: str | None = None, valid_days: float = 3650,
                    path_length: int | None = 1) -> CertificateAuthority:
        """A self-signed root CA (ECDSA P-256 unless ``key`` is given); ``path_length`` is
        how many intermediate CAs may stand below it."""
        key = _keys.check_private(key if key is not None else generate_key("ec-p256"))
        name = _name(common_name, organization)
        nb, na = _validity(None, None, valid_days)
        cert = _ca_builder(name, name, key.public_key(), key.public_key(), nb, na,
                           path_length).sign(key, _hash_for(key))
        return cls(cert, key)

    def create_intermediate(self, common_name: str, *, key: PrivateKey | None = None,
                            organization: str | None = None, valid_days: float = 1825,
                            path_length: int | None = 0) -> CertificateAuthority:
        """An intermediate CA signed by this one (e.g. one per site or per factory line)."""
        key = _keys.check_private(key if key is not None else generate_key("ec-p256"))
        nb, na = _validity(None, None, valid_days)
        na = min(na, self.certificate.not_valid_after_utc)
        cert = _ca_builder(_name(common_name, organization), self.certificate.subject,
                           key.public_key(), self.private_key.public_key(), nb, na,
                           path_length).sign(self.private_key, _hash_for(self.private_key))
        return CertificateAuthority(cert, key, (self.certificate, *self.chain))

    # --- issuing -------------------------------------------------------------------------

    def issue_device(self, csr: x509.CertificateSigningRequest, *,
                     device_id: str | None = None, valid_days: float = 365,
                     not_before: datetime | None = None, not_after: datetime | None = None,
                     purposes: Sequence[str] = ("client",)) -> x509.Certificate:
        """Issue a device certificate from the device's CSR.

        The CSR's signature must verify (proof the device holds the key).  The device id
        comes from ``device_id`` or else the CSR's device URI; when both are given they
        must agree.  The CA sets every extension itself (the CSR's other requests are
        ignored).  ``purposes``: ``"client"`` (default) and/or ``"server"``.

        Raises :class:`CertificateError` (reason ``"signature"``) for a CSR whose signature
        does not verify, :class:`InputError` for a missing or conflicting device id."""
        if not isinstance(csr, x509.CertificateSigningRequest):
            raise InputTypeError("csr must be an x509.CertificateSigningRequest", name="csr",
                                 got=type(csr).__name__)
        if not csr.is_signature_valid:
            raise CertificateError("the CSR's signature does not verify", reason="signature")
        requested = _csr_device_id(csr)
        if device_id is None:
            device_id = requested
        if device_id is None:
            raise InputError("no device id: give device_id or a CSR naming the device URI",
                             name="device_id")
        if requested is not None and requested != device_id:
            raise InputError(f"the CSR asks for {requested!r}, not {device_id!r}",
                             name="device_id", expected=device_id, got=requested)
        san = x509.SubjectAlternativeName([x509.UniformResourceIdentifier(device_uri(device_id))])
        return self._issue_leaf(csr.public_key(), _name(device_id), san, purposes,
                                not_before, not_after, valid_days)

    def issue_server(self, public_key: object, *, dns_names: Iterable[str] = (),
                     ip_addresses: Iterable[str] = (), common_name: str | None = None,
                     valid_days: float = 365, not_before: datetime | None = None,
                     not_after: datetime | None = None) -> x509.Certificate:
        """Issue a server (gateway) certificate for ``public_key`` (or a CSR's key) with the
        given DNS names and IP addresses, for serverAuth."""
        if isinstance(public_key, x509.CertificateSigningRequest):
            if not public_key.is_signature_valid:
                raise CertificateError("the CSR's signature does not verify",
                                       reason="signature")
            public_key = public_key.public_key()
        dns, ips = list(dns_names), [ipaddress.ip_address(a) for a in ip_addresses]
        if not dns and not ips:
            raise InputError("a server certificate needs a DNS name or an IP address",
                             name="dns_names")
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.IPAddress(ip) for ip in ips]
        cn = common_name or (dns[0] if dns else str(ips[0]))
        return self._issue_leaf(public_key, _name(cn), x509.SubjectAlternativeName(names),
                                ("server",), not_before, not_after, valid_days)

    def _issue_leaf(self, public_key, subject, san, purposes, not_before, not_after,
                    valid_days) -> x509.Certificate:
        pub = _keys.check_public(public_key, "public_key")
        ekus = []
        for p in purposes:
            if p not in _PURPOSES:
                raise InputError(f"unknown purpose {p!r}", name="purposes",
                                 expected=tuple(_PURPOSES), got=p)
            ekus.append(_PURPOSES[p])
        if not ekus:
            raise InputError("at least one purpose is needed", name="purposes")
        nb, na = _validity(not_before, not_after, valid_days)
        if not_after is None:  # a leaf never outlives its issuer
            na = min(na, self.certificate.not_valid_after_utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(pub).serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
            .add_extension(san, critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.private_key.public_key()), critical=False)
        )
        return builder.sign(self.private_key, _hash_for(self.private_key))

    # --- revocation ----------------------------------------------------------------------

    def crl(self, revoked: Iterable[x509.Certificate | int] = (), *,
            valid_days: float = 7, at: datetime | None = None) -> x509.CertificateRevocationList:
        """A CRL signed by this CA listing ``revoked`` (certificates or serial numbers),
        current from ``at`` (default now) for ``valid_days``."""
        now = at or _now()
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.certificate.subject)
             .last_update(now - _SKEW).next_update(now + timedelta(days=valid_days))
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 self.private_key.public_key()), critical=False)
             .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False))
        for item in revoked:
            serial = item.serial_number if isinstance(item, x509.Certificate) else int(item)
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now - _SKEW).build())
        return b.sign(self.private_key, _hash_for(self.private_key))

    # --- storage -------------------------------------------------------------------------

    def save(self, directory: PathLike, password: str | bytes | None) -> None:
        """Write ``ca.pem`` (certificate + chain) and ``ca.key`` (private key, encrypted with
        ``password``; ``None`` only for tests) into ``directory``."""
        from edgekit.secure.keys import save_private_key

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "ca.pem").write_bytes(certificate_pem([self.certificate, *self.chain]))
        save_private_key(self.private_key, d / "ca.key", password)

    @classmethod
    def load(cls, directory: PathLike, password: str | bytes | None) -> CertificateAuthority:
        """Read what :meth:`save` wrote."""
        from edgekit.secure.keys import load_private_key

        d = Path(directory)
        certs = load_certificates(d / "ca.pem")
        return cls(certs[0], load_private_key(d / "ca.key", password), tuple(certs[1:]))


def _ca_builder(subject, issuer, pub, issuer_pub, nb, na, path_length) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer)
        .public_key(pub).serial_number(x509.random_serial_number())
        .not_valid_before(nb).not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub),
                       critical=False)
    )


# --- PEM -------------------------------------------------------------------------------------


def certificate_pem(certs: x509.Certificate | Iterable[x509.Certificate]) -> bytes:
    """PEM of one certificate or of several, concatenated in order."""
    if isinstance(certs, x509.Certificate):
        certs = [certs]
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _read(source: bytes | str | PathLike) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and "-----BEGIN" in source:
        return source.encode("ascii")
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    raise InputTypeError("expected PEM bytes, PEM text or a path", name="source",
                         got=type(source).__name__)


def load_certificates(source: bytes | str | PathLike) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (bytes, text or path); raises
    :class:`CertificateError` (reason ``"malformed"``) when there is none or one is bad."""
    try:
        certs = x509.load_pem_x509_certificates(_read(source))
    except ValueError:
        raise CertificateError("not a PEM certificate bundle", reason="malformed") from None
    return certs


def load_crl(source: bytes | str | PathLike) -> x509.CertificateRevocationList:
    """A PEM (or DER) certificate revocation list."""
    data = _read(source)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise CertificateError("not a CRL", reason="malformed") from None
