"""The authenticated envelope: wire format, golden files, published AEAD vectors, tampering,
the replay window (hypothesis against a model), rekeying, X25519 sessions, restarts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from edgekit import _telemetry
from edgekit.data import load_series
from edgekit.errors import AuthenticationError, InputError, OptionsError, ReplayError
from edgekit.secure.envelope import (
    _AEAD,
    ALGORITHMS,
    FileCounterStore,
    Opener,
    Sealer,
    parse_header,
    session,
)
from tests.common import mutations

GOLDEN = Path(__file__).parent / "golden" / "envelope_v1.json"
KEY = bytes(range(32))
READINGS = np.asarray(load_series("payerne_temp_C")[:256], dtype="<f4").tobytes()  # 1 KiB


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_round_trip_with_associated_data(algorithm):
    s, o = Sealer(KEY, algorithm=algorithm), Opener(KEY, algorithm=algorithm)
    env = s.seal(READINGS, b"device=dev-7;stream=temp")
    assert len(env) == len(READINGS) + 28
    assert o.open(env, b"device=dev-7;stream=temp") == READINGS
    env2 = s.seal(READINGS, b"device=dev-7;stream=temp")
    with pytest.raises(AuthenticationError):
        o.open(env2, b"device=dev-8;stream=temp")  # the context is authenticated
    with pytest.raises(AuthenticationError):
        o.open(env2)


def test_wire_format_matches_the_document():
    """Decrypt an envelope with the raw primitive, following docs/secure/envelope.md only."""
    env = Sealer(KEY, key_id=0x0102, counter_start=5).seal(b"payload", b"ctx")
    assert env[0] == 1 and env[1] == 1
    assert int.from_bytes(env[2:4], "big") == 0x0102
    assert int.from_bytes(env[4:12], "big") == 5
    plain = ChaCha20Poly1305(KEY).decrypt(env[:12], env[12:], b"ctx")  # nonce = header
    assert plain == b"payload"
    h = parse_header(env)
    assert (h.algorithm, h.key_id, h.counter, h.size) == ("chacha20-poly1305", 0x0102, 5, 7)
    env = Sealer(KEY, algorithm="aes-256-gcm").seal(b"x")
    assert env[1] == 2 and AESGCM(KEY).decrypt(env[:12], env[12:], None) == b"x"


def test_golden_files_open_and_reseal_bit_exact():
    doc = json.loads(GOLDEN.read_text())
    assert doc["version"] == 1 and len(doc["cases"]) >= 7
    for case in doc["cases"]:
        key, env = bytes.fromhex(case["key"]), bytes.fromhex(case["envelope"])
        ad, plain = bytes.fromhex(case["associated_data"]), bytes.fromhex(case["plaintext"])
        opener = Opener(key, key_id=case["key_id"], algorithm=case["algorithm"])
        assert opener.open(env, ad) == plain
        sealer = Sealer(key, key_id=case["key_id"], algorithm=case["algorithm"],
                        counter_start=case["counter"])
        for _ in range(case.get("rekeys", 0)):
            sealer.rekey()
        assert sealer.seal(plain, ad) == env


# --- published vectors ------------------------------------------------------------------------


def _vector_file(*parts: str) -> Path:
    vectors = pytest.importorskip("cryptography_vectors")
    return Path(vectors.__file__).parent.joinpath(*parts)


def _chacha_vectors():
    """RFC 7539/8439 and implementers' ChaCha20-Poly1305 vectors (BoringSSL and OpenSSL
    collections), as dicts with key, iv, aad, plaintext, ciphertext, tag and maybe result."""
    names = {"key": "key", "nonce": "iv", "iv": "iv", "ad": "aad", "aad": "aad",
             "in": "plaintext", "plaintext": "plaintext", "ct": "ciphertext",
             "ciphertext": "ciphertext", "tag": "tag", "result": "result"}
    for fname in ("boringssl.txt", "openssl.txt"):
        cur: dict = {}
        text = _vector_file("ciphers", "ChaCha20Poly1305", fname).read_text()
        for line in [*text.splitlines(), ""]:
            line = line.strip()
            if not line or line.startswith("COUNT"):
                if "key" in cur:
                    yield cur
                cur = {}
            elif "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                v = v.strip()
                if v.startswith('"'):
                    v = v.strip('"').encode().hex()
                if k.strip().lower() in names:
                    cur[names[k.strip().lower()]] = v


def _gcm256_vectors():
    """NIST CAVP GCM decryption records with a 96-bit IV and a 128-bit tag; a record ends
    with its PT line (authentic) or FAIL (forged)."""
    section: dict = {}
    cur: dict = {}
    for line in _vector_file("ciphers", "AES", "GCM", "gcmDecrypt256.rsp").read_text(
            ).splitlines():
        line = line.strip()
        if line.startswith("["):
            k, v = line.strip("[]").split(" = ")
            section[k] = int(v)
        elif line.startswith("Count"):
            cur = {}
        elif line == "FAIL" or line.startswith("PT"):
            if line == "FAIL":
                cur["fail"] = True
            else:
                cur["pt"] = line.split("=", 1)[1].strip()
            if section.get("IVlen") == 96 and section.get("Taglen") == 128:
                yield cur
        elif " = " in line or line.endswith(" ="):
            k, _, v = line.partition("=")
            cur[k.strip().lower()] = v.strip()


def test_chacha20poly1305_published_vectors():
    n = 0
    for v in _chacha_vectors():
        iv = bytes.fromhex(v["iv"])
        if len(iv) != 12 or len(bytes.fromhex(v["key"])) != 32:
            continue
        aead = _AEAD[ALGORITHMS["chacha20-poly1305"]](bytes.fromhex(v["key"]))
        nonce = iv
        ct = bytes.fromhex(v.get("ciphertext", "")) + bytes.fromhex(v["tag"])
        aad = bytes.fromhex(v.get("aad", "")) or None
        if v.get("result") == "CIPHERFINAL_ERROR":
            with pytest.raises(InvalidTag):
                aead.decrypt(nonce, ct, aad)
        else:
            plain = bytes.fromhex(v.get("plaintext", ""))
            assert aead.decrypt(nonce, ct, aad) == plain
            assert aead.encrypt(nonce, plain, aad) == ct
            # the envelope of that plaintext, under that key and associated data, is the same
            # primitive with the header as nonce; and opens back
            key = bytes.fromhex(v["key"])
            env = Sealer(key, key_id=n, counter_start=n * 7919).seal(plain, aad or b"")
            assert aead.decrypt(env[:12], env[12:], aad) == plain
            assert Opener(key, key_id=n).open(env, aad or b"") == plain
        n += 1
    assert n >= 60


def test_aes256gcm_published_vectors():
    n = fails = 0
    for v in _gcm256_vectors():
        aead = _AEAD[ALGORITHMS["aes-256-gcm"]](bytes.fromhex(v["key"]))
        nonce = bytes.fromhex(v["iv"])
        ct = bytes.fromhex(v["ct"]) + bytes.fromhex(v["tag"])
        aad = bytes.fromhex(v["aad"]) or None
        if v.get("fail"):
            with pytest.raises(InvalidTag):
                aead.decrypt(nonce, ct, aad)
            fails += 1
        else:
            assert aead.decrypt(nonce, ct, aad) == bytes.fromhex(v["pt"])
            n += 1
    assert n >= 50 and fails >= 10


# --- tampering --------------------------------------------------------------------------------


def test_every_bit_flip_truncation_and_random_envelope_is_refused():
    env = Sealer(KEY).seal(READINGS[:200], b"ad")
    rng = np.random.default_rng(11)
    damaged = [m for m in mutations(env, rng, flips=400) if m != env]
    for m in damaged:
        with pytest.raises(AuthenticationError):
            Opener(KEY).open(m, b"ad")
    for junk in (b"", b"\x01", bytearray(40), memoryview(env)[:20], "text", None, 3):
        with pytest.raises(AuthenticationError):
            Opener(KEY).open(junk)


def test_wrong_key_and_wrong_algorithm_are_refused():
    env = Sealer(KEY).seal(b"x")
    with pytest.raises(AuthenticationError):
        Opener(bytes(32)).open(env)
    with pytest.raises(AuthenticationError):
        Opener(KEY, algorithm="aes-256-gcm").open(env)
    with pytest.raises(AuthenticationError):  # unknown key id
        Opener(KEY, key_id=5).open(env)


def test_failure_is_opaque_and_reported_once():
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    env = bytearray(Sealer(KEY).seal(b"secret"))
    env[20] ^= 1
    _telemetry.add_sink(sink)
    try:
        with pytest.raises(AuthenticationError) as err:
            Opener(KEY).open(bytes(env))
        Sealer(KEY).seal(b"abc")
    finally:
        _telemetry.remove_sink(sink)
    assert str(err.value) == "message failed authentication"
    assert events == [("secure.failure", {"kind": "envelope", "reason": "auth"}),
                      ("secure.seal", {"bytes": 3})]


# --- replay window ----------------------------------------------------------------------------


def test_duplicate_refused_reordering_accepted_old_refused():
    s, o = Sealer(KEY), Opener(KEY, window=8)
    envs = [s.seal(bytes([i])) for i in range(20)]
    assert o.open(envs[3]) == b"\x03"
    assert o.open(envs[1]) == b"\x01"  # reordered within the window
    with pytest.raises(ReplayError):
        o.open(envs[3])  # duplicated
    assert o.open(envs[12]) == b"\x0c"
    with pytest.raises(ReplayError):
        o.open(envs[4])  # 12 - 4 = 8: fell out of the window
    assert o.open(envs[5]) == b"\x05"  # 12 - 5 = 7: still inside
    with pytest.raises(ReplayError):
        o.open(envs[5])


WINDOW = 16


@pytest.fixture(scope="module")
def numbered():
    return [Sealer(KEY, counter_start=c).seal(c.to_bytes(2, "big")) for c in range(120)]


@given(st.lists(st.integers(0, 119), max_size=150))
def test_replay_window_matches_a_model(numbered, order):
    """Accepted iff never accepted before and newer than (highest accepted - WINDOW)."""
    opener = Opener(KEY, window=WINDOW)
    seen: set[int] = set()
    top = -1
    for c in order:
        expect = c not in seen and c > top - WINDOW
        if expect:
            assert opener.open(numbered[c]) == c.to_bytes(2, "big")
            seen.add(c)
            top = max(top, c)
        else:
            with pytest.raises(ReplayError):
                opener.open(numbered[c])


def test_forgeries_do_not_move_the_window():
    s, o = Sealer(KEY), Opener(KEY, window=4)
    first = s.seal(b"a")
    forged = bytearray(Sealer(bytes(32), counter_start=10**6).seal(b"b"))
    with pytest.raises(AuthenticationError):
        o.open(bytes(forged))
    assert o.open(first) == b"a"  # had the forgery counted, counter 0 would be too old


def test_huge_counter_jump_is_cheap():
    o = Opener(KEY, window=1024)
    assert o.open(Sealer(KEY, counter_start=0).seal(b"a")) == b"a"
    assert o.open(Sealer(KEY, counter_start=2**64 - 2, rekey_after=2**64 - 1).seal(b"b")) == b"b"
    with pytest.raises(ReplayError):
        o.open(Sealer(KEY, counter_start=5).seal(b"c"))


# --- rekeying ---------------------------------------------------------------------------------


def test_rekey_opener_follows_and_keeps_the_previous_key_for_stragglers():
    s, o = Sealer(KEY), Opener(KEY)
    before = s.seal(b"old-1")
    straggler = s.seal(b"old-2")
    assert o.open(before) == b"old-1"
    assert s.rekey() == 1
    after = s.seal(b"new")
    assert after[2:4] == (1).to_bytes(2, "big") and after[4:12] == bytes(8)
    assert o.open(after) == b"new" and o.key_id == 1
    assert o.open(straggler) == b"old-2"  # in flight during the rekey
    with pytest.raises(ReplayError):
        o.open(after)
    s.rekey()
    s.rekey()
    with pytest.raises(AuthenticationError):  # two keys ahead: the opener cannot follow
        o.open(s.seal(b"too far"))


def test_rekeyed_key_is_one_way_and_differs():
    s = Sealer(KEY)
    s.rekey()
    with pytest.raises(AuthenticationError):
        Opener(KEY, key_id=1).open(s.seal(b"x"))  # key id 1 is not the same key bytes


def test_automatic_rekey_after_a_message_budget():
    s, o = Sealer(KEY, rekey_after=3), Opener(KEY)
    envs = [s.seal(bytes([i])) for i in range(7)]
    assert [int.from_bytes(e[2:4], "big") for e in envs] == [0, 0, 0, 1, 1, 1, 2]
    assert [o.open(e) for e in envs] == [bytes([i]) for i in range(7)]


def test_concurrent_sealers_never_share_a_counter():
    s = Sealer(KEY, rekey_after=500)
    out: list[bytes] = []
    lock = threading.Lock()

    def work():
        mine = [s.seal(b"x") for _ in range(300)]
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    nonces = [e[:12] for e in out]
    assert len(set(nonces)) == len(nonces) == 1200


# --- sessions ---------------------------------------------------------------------------------


def test_x25519_session_both_directions():
    dev, gw = x25519.X25519PrivateKey.generate(), x25519.X25519PrivateKey.generate()
    dev_seal, dev_open = session(dev, gw.public_key(), context=b"dev-7|gw-1")
    gw_seal, gw_open = session(gw, dev.public_key().public_bytes_raw(), context=b"dev-7|gw-1")
    assert gw_open.open(dev_seal.seal(READINGS)) == READINGS
    assert dev_open.open(gw_seal.seal(b"ack")) == b"ack"
    with pytest.raises(AuthenticationError):  # directions have different keys
        dev_open.open(dev_seal.seal(b"echo"))
    _, other_open = session(gw, dev.public_key(), context=b"dev-7|gw-2")
    with pytest.raises(AuthenticationError):  # the context is bound into the keys
        other_open.open(dev_seal.seal(b"x"))
    eve = x25519.X25519PrivateKey.generate()
    _, eve_open = session(eve, dev.public_key())
    with pytest.raises(AuthenticationError):
        eve_open.open(dev_seal.seal(b"x"))


def test_session_refuses_degenerate_keys():
    k = x25519.X25519PrivateKey.generate()
    with pytest.raises(InputError):
        session(k, k.public_key())
    with pytest.raises(AuthenticationError):
        session(k, bytes(32))  # a low-order point: all-zero shared secret


def test_caller_mistakes_are_input_errors_not_authentication_failures():
    from edgekit.errors import InputTypeError

    with pytest.raises(InputTypeError):
        Sealer(KEY).seal("text")
    with pytest.raises(InputTypeError):
        Sealer(KEY).seal(b"x", "context")
    with pytest.raises(InputTypeError):
        Opener(KEY).open(Sealer(KEY).seal(b"x"), "context")


def test_options_are_validated():
    with pytest.raises(InputError):
        Sealer(b"short")
    with pytest.raises(OptionsError):
        Sealer(KEY, algorithm="rot13")
    with pytest.raises(OptionsError):
        Opener(KEY, window=0)
    with pytest.raises(InputError):
        Sealer(KEY, key_id=2**16)


# --- restarts ---------------------------------------------------------------------------------


def test_counter_store_survives_restarts_without_reuse(tmp_path):
    store_path = tmp_path / "counters.json"
    o = Opener(KEY, window=64)
    nonces = set()
    for _restart in range(4):
        s = Sealer(KEY, counter_store=FileCounterStore(store_path, block=5))
        for i in range(7):  # crosses a block boundary each run
            env = s.seal(bytes([i]))
            assert env[:12] not in nonces
            nonces.add(env[:12])
            assert o.open(env) == bytes([i])  # no ReplayError: nothing repeats
    saved = json.loads(store_path.read_text())
    assert list(saved.values()) and all(v >= 7 * 4 for v in saved.values())


def test_without_a_store_a_restart_with_the_same_key_would_repeat():
    # the hazard the store prevents: a second Sealer on the same static key restarts at 0
    a, b = Sealer(KEY).seal(b"x"), Sealer(KEY).seal(b"y")
    assert a[:12] == b[:12]
    o = Opener(KEY)
    o.open(a)
    with pytest.raises(ReplayError):
        o.open(b)  # the receiver's window at least refuses the second one


def test_concurrent_openers_accept_each_message_exactly_once():
    s = Sealer(KEY)
    envs = [s.seal(i.to_bytes(4, "big")) for i in range(400)]
    o = Opener(KEY, window=1024)
    accepted: list[bytes] = []
    replays = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def work(seed):
        order = np.random.default_rng(seed).permutation(len(envs))
        start.wait(10)
        for i in order:
            try:
                plain = o.open(envs[i])
            except ReplayError:
                with lock:
                    replays.append(i)
                continue
            with lock:
                accepted.append(plain)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(accepted) == [i.to_bytes(4, "big") for i in range(400)]
    assert len(replays) == 3 * 400
