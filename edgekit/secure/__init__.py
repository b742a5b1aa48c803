"""Device identity, mutual TLS, authenticated channels and signed artifacts, on
:mod:`cryptography`.

So far:

* :mod:`edgekit.secure.keys`: signing keys and PEM storage (encrypted private keys);
* :mod:`edgekit.secure.artifact`: sign a file, a directory or named blobs as a manifest of
  SHA-256 digests; verification refuses any edited, added, removed or renamed file, an
  untrusted key, an expired manifest and a rollback.
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
    "DEVICE_URI_PREFIX",
    "CertificateAuthority",
    "DeviceIdentity",
    "TrustStore",
    "certificate_pem",
    "create_csr",
    "device_uri",
    "load_certificates",
    "load_crl",
    "verify_device",
    "accept",
    "client_context",
    "connect",
    "peer_identity",
    "server_context",
    "verify_device_cert",
    "ArtifactFile",
    "Manifest",
    "build_manifest",
    "check_files",
    "compare_versions",
    "default_manifest_path",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "parse_version",
    "private_key_pem",
    "public_key_pem",
    "read_verified",
    "save_private_key",
    "sign_artifact",
    "sign_manifest",
    "verify_artifact",
    "verify_manifest",
]
