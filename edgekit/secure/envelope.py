"""An authenticated channel between a device and its gateway: sealed envelopes with counter
nonces, a replay window, rekeying, and session keys from X25519 + HKDF.

Wire format (version 1; ``docs/secure/envelope.md``), big-endian::

    offset  size  field
    0       1     version = 1
    1       1     algorithm: 1 = ChaCha20-Poly1305, 2 = AES-256-GCM
    2       2     key id (uint16): which key of the session (it increases by 1 per rekey)
    4       8     counter (uint64): message number under that key, never reused
    12      n     ciphertext
    12+n    16    tag

The 12-byte header *is* the AEAD nonce, so every header bit is authenticated (a changed bit
is a different nonce, and the tag fails) and nothing is parsed that the tag does not cover.
It is unique for a key as long as the counter is, which :class:`Sealer` guarantees within a
process (a C-level atomic counter) and across restarts with a :class:`CounterStore` (counter
blocks are persisted *before* use).  Session keys from :func:`session` are fresh per session,
so a restarted device that runs a new key exchange starts again at counter 0 safely.  The
caller's ``associated_data`` (a topic, the device ids) is authenticated, never sent.

:class:`Opener` refuses (``AuthenticationError``, deliberately opaque) anything that does
not authenticate, and (``ReplayError``) an authentic message already seen or older than the
replay window; messages reordered within the window are accepted.  The window only moves
for messages that authenticated, so forgeries cannot push it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import struct
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from edgekit import _backend, _telemetry
from edgekit._fileio import atomic_write
from edgekit.errors import (
    AuthenticationError,
    InputError,
    InputTypeError,
    OptionsError,
    ReplayError,
    SecurityError,
)

__all__ = [
    "ALGORITHMS",
    "HEADER_SIZE",
    "TAG_SIZE",
    "CounterStore",
    "EnvelopeHeader",
    "FileCounterStore",
    "Opener",
    "Sealer",
    "parse_header",
    "session",
]

VERSION = 1
HEADER_SIZE = 12
TAG_SIZE = 16
MAX_COUNTER = (1 << 64) - 1
MAX_KEY_ID = (1 << 16) - 1
ALGORITHMS: dict[str, int] = {"chacha20-poly1305": 1, "aes-256-gcm": 2}
_AEAD: dict[int, Callable[[bytes], object]] = {1: ChaCha20Poly1305, 2: AESGCM}
_ALG_NAMES = {v: k for k, v in ALGORITHMS.items()}
# rekey long before any per-key limit: 2**48 messages (AES-GCM's confidentiality bound for
# 1 KiB messages is far above that with deterministic nonces; ChaCha20-Poly1305 has none)
DEFAULT_REKEY_AFTER = 1 << 48

_PREFIX = struct.Struct(">BBH")  # version, algorithm, key id
_HEAD = struct.Struct(">4sQ")  # the 4-byte prefix, the counter: the header and the nonce
_UNPACK = struct.Struct(">BBHQ")
_REKEY_INFO = b"edgekit-envelope-v1 rekey"
_SESSION_INFO = b"edgekit-envelope-v1 session"

_SINKS = _telemetry._SINKS  # the same list: emit only when someone listens, off the hot path


def _fail(reason: str, error: type[AuthenticationError] = AuthenticationError
          ) -> AuthenticationError:
    if _SINKS:
        _telemetry.emit("secure.failure", kind="envelope", reason=reason)
    if error is ReplayError:
        return ReplayError("message replayed or older than the replay window")
    return error("message failed authentication")


def _bad_input(data: object, associated_data: object, err: Exception) -> Exception:
    """The caller's mistake (not an attack): a clear InputTypeError/InputError."""
    for name, value in (("data", data), ("associated_data", associated_data)):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            return InputTypeError(f"{name} must be bytes", name=name,
                                  got=type(value).__name__)
    return InputError(f"message too large for the AEAD: {err}", name="data",
                      expected="< 2**31 bytes", got=len(data))  # type: ignore[arg-type]


def _check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise InputTypeError("key must be bytes", name="key", got=type(key).__name__)
    if len(key) != 32:
        raise InputError("key must be 32 bytes", name="key", expected=32, got=len(key))
    return bytes(key)


