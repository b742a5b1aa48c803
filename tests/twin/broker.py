"""A real mosquitto for the MQTT tests: a fleet PKI from edgekit.secure, mutual TLS 1.3
(identity = the certificate's CN), a per-device topic ACL, 127.0.0.1 on a free port."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgekit.secure import CertificateAuthority, certificate_pem, create_csr
from edgekit.secure import client_context as tls_client_context
from edgekit.secure.keys import generate_key, private_key_pem

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="the mosquitto broker binary is not installed "
                              "(Debian: apt-get install -y mosquitto)")

SERVICE = "edgekit-shadow-service"
OPERATOR = "operator"  # an application allowed to publish requests for any thing

ACL = f"""\
user {SERVICE}
topic readwrite $aws/things/#

user {OPERATOR}
topic write $aws/things/+/shadow/update
topic read $aws/things/+/shadow/update/#

pattern write $aws/things/%u/shadow/update
pattern write $aws/things/%u/shadow/get
pattern write $aws/things/%u/shadow/delete
pattern write $aws/things/%u/shadow/name/+/update
pattern write $aws/things/%u/shadow/name/+/get
pattern write $aws/things/%u/shadow/name/+/delete
pattern read $aws/things/%u/shadow/#
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Fleet:
    """The PKI: a root CA, the broker's certificate, and identities issued on demand."""

    directory: Path
    ca: CertificateAuthority = field(init=False)

    def __post_init__(self) -> None:
        self.ca = CertificateAuthority.create_root("twin test root")
        (self.directory / "ca.pem").write_bytes(certificate_pem(self.ca.certificate))
        key = generate_key()
        cert = self.ca.issue_server(key.public_key(), ip_addresses=["127.0.0.1"])
        (self.directory / "server.pem").write_bytes(certificate_pem(cert))
        (self.directory / "server.key").write_bytes(private_key_pem(key))
        self._contexts: dict[str, object] = {}

    def write_identity(self, identity: str) -> tuple[Path, Path, Path]:
        """Issue a certificate for ``identity`` into PEM files: (certificate, key, CA)."""
        key = generate_key()
        cert = self.ca.issue_device(create_csr(key, identity))
        cert_path, key_path = (self.directory / f"{identity}.pem",
                               self.directory / f"{identity}.key")
        cert_path.write_bytes(certificate_pem(cert))
        key_path.write_bytes(private_key_pem(key))
        return cert_path, key_path, self.directory / "ca.pem"

    def context(self, identity: str):
        """A TLS client context presenting a certificate for ``identity``."""
        if identity not in self._contexts:
            key = generate_key()
            cert = self.ca.issue_device(create_csr(key, identity))
            self._contexts[identity] = tls_client_context(cert, key, self.ca.certificate)
        return self._contexts[identity]


class Broker:
    """mosquitto from a config file written here; ``stop``/``start`` for offline tests."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        (directory / "acl").write_text(ACL)
        (directory / "mosquitto.conf").write_text(f"""\
per_listener_settings false
set_tcp_nodelay true
user {getpass.getuser()}
allow_anonymous false
persistence false
log_dest stderr
log_type error
listener {self.port} 127.0.0.1
cafile {directory / "ca.pem"}
certfile {directory / "server.pem"}
keyfile {directory / "server.key"}
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
acl_file {directory / "acl"}
""")
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.directory / "mosquitto.conf")],
            stdout=subprocess.DEVNULL, stderr=open(self.directory / "mosquitto.log", "ab"))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("mosquitto exited: "
                                   + (self.directory / "mosquitto.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise TimeoutError("mosquitto did not listen in time")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
