"""Make a development PKI for the service with edgekit.secure: a fleet root, a site
intermediate, the gateway's server certificate and device certificates.

    python -m edge_service.provision ./pki --host localhost --ip 127.0.0.1 dev-1 dev-2 ops

In production the device keys are generated *on the device* and only CSRs reach the CA
(``create_csr`` there, ``CertificateAuthority.issue_device`` here); this tool does both
sides in one place for a quick start.  Private keys are written mode 0600 (the CA keys
encrypted with ``--ca-password``)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edgekit.secure import (
    CertificateAuthority,
    certificate_pem,
    create_csr,
    generate_key,
    private_key_pem,
)

__all__ = ["provision"]


def _write(path: Path, data: bytes, private: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def provision(out: str | os.PathLike[str], devices: list[str], *, hosts: list[str],
              ips: list[str], ca_password: str | None = None) -> Path:
    """Write ``trust.pem`` (root + site), ``gateway.pem``/``gateway.key``, ``chain.pem``
    (the site intermediate) and ``<device>.pem``/``<device>.key`` for each device into
    ``out``; the CAs go to ``out/ca`` (keys encrypted when ``ca_password`` is given)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("edge service fleet root")
    site = root.create_intermediate("edge service site")
    root.save(out / "ca" / "root", ca_password)
    site.save(out / "ca" / "site", ca_password)
    _write(out / "trust.pem", certificate_pem([root.certificate, site.certificate]))
    _write(out / "chain.pem", certificate_pem(site.certificate))
    gw_key = generate_key()
    gw = site.issue_server(gw_key.public_key(), dns_names=hosts, ip_addresses=ips)
    _write(out / "gateway.pem", certificate_pem(gw))
    _write(out / "gateway.key", private_key_pem(gw_key), private=True)
    for device in devices:
        key = generate_key()
        cert = site.issue_device(create_csr(key, device))
        _write(out / f"{device}.pem", certificate_pem(cert))
        _write(out / f"{device}.key", private_key_pem(key), private=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge_service.provision", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="directory to write the PEM files to")
    p.add_argument("devices", nargs="*", default=["dev-1"], help="device ids")
    p.add_argument("--host", action="append", default=[], help="gateway DNS name")
    p.add_argument("--ip", action="append", default=[], help="gateway IP address")
    p.add_argument("--ca-password", default=None, help="encrypt the CA keys with this")
    args = p.parse_args(argv)
    hosts = args.host or ([] if args.ip else ["localhost"])
    provision(args.out, args.devices, hosts=hosts, ips=args.ip or ["127.0.0.1"],
              ca_password=args.ca_password)
    print(f"wrote {args.out}: trust.pem, chain.pem, gateway.pem/.key, "
          + ", ".join(f"{d}.pem/.key" for d in args.devices))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
