"""Key generation and PEM storage (private keys encrypted at rest when a password is given).

``generate_key("ec-p256" | "ec-p384" | "ed25519")`` makes a signing key; the PEM helpers read
and write PKCS#8 private keys (encrypted with the best available scheme when ``password`` is
given) and SubjectPublicKeyInfo public keys.  Files holding private keys are created with mode
0600 and replaced atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from edgekit._fileio import atomic_write
from edgekit.errors import InputError, InputTypeError, SignatureError
from edgekit.secure import _keys
from edgekit.secure._keys import PrivateKey, PublicKey, key_id

__all__ = [
    "KEY_TYPES",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
    "public_key_pem",
    "save_private_key",
]

KEY_TYPES = ("ec-p256", "ec-p384", "ed25519")

PathLike = str | os.PathLike


def generate_key(kind: str = "ec-p256") -> PrivateKey:
    """A new private key: ``"ec-p256"`` (default: what X.509 verification and TLS accept
    everywhere), ``"ec-p384"`` or ``"ed25519"``."""
    if kind == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise InputError(f"unknown key type {kind!r}", name="kind", expected=KEY_TYPES, got=kind)


def _password(password: str | bytes | None) -> bytes | None:
    if password is None:
        return None
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not isinstance(password, (bytes, bytearray)) or not password:
        raise InputError("password must be a non-empty str or bytes", name="password")
    return bytes(password)


def private_key_pem(key: PrivateKey, password: str | bytes | None = None) -> bytes:
    """PKCS#8 PEM of ``key``, encrypted with ``password`` when given."""
    key = _keys.check_private(key)
    pw = _password(password)
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(pw) if pw else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def public_key_pem(key: PublicKey | PrivateKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a key (a private key gives its public half)."""
    pub = _keys.check_public(key)
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def save_private_key(key: PrivateKey, path: PathLike,
                     password: str | bytes | None = None) -> Path:
    """Write ``key`` as PEM to ``path`` (mode 0600, atomic replace)."""
    return atomic_write(path, private_key_pem(key, password), mode=0o600)


def _read(source: bytes | str | PathLike) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, str) and source.lstrip().startswith("-----BEGIN"):
        return source.encode("ascii")
    if isinstance(source, (str, os.PathLike)):
        return Path(source).read_bytes()
    raise InputTypeError("expected PEM bytes, PEM text or a path", name="source",
                         got=type(source).__name__)


def load_private_key(source: bytes | str | PathLike,
                     password: str | bytes | None = None) -> PrivateKey:
    """Load a PEM private key (bytes, text or path).  A wrong or missing password raises
    :class:`SignatureError` (reason ``"key"``); a key type edgekit does not sign with raises
    :class:`InputTypeError`."""
    data = _read(source)
    try:
        key = serialization.load_pem_private_key(data, _password(password))
    except TypeError:
        raise SignatureError("the key is encrypted: a password is needed (or it is not "
                             "encrypted and one was given)", reason="key") from None
    except ValueError:
        raise SignatureError("cannot load the private key (bad PEM or wrong password)",
                             reason="key") from None
    return _keys.check_private(key)


def load_public_key(source: bytes | str | PathLike) -> PublicKey:
    """Load a PEM public key (SubjectPublicKeyInfo) from bytes, text or a path."""
    data = _read(source)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise SignatureError("cannot load the public key (bad PEM)", reason="key") from None
    return _keys.check_public(key)
