"""Regression tests for what the review and fuzzing of the C envelope path found (all fixed
in ``edgekit/secure/envelope.py``); each native case has a Python-path twin.

1. Two threads opening the first messages under the sender's next key at the same time.
Each thread's ``Opener._follow`` may find no pending window yet and derive its own
``_Window`` for the new key (the derivation releases the GIL inside cffi), so the two C
windows differ.  The Python path marks the counter under the lock in whichever window
``_advance`` installed; the C path marks it in its own window and keeps the plaintext even
when ``_advance`` returns another thread's window, so the same envelope is accepted twice,
and counters accepted in the discarded window can be replayed later.

The interleaving is forced (both threads wait for each other inside the key derivation), so
the test is deterministic.

2. A ``bytes`` subclass whose ``__len__`` is larger than its buffer: the C paths take the
length from ``len()`` and cffi passes the object's own (shorter) buffer, so ``seal`` reads
past it and encrypts process memory into the envelope (the Python path uses the buffer).

3. A ``bytes`` subclass as associated data of an empty message (which goes through
``_open_native``): refused with a wrong InputError ("message too large") by the C path.

4. A Sealer copied by ``os.fork()`` (both paths): the child would seal the parent's next
counters again.  Now the child's copy refuses to seal (SecurityError)."""

from __future__ import annotations

import os
import struct
import threading

import pytest

from edgekit.errors import EdgekitError, ReplayError
from edgekit.secure import envelope as E
from edgekit.secure.envelope import Opener, Sealer, parse_header

KEY = bytes(range(32))
native_only = pytest.mark.skipif(not E._NATIVE, reason="the C envelope code is not built")


def _race(monkeypatch, native: bool) -> tuple[int, int]:
    """(accepted of one envelope opened by two threads at once, replays accepted after)."""
    sealer, opener = Sealer(KEY, _native=native), Opener(KEY, _native=native)
    opener.open(sealer.seal(b"before the rekey"))
    sealer.rekey()
    first, second = sealer.seal(b"first under key 1"), sealer.seal(b"second under key 1")

    meet = threading.Barrier(2)
    real = E._next_key

    def next_key(key: bytes) -> bytes:  # both threads derive the next key at the same time
        try:
            meet.wait(timeout=1.0)
        except threading.BrokenBarrierError:  # a fixed opener derives it once, under a lock
            pass
        return real(key)

    monkeypatch.setattr(E, "_next_key", next_key)
    accepted: list[bytes] = []
    errors: list[BaseException] = []

    def run(env: bytes) -> None:
        try:
            accepted.append(opener.open(env))
        except ReplayError:
            pass
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(env,)) for env in (first, first)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors, errors
    monkeypatch.setattr(E, "_next_key", real)
    assert opener.key_id == 1
    assert opener.open(second) == b"second under key 1"
    later = 0
    for env in (first, second):
        try:
            opener.open(env)
            later += 1
        except ReplayError:
            pass
    return len(accepted), later


def test_python_opener_accepts_the_first_message_under_a_new_key_once(monkeypatch):
    assert _race(monkeypatch, native=False) == (1, 0)


@native_only
def test_native_opener_accepts_the_first_message_under_a_new_key_once(monkeypatch):
    assert _race(monkeypatch, native=True) == (1, 0)


class _Lying(bytes):
    """bytes whose len() claims 16 bytes more than the buffer holds."""

    def __len__(self) -> int:
        return bytes.__len__(self) + 16


def _lying_len(native: bool) -> tuple[int, bytes, bytes]:
    sealer, opener = Sealer(KEY, _native=native), Opener(KEY, _native=native)
    opener.open(sealer.seal(b"the first message reserves a block of counters"))
    env = sealer.seal(_Lying(b"seventeen bytes!!"))
    plain = opener.open(env)
    again = opener.open(_Lying(sealer.seal(b"an envelope passed as a bytes subclass")))
    return len(env), plain, again


def test_python_path_takes_lengths_from_the_buffer():
    assert _lying_len(native=False) == (17 + 28, b"seventeen bytes!!",
                                        b"an envelope passed as a bytes subclass")


@native_only
def test_native_path_takes_lengths_from_the_buffer():
    assert _lying_len(native=True) == (17 + 28, b"seventeen bytes!!",
                                       b"an envelope passed as a bytes subclass")


class _Topic(bytes):
    """An ordinary bytes subclass (as some frameworks hand out)."""


@pytest.mark.parametrize("native", [
    False,
    pytest.param(True, marks=native_only),
])
def test_empty_message_with_a_bytes_subclass_as_associated_data(native):
    sealer, opener = Sealer(KEY, _native=native), Opener(KEY, _native=native)
    assert opener.open(sealer.seal(b"", b"topic"), _Topic(b"topic")) == b""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork here")
def test_a_forked_sealer_never_repeats_the_parents_nonce():
    """4. After fork, parent and child hold the same key and the same counter."""
    sealer = Sealer(KEY)
    sealer.seal(b"before the fork")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what its next seal does, never return into pytest
        try:
            try:
                reply = b"C" + struct.pack(">Q", parse_header(sealer.seal(b"child")).counter)
            except EdgekitError:
                reply = b"E"  # refusing to seal in a forked copy is a fix too
            os.write(write, reply)
        finally:
            os._exit(0)
    os.close(write)
    try:
        parent = parse_header(sealer.seal(b"parent")).counter
        reply = os.read(read, 16)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert reply == b"E" or struct.unpack(">Q", reply[1:])[0] != parent
