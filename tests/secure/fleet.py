"""A test fleet: a root CA, a site intermediate, a gateway server certificate, devices of
every kind the refusal tests need, and a rogue CA that copies the real root's name."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from edgekit.secure.keys import generate_key
from edgekit.secure.pki import CertificateAuthority, create_csr, device_uri

NOW = datetime.now(timezone.utc)


def rsa_csr(key: rsa.RSAPrivateKey, device_id: str) -> x509.CertificateSigningRequest:
    """An RSA device's CSR (edgekit's create_csr makes only EC/Ed25519 ones)."""
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME,
                                                        device_id)]))
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(device_uri(device_id))]), critical=False)
            .sign(key, hashes.SHA256()))


@dataclass
class Device:
    key: object
    cert: x509.Certificate
    chain: list = field(default_factory=list)  # leaf first, intermediates after


@dataclass
class Fleet:
    root: CertificateAuthority
    site: CertificateAuthority
    rogue: CertificateAuthority
    server_key: object
    server_cert: x509.Certificate
    devices: dict[str, Device]

    def chain(self, name: str) -> list[x509.Certificate]:
        d = self.devices[name]
        return [d.cert, *d.chain]


def make_fleet() -> Fleet:
    root = CertificateAuthority.create_root("edgekit test fleet root", organization="edgekit")
    site = root.create_intermediate("site-1")
    rogue = CertificateAuthority.create_root("edgekit test fleet root", organization="edgekit")
    server_key = generate_key()
    server_cert = site.issue_server(server_key.public_key(), dns_names=["localhost"],
                                    ip_addresses=["127.0.0.1"])
    devices: dict[str, Device] = {}

    def add(name, ca, key=None, **kw):
        key = key or generate_key()
        csr = rsa_csr(key, name) if isinstance(key, rsa.RSAPrivateKey) else create_csr(key, name)
        devices[name] = Device(key, ca.issue_device(csr, **kw), list(ca.chain[:-1])
                               if ca is not rogue else [])
        if ca is site:
            devices[name].chain = [site.certificate]

    add("good", site)
    add("good-ed25519", site, generate_key("ed25519"))
    add("rogue", rogue)
    add("expired", site, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(days=1))
    add("future", site, not_before=NOW + timedelta(days=1), not_after=NOW + timedelta(days=30))
    add("server-only", site, purposes=("server",))
    add("revoked", site)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    add("rsa-good", site, rsa_key)
    add("rsa-rogue", rogue, rsa_key)
    add("rsa-expired", site, rsa_key, not_before=NOW - timedelta(days=30),
        not_after=NOW - timedelta(days=1))
    add("rsa-server-only", site, rsa_key, purposes=("server",))
    add("rsa-revoked", site, rsa_key)
    return Fleet(root, site, rogue, server_key, server_cert, devices)
