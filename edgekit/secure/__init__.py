"""Device identity, mutual TLS, authenticated channels and signed artifacts, on
:mod:`cryptography`.

* :mod:`edgekit.secure.pki`: a fleet PKI: root and intermediate CAs, device certificates
  issued from CSRs (the key never leaves the device), server certificates, CRLs, PEM.
* :mod:`edgekit.secure.identity`: :func:`verify_device` (chain, validity, purpose,
  revocation; refusals name their reason) and the fixed :func:`verify_device_cert`.
* :mod:`edgekit.secure.tls`: TLS 1.3 contexts that require client certificates, and the
  peer's verified identity after the handshake.
* :mod:`edgekit.secure.envelope`: sealed messages (ChaCha20-Poly1305 or AES-256-GCM, counter
  nonces, replay window, rekeying) with session keys from X25519 + HKDF.
* :mod:`edgekit.secure.artifact`: sign a file, a directory or named blobs as a manifest of
  SHA-256 digests; verification refuses any edited, added, removed or renamed file, an
  untrusted key, an expired manifest and a rollback.
* :mod:`edgekit.secure.keys`: signing keys and PEM storage (encrypted private keys).
"""

from edgekit.secure.artifact import (
    ArtifactFile,
    Manifest,
    build_manifest,
    check_files,
    compare_versions,
    default_manifest_path,
    parse_version,
    read_verified,
    sign_artifact,
    sign_manifest,
    verify_artifact,
    verify_manifest,
)
from edgekit.secure.envelope import (
    CounterStore,
    EnvelopeHeader,
    FileCounterStore,
    Opener,
    Sealer,
    parse_header,
    session,
)
from edgekit.secure.identity import DeviceIdentity, TrustStore, verify_device, verify_device_cert
from edgekit.secure.keys import (
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    save_private_key,
)
from edgekit.secure.pki import (
    DEVICE_URI_PREFIX,
    CertificateAuthority,
    certificate_pem,
    create_csr,
    device_uri,
    load_certificates,
    load_crl,
)
from edgekit.secure.tls import accept, client_context, connect, peer_identity, server_context

__all__ = [
    "ArtifactFile",
    "CertificateAuthority",
    "CounterStore",
    "DEVICE_URI_PREFIX",
    "DeviceIdentity",
    "EnvelopeHeader",
    "FileCounterStore",
    "Manifest",
    "Opener",
    "Sealer",
    "TrustStore",
    "accept",
    "build_manifest",
    "certificate_pem",
    "check_files",
    "client_context",
    "compare_versions",
    "connect",
    "create_csr",
    "default_manifest_path",
    "device_uri",
    "generate_key",
    "key_id",
    "load_certificates",
    "load_crl",
    "load_private_key",
    "load_public_key",
    "parse_header",
    "parse_version",
    "peer_identity",
    "private_key_pem",
    "public_key_pem",
    "read_verified",
    "save_private_key",
    "server_context",
    "session",
    "sign_artifact",
    "sign_manifest",
    "verify_artifact",
    "verify_device",
    "verify_device_cert",
    "verify_manifest",
]
