"""The C envelope code (``_native/crypto/envelope.c``) against the Python reference: the
sealer writes the same bytes; the opener returns the same plaintexts and the same refusals,
message by message, for any order of delivery, replay, tampering, rekeying and window size;
its lock under real threads; damaged input.

Skipped where the extension is not built (and on ``EDGEKIT_BACKEND=reference``, where the
rest of tests/secure runs the Python opener)."""

from __future__ import annotations

import struct
import threading

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

import edgekit
from edgekit import _telemetry
from edgekit.errors import AuthenticationError, InputTypeError, OptionsError, ReplayError
from edgekit.secure import envelope as E
from edgekit.secure.envelope import Opener, Sealer
from tests.common import assert_only_raises, mutations

KEY = bytes(range(32))
native_only = pytest.mark.skipif(not E._NATIVE, reason="the C envelope opener is not built")
_HEAD = struct.Struct(">BBHQ")
_RAW = {1: ChaCha20Poly1305, 2: AESGCM}


def envelope(counter: int, plain: bytes, *, key: bytes = KEY, alg: int = 1, key_id: int = 0,
             aad: bytes = b"") -> bytes:
    """An envelope with any counter, built from the primitive (not from a Sealer), so that
    the tests do not depend on the code under test to make their input."""
    header = _HEAD.pack(1, alg, key_id, counter)
    return header + _RAW[alg](key).encrypt(header, plain, aad)


def outcome(opener: Opener, env: object, aad: object = b"") -> object:
    try:
        return opener.open(env, aad)  # type: ignore[arg-type]
    except Exception as err:  # noqa: BLE001 - the type is what is compared
        return type(err)


def pair(**kw) -> tuple[Opener, Opener]:
    return Opener(KEY, _native=True, **kw), Opener(KEY, _native=False, **kw)


COUNTERS_START = st.sampled_from([0, 1, 2**40, 2**47 - 3])
COUNTERS = st.one_of(st.integers(0, 300), st.integers(2**64 - 300, 2**64 - 1),
                     st.sampled_from([63, 64, 65, 127, 128, 129, 2**32, 2**63]))
STEP = st.tuples(COUNTERS, st.sampled_from(["ok", "ok", "ok", "flip", "aad", "cut", "empty"]))


@native_only
def test_native_is_the_default_where_built():
    assert Opener(KEY)._native and Opener(KEY)._fast is not None
    assert Sealer(KEY)._native and Sealer(KEY)._state[-1] is not None
    assert not Sealer(KEY, algorithm="aes-256-gcm")._native  # faster through cryptography
    assert {"ek_env_open", "ek_env_seal"} <= set(edgekit._backend.native_kernels())


@native_only
@settings(max_examples=200)
@given(alg=st.sampled_from(list(E.ALGORITHMS)), start=COUNTERS_START,
       messages=st.lists(st.tuples(st.binary(max_size=300), st.binary(max_size=40),
                                   st.sampled_from(["bytes", "bytes", "bytearray", "rekey"])),
                         max_size=20))
def test_native_sealer_writes_the_reference_bytes(alg, start, messages):
    """Same key, same counters: the C sealer's envelopes are byte for byte the Python
    sealer's (the AEADs are deterministic given the nonce), through rekeys and the counter
    reservations of the slow path; and they open."""
    fast = Sealer(KEY, algorithm=alg, counter_start=start, _native=True)
    ref = Sealer(KEY, algorithm=alg, counter_start=start, _native=False)
    opener = Opener(KEY, algorithm=alg, _native=False)
    key, key_id, behind = KEY, 0, 0
    for data, aad, how in messages:
        if how == "rekey":
            assert fast.rekey() == ref.rekey() == key_id + 1
            key, key_id, behind = E._next_key(key), key_id + 1, behind + 1
            continue
        payload = bytearray(data) if how == "bytearray" else data
        env = fast.seal(payload, aad)
        assert env == ref.seal(payload, aad)
        if behind > 1:  # an opener follows one rekey at a time: start one at this key
            opener = Opener(key, key_id=key_id, algorithm=alg, _native=False)
        behind = 0
        assert opener.open(env, aad) == data


@pytest.mark.skipif(E._NATIVE, reason="only where the C opener is missing")
def test_asking_for_a_missing_native_opener_is_an_options_error():
    with pytest.raises(OptionsError):
        Opener(KEY, _native=True)




@native_only
@settings(max_examples=300)
@given(window=st.sampled_from([1, 2, 16, 63, 64, 65, 130, 1024, 65536]),
       alg=st.sampled_from([1, 2]), steps=st.lists(STEP, max_size=80))
