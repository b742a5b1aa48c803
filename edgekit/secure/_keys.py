"""Signing keys: one place that knows how each key type signs and verifies.

Signatures are Ed25519 (pure) or ECDSA with SHA-256 (P-256, P-384); RSA is accepted for
*verifying* only (RSA-PSS with SHA-256, for the article's drop-in), never produced.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from edgekit.errors import InputTypeError, SignatureError

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_SIGNING_CURVES = (ec.SECP256R1, ec.SECP384R1)


def key_id(key: PublicKey | PrivateKey) -> str:
    """The key's identifier: SHA-256 of its DER SubjectPublicKeyInfo, 64 hex digits."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def algorithm_of(key: PublicKey | PrivateKey) -> str:
    """``"ed25519"``, ``"ecdsa-p256-sha256"``, ``"ecdsa-p384-sha256"`` or ``"rsa-pss-sha256"``."""
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if not isinstance(key.curve, _SIGNING_CURVES):
            raise InputTypeError(f"unsupported curve {key.curve.name}", name="key",
                                 expected="P-256 or P-384", got=key.curve.name)
        return f"ecdsa-p{key.curve.key_size}-sha256"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa-pss-sha256"
    raise InputTypeError("unsupported key type", name="key",
                         expected="Ed25519 or ECDSA key", got=type(key).__name__)


def check_private(key: object, name: str = "key") -> PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, _SIGNING_CURVES):
        return key
    raise InputTypeError(f"{name} must be an Ed25519 or ECDSA P-256/P-384 private key",
                         name=name, expected="Ed25519PrivateKey or EllipticCurvePrivateKey",
                         got=type(key).__name__)


def check_public(key: object, name: str = "key") -> PublicKey:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        key = key.public_key()
    if isinstance(key, (ed25519.Ed25519PublicKey, rsa.RSAPublicKey)):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, _SIGNING_CURVES):
        return key
    raise InputTypeError(f"{name} must be an Ed25519, ECDSA or RSA public key", name=name,
                         expected="public key", got=type(key).__name__)


def sign(key: PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` with ``key`` (Ed25519, or ECDSA with SHA-256)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    return key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify(key: PublicKey, signature: bytes, message: bytes) -> None:
    """Verify or raise :class:`SignatureError` (RSA: PSS with MGF1-SHA-256, any salt length)."""
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message,
                       padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                   salt_length=padding.PSS.AUTO),
                       hashes.SHA256())
        else:
            raise SignatureError("unsupported key type", reason="key")
    except InvalidSignature:
        raise SignatureError("signature does not verify", reason="signature") from None
