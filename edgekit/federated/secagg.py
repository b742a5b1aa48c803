"""Secure aggregation: the server learns the sum of the clients' vectors and nothing else,
and still gets the sum when clients drop out after sending.

The protocol is Bonawitz et al.'s (CCS 2017, "Practical Secure Aggregation for
Privacy-Preserving Machine Learning"), in its honest-but-curious form, with modern primitives:

* Inputs are fixed-point numbers in the ring Z_{2^32} (uint32 arithmetic that wraps): an entry
  ``x`` is clipped to ``[-clip, clip]`` and sent as ``round(x * 2^frac_bits) mod 2^32``.  The
  sum of up to ``max_clients`` inputs cannot overflow when
  ``max_clients * clip * 2^frac_bits <= 2^31 - 1`` (:class:`SecAggConfig` refuses anything
  else); the total is read back as a signed 32-bit integer divided by ``2^frac_bits``.
* Each client ``u`` sends ``y_u = x_u + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv)``.
  ``s_uv`` is agreed by X25519 between the two clients' mask keys and HKDF-SHA256; ``b_u`` is
  a random self-mask seed.  The PRG is the ChaCha20 keystream (OpenSSL, through
  ``cryptography``).  The pairwise masks cancel in the sum; ``y_u`` alone is uniform.
* Each client Shamir-shares (t of n, GF(2^127 - 1)) its self-mask seed and the seed of its
  X25519 mask key with every other client, each pair's shares sealed with ChaCha20-Poly1305
  under a key agreed by a second X25519 key pair, and relayed by the server.
* After the masked inputs, the server asks the survivors for the ``b`` shares of the clients
  whose input arrived and the mask-key shares of the clients whose input did not, never both
  for one client (each client answers one request only, and gives one or the other per peer):
  it removes the self masks, and the pairwise masks the dropped clients left in the sum.
* Below the threshold ``t`` of clients at any step, the round aborts
  (:class:`~edgekit.errors.RoundAbortedError`): fewer than ``t`` shares reveal nothing.
* The server checks every reconstructed secret against what the client committed to first
  (its mask public key; a SHA-256 commitment to ``b_u``), so a bad share never gives a wrong
  sum: it is left out if enough good shares remain, else the round stops.

:class:`SecAggServer` and :class:`SecAggClient` are the protocol as message-level state
machines (bytes in, bytes out) that any transport can carry; :func:`secure_sum` drives them
in one process for simulation and counts every message's bytes.  The message format and the
byte costs are in ``docs/federated_secagg.md``.

Threat model (the paper's honest-but-curious server): the messages carry a CRC-32 against
accidental damage, and the shares are end-to-end authenticated between clients, but the
messages themselves must travel over an authenticated transport (edgekit's mutual TLS): an
attacker who can rewrite them can swap a client's mask public key, which no client can detect
without a PKI, and the sum is then wrong.  Likewise a server that lies about who is in the
round (sybils, a forged roster) is stopped only by client authentication (signed keys, e.g.
edgekit.secure device certificates), which a runtime adds around these messages; and a server
that sends different clients different unmask requests could collect both kinds of shares of
one client (the paper's signed consistency round, which stops it, is not built).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edgekit.errors import (
    AuthenticationError,
    ChecksumError,
    CorruptDataError,
    FormatVersionError,
    InputError,
    InputTypeError,
    InvalidUpdateError,
    OptionsError,
    RoundAbortedError,
    SecurityError,
)
from edgekit.federated import _shamir

__all__ = [
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "SecureSum",
    "mean_update",
    "plain_fixed_point_sum",
    "secure_sum",
    "update_vector",
]

_RING_MAX = (1 << 31) - 1  # the largest |sum| a signed 32-bit total holds
_SUBSET_TRIES = 256  # share subsets tried per secret when some share is bad

RandomBytes = Callable[[int], bytes]


# --- configuration and fixed point -----------------------------------------------------------


@dataclass(frozen=True)
class SecAggConfig:
    """The parameters of a secure-aggregation round.

    Attributes:
        threshold: how many clients must stay to the end (and how many shares rebuild a
            secret): an int >= 2 is a count; a float in (0, 1) a fraction of the round's
            clients, ``floor(threshold * n) + 1`` of them (0.5: a strict majority); at least 2.
        clip: every entry of a client's vector is clipped to ``[-clip, clip]`` (the vector's
            own units) before it is fixed-point coded.
        frac_bits: fixed-point scale: entries are rounded to multiples of ``2^-frac_bits``.
        max_clients: the most clients a round may have; with ``clip`` and ``frac_bits`` it
            bounds the sum: ``max_clients * clip * 2^frac_bits <= 2^31 - 1``, so the 32-bit
            ring never wraps (checked here).
        neighbors: ``None`` (default): every pair of clients masks and every client shares
            its secrets with all others (Bonawitz et al.), bytes per client grow with the
            round's size.  An even ``k >= 2``: SecAgg+ (Bell et al., CCS 2020): each client
            masks with and shares with ``k`` neighbours in a random k-regular (Harary) graph
            that the session fixes, so bytes per client grow with ``k`` (``~2 log2 n`` is
            the paper's order).  A fractional threshold then also sets how many of a client's
            ``k + 1`` neighbourhood rebuild its secrets (``floor(threshold * (k+1)) + 1``);
            rounds of at most ``k + 1`` clients use the complete graph.

    The defaults fit :func:`secure_sum` of ``concat(n_k * delta_k, [n_k])`` (what the
    simulation sends) for up to 100 clients of up to 10,000 examples with ``|delta| <= 1``:
    resolution 2^-11 on ``n_k * delta``.  :meth:`for_updates` derives other sizes.
    """

    threshold: float | int = 0.5
    clip: float = 1e4
    frac_bits: int = 11
    max_clients: int = 100
    neighbors: int | None = None

    def __post_init__(self) -> None:
        t = self.threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise OptionsError(f"threshold must be an int or float, got {t!r}", name="threshold")
        if isinstance(t, int) and t < 2:
            raise OptionsError(f"threshold must be >= 2 clients, got {t}", name="threshold")
        if isinstance(t, float) and not 0.0 < t < 1.0:
            raise OptionsError(f"a fractional threshold must be in (0, 1), got {t}",
                               name="threshold")
        if not isinstance(self.frac_bits, int) or not 0 <= self.frac_bits <= 30:
            raise OptionsError(f"frac_bits must be an int in 0..30, got {self.frac_bits!r}",
                               name="frac_bits")
        if not isinstance(self.max_clients, int) or not 2 <= self.max_clients <= 65535:
            raise OptionsError("max_clients must be an int in 2..65535", name="max_clients")
        k = self.neighbors
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 2 or k % 2
                              or k > 65534):
            raise OptionsError(f"neighbors must be None or an even int >= 2, got {k!r}",
                               name="neighbors")
        if k is not None and not isinstance(t, float):
            raise OptionsError("a neighbour graph needs a fractional threshold (it applies to "
                               "each neighbourhood)", name="threshold")
        if not (isinstance(self.clip, (int, float)) and math.isfinite(self.clip)
                and self.clip > 0):
            raise OptionsError(f"clip must be a positive finite number, got {self.clip!r}",
                               name="clip")
        if self.max_clients * math.ceil(self.clip * 2.0 ** self.frac_bits) > _RING_MAX:
            raise OptionsError(
                f"{self.max_clients} clients x clip {self.clip} x 2^{self.frac_bits} overflows "
                "the 32-bit ring: lower clip, frac_bits or max_clients", name="frac_bits")

    @classmethod
    def for_updates(cls, *, max_examples: int = 10_000, max_abs_delta: float = 1.0,
                    max_clients: int = 100, threshold: float | int = 0.5,
                    neighbors: int | None = None) -> SecAggConfig:
        """The config for vectors ``concat(n_k * delta_k, [n_k])`` with ``n_k <= max_examples``
        and ``|delta| <= max_abs_delta``: ``clip = max_examples * max(1, max_abs_delta)`` and
        the finest ``frac_bits`` that cannot overflow for ``max_clients``."""
        clip = float(max_examples) * max(1.0, float(max_abs_delta))
        for bits in range(30, -1, -1):
            if max_clients * math.ceil(clip * 2.0 ** bits) <= _RING_MAX:
                return cls(threshold=threshold, clip=clip, frac_bits=bits,
                           max_clients=max_clients, neighbors=neighbors)
        raise OptionsError(f"{max_clients} clients x {clip} cannot fit the 32-bit ring",
                           name="max_clients")

    def threshold_for(self, n: int) -> int:
        """The number of clients a round of ``n`` needs (may exceed ``n``: it then aborts)."""
        if isinstance(self.threshold, float):
            return max(2, math.floor(self.threshold * n) + 1)
        return self.threshold

    def _graph_degree(self, n1: int) -> int:
        """How many neighbours each of ``n1`` clients has (``n1 - 1``: the complete graph)."""
        k = self.neighbors
        return n1 - 1 if k is None or k >= n1 - 1 else k

    def _share_threshold(self, n: int, n1: int) -> int:
        """How many shares rebuild a secret in a round of ``n`` clients, ``n1`` of which
        advertised keys."""
        k = self._graph_degree(n1)
        return self.threshold_for(n) if k == n1 - 1 else self.threshold_for(k + 1)


def _graph(n1: int, k: int, session: bytes) -> list[list[int]]:
    """Each client's neighbours (sorted indices): all others when ``k == n1 - 1``, else the
    Harary graph H(k, n1) (each node joined to the ``k/2`` nearest on either side of a ring)
    over a random permutation of the clients drawn from the session."""
    if k >= n1 - 1:
        return [[j for j in range(n1) if j != i] for i in range(n1)]
    rnd = _Drbg(_hkdf(session, b"", _GRAPH_INFO))
    perm = list(range(n1))
    for i in range(n1 - 1, 0, -1):  # Fisher-Yates, unbiased by rejection
        bound = (1 << 32) - (1 << 32) % (i + 1)
        while (r := int.from_bytes(rnd(4), "little")) >= bound:
            pass
        j = r % (i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    pos = {node: p for p, node in enumerate(perm)}
    half = k // 2
    return [sorted(perm[(pos[i] + d) % n1] for d in range(-half, half + 1) if d)
            for i in range(n1)]


def _to_fixed(vector: np.ndarray, config: SecAggConfig) -> np.ndarray:
    q = np.rint(np.clip(vector, -config.clip, config.clip) * (2.0 ** config.frac_bits))
    return q.astype(np.int64).astype(np.uint32)


def _from_fixed(total: np.ndarray, config: SecAggConfig) -> np.ndarray:
    return total.astype(np.uint32).view(np.int32).astype(np.float64) / (2.0 ** config.frac_bits)


def _check_vector(vector: object, *, client: str | None = None,
                  length: int | None = None) -> np.ndarray:
    x = np.asarray(vector)
    if x.ndim != 1 or not (np.issubdtype(x.dtype, np.floating)
                           or np.issubdtype(x.dtype, np.integer)):
        raise InvalidUpdateError(f"client {client!r}: a 1-D numeric vector is needed, got "
                                 f"{x.dtype} of shape {x.shape}", client=client, name="vector")
    x = x.astype(np.float64)
    if length is not None and x.size != length:
        raise InvalidUpdateError(f"client {client!r}: vector of {x.size} entries, the round "
                                 f"sums {length}", client=client, name="vector",
                                 expected=length, got=x.size)
    if not np.all(np.isfinite(x)):
        raise InvalidUpdateError(f"client {client!r}: the vector has non-finite entries",
                                 client=client, name="vector")
    return x


def plain_fixed_point_sum(vectors: Mapping[str, np.ndarray] | Iterable[np.ndarray],
                          config: SecAggConfig) -> np.ndarray:
    """The sum :func:`secure_sum` computes, without masks: each vector clipped, rounded to the
    fixed-point grid, summed in Z_{2^32} and read back (float64).  Bit-identical to
    :func:`secure_sum`'s ``total`` over the same vectors."""
    items = list(vectors.values()) if isinstance(vectors, Mapping) else list(vectors)
    if not items:
        raise InputError("no vectors to sum", name="vectors")
    first = _check_vector(items[0])
    total = np.zeros(first.size, np.uint32)
    for v in items:
        np.add(total, _to_fixed(_check_vector(v, length=first.size), config), out=total)
    return _from_fixed(total, config)


# --- primitives --------------------------------------------------------------------------------

_CHANNEL_INFO = b"edgekit secagg v1 channel"
_PAIR_INFO = b"edgekit secagg v1 pair mask"
_SELF_INFO = b"edgekit secagg v1 self mask"
_SKEY_INFO = b"edgekit secagg v1 mask key"
_COMMIT_TAG = b"edgekit secagg v1 commit"
_GRAPH_INFO = b"edgekit secagg v1 graph"


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _mask_stream(key: bytes, length: int) -> np.ndarray:
    """``length`` uint32 words of the ChaCha20 keystream under ``key`` (a fresh key per
    mask, so the zero nonce is never reused)."""
    enc = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    return np.frombuffer(enc.update(bytes(4 * length)), dtype="<u4")


def _mask_key(seed: int, session: bytes) -> x25519.X25519PrivateKey:
    return x25519.X25519PrivateKey.from_private_bytes(
        _hkdf(_shamir.to_bytes(seed), session, _SKEY_INFO))


def _pair_key(own: x25519.X25519PrivateKey, peer: bytes, session: bytes, i: int, j: int
              ) -> bytes:
    lo, hi = min(i, j), max(i, j)
    shared = own.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    return _hkdf(shared, session, _PAIR_INFO + struct.pack("<HH", lo, hi))


def _commit(b_seed: int, session: bytes) -> bytes:
    return hashlib.sha256(_COMMIT_TAG + session + _shamir.to_bytes(b_seed)).digest()[:16]


def _raw_public(key: x25519.X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


def _opens(commitment: bytes, session: bytes) -> Callable[[int], bool]:
    """Whether a rebuilt self-mask seed is the one its owner committed to."""
    return lambda seed: _commit(seed, session) == commitment


def _makes_key(public: bytes, session: bytes) -> Callable[[int], bool]:
    """Whether a rebuilt mask-key seed gives the public key its owner advertised."""
    return lambda seed: _raw_public(_mask_key(seed, session)) == public


class _Drbg:
    """A deterministic cryptographic byte source (the ChaCha20 keystream of a key), for
    reproducible simulations; deployments use ``os.urandom``."""

    def __init__(self, key: bytes) -> None:
        self._enc = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def __call__(self, n: int) -> bytes:
        return self._enc.update(bytes(n))


# --- messages ------------------------------------------------------------------------------------
# magic "ES" | u8 version | u8 kind | 8-byte session | payload | u32 CRC-32 of all before it

_MAGIC = b"ES"
_VERSION = 1
_HEAD = struct.Struct("<2sBB8s")
_HELLO, _ADVERTISE, _ROSTER, _SHARES, _FORWARD, _MASKED, _UNMASK_REQ, _UNMASK = range(1, 9)
_KIND_NAMES = {_HELLO: "hello", _ADVERTISE: "advertise keys", _ROSTER: "key roster",
               _SHARES: "encrypted shares", _FORWARD: "forwarded shares",
               _MASKED: "masked input", _UNMASK_REQ: "unmask request", _UNMASK: "unmask shares"}
# clients, threshold, neighbours (0: all), vector length, frac_bits, clip
_HELLO_BODY = struct.Struct("<HHHIBd")
_KEYS = 64  # two X25519 public keys
_CT = 2 * _shamir.SHARE_BYTES + 16  # two shares + the Poly1305 tag
_SESSION = 8


def _frame(kind: int, session: bytes, payload: bytes) -> bytes:
    body = _HEAD.pack(_MAGIC, _VERSION, kind, session) + payload
    return body + struct.pack("<I", zlib.crc32(body))


def _unframe(data: object) -> tuple[int, bytes, bytes]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputTypeError(f"a secure-aggregation message is bytes, got {type(data).__name__}",
                             name="data")
    b = bytes(data)
    if len(b) < _HEAD.size + 4 or b[:2] != _MAGIC:
        raise CorruptDataError("not a secure-aggregation message", reason="magic")
    (crc,) = struct.unpack_from("<I", b, len(b) - 4)
    if zlib.crc32(b[:-4]) != crc:
        raise ChecksumError("secure-aggregation message checksum mismatch", expected=crc,
                            got=zlib.crc32(b[:-4]))
    _, version, kind, session = _HEAD.unpack_from(b)
    if version != _VERSION:
        raise FormatVersionError(f"secure-aggregation message version {version}, this edgekit "
                                 f"reads {_VERSION}", version=version, supported=(_VERSION,))
    if kind not in _KIND_NAMES:
        raise CorruptDataError(f"unknown secure-aggregation message kind {kind}", reason="kind")
    return kind, session, b[_HEAD.size:-4]


def _bitmap(members: Iterable[int], n: int) -> bytes:
    out = bytearray((n + 7) // 8)
    for i in members:
        out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def _members(bits: bytes, n: int) -> list[int]:
    out = [i for i in range(8 * len(bits)) if bits[i >> 3] >> (i & 7) & 1]
    if out and out[-1] >= n:
        raise CorruptDataError("member bitmap names a client outside the roster",
                               reason="bitmap")
    return out


def _nonce(sender: int, recipient: int) -> bytes:
    return struct.pack("<HH", sender, recipient) + bytes(8)


def _aad(session: bytes, sender: int, recipient: int) -> bytes:
    return session + struct.pack("<HH", sender, recipient)


# --- the client ----------------------------------------------------------------------------------


class SecAggClient:
    """One client's side of a secure-aggregation round: feed it the server's messages in
    order with :meth:`handle`, send back what it returns.

    Args:
        vector: the client's input (1-D, finite); it is clipped and fixed-point coded with
            ``config``.
        config: the client's own copy of the round's parameters: it refuses a server whose
            hello asks for another scale, clip, or a lower threshold.
        random_bytes: the source of secrets (``os.urandom``; a seeded one only in simulation).

    The server's messages are: hello -> (advertise keys), key roster -> (encrypted shares),
    forwarded shares -> (masked input), unmask request -> (unmask shares).  A message out of
    order, a second unmask request or a roster below the threshold is refused with
    :class:`~edgekit.errors.SecurityError`; a share that does not authenticate with
    :class:`~edgekit.errors.AuthenticationError`; malformed bytes with
    :class:`~edgekit.errors.CorruptDataError`.
    """

    def __init__(self, vector: np.ndarray, config: SecAggConfig, *,
                 random_bytes: RandomBytes | None = None) -> None:
        if not isinstance(config, SecAggConfig):
            raise InputTypeError("config must be a SecAggConfig", name="config")
        self._x = _check_vector(vector)
        self._config = config
        self._random = random_bytes or os.urandom
        self._expect = _HELLO
        self._session = b""

    @property
    def done(self) -> bool:
        """True once the client has sent its unmask shares (it answers nothing more)."""
        return self._expect == 0

    def handle(self, data: bytes) -> bytes:
        """The reply to one server message."""
        kind, session, payload = _unframe(data)
        if self._expect == 0:
            raise SecurityError("this client's round is over: it answers no more messages "
                                "(a second unmask request would reveal both shares)")
        if kind != self._expect:
            raise SecurityError(f"expected the server's {_KIND_NAMES[self._expect]}, got "
                                f"{_KIND_NAMES[kind]}")
        if kind != _HELLO and session != self._session:
            raise SecurityError("message from another secure-aggregation session")
        step = {_HELLO: self._on_hello, _ROSTER: self._on_roster, _FORWARD: self._on_forward,
                _UNMASK_REQ: self._on_unmask}[kind]
        reply = step(session, payload)
        return reply

    def _reply(self, kind: int, payload: bytes) -> bytes:
        return _frame(kind, self._session, payload)

    def _on_hello(self, session: bytes, payload: bytes) -> bytes:
        if len(payload) != _HELLO_BODY.size:
            raise CorruptDataError("malformed hello", reason="length")
        n, t, k, length, frac_bits, clip = _HELLO_BODY.unpack(payload)
        cfg = self._config
        if frac_bits != cfg.frac_bits or clip != cfg.clip:
            raise SecurityError(f"the server's fixed point (2^-{frac_bits}, clip {clip}) is not "
                                f"this client's (2^-{cfg.frac_bits}, clip {cfg.clip})")
        if not 2 <= n <= cfg.max_clients or t < cfg.threshold_for(n) or t > n:
            raise SecurityError(f"the server asks for a threshold of {t} of {n} clients; this "
                                f"client needs {cfg.threshold_for(n)} of at most "
                                f"{cfg.max_clients}")
        if k != (cfg.neighbors or 0):
            raise SecurityError(f"the server asks for {k or 'all'} neighbours, this client's "
                                f"config has {cfg.neighbors or 'all'}")
        if length != self._x.size:
            raise InvalidUpdateError(f"the round sums vectors of {length} entries, this client "
                                     f"has {self._x.size}", name="vector", expected=length,
                                     got=self._x.size)
        self._session, self._n, self._t = session, n, t
        self._c_key = x25519.X25519PrivateKey.from_private_bytes(self._random(32))
        self._s_seed = _shamir.random_element(self._random)
        self._b_seed = _shamir.random_element(self._random)
        self._s_key = _mask_key(self._s_seed, session)
        self._expect = _ROSTER
        return self._reply(_ADVERTISE, _raw_public(self._c_key) + _raw_public(self._s_key)
                           + _commit(self._b_seed, session))

    def _on_roster(self, session: bytes, payload: bytes) -> bytes:
        if len(payload) < 4:
            raise CorruptDataError("malformed key roster", reason="length")
        me, n1 = struct.unpack_from("<HH", payload)
        if not self._t <= n1 <= self._n or me >= n1:
            raise SecurityError(f"the key roster has {n1} clients, the round needs "
                                f"{self._t} of {self._n}")
        nbrs = _graph(n1, self._config._graph_degree(n1), session)[me]
        if len(payload) != 4 + (2 + _KEYS) * len(nbrs):
            raise CorruptDataError("malformed key roster", reason="length")
        keys: dict[int, bytes] = {}
        for i in range(len(nbrs)):
            off = 4 + (2 + _KEYS) * i
            (idx,) = struct.unpack_from("<H", payload, off)
            keys[idx] = payload[off + 2:off + 2 + _KEYS]
        if sorted(keys) != nbrs:
            raise SecurityError("the key roster does not list this client's neighbours")
        own = _raw_public(self._c_key) + _raw_public(self._s_key)
        halves = {k[:32] for k in keys.values()} | {k[32:] for k in keys.values()}
        if len(halves) != 2 * len(keys) or own[:32] in halves or own[32:] in halves:
            raise SecurityError("the key roster repeats a public key")
        self._me, self._n1, self._keys, self._nbrs = me, n1, keys, nbrs
        self._ts = self._config._share_threshold(self._n, n1)
        xs = [v + 1 for v in sorted([*nbrs, me])]
        b_shares = dict(zip(xs, _shamir.split(self._b_seed, xs, self._ts, self._random),
                            strict=True))
        s_shares = dict(zip(xs, _shamir.split(self._s_seed, xs, self._ts, self._random),
                            strict=True))
        self._own_shares = (b_shares[me + 1], s_shares[me + 1])
        self._channels = {v: self._channel_key(v) for v in nbrs}
        parts = [ChaCha20Poly1305(self._channels[v]).encrypt(
            _nonce(me, v), _shamir.to_bytes(b_shares[v + 1]) + _shamir.to_bytes(s_shares[v + 1]),
            _aad(session, me, v)) for v in nbrs]
        self._expect = _FORWARD
        return self._reply(_SHARES, b"".join(parts))

    def _channel_key(self, v: int) -> bytes:
        try:
            shared = self._c_key.exchange(x25519.X25519PublicKey.from_public_bytes(
                self._keys[v][:32]))
        except ValueError as exc:  # a low-order point: no shared secret
            raise SecurityError(f"client {v}'s channel key is invalid") from exc
        return _hkdf(shared, self._session, _CHANNEL_INFO)

    def _on_forward(self, session: bytes, payload: bytes) -> bytes:
        nb = (self._n1 + 7) // 8
        u2 = _members(payload[:nb], self._n1)
        if self._me not in u2 or len(u2) < self._t:
            raise SecurityError(f"{len(u2)} clients shared keys (this one "
                                f"{'in' if self._me in u2 else 'not in'} them); the round "
                                f"needs {self._t}")
        peers = [u for u in self._nbrs if u in set(u2)]
        if len(payload) != nb + _CT * len(peers):
            raise CorruptDataError("malformed forwarded shares", reason="length")
        shares: dict[int, tuple[int, int]] = {self._me: self._own_shares}
        for i, u in enumerate(peers):
            ct = payload[nb + _CT * i:nb + _CT * (i + 1)]
            try:
                plain = ChaCha20Poly1305(self._channels[u]).decrypt(
                    _nonce(u, self._me), ct, _aad(session, u, self._me))
                shares[u] = (_shamir.from_bytes(plain[:16]), _shamir.from_bytes(plain[16:]))
            except (InvalidTag, ValueError):
                raise AuthenticationError("a forwarded share did not authenticate") from None
        self._u2, self._shares = u2, shares
        y = _to_fixed(self._x, self._config)
        np.add(y, _mask_stream(_hkdf(_shamir.to_bytes(self._b_seed), session, _SELF_INFO),
                               y.size), out=y)
        for v in peers:
            try:
                m = _mask_stream(_pair_key(self._s_key, self._keys[v][32:], session,
                                           self._me, v), y.size)
            except ValueError as exc:
                raise SecurityError(f"client {v}'s mask key is invalid") from exc
            (np.add if self._me < v else np.subtract)(y, m, out=y)
        self._expect = _UNMASK_REQ
        return self._reply(_MASKED, y.astype("<u4").tobytes())

    def _on_unmask(self, session: bytes, payload: bytes) -> bytes:
        nb = (self._n1 + 7) // 8
        if len(payload) != nb:
            raise CorruptDataError("malformed unmask request", reason="length")
        u3 = set(_members(payload, self._n1))
        if self._me not in u3 or len(u3) < self._t or not u3 <= set(self._u2):
            raise SecurityError(f"the unmask request names {len(u3)} senders, the round needs "
                                f"{self._t} of those that shared keys, this one among them")
        out = [_shamir.to_bytes(self._shares[u][0] if u in u3 else self._shares[u][1])
               for u in sorted(self._shares)]
        self._expect = 0
        self._shares = {}
        return self._reply(_UNMASK, b"".join(out))


def _subsets(pts: list, t: int) -> Iterable[tuple]:
    """Subsets of ``t`` of ``pts`` to rebuild a secret from, the likeliest good first: all of
    the first ``t``, then the cyclic windows (one of them avoids any single bad share), then
    other combinations, ``_SUBSET_TRIES`` in all."""
    m = len(pts)
    seen = set()
    windows = (tuple(pts[(i + j) % m] for j in range(t)) for i in range(m))
    for subset in itertools.islice(itertools.chain(windows, itertools.combinations(pts, t)),
                                   _SUBSET_TRIES):
        key = tuple(sorted(x for x, _ in subset))
        if key not in seen:
            seen.add(key)
            yield subset


# --- the server ----------------------------------------------------------------------------------

_STAGES = {_ADVERTISE: "keys", _SHARES: "shares", _MASKED: "masked inputs", _UNMASK: "unmask"}


class SecAggServer:
    """The server's side of a secure-aggregation round over ``client_ids``.

    Drive it stage by stage: :meth:`start` gives the hello for every client; then, four
    times, :meth:`receive` each client's reply and :meth:`advance` (the stage closes: a
    client that has not answered has dropped out) to get the next messages to send.  After
    the fourth :meth:`advance`, :attr:`total` is the sum over :attr:`senders`.

    Refusals: a message from an unknown client, a second message in one stage, a message of
    another stage (late or early) or session, and malformed contents raise
    :class:`~edgekit.errors.InvalidUpdateError` (``client``, ``server_round``) and are not
    used; the round goes on without them.  :class:`~edgekit.errors.RoundAbortedError` when
    fewer than the threshold of clients remain at a stage.

    Args:
        client_ids: the round's clients (distinct strings), at least 2.
        vector_length: the number of entries every client sums.
        config: the round's parameters (the threshold is taken for ``len(client_ids)``).
        session: 8 bytes naming the round (fresh random by default); every message carries it.
        server_round: recorded in errors.
    """

    def __init__(self, client_ids: Sequence[str], *, vector_length: int, config: SecAggConfig,
                 session: bytes | None = None, server_round: int | None = None) -> None:
        ids = list(client_ids)
        if len(set(ids)) != len(ids) or not all(isinstance(c, str) for c in ids):
            raise InputError("client_ids must be distinct strings", name="client_ids")
        if len(ids) > config.max_clients:
            raise InputError(f"{len(ids)} clients, the config allows {config.max_clients}",
                             name="client_ids", got=len(ids))
        if not isinstance(vector_length, int) or not 0 < vector_length <= 0xFFFFFFFF:
            raise InputError("vector_length must be a positive int", name="vector_length")
        if session is not None and (not isinstance(session, bytes) or len(session) != _SESSION):
            raise InputError("session must be 8 bytes", name="session")
        self.config = config
        self.client_ids = tuple(ids)
        self.vector_length = vector_length
        self.session = session if session is not None else os.urandom(_SESSION)
        self.server_round = server_round
        self.threshold = config.threshold_for(len(ids))
        self._stage = 0  # 0: not started; else the message kind being collected; -1: done
        self._inbox: dict[str, bytes] = {}
        self._probe = x25519.X25519PrivateKey.generate()
        self._total: np.ndarray | None = None
        self.senders: tuple[str, ...] = ()
        """The clients whose inputs are in the total (set after the unmask stage)."""

    # -- the flow --

    @property
    def stage(self) -> str:
        """``"new"``, ``"keys"``, ``"shares"``, ``"masked inputs"``, ``"unmask"`` or ``"done"``."""
        return {0: "new", -1: "done"}.get(self._stage) or _STAGES[self._stage]

    def start(self) -> dict[str, bytes]:
        """The hello for every client (the same bytes for all)."""
        if self._stage != 0:
            raise SecurityError("the round has already started")
        self._abort_if(len(self.client_ids), "selected")
        msg = _frame(_HELLO, self.session, _HELLO_BODY.pack(
            len(self.client_ids), self.threshold, self.config.neighbors or 0, self.vector_length,
            self.config.frac_bits, float(self.config.clip)))
        self._stage = _ADVERTISE
        return dict.fromkeys(self.client_ids, msg)

    def receive(self, client: str, data: bytes) -> None:
        """Take one client's message for the current stage (checked when it arrives)."""
        if client not in self._expected():
            raise self._refuse(client, "is not in this stage of the round"
                               if client in self.client_ids else "is not in this round")
        if client in self._inbox:
            raise self._refuse(client, f"sent its {_KIND_NAMES[self._stage]} twice")
        try:
            kind, session, payload = _unframe(data)
        except (CorruptDataError, InputTypeError) as exc:
            raise self._refuse(client, f"sent a malformed message ({exc})") from exc
        if session != self.session:
            raise self._refuse(client, "sent a message of another session")
        if kind != self._stage:
            raise self._refuse(client, f"sent its {_KIND_NAMES[kind]} while the round collects "
                               f"{_KIND_NAMES[self._stage]}")
        try:
            self._check(client, payload)
        except (CorruptDataError, ValueError) as exc:
            if isinstance(exc, InvalidUpdateError):
                raise
            raise self._refuse(client, str(exc)) from exc
        self._inbox[client] = payload

    def advance(self) -> dict[str, bytes]:
        """Close the current stage; the messages for the next (``{}`` after the last)."""
        stage, inbox = self._stage, self._inbox
        self._inbox = {}
        if stage == _ADVERTISE:
            return self._after_keys(inbox)
        if stage == _SHARES:
            return self._after_shares(inbox)
        if stage == _MASKED:
            return self._after_masked(inbox)
        if stage == _UNMASK:
            self._after_unmask(inbox)
            return {}
        raise SecurityError(f"no stage to close: the round is {self.stage}")

    @property
    def total_fixed(self) -> np.ndarray:
        """The sum in Z_{2^32} (uint32), after the last stage."""
        if self._total is None:
            raise SecurityError(f"the round is {self.stage}: no sum yet")
        return self._total.copy()

    @property
    def total(self) -> np.ndarray:
        """The sum over :attr:`senders`, dequantised (float64), after the last stage."""
        return _from_fixed(self.total_fixed, self.config)

    # -- internals --

    def _refuse(self, client: str, why: str) -> InvalidUpdateError:
        return InvalidUpdateError(f"round {self.server_round}: client {client!r} {why}",
                                  client=client, server_round=self.server_round)

    def _abort_if(self, count: int, what: str) -> None:
        if count < self.threshold:
            self._stage = -1
            raise RoundAbortedError(
                f"round {self.server_round}: {count} clients {what}, secure aggregation needs "
                f"{self.threshold}", server_round=self.server_round, needed=self.threshold,
                got=count)

    def _expected(self) -> Sequence[str]:
        if self._stage == _ADVERTISE:
            return self.client_ids
        if self._stage == _SHARES:
            return self._roster
        if self._stage == _MASKED:
            return [self._roster[i] for i in self._u2]
        if self._stage == _UNMASK:
            return [self._roster[i] for i in self._u3]
        return ()

    def _check(self, client: str, p: bytes) -> None:
        stage = self._stage
        if stage == _ADVERTISE:
            if len(p) != _KEYS + 16:
                raise CorruptDataError("advertised keys of the wrong length", reason="length")
            c_pk, s_pk = p[:32], p[32:64]
            seen = {k for q in self._inbox.values() for k in (q[:32], q[32:64])}
            if c_pk == s_pk or c_pk in seen or s_pk in seen:
                raise self._refuse(client, "advertised a public key already in the round")
            for k in (c_pk, s_pk):
                try:
                    self._probe.exchange(x25519.X25519PublicKey.from_public_bytes(k))
                except ValueError as exc:
                    raise self._refuse(client, "advertised an invalid X25519 key") from exc
        elif stage == _SHARES:
            if len(p) != _CT * len(self._nbrs[self._index[client]]):
                raise CorruptDataError("encrypted shares of the wrong length", reason="length")
        elif stage == _MASKED:
            if len(p) != 4 * self.vector_length:
                raise CorruptDataError(f"masked input of {len(p)} bytes, expected "
                                       f"{4 * self.vector_length}", reason="length")
        elif stage == _UNMASK:
            held = self._held[self._index[client]]
            if len(p) != _shamir.SHARE_BYTES * len(held):
                raise CorruptDataError("unmask shares of the wrong length", reason="length")
            for i in range(len(held)):
                _shamir.from_bytes(p[16 * i:16 * (i + 1)])

    def _after_keys(self, inbox: dict[str, bytes]) -> dict[str, bytes]:
        self._abort_if(len(inbox), "advertised keys")
        self._roster = [c for c in self.client_ids if c in inbox]
        self._index = {c: i for i, c in enumerate(self._roster)}
        self._keys = [inbox[c][:_KEYS] for c in self._roster]
        self._commits = [inbox[c][_KEYS:] for c in self._roster]
        n1 = len(self._roster)
        self._nbrs = _graph(n1, self.config._graph_degree(n1), self.session)
        self._share_t = self.config._share_threshold(len(self.client_ids), n1)
        out = {}
        for i, c in enumerate(self._roster):
            table = b"".join(struct.pack("<H", j) + self._keys[j] for j in self._nbrs[i])
            out[c] = _frame(_ROSTER, self.session, struct.pack("<HH", i, n1) + table)
        self._stage = _SHARES
        return out

    def _after_shares(self, inbox: dict[str, bytes]) -> dict[str, bytes]:
        self._abort_if(len(inbox), "shared their keys")
        n1 = len(self._roster)
        self._u2 = [i for i, c in enumerate(self._roster) if c in inbox]
        in_u2 = set(self._u2)
        bits = _bitmap(self._u2, n1)
        out = {}
        for v in self._u2:
            parts = [bits]
            for u in self._nbrs[v]:
                if u in in_u2:  # u's ciphertext for v sits at v's place among u's neighbours
                    k = self._nbrs[u].index(v)
                    parts.append(inbox[self._roster[u]][_CT * k:_CT * (k + 1)])
            out[self._roster[v]] = _frame(_FORWARD, self.session, b"".join(parts))
        # whose shares each client holds (and returns, in this order): itself and its
        # neighbours that shared
        self._held = {v: sorted([v, *(u for u in self._nbrs[v] if u in in_u2)])
                      for v in self._u2}
        self._stage = _MASKED
        return out

    def _after_masked(self, inbox: dict[str, bytes]) -> dict[str, bytes]:
        self._abort_if(len(inbox), "sent masked inputs")
        self._u3 = [u for u in self._u2 if self._roster[u] in inbox]
        total = np.zeros(self.vector_length, np.uint32)
        for u in self._u3:
            np.add(total, np.frombuffer(inbox[self._roster[u]], "<u4"), out=total)
        self._masked_sum = total
        msg = _frame(_UNMASK_REQ, self.session, _bitmap(self._u3, len(self._roster)))
        self._stage = _UNMASK
        return {self._roster[u]: msg for u in self._u3}

    def _after_unmask(self, inbox: dict[str, bytes]) -> None:
        self._abort_if(len(inbox), "sent unmask shares")
        responders = [v for v in self._u3 if self._roster[v] in inbox]
        shares = {v: inbox[self._roster[v]] for v in responders}

        def secret(u: int, check: Callable[[int], bool]) -> int:
            pts = []
            for w in responders:
                if w == u or u in self._nbrs[w]:
                    k = self._held[w].index(u)
                    pts.append((w + 1, _shamir.from_bytes(shares[w][16 * k:16 * (k + 1)])))
            if len(pts) < self._share_t:
                self._stage = -1
                raise RoundAbortedError(
                    f"round {self.server_round}: {len(pts)} clients returned shares of client "
                    f"{self._roster[u]!r}'s secrets, {self._share_t} are needed",
                    server_round=self.server_round, needed=self._share_t, got=len(pts))
            for subset in _subsets(pts, self._share_t):
                xs, ys = zip(*subset, strict=True)
                s = _shamir.combine(xs, ys)
                if check(s):
                    return s
            self._stage = -1
            raise RoundAbortedError(
                f"round {self.server_round}: {len(pts)} unmask shares for client "
                f"{self._roster[u]!r} do not rebuild the secret it committed to "
                f"({self._share_t} good ones needed)", server_round=self.server_round,
                needed=self._share_t, got=len(pts))

        total = self._masked_sum
        L, session = self.vector_length, self.session
        for u in self._u3:
            b = secret(u, _opens(self._commits[u], session))
            np.subtract(total, _mask_stream(_hkdf(_shamir.to_bytes(b), session, _SELF_INFO), L),
                        out=total)
        u3 = set(self._u3)
        for u in self._u2:
            if u in u3:
                continue
            s_pk = self._keys[u][32:]
            seed = secret(u, _makes_key(s_pk, session))
            key = _mask_key(seed, session)
            for v in self._nbrs[u]:
                if v in u3:
                    m = _mask_stream(_pair_key(key, self._keys[v][32:], session, u, v), L)
                    # v added +m if v < u, else -m: take it back out
                    (np.subtract if v < u else np.add)(total, m, out=total)
        self._total = total
        self.senders = tuple(self._roster[u] for u in self._u3)
        self._stage = -1


# --- what a runtime sums: weighted updates and their example counts ---------------------------


def update_vector(update: Sequence[np.ndarray], num_examples: int) -> np.ndarray:
    """The vector a client contributes to a secure sum of updates:
    ``concat(num_examples * flat(update), [num_examples])`` (float64), where ``update`` is the
    client's delta (its parameters minus the global ones).  :func:`mean_update` turns the sum
    back into the example-weighted mean delta that ``Strategy.aggregate_mean`` takes."""
    if isinstance(num_examples, bool) or not isinstance(num_examples, (int, np.integer)) \
            or num_examples < 0:
        raise InputError(f"num_examples must be a non-negative int, got {num_examples!r}",
                         name="num_examples", got=num_examples)
    flat = [np.asarray(a, dtype=np.float64).ravel() for a in update]
    if not all(np.all(np.isfinite(f)) for f in flat):
        raise InputError("update holds NaN or infinite values", name="update")
    return np.concatenate([float(num_examples) * np.concatenate(flat) if flat else np.zeros(0),
                           [float(num_examples)]])


def mean_update(total: np.ndarray, like: Sequence[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """``(mean_update, total_examples)`` from the secure sum of :func:`update_vector` s: the
    example-weighted mean delta, shaped and typed like ``like`` (the global parameters), and
    the total number of examples.  Raises :class:`~edgekit.errors.RoundAbortedError` when the
    senders had no examples."""
    total = np.asarray(total, dtype=np.float64)
    sizes = [int(np.asarray(a).size) for a in like]
    if total.ndim != 1 or total.size != sum(sizes) + 1:
        raise InputError(f"a sum of {total.size} entries for parameters of {sum(sizes)}",
                         name="total", expected=sum(sizes) + 1, got=total.size)
    n_total = int(round(total[-1]))
    if n_total <= 0:
        raise RoundAbortedError("the secure sum holds no examples", needed=1, got=n_total)
    mean = total[:-1] / total[-1]
    out, pos = [], 0
    for a, size in zip(like, sizes, strict=True):
        a = np.asarray(a)
        out.append(mean[pos:pos + size].reshape(a.shape).astype(a.dtype))
        pos += size
    return out, n_total


# --- simulation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecureSum:
    """The outcome of :func:`secure_sum`.

    Attributes:
        total: the dequantised sum (float64) over ``senders``.
        senders: the clients whose inputs are in ``total``, in the order given.
        bytes_up: client id -> bytes it sent (every protocol message, as sent).
        bytes_down: client id -> bytes the server sent it.
    """

    total: np.ndarray
    senders: tuple[str, ...]
    bytes_up: Mapping[str, int] = field(default_factory=dict)
    bytes_down: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bytes_up", MappingProxyType(dict(self.bytes_up)))
        object.__setattr__(self, "bytes_down", MappingProxyType(dict(self.bytes_down)))


def secure_sum(vectors: Mapping[str, np.ndarray], *, config: SecAggConfig,
               seed: int | None = None, drop_after_send: Iterable[str] = (),
               drop_before_send: Iterable[str] = (),
               server_round: int | None = None) -> SecureSum:
    """The sum of ``vectors`` (client id -> 1-D vector) by the secure-aggregation protocol, run
    in this process: a :class:`SecAggServer` and one :class:`SecAggClient` per id exchange
    real messages, counted in ``bytes_up`` / ``bytes_down``.

    ``drop_before_send`` clients share their keys, then vanish before sending their masked
    input (their masks are removed from the others' through their shares); they need no
    vector (a runtime's client that dropped out before training has none), and they count
    towards the round's size, so its threshold is taken over everyone selected;
    ``drop_after_send`` clients send their masked input, then vanish before unmasking (their
    input stays in the sum).  ``total`` equals :func:`plain_fixed_point_sum` over the senders,
    bit for bit.  ``seed`` makes the secrets reproducible (simulation only; None draws them
    from ``os.urandom``).  Raises :class:`~edgekit.errors.RoundAbortedError` when fewer than
    the threshold of clients remain, :class:`~edgekit.errors.InvalidUpdateError` for a vector
    that is not 1-D, finite and of the round's length.
    """
    if not isinstance(vectors, Mapping) or not vectors:
        raise InputError("vectors must be a non-empty mapping of client id to vector",
                         name="vectors")
    first = next(iter(vectors))
    length = _check_vector(vectors[first], client=first).size
    after, before = set(drop_after_send), set(drop_before_send)
    if not all(isinstance(c, str) for c in after | before):
        raise InputError("dropped client ids must be strings", name="drop_before_send")
    ids = list(vectors) + sorted(before - set(vectors))
    unknown = after - set(vectors)
    if unknown:
        raise InputError(f"clients dropping after sending have no vector: {sorted(unknown)}",
                         name="drop_after_send", got=sorted(unknown))
    if after & before:
        raise InputError("a client cannot drop both before and after sending",
                         name="drop_before_send", got=sorted(after & before))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise InputTypeError(f"seed must be an int or None, got {seed!r}", name="seed")
    root = None if seed is None else hashlib.sha256(
        b"edgekit secagg simulation %d" % int(seed)).digest()

    def source(name: str) -> RandomBytes:
        if root is None:
            return os.urandom
        return _Drbg(_hkdf(name.encode(), root, b"edgekit secagg drbg"))
    clients = {c: SecAggClient(_check_vector(vectors[c], client=c, length=length)
                               if c in vectors else np.zeros(length), config,
                               random_bytes=source("client:" + c)) for c in ids}
    server = SecAggServer(ids, vector_length=length, config=config,
                          session=source("server")(_SESSION), server_round=server_round)
    up = dict.fromkeys(ids, 0)
    down = dict.fromkeys(ids, 0)
    outbox = server.start()
    for stage in range(4):
        for c, msg in outbox.items():
            down[c] += len(msg)
            if (stage == 2 and c in before) or (stage == 3 and c in after):
                continue  # the client is gone: it never answers
            reply = clients[c].handle(msg)
            up[c] += len(reply)
            server.receive(c, reply)
        outbox = server.advance()
    return SecureSum(total=server.total, senders=server.senders, bytes_up=up, bytes_down=down)
