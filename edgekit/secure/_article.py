"""The article's ``verify_device_cert``, reproduced as published (with its missing import
added), for tests and the demo to show what it accepts.  Never use it: see
:func:`edgekit.secure.verify_device_cert` for the fixed version.

Its flaws, measured in ``tests/secure/test_identity.py``: the certificate is never validated
(no chain to a trusted CA, no validity period, no purpose, no revocation), so it returns
True for a certificate from a rogue CA, an expired one and one without clientAuth; it only
knows RSA-PSS, so every EC and Ed25519 signature gives False; any exception becomes False.
"""

from __future__ import annotations

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509 import load_pem_x509_certificate  # the import the article forgot


def article_verify_device_cert(cert_pem, signature, data):  # noqa: ANN001, ANN201
    cert = load_pem_x509_certificate(cert_pem.encode(), default_backend())
    public_key = cert.public_key()
    try:
        public_key.verify(
            signature,
            data.encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256(),
        )
        return True
    except Exception:
        return False
