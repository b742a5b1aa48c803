"""``edgekit demo`` section: a device certificate from a CSR, a mutual-TLS exchange on
127.0.0.1, the article's certificate check next to edgekit's, a signed model verified (and a
1-bit edit refused), and the authenticated envelope's cost against the raw AEAD."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from edgekit._demo import DemoRow
from edgekit.errors import CertificateError, SignatureError
from edgekit.secure import (
    CertificateAuthority,
    TrustStore,
    certificate_pem,
    create_csr,
    device_uri,
    generate_key,
    sign_artifact,
    verify_artifact,
    verify_device_cert,
)
from edgekit.secure._article import article_verify_device_cert
from edgekit.secure.envelope import Opener, Sealer
from edgekit.secure.tls import accept, client_context, connect, server_context

_PACKAGE = Path(__file__).resolve().parents[1]
# the model the infer subsystem ships; until it lands, a shipped sensor series stands in
MODEL_CANDIDATES = (
    _PACKAGE / "infer" / "models" / "face_detection_short_range.tflite",
    _PACKAGE / "data" / "sensors" / "payerne_temp_C.npy",
)


FLEET = "edgekit demo fleet"


def _model_path() -> Path:
    return next(p for p in MODEL_CANDIDATES if p.is_file())


def _mutual_tls(root, site, device_key, device_cert, out) -> float:
    server_key = generate_key()
    server_cert = site.issue_server(server_key.public_key(), dns_names=["localhost"],
                                    ip_addresses=["127.0.0.1"])
    trust = TrustStore((root.certificate,), intermediates=(site.certificate,))
    sctx = server_context(server_cert, server_key, trust, chain=[site.certificate])
    cctx = client_context(device_cert, device_key, root.certificate, chain=[site.certificate])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    seen: dict = {}

    def serve() -> None:
        try:
            tls, ident = accept(listener, sctx, trust, timeout=10)
            with tls:
                seen["device"] = ident.device_id
                tls.sendall(b"gateway saw " + tls.recv(256))
        except Exception as err:  # reported by the main thread
            seen["error"] = err
        finally:
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    tls, gateway = connect(("127.0.0.1", port), cctx, trust, server_hostname="localhost")
    handshake_ms = 1e3 * (time.perf_counter() - t0)
    with tls:
        tls.sendall(b"temp=21.5C")
        reply = tls.recv(256)
        version = tls.version()
    thread.join(10)
    if "error" in seen:
        raise seen["error"]
    print(f"  mutual TLS on 127.0.0.1:{port}: {version}, handshake {handshake_ms:.1f} ms; "
          f"gateway verified the device as {seen['device']!r}, the device verified "
          f"{gateway.dns_names[0]!r}; reply {reply.decode()!r}", file=out)
    return handshake_ms


def _article_vs_edgekit(root, site, out) -> tuple[int, int]:
    rogue = CertificateAuthority.create_root(FLEET, organization="edgekit")  # same name
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "d")]))
           .add_extension(x509.SubjectAlternativeName(
               [x509.UniformResourceIdentifier(device_uri("rsa-dev"))]), critical=False)
           .sign(key, hashes.SHA256()))
    now = datetime.now(timezone.utc)
    cases = {
        "rogue CA": [rogue.issue_device(csr)],
        "expired": [site.issue_device(csr, not_before=now - timedelta(days=30),
                                      not_after=now - timedelta(days=1)), site.certificate],
        "no clientAuth": [site.issue_device(csr, purposes=("server",)), site.certificate],
    }
    data = "temp=21.5C"
    sig = key.sign(data.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                              salt_length=padding.PSS.MAX_LENGTH),
                   hashes.SHA256())
    accepted = refused = 0
    for name, chain in cases.items():
        pem = certificate_pem(chain).decode()
        article = article_verify_device_cert(pem, sig, data)
        try:
            verify_device_cert(pem, sig, data, trust=root.certificate)
            verdict = "accepted"
        except CertificateError as err:
            verdict = f"refused ({err.reason})"
            refused += 1
        accepted += article is True
        print(f"  {name:>14}: article's verify_device_cert -> {article}; edgekit -> {verdict}",
              file=out)
    return accepted, refused


def _signed_model(out) -> tuple[str, bool]:
    model = _model_path()
    key = generate_key("ed25519")
    with tempfile.TemporaryDirectory(prefix="edgekit-demo-") as tmp:
        manifest = sign_artifact(model, key, name=model.stem, version="1.0.0",
                                 out=Path(tmp) / "model.manifest.json")
        m = verify_artifact(model, manifest, key.public_key(), installed="0.9")
        print(f"  signed {model.relative_to(_PACKAGE)} ({m.total_size:,} bytes, sha256 "
              f"{m.files[0].sha256[:16]}...) with Ed25519; verified", file=out)
        edited = Path(tmp) / model.name
        shutil.copyfile(model, edited)
        data = bytearray(edited.read_bytes())
        data[len(data) // 2] ^= 0x01
        edited.write_bytes(bytes(data))
        try:
            verify_artifact(edited, manifest, key.public_key())
            refused = False
        except SignatureError as err:
            refused = True
            print(f"  the same file with one bit flipped: refused ({err.reason})", file=out)
    return model.name, refused


def _envelope_cost(out) -> tuple[float, float]:
    key, msg = os.urandom(32), os.urandom(1024)
    sealer, raw, nonce = Sealer(key), ChaCha20Poly1305(key), os.urandom(12)
    envs = [sealer.seal(msg) for _ in range(4000)]
    opener = Opener(key)
    assert opener.open(envs[0]) == msg
    n = 300

    def per_msg(fn) -> float:
        times = []
        for _ in range(9):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) / n)
        return 1e6 * statistics.median(times)

    it = iter(envs[1:])
    seal_us = per_msg(lambda: [sealer.seal(msg) for _ in range(n)])
    open_us = per_msg(lambda: [opener.open(next(it)) for _ in range(n)])
    raw_us = per_msg(lambda: [raw.encrypt(nonce, msg, None) for _ in range(n)])
    print(f"  envelope, 1 KiB, ChaCha20-Poly1305: seal {seal_us:.2f} us, open {open_us:.2f} us "
          f"per message; the bare AEAD call {raw_us:.2f} us", file=out)
    return seal_us, raw_us


def run(out: TextIO) -> list[DemoRow]:
    root = CertificateAuthority.create_root(FLEET, organization="edgekit")
    site = root.create_intermediate("demo site")
    device_key = generate_key()  # generated on the device; only the CSR leaves it
    csr = create_csr(device_key, "dev-7")
    device_cert = site.issue_device(csr)
    print(f"  device certificate for {device_uri('dev-7')} issued from a CSR by "
          f"{site.certificate.subject.rfc4514_string()}, valid to "
          f"{device_cert.not_valid_after_utc:%Y-%m-%d}", file=out)
    handshake_ms = _mutual_tls(root, site, device_key, device_cert, out)
    accepted, refused = _article_vs_edgekit(root, site, out)
    model, edit_refused = _signed_model(out)
    seal_us, raw_us = _envelope_cost(out)
    return [
        DemoRow("device cert from CSR + mutual TLS 1.3, 127.0.0.1",
                f"handshake {handshake_ms:.1f} ms, both sides verified", "-"),
        DemoRow("verify_device_cert: rogue, expired, no-clientAuth",
                f"refused {refused}/3", f"accepted {accepted}/3"),
        DemoRow(f"signed model {model}", "verified; 1-bit edit "
                + ("refused" if edit_refused else "NOT refused"), "no code"),
        DemoRow("envelope seal 1 KiB ChaCha20-Poly1305",
                f"{seal_us:.2f} us ({raw_us / seal_us:.0%} of bare AEAD)", "-"),
    ]