def test_native_and_reference_agree_message_by_message(window, alg, steps):
    name = {1: "chacha20-poly1305", 2: "aes-256-gcm"}[alg]
    fast, ref = pair(window=window, algorithm=name)
    for counter, how in steps:
        plain = b"" if how == "empty" else counter.to_bytes(8, "big") * 3
        env = envelope(counter, plain, alg=alg, aad=b"topic")
        if how == "flip":
            env = env[:20] + bytes([env[20] ^ 4]) + env[21:]
        elif how == "cut":
            env = env[: counter % 40]
        aad = b"other" if how == "aad" else b"topic"
        got, want = outcome(fast, env, aad), outcome(ref, env, aad)
        assert got == want, (counter, how)
        if how in ("ok", "empty"):
            assert want == plain or want is ReplayError


@native_only
@settings(max_examples=300)
@given(data=st.data(), window=st.sampled_from([1, 2, 5, 63, 64, 65, 127, 130]))
def test_window_ring_agrees_across_wraps(data, window):
    """Counters within a few windows of each other, so that the C ring of bits wraps and
    its stale bits must have been cleared: accepted and refused exactly as the reference."""
    fast, ref = pair(window=window)
    base = data.draw(st.sampled_from([0, 2**64 - 80 * window - 80]))
    c = 0  # a walk: mostly forward by less than a window, often back into it
    steps = data.draw(st.lists(st.integers(-window - 2, window + 2), max_size=80))
    for step in steps:
        c = max(0, c + step)
        env = envelope(base + c, b"r")
        assert outcome(fast, env) == outcome(ref, env), (window, base + c)


@native_only
@settings(max_examples=60)
@given(order=st.permutations(range(24)), rekey_at=st.lists(st.integers(1, 23), max_size=3),
       dup=st.lists(st.integers(0, 23), max_size=6))
def test_rekeying_agrees_with_the_reference(order, rekey_at, dup):
    """Messages around up to three rekeys, delivered out of order with duplicates: the C
    opener follows the sender's keys exactly as the Python one does."""
    sealer = Sealer(KEY)
    sent = []
    for i in range(24):
        if i in rekey_at:
            sealer.rekey()
        sent.append(sealer.seal(i.to_bytes(2, "big")))
    fast, ref = pair()
    for i in list(order) + dup:
        assert outcome(fast, sent[i]) == outcome(ref, sent[i]), i
    assert fast.key_id == ref.key_id


@native_only
def test_each_message_is_accepted_once_under_concurrent_threads():
    """Four threads open the same 3,000 envelopes at once (the C call runs without the GIL):
    every envelope is accepted exactly once, every other try is a ReplayError."""
    sealer = Sealer(KEY)
    sent = [sealer.seal(i.to_bytes(4, "big") * 64) for i in range(3000)]
    opener = Opener(KEY, window=4096)
    accepted = [0] * len(sent)
    replays = []
    barrier = threading.Barrier(4)

    def work(seed: int) -> None:
        order = np.random.default_rng(seed).permutation(len(sent))
        barrier.wait()
        local = 0
        for i in order:
            try:
                opener.open(sent[i])
                accepted[i] += 1
            except ReplayError:
                local += 1
        replays.append(local)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert accepted == [1] * len(sent)
    assert sum(replays) == 3 * len(sent)


@native_only
def test_damaged_envelopes_raise_only_authentication_errors():
    sealer = Sealer(KEY)
    for size in (0, 1, 100, 1024):
        blob = sealer.seal(bytes(range(256)) * (size // 256) + bytes(size % 256))
        rng = np.random.default_rng(size)
        opener = Opener(KEY, _native=True)
        raised = assert_only_raises(opener.open, list(mutations(blob, rng)),
                                    AuthenticationError)
        assert raised > 200
        assert opener.open(blob) == bytes(range(256)) * (size // 256) + bytes(size % 256)


@native_only
def test_other_buffer_types_and_bad_associated_data():
    fast, ref = pair()
    env = envelope(3, b"reading", aad=b"ad")
    assert fast.open(memoryview(env), bytearray(b"ad")) == b"reading"
    assert ref.open(bytearray(env), memoryview(b"ad")) == b"reading"
    for opener in (fast, ref):
        with pytest.raises(ReplayError):
            opener.open(bytearray(env), b"ad")
        with pytest.raises(InputTypeError):
            opener.open(envelope(4, b"x"), "ad")  # type: ignore[arg-type]
        with pytest.raises(AuthenticationError):
            opener.open("not an envelope")  # type: ignore[arg-type]
    assert fast.open(envelope(5, b"")) == b""  # the empty plaintext takes the general path


@native_only
def test_the_fast_path_reports_telemetry():
    seen = []

    def sink(event: str, fields: dict) -> None:
        seen.append((event, fields))

    _telemetry.add_sink(sink)
    try:
        opener = Opener(KEY, _native=True)
        opener.open(envelope(0, b"12345"))
        with pytest.raises(ReplayError):
            opener.open(envelope(0, b"12345"))
    finally:
        _telemetry.remove_sink(sink)
    assert ("secure.open", {"bytes": 5}) in seen
    assert ("secure.failure", {"kind": "envelope", "reason": "replay"}) in seen
