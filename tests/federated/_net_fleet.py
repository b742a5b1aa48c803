"""Certificates for the networked-runtime tests, written as PEM files a child process reads:
a fleet root, a coordinator certificate for 127.0.0.1/localhost, one device certificate per
client id, and a device of a rogue CA that copies the root's name."""

from __future__ import annotations

from pathlib import Path

from edgekit.secure import CertificateAuthority, certificate_pem, create_csr, generate_key
from edgekit.secure.keys import private_key_pem


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


def make_fleet(directory: Path, client_ids: list[str], *, rogue: tuple[str, ...] = ()) -> Path:
    """``directory/{root.pem, server.pem, server.key, <id>.pem, <id>.key}``; ids in ``rogue``
    get a certificate from another CA with the same name as the root."""
    directory.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("edgekit fl root", organization="edgekit")
    other = CertificateAuthority.create_root("edgekit fl root", organization="edgekit")
    _write(directory / "root.pem", certificate_pem(root.certificate))
    key = generate_key()
    cert = root.issue_server(key.public_key(), dns_names=["localhost"],
                             ip_addresses=["127.0.0.1"])
    _write(directory / "server.pem", certificate_pem(cert))
    _write(directory / "server.key", private_key_pem(key))
    for cid in [*client_ids, *rogue]:
        key = generate_key()
        ca = other if cid in rogue else root
        _write(directory / f"{cid}.pem", certificate_pem(ca.issue_device(create_csr(key, cid))))
        _write(directory / f"{cid}.key", private_key_pem(key))
    return directory