def _check_alg(algorithm: str) -> int:
    if algorithm not in ALGORITHMS:
        raise OptionsError(f"unknown algorithm {algorithm!r}", name="algorithm",
                           expected=tuple(ALGORITHMS), got=algorithm)
    return ALGORITHMS[algorithm]


def _check_key_id(key_id: object) -> int:
    if isinstance(key_id, bool) or not isinstance(key_id, int) or not 0 <= key_id <= MAX_KEY_ID:
        raise InputError("key_id must be an int in [0, 65536)", name="key_id", got=key_id)
    return key_id


def _next_key(key: bytes) -> bytes:
    """The key after a rekey: HKDF-Expand(SHA-256) of the current one.  One-way, so a
    captured key does not reveal earlier traffic."""
    return HKDFExpand(hashes.SHA256(), 32, _REKEY_INFO).derive(key)


def key_fingerprint(key: bytes) -> str:
    """A public name for a key (for counter stores and logs): 16 hex digits of
    SHA-256("edgekit-envelope-v1 key" + key); reveals nothing about the key."""
    return hashlib.sha256(b"edgekit-envelope-v1 key" + key).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """A parsed header (not authenticated until :meth:`Opener.open` succeeds)."""

    version: int
    algorithm: str
    key_id: int
    counter: int
    size: int  # plaintext bytes


def parse_header(envelope: bytes) -> EnvelopeHeader:
    """Read an envelope's header without authenticating it (routing, logging).  Raises
    :class:`AuthenticationError` for anything that is not a version-1 envelope."""
    if not isinstance(envelope, (bytes, bytearray, memoryview)) or \
            len(envelope) < HEADER_SIZE + TAG_SIZE:
        raise _fail("format")
    version, alg, key_id, counter = _UNPACK.unpack_from(envelope)
    if version != VERSION or alg not in _ALG_NAMES:
        raise _fail("format")
    return EnvelopeHeader(version, _ALG_NAMES[alg], key_id, counter,
                          len(envelope) - HEADER_SIZE - TAG_SIZE)


# --- counters that survive restarts -----------------------------------------------------------


class CounterStore(Protocol):
    """Where a :class:`Sealer` with a long-lived key records how far its counter may have
    gone.  ``load`` returns the first counter never handed out (0 for a new key);
    ``reserve(fingerprint, upto)`` must durably record ``upto`` before returning."""

    def load(self, fingerprint: str) -> int: ...

    def reserve(self, fingerprint: str, upto: int) -> None: ...


class FileCounterStore:
    """A :class:`CounterStore` in one small JSON file, replaced atomically and fsynced.  A
    :class:`Sealer` reserves ``block`` counters at a time, so a crash skips at most ``block``
    counters and never repeats one."""

    def __init__(self, path: str | os.PathLike, *, block: int = 1 << 16) -> None:
        if isinstance(block, bool) or not isinstance(block, int) or block < 1:
            raise OptionsError("block must be an int >= 1", name="block", got=block)
        self.path = Path(path)
        self.block = block
        self._lock = threading.Lock()

    def _read(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise InputError(f"{self.path} is not a counter store", name="path")
        return data

    def load(self, fingerprint: str) -> int:
        with self._lock:
            return int(self._read().get(fingerprint, 0))

    def reserve(self, fingerprint: str, upto: int) -> None:
        with self._lock:
            data = self._read()
            if upto <= data.get(fingerprint, 0):
                return
            data[fingerprint] = upto
            atomic_write(self.path, json.dumps(data).encode("utf-8"), mode=0o600)


# --- sealing ----------------------------------------------------------------------------------


class Sealer:
    """Seals messages under one sending key.  Thread-safe: counters come from a C-level
    atomic counter, so concurrent callers never share a nonce.  With ChaCha20-Poly1305,
    where edgekit's envelope extension is built, one C call (OpenSSL) writes each envelope;
    the bytes are the same as the Python path's.

    Args:
        key: 32 secret bytes (from :func:`session`, or a provisioned key with a
            ``counter_store``).
        key_id: the key's id on the wire (uint16); :meth:`rekey` increments it.
        algorithm: ``"chacha20-poly1305"`` (default; fast without AES instructions, as on
            most ARM boards) or ``"aes-256-gcm"``.
        counter_store: persists counter reservations so that a restart with the same key
            never reuses a nonce (see :class:`FileCounterStore`).
        rekey_after: messages per key before an automatic :meth:`rekey`.
        counter_start: the first counter (for tests and golden files; never lower it on a
            key already used).
    """

    def __init__(self, key: bytes, *, key_id: int = 0, algorithm: str = "chacha20-poly1305",
                 counter_store: CounterStore | None = None,
                 rekey_after: int = DEFAULT_REKEY_AFTER, counter_start: int = 0,
                 _native: bool | None = None) -> None:
        self._alg = _check_alg(algorithm)
        self.algorithm = algorithm
        if isinstance(rekey_after, bool) or not isinstance(rekey_after, int) or \
                not 1 <= rekey_after <= MAX_COUNTER:
            raise OptionsError("rekey_after must be an int in [1, 2**64)", name="rekey_after",
                               got=rekey_after)
        if isinstance(counter_start, bool) or not isinstance(counter_start, int) or \
                not 0 <= counter_start <= MAX_COUNTER:
            raise OptionsError("counter_start must be an int in [0, 2**64)",
                               name="counter_start", got=counter_start)
        self._rekey_after = rekey_after
        self._store = counter_store
        self._lock = threading.Lock()
        self._forked = False
        _SEALERS.add(self)
        # the C sealer where it is faster: ChaCha20 (0.95x of a raw channel against 0.87x);
        # AES-GCM seals faster through cryptography's call (0.82x against 0.74x: the system
        # OpenSSL's EVP overhead per message outweighs the Python it saves)
        self._native = _use_native(_native) and (_native or self._alg == ALGORITHMS[
            "chacha20-poly1305"])
        self._install(_check_key(key), _check_key_id(key_id), counter_start)

    def _install(self, key: bytes, key_id: int, start: int) -> None:
        if self._store is not None:
            start = max(start, self._store.load(key_fingerprint(key)))
        self._key = key
        self.key_id = key_id
        self._fingerprint = key_fingerprint(key)
        prefix = _PREFIX.pack(VERSION, self._alg, key_id)
        handle = None
        if self._native:  # the C sealer: a cipher context keyed once (window 0: sending)
            handle = _CLIB.ek_env_key_new(self._alg, key, int.from_bytes(prefix, "big"), 0)
            if handle == _CFFI.NULL:
                raise MemoryError("could not set up the envelope cipher context")
            handle = _CFFI.gc(handle, _CLIB.ek_env_key_free)
        # one tuple, read once per message: a concurrent rekey can never pair a counter of
        # one key with another key.  limit == start sends the first message through
        # _slow_path, which reserves a block of counters.
        self._state = (itertools.count(start), start, prefix, _AEAD[self._alg](key).encrypt,
                       handle)

    @property
    def fingerprint(self) -> str:
        """:func:`key_fingerprint` of the current key."""
        return self._fingerprint

    def seal(self, data: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt and authenticate ``data`` (and authenticate ``associated_data``, which the
        opener must pass identically).  Returns header + ciphertext + tag
        (``len(data) + 28`` bytes)."""
        ctr, limit, prefix, encrypt, handle = self._state
        n = next(ctr)
        if n >= limit:
            return self._slow_path(ctr, n, data, associated_data)
        # exact bytes only: cffi passes a subclass's own buffer, but len() may be overridden
        if handle is not None and type(data) is bytes and type(associated_data) is bytes:
            size = len(data)
            out = bytes(size + _OVERHEAD)  # fresh and unshared: C writes the envelope
            if _env_seal(handle, n, data, size, associated_data, len(associated_data),
                         out) == _OK:
                if _SINKS:
                    _telemetry.emit("secure.seal", bytes=size)
                return out
        header = _HEAD.pack(prefix, n)  # (inlined: a call here costs AES-GCM 0.08x)
        try:
            out = header + encrypt(header, data, associated_data)
        except (TypeError, OverflowError) as err:
            raise _bad_input(data, associated_data, err) from None
        if _SINKS:
            _telemetry.emit("secure.seal", bytes=len(data))
        return out

    @staticmethod
    def _seal_python(prefix: bytes, encrypt: Callable, n: int, data: bytes,
                     associated_data: bytes) -> bytes:
        header = _HEAD.pack(prefix, n)  # n is below the (reserved) limit of this key
        try:
            out = header + encrypt(header, data, associated_data)
        except (TypeError, OverflowError) as err:
            raise _bad_input(data, associated_data, err) from None
        if _SINKS:
            _telemetry.emit("secure.seal", bytes=len(data))
        return out

    def _slow_path(self, taken: itertools.count, n: int, data: bytes,
                   associated_data: bytes) -> bytes:
        with self._lock:
            ctr, limit, prefix, encrypt, handle = self._state
            if self._forked:
                raise _forked_error()
            if ctr is not taken:  # another thread rekeyed since: n belongs to the old key
                n = -1
            elif n >= self._rekey_after or n > MAX_COUNTER:
                self._rekey_locked()
                n = -1
            elif n >= limit:
                new_limit = min(self._rekey_after, MAX_COUNTER + 1)
                if self._store is not None:
                    upto = min(n + getattr(self._store, "block", 1 << 16), new_limit)
                    self._store.reserve(self._fingerprint, upto)
                    new_limit = upto
                self._state = (ctr, max(limit, new_limit), prefix, encrypt, handle)
        if n < 0:
            return self.seal(data, associated_data)  # under the current key, a fresh counter
        return self._seal_python(prefix, encrypt, n, data, associated_data)

    def rekey(self) -> int:
        """Switch to the next key (one-way derived from the current one) and key id;
        counters restart at 0 under the new key.  Returns the new key id.  The
        :class:`Opener` follows on its own when it sees the new key id."""
        with self._lock:
            return self._rekey_locked()

    def _rekey_locked(self) -> int:
        if self._forked:
            raise _forked_error()
        if self.key_id >= MAX_KEY_ID:
            raise OptionsError("key id space exhausted: run a new key exchange",
                               name="key_id")
        self._install(_next_key(self._key), self.key_id + 1, 0)
        return self.key_id


_SEALERS: weakref.WeakSet[Sealer] = weakref.WeakSet()


def _forked_error() -> SecurityError:
    return SecurityError("this Sealer was copied by os.fork(): the parent process uses the "
                         "same key and counters; run a new session() in the child")


def _after_fork_in_child() -> None:
    """A Sealer copied into a child process would seal the parent's next counters again
    (one nonce, two plaintexts).  Limit 0 sends each one's next seal to _slow_path, which
    refuses it: nothing on the per-message path."""
    for sealer in list(_SEALERS):
        sealer._forked = True
        ctr, _limit, prefix, encrypt, handle = sealer._state
        sealer._state = (ctr, 0, prefix, encrypt, handle)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --- opening ----------------------------------------------------------------------------------


def _native_opener_works() -> bool:
    """Whether the C opener (``_native/crypto/envelope.c``) can be used here.

    It writes the plaintext straight into a ``bytes`` object that :meth:`Opener.open` has
    just created and nobody else holds (what CPython's own C code does with
    ``PyBytes_FromStringAndSize(NULL, n)``), which saves a copy and an allocation per
    message.  That relies on cffi handing C the object's own buffer, as it does on
    CPython; this check opens one known envelope and falls back to the Python path where
    the plaintext does not arrive (an interpreter that passes a copy) or is wrong."""
    if _CLIB is None:
        return False
    key, plain = bytes(range(32)), bytes(range(40))
    prefix = _PREFIX.pack(VERSION, 1, 0)
    header = _HEAD.pack(prefix, 7)
    envelope = header + ChaCha20Poly1305(key).encrypt(header, plain, b"ad")
    handle = _CFFI.gc(_CLIB.ek_env_key_new(1, key, int.from_bytes(prefix, "big"), 64),
                      _CLIB.ek_env_key_free)
    out = bytes(len(plain))
    rc = _CLIB.ek_env_open(handle, _CFFI.NULL, envelope, len(envelope), b"ad", 2, out)
    return rc == _CLIB.EK_ENV_OK and out == plain and bytes(len(plain)) == bytes(40)


_CLIB, _CFFI = _backend.crypto_lib, _backend.crypto_ffi
_NATIVE = _native_opener_works()
_OVERHEAD = HEADER_SIZE + TAG_SIZE
_MAX_BODY = (1 << 31) - 1  # OpenSSL's int lengths
if _NATIVE:
    _env_open, _env_seal = _CLIB.ek_env_open, _CLIB.ek_env_seal
    _OK, _AUTH, _REPLAY = _CLIB.EK_ENV_OK, _CLIB.EK_ENV_AUTH, _CLIB.EK_ENV_REPLAY
    _SCRATCH = _CFFI.new("char[]", 1)  # the output pointer for an empty plaintext


def _use_native(asked: bool | None) -> bool:
    """Whether a Sealer/Opener uses the C path: by default where it works (``_native`` is
    for tests that compare the two)."""
    if asked and not _NATIVE:
        raise OptionsError("the C envelope code is not available here", name="_native")
    return _NATIVE if asked is None else bool(asked)


class _Window:
    """One receiving key and its sliding replay window over counters (RFC 6479's idea).

    Python reference: ``bits`` is an int bitmap, bit ``d`` set when counter ``top - d`` was
    seen.  Native (``native`` is the C state): the key's cipher context and window live in
    C, under a lock of their own, and ``decrypt``/``top``/``bits`` are unused."""

    __slots__ = ("bits", "decrypt", "key", "key_id", "native", "top")

    def __init__(self, key: bytes, alg: int, key_id: int, window: int, native: bool) -> None:
        self.key = key
        self.key_id = key_id
        self.decrypt = None if native else _AEAD[alg](key).decrypt
        self.top = -1
        self.bits = 0
        self.native = None
        if native:
            prefix = int.from_bytes(_PREFIX.pack(VERSION, alg, key_id), "big")
            handle = _CLIB.ek_env_key_new(alg, key, prefix, window)
            if handle == _CFFI.NULL:
                raise MemoryError("could not set up the envelope cipher context")
            self.native = _CFFI.gc(handle, _CLIB.ek_env_key_free)


class Opener:
    """Opens envelopes sealed by the peer's :class:`Sealer`.

    One opener serves one receiving direction.  Where edgekit's C extension for it is built
    (it links OpenSSL's libcrypto; ``edgekit info`` lists ``env_open``), the header check,
    decryption and replay window run in one C call; otherwise in Python, with the same
    results (tested against each other).

    Args:
        key, key_id, algorithm: as the peer's :class:`Sealer`.
        window: how many counters below the highest seen are still accepted (once each);
            older ones raise :class:`ReplayError`.  Reordering within the window is fine.
        threadsafe: lock the replay window so that several threads may call :meth:`open`
            at once (default).  An opener used by one thread or one asyncio event loop only
            may pass ``False`` and save the Python lock (about 0.1 us per message); sharing
            such an opener between threads could accept a replayed message twice.  The C
            opener always locks its window (the lock costs it about 20 ns).
    """

    def __init__(self, key: bytes, *, key_id: int = 0, algorithm: str = "chacha20-poly1305",
                 window: int = 1024, threadsafe: bool = True,
                 _native: bool | None = None) -> None:
        self._alg = _check_alg(algorithm)
        self.algorithm = algorithm
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 1 << 16:
            raise OptionsError("window must be an int in [1, 65536]", name="window", got=window)
        self.window = window
        self._mask = (1 << window) - 1
        self._native = _use_native(_native)
        first = _Window(_check_key(key), self._alg, _check_key_id(key_id), window,
                        self._native)
        # keyed by the 4-byte header prefix (version, algorithm, key id): one lookup checks all
        self._keys: dict[bytes, _Window] = {_PREFIX.pack(VERSION, self._alg, key_id): first}
        # the C opener's keys, newest first: the current one and the previous one (or NULL)
        self._fast = (first.native, _CFFI.NULL) if self._native else None
        self.key_id = key_id
        self._pending: _Window | None = None
        self._lock = threading.Lock() if threadsafe else None

    def open(self, envelope: bytes, associated_data: bytes = b"") -> bytes:
        """Authenticate and decrypt ``envelope``; returns the plaintext.

        Raises:
            AuthenticationError: truncated, not an envelope, unknown key, wrong
                ``associated_data``, or any altered byte (opaque on purpose).
            ReplayError: authentic, but already opened or older than the window.
        """
        fast = self._fast
        # exact bytes only: cffi passes a subclass's own buffer, but len() may be overridden
        if fast is not None and type(envelope) is bytes and type(associated_data) is bytes:
            size = len(envelope) - _OVERHEAD
            if 0 < size <= _MAX_BODY:
                plain = bytes(size)  # fresh and unshared: C writes the plaintext into it
                rc = _env_open(fast[0], fast[1], envelope, size + _OVERHEAD,
                               associated_data, len(associated_data), plain)
                if rc == _OK:
                    if _SINKS:
                        _telemetry.emit("secure.open", bytes=size)
                    return plain
                if rc == _AUTH:
                    raise _fail("auth")
                if rc == _REPLAY:
                    raise _fail("replay", ReplayError)
            # a key the C opener does not hold yet (the sender rekeyed), an empty or
            # oversized message, another buffer type: the general path
        return self._open(envelope, associated_data)

    def _open(self, envelope: bytes, associated_data: bytes) -> bytes:
        if self._native and type(envelope) is not bytes and \
                isinstance(envelope, (bytes, bytearray, memoryview)):
            envelope = bytes(memoryview(envelope))  # exact bytes, its length from the buffer
        try:
            prefix, n = _HEAD.unpack_from(envelope)
        except (struct.error, TypeError):
            raise _fail("format") from None
        if len(envelope) < _OVERHEAD:
            raise _fail("format")
        state = self._keys.get(prefix)
        fresh = False
        if state is None:
            state, fresh = self._follow(prefix)
        if state.native is not None:
            plain = self._open_native(state, envelope, associated_data)
            if fresh:  # authentic under the sender's next key: switch to it
                lock = self._lock
                if lock is not None:
                    lock.acquire()
                try:
                    installed = self._advance(prefix, state)
                finally:
                    if lock is not None:
                        lock.release()
                if installed is not state:
                    # another thread switched first, with a window of its own for this key:
                    # the counter must be marked in that one (a replay is refused there)
                    plain = self._open_native(installed, envelope, associated_data)
        else:
            plain = self._open_reference(state, prefix, n, fresh, envelope, associated_data)
        if _SINKS:
            _telemetry.emit("secure.open", bytes=len(plain))
        return plain

    @staticmethod
    def _open_native(state: _Window, envelope: bytes, associated_data: bytes) -> bytes:
        if type(associated_data) is not bytes:
            if not isinstance(associated_data, (bytes, bytearray, memoryview)):
                raise _bad_input(b"", associated_data, TypeError()) from None
            associated_data = bytes(memoryview(associated_data))
        size = len(envelope) - _OVERHEAD
        if size > _MAX_BODY or len(associated_data) > _MAX_BODY:
            raise _bad_input(envelope, associated_data, OverflowError("over 2**31 - 1 bytes"))
        plain = bytes(size) if size else _SCRATCH
        rc = _env_open(state.native, _CFFI.NULL, envelope, len(envelope), associated_data,
                       len(associated_data), plain)
        if rc == _OK:
            return plain if size else b""
        if rc == _AUTH:
            raise _fail("auth")
        if rc == _REPLAY:
            raise _fail("replay", ReplayError)
        raise MemoryError(f"OpenSSL failed to run the cipher (code {rc})")

    def _open_reference(self, state: _Window, prefix: bytes, n: int, fresh: bool,
                        envelope: bytes, associated_data: bytes) -> bytes:
        try:
            plain = state.decrypt(envelope[:HEADER_SIZE], envelope[HEADER_SIZE:],
                                  associated_data)
        except InvalidTag:
            raise _fail("auth") from None
        except (ValueError, TypeError, OverflowError) as err:
            if not isinstance(associated_data, (bytes, bytearray, memoryview)):
                raise _bad_input(b"", associated_data, err) from None
            raise _fail("format") from None
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            if fresh:  # the first message under the sender's next key
                state = self._advance(prefix, state)
            top = state.top
            if n > top:
                shift = n - top
                state.bits = 1 if shift >= self.window else ((state.bits << shift) | 1) \
                    & self._mask
                state.top = n
            else:
                d = top - n
                if d >= self.window or (state.bits >> d) & 1:
                    raise _fail("replay", ReplayError)
                state.bits |= 1 << d
        finally:
            if lock is not None:
                lock.release()
        return plain

    def _current(self) -> tuple[bytes, _Window]:
        for prefix, state in self._keys.items():
            if state.key_id == self.key_id:
                return prefix, state
        raise AssertionError("the current key is always kept")  # pragma: no cover

    def _follow(self, prefix: bytes) -> tuple[_Window, bool]:
        """The state for a header prefix that is not one of the known keys': the next key
        (the sender rekeyed: derived now, kept only once a message under it authenticates)
        or a refusal."""
        version, alg, key_id = _PREFIX.unpack(prefix)
        if version != VERSION or alg != self._alg:
            raise _fail("format")
        known = self._keys.get(prefix)
        if known is not None:  # another thread advanced meanwhile
            return known, False
        if key_id != self.key_id + 1:
            raise _fail("key")
        pending = self._pending  # derived once, however many forgeries claim the next key
        if pending is None or pending.key_id != key_id:
            # under the lock: two threads must share one window for the new key (each C
            # window would accept the same counter once)
            lock = self._lock
            if lock is not None:
                lock.acquire()
            try:
                pending = self._pending
                if pending is None or pending.key_id != key_id:
                    pending = _Window(_next_key(self._current()[1].key), self._alg, key_id,
                                      self.window, self._native)
                    self._pending = pending
            finally:
                if lock is not None:
                    lock.release()
        return pending, True

    def _advance(self, prefix: bytes, state: _Window) -> _Window:
        known = self._keys.get(prefix)
        if known is not None:  # another thread got there first: use its window
            return known
        if state.key_id != self.key_id + 1:  # the opener moved on meanwhile
            raise _fail("key")
        # keep the previous key for messages still in flight; forget anything older
        cur_prefix, cur = self._current()
        self._keys = {cur_prefix: cur, prefix: state}
        if self._fast is not None:
            self._fast = (state.native, cur.native)
        self.key_id = state.key_id
        return state


# --- session keys -----------------------------------------------------------------------------


def _raw_public(key: x25519.X25519PublicKey | bytes) -> bytes:
    if isinstance(key, x25519.X25519PublicKey):
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if isinstance(key, (bytes, bytearray)) and len(key) == 32:
        return bytes(key)
    raise InputTypeError("peer_public must be an X25519PublicKey or 32 raw bytes",
                         name="peer_public", got=type(key).__name__)


def session(
    private_key: x25519.X25519PrivateKey,
    peer_public: x25519.X25519PublicKey | bytes,
    *,
    context: bytes = b"",
    algorithm: str = "chacha20-poly1305",
    window: int = 1024,
    rekey_after: int = DEFAULT_REKEY_AFTER,
) -> tuple[Sealer, Opener]:
    """Both directions of a channel from an X25519 exchange: returns ``(sealer, opener)``.

    The shared secret goes through HKDF-SHA-256 (salt: both public keys in sorted order;
    info: a label, the algorithm and ``context``, e.g. the two device ids) into one key per
    direction; the side whose public key sorts lower sends with the first.  Both peers call
    this with their own private key and the other's public key and get matching halves.

    The public keys must be authenticated (sent inside the mutual-TLS channel, or signed with
    the device's certificate key): X25519 alone does not say *who* the peer is.  Use fresh
    (ephemeral) X25519 keys per session: the keys are then new on every restart, so counters
    restarting at 0 never repeat a nonce.
    """
    if not isinstance(private_key, x25519.X25519PrivateKey):
        raise InputTypeError("private_key must be an X25519PrivateKey", name="private_key",
                             got=type(private_key).__name__)
    if not isinstance(context, (bytes, bytearray)):
        raise InputTypeError("context must be bytes", name="context",
                             got=type(context).__name__)
    alg = _check_alg(algorithm)
    mine = _raw_public(private_key.public_key())
    theirs = _raw_public(peer_public)
    if mine == theirs:
        raise InputError("peer_public is our own public key", name="peer_public")
    try:
        shared = private_key.exchange(x25519.X25519PublicKey.from_public_bytes(theirs))
    except ValueError:  # a low-order point gives an all-zero secret
        raise _fail("key") from None
    lo, hi = sorted((mine, theirs))
    okm = HKDF(hashes.SHA256(), 64, lo + hi,
               _SESSION_INFO + bytes([alg]) + bytes(context)).derive(shared)
    k_lo, k_hi = okm[:32], okm[32:]
    send, recv = (k_lo, k_hi) if mine == lo else (k_hi, k_lo)
    return (Sealer(send, algorithm=algorithm, rekey_after=rekey_after),
            Opener(recv, algorithm=algorithm, window=window))
