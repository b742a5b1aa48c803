"""Update codecs on real parameter deltas: sizes, error bounds, unbiased stochastic rounding,
top-k with error feedback, and decoders that refuse damaged bytes and misfit updates."""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import CorruptDataError, InputError, InvalidUpdateError
from edgekit.federated import _wire
from edgekit.federated.compression import (
    CODEC_QUANTIZED,
    CODEC_TOPK,
    Float32Codec,
    QuantizedCodec,
    TopKCodec,
)

# --- real deltas: softmax regression on sklearn's digits, a few SGD steps per client ----------


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def sgd(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, *, lr: float = 0.1,
        epochs: int = 1, batch: int = 32, seed: int = 0) -> list[np.ndarray]:
    """Softmax regression trained by minibatch SGD from ``params`` ([W (64, 10), b (10,)])."""
    w, b = (p.astype(np.float32, copy=True) for p in params)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(order), batch):
            xb, yb = x[order[i:i + batch]], y[order[i:i + batch]]
            z = xb @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1.0
            p /= len(yb)
            w -= lr * (xb.T @ p)
            b -= lr * p.sum(axis=0)
    return [w, b]


@lru_cache(maxsize=8)
def real_deltas(clients: int = 4, rounds: int = 3, seed: int = 0) -> list[list[np.ndarray]]:
    """Client updates (trained - global) from a few FedAvg rounds on non-IID digits shards."""
    x, y = _digits()
    rng = np.random.default_rng(seed)
    shards = [np.flatnonzero(np.isin(y, [2 * c % 10, (2 * c + 1) % 10, (c + 5) % 10]))
              for c in range(clients)]
    glob = [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]
    out = []
    for r in range(rounds):
        trained = []
        for c, idx in enumerate(shards):
            sub = rng.choice(idx, size=min(len(idx), 150), replace=False)
            p = sgd(glob, x[sub], y[sub], seed=seed * 1000 + r * 10 + c)
            out.append([a - g for a, g in zip(p, glob, strict=True)])
            trained.append(p)
        glob = [np.mean([t[i] for t in trained], axis=0).astype(np.float32) for i in range(2)]
    return out


def like() -> list[np.ndarray]:
    return [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]


ALL = [Float32Codec(), QuantizedCodec(8), QuantizedCodec(4), QuantizedCodec(2),
       QuantizedCodec(8, stochastic=False), TopKCodec(0.1), TopKCodec(0.02, error_feedback=False)]


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ALL, ids=repr)
def test_codecs_follow_the_contract(codec):
    assert isinstance(codec.name, str) and codec.name
    assert callable(codec.encode) and callable(codec.decode)
    rng = np.random.default_rng(0)
    for d in real_deltas()[:4]:
        data = codec.encode(d, client="c0", rng=rng)
        arrays, codec_id = _wire.unpack_arrays(data)  # the exact wire format
        back = codec.decode(data, like=like())
        assert [a.shape for a in back] == [(64, 10), (10,)]
        assert all(a.dtype == np.float32 and a.flags.writeable for a in back)
        assert [a.tobytes() for a in arrays] == [a.tobytes() for a in back]


def test_float32_is_lossless_and_raw_sized():
    d = real_deltas()[0]
    data = Float32Codec().encode(d, client="c", rng=np.random.default_rng(0))
    back = Float32Codec().decode(data, like=like())
    assert all(a.tobytes() == b.tobytes() for a, b in zip(d, back, strict=True))
    assert len(data) == 2600 + 12 + 14 + 10  # 650 float32 + message and array headers


def _chunk_steps(d: np.ndarray, bits: int, chunk: int) -> np.ndarray:
    flat = d.ravel().astype(np.float64)
    steps = []
    for i in range(0, flat.size, chunk):
        c = flat[i:i + chunk]
        steps += [(c.max() - c.min()) / ((1 << bits) - 1)] * c.size
    return np.array(steps).reshape(d.shape)


@pytest.mark.parametrize("bits", [8, 4, 2, 1])
@pytest.mark.parametrize("stochastic", [True, False])
def test_quantised_error_is_within_one_grid_step(bits, stochastic):
    codec = QuantizedCodec(bits, stochastic=stochastic)
    rng = np.random.default_rng(bits)
    for d in real_deltas()[:6]:
        back = codec.decode(codec.encode(d, client="c", rng=rng), like=like())
        for a, b in zip(d, back, strict=True):
            step = _chunk_steps(a, bits, codec.chunk)
            bound = (1.0 if stochastic else 0.5) * step * (1 + 1e-5) + 1e-7
            assert (np.abs(a.astype(np.float64) - b) <= bound).all()


def test_quantised_sizes_shrink_with_bits():
    d = real_deltas()
    rng = np.random.default_rng(0)
    size = {bits: np.median([len(QuantizedCodec(bits).encode(u, client="c", rng=rng))
                             for u in d]) for bits in (8, 4, 2, 1)}
    raw = len(Float32Codec().encode(d[0], client="c", rng=rng))
    assert raw / size[8] >= 3.5  # the 8-bit target, on the wire
    # 4-bit packs two codes a byte: 640 weights take 320 bytes (or fewer, deflated)
    assert size[4] <= 0.6 * size[8]
    assert size[1] < size[2] < size[4]


@pytest.mark.parametrize("bits", [8, 4, 1])
def test_stochastic_rounding_is_unbiased(bits):
    """The mean of many decodes converges to the update: every coordinate within 5 standard
    errors (the variance of one decode is at most step**2 / 4), and the test has the power to
    see the bias of rounding to nearest."""
    d = real_deltas()[5]
    trials = 1500
    rng = np.random.default_rng(7)
    for stochastic in (True, False):
        codec = QuantizedCodec(bits, stochastic=stochastic)
        total = [np.zeros(a.shape) for a in d]
        for _ in range(trials):
            for t, b in zip(total, codec.decode(codec.encode(d, client="c", rng=rng),
                                                like=like()), strict=True):
                t += b
        worst = 0.0
        for t, a in zip(total, d, strict=True):
            step = _chunk_steps(a, bits, codec.chunk)
            se = np.maximum(step / 2 / np.sqrt(trials), 1e-9)
            worst = max(worst, float((np.abs(t / trials - a) / se).max()))
        if stochastic:
            assert worst < 5.0
        else:
            assert worst > 10.0  # nearest rounding is biased, and the test sees it


def test_quantised_decode_is_deterministic_without_rng_state():
    d = real_deltas()[1]
    a = QuantizedCodec(8, stochastic=False).encode(d, client="c", rng=np.random.default_rng(1))
    b = QuantizedCodec(8, stochastic=False).encode(d, client="c", rng=np.random.default_rng(2))
    assert a == b
    # pack_arrays with the codec id alone gives the same bytes (8-bit, nearest)
    assert _wire.pack_arrays(d, codec=CODEC_QUANTIZED) == a


def test_non_float_and_tiny_arrays_travel_raw():
    upd = [np.arange(5, dtype=np.int64), np.float32([0.25]), np.zeros((0, 3), np.float32)]
    for codec in (QuantizedCodec(4), TopKCodec(0.5)):
        back = codec.decode(codec.encode(upd, client="c", rng=np.random.default_rng(0)),
                            like=[np.zeros(5, np.int64), np.zeros(1, np.float32),
                                  np.zeros((0, 3), np.float32)])
        assert back[0].tolist() == [0, 1, 2, 3, 4]
        assert back[2].shape == (0, 3)


def test_constant_chunk_and_float64_arrays():
    upd = [np.full((3, 300), -0.125, np.float64), np.float64([1e-300, -1e300, 0.0])]
    codec = QuantizedCodec(4)
    back = codec.decode(codec.encode(upd, client="c", rng=np.random.default_rng(0)),
                        like=[np.zeros((3, 300)), np.zeros(3)])
    assert (back[0] == -0.125).all()
    assert back[1].dtype == np.float64 and np.isfinite(back[1]).all()


# --- top-k and error feedback -----------------------------------------------------------------


def test_topk_sends_exactly_the_k_largest_values_exactly():
    d = real_deltas()[2]
    codec = TopKCodec(0.05, error_feedback=False)
    back = codec.decode(codec.encode(d, client="c", rng=np.random.default_rng(0)), like=like())
    flat = np.concatenate([a.ravel() for a in d])
    got = np.concatenate([a.ravel() for a in back])
    k = int(np.ceil(0.05 * flat.size))
    assert np.count_nonzero(got) == k
    kept = got != 0
    assert (got[kept] == flat[kept]).all()
    assert np.abs(flat[~kept]).max() <= np.abs(flat[kept]).min()
    assert codec.residual("c") is None


def test_topk_index_forms_are_smallest_of_varint_and_bitmap():
    d = real_deltas()[2]
    rng = np.random.default_rng(0)
    sizes = {f: len(TopKCodec(f, error_feedback=False).encode(d, client="c", rng=rng))
             for f in (0.01, 0.1, 0.3, 0.6, 1.0)}
    assert sizes[0.01] < 120  # 7 values: ~5 bytes each plus headers
    # at 30%, the bitmap (80 B for the weights) beats ~190 varint bytes
    assert sizes[0.3] < 38 + 80 + 4 * 195 + 40
    assert sizes[1.0] <= 2636  # never more than raw


def test_error_feedback_loses_nothing():
    """Sum of what was sent plus what is still owed equals the sum of the updates."""
    codec = TopKCodec(0.05)
    deltas = real_deltas(clients=2, rounds=4)
    sent = {c: [np.zeros((64, 10)), np.zeros(10)] for c in "ab"}
    given_ = {c: [np.zeros((64, 10)), np.zeros(10)] for c in "ab"}
    for i, d in enumerate(deltas):
        c = "ab"[i % 2]
        back = codec.decode(codec.encode(d, client=c, rng=np.random.default_rng(0)),
                            like=like())
        for s, g, b, u in zip(sent[c], given_[c], back, d, strict=True):
            s += b
            g += u
    for c in "ab":
        owed = codec.residual(c)
        for s, g, r in zip(sent[c], given_[c], owed, strict=True):
            np.testing.assert_allclose(s + r, g, atol=1e-6)
        assert max(np.abs(r).max() for r in owed) > 0
    codec.reset("a")
    assert codec.residual("a") is None and codec.residual("b") is not None
    codec.reset()
    assert codec.residual("b") is None


def test_error_feedback_reaches_small_coordinates():
    """A coordinate too small to be chosen once is sent after its residual has grown."""
    upd = [np.float32([1.0, 0.5, 0.01, 0.0])]
    codec = TopKCodec(0.25)
    got = []
    for _ in range(6):
        back = codec.decode(codec.encode(upd, client="c", rng=np.random.default_rng(0)),
                            like=[np.zeros(4, np.float32)])
        got.append(back[0])
    assert sum(g[1] for g in got) > 0  # 0.5 accumulates until it outranks 1.0
    np.testing.assert_allclose(sum(got) + codec.residual("c")[0], 6 * upd[0], atol=1e-6)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ALL, ids=repr)
def test_misfit_updates_are_refused(codec):
    d = real_deltas()[0]
    rng = np.random.default_rng(0)
    data = codec.encode(d, client="c", rng=rng)
    with pytest.raises(InvalidUpdateError):
        codec.decode(data, like=like()[:1])
    with pytest.raises(InvalidUpdateError):
        codec.decode(data, like=[np.zeros((10, 64), np.float32), np.zeros(10, np.float32)])
    with pytest.raises(InvalidUpdateError):
        codec.decode(data, like=[np.zeros((64, 10)), np.zeros(10)])  # float64 model
    other = QuantizedCodec(8) if not isinstance(codec, QuantizedCodec) else Float32Codec()
    with pytest.raises(InvalidUpdateError):
        codec.decode(other.encode(d, client="c", rng=rng), like=like())


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_updates_for_another_model_are_refused(data):
    """Any model the update was not made for (other array count, shapes or dtypes) is refused
    with InvalidUpdateError (CorruptDataError when an array is larger than the whole model)."""
    codec = data.draw(st.sampled_from(FUZZED))()
    sent = codec.encode(real_deltas()[1], client="m", rng=np.random.default_rng(0))
    shapes = st.lists(st.integers(0, 70), min_size=0, max_size=3).map(tuple)
    other = data.draw(st.lists(st.tuples(shapes, st.sampled_from(["<f4", "<f8", "<i4"])),
                               min_size=0, max_size=3))
    model = [np.zeros(shape, dtype) for shape, dtype in other]
    if [(a.shape, a.dtype) for a in model] == [((64, 10), np.float32), ((10,), np.float32)]:
        return
    with pytest.raises((InvalidUpdateError, CorruptDataError)) as info:
        codec.decode(sent, like=model)
    if isinstance(info.value, CorruptDataError):
        assert max((a.size for a in model), default=0) < 640


def test_bad_arguments_are_refused():
    with pytest.raises(InputError):
        QuantizedCodec(3)
    with pytest.raises(InputError):
        QuantizedCodec(8, chunk=0)
    with pytest.raises(InputError):
        TopKCodec(0.0)
    with pytest.raises(InputError):
        TopKCodec(1.5)
    with pytest.raises(InputError):
        Float32Codec().encode([np.float32([np.nan])], client="c", rng=np.random.default_rng())
    with pytest.raises(TypeError):
        Float32Codec().decode("text", like=like())  # type: ignore[arg-type]


def _message(codec: int, payloads: list[tuple[np.dtype, tuple[int, ...], bytes]]) -> bytes:
    """A well-checksummed wire message around arbitrary payloads (for decoder fuzzing)."""
    parts = [b"EKFA", struct.pack("<BBH", 1, codec, len(payloads))]
    for dtype, shape, payload in payloads:
        parts.append(struct.pack(f"<BB{len(shape)}II", _wire._CODE[np.dtype(dtype)], len(shape),
                                 *shape, len(payload)))
        parts.append(payload)
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def _payloads(data: bytes) -> list[tuple[np.dtype, tuple[int, ...], bytes]]:
    view, pos, out = memoryview(data), 8, []
    for _ in range(struct.unpack_from("<H", view, 6)[0]):
        code, ndim = struct.unpack_from("<BB", view, pos)
        shape = struct.unpack_from(f"<{ndim}I", view, pos + 2)
        (n,) = struct.unpack_from("<I", view, pos + 2 + 4 * ndim)
        pos += 6 + 4 * ndim
        out.append((_wire._DTYPES[code], tuple(shape), bytes(view[pos:pos + n])))
        pos += n
    return out


def _decodes_or_refuses(codec, data: bytes) -> None:
    try:
        back = codec.decode(data, like=like())
    except (CorruptDataError, InvalidUpdateError):
        return
    assert [a.shape for a in back] == [(64, 10), (10,)]
    assert all(a.dtype == np.float32 and np.isfinite(a).all() for a in back)


FUZZED = [lambda: QuantizedCodec(8), lambda: QuantizedCodec(4), lambda: QuantizedCodec(1),
          lambda: TopKCodec(0.05), lambda: TopKCodec(0.5), Float32Codec]  # fresh state each


def _mutate(data, blob: bytes, kinds: list[str], random_size: int) -> bytes:
    """``blob`` damaged one way hypothesis picks."""
    kind = data.draw(st.sampled_from(kinds))
    if kind == "random":
        return data.draw(st.binary(max_size=random_size))
    if kind == "extend":
        return blob + data.draw(st.binary(min_size=1, max_size=8))
    if kind == "truncate":
        return blob[: data.draw(st.integers(0, len(blob) - 1))]
    head = kind == "byte"  # a header byte set to any value, or any bit of any byte flipped
    i = data.draw(st.integers(0, (min(len(blob), 16) if head else len(blob)) - 1))
    new = data.draw(st.integers(0, 255)) if head else blob[i] ^ (1 << data.draw(
        st.integers(0, 7)))
    return blob[:i] + bytes([new]) + blob[i + 1:]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_messages_are_refused(data):
    codec = data.draw(st.sampled_from(FUZZED))()
    good = codec.encode(real_deltas()[3], client="f", rng=np.random.default_rng(0))
    bad = _mutate(data, good, ["truncate", "flip", "random"], 300)
    with pytest.raises(CorruptDataError):
        codec.decode(bad, like=like())


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_damaged_payloads_behind_a_good_checksum_are_refused_or_decode_to_a_valid_update(data):
    """The checksum is recomputed over an altered payload: the payload decoders themselves
    must refuse it (CorruptDataError / InvalidUpdateError) or give a valid update."""
    codec = data.draw(st.sampled_from(FUZZED[:-1]))()
    good = codec.encode(real_deltas()[3], client="f", rng=np.random.default_rng(0))
    parts = _payloads(good)
    j = data.draw(st.integers(0, len(parts) - 1))
    dtype, shape, payload = parts[j]
    payload = _mutate(data, payload, ["truncate", "flip", "random", "extend", "byte"], 800)
    parts[j] = (dtype, shape, payload)
    _decodes_or_refuses(codec, _message(codec_id(codec), parts))


def codec_id(codec) -> int:
    return {QuantizedCodec: CODEC_QUANTIZED, TopKCodec: CODEC_TOPK, Float32Codec: 0}[type(codec)]


@pytest.mark.parametrize("codec_cls", [QuantizedCodec, TopKCodec])
def test_huge_shapes_are_refused_before_allocating(codec_cls):
    payloads = [(np.dtype("<f4"), (1 << 31, 1 << 31), b"\x01" + bytes(40)),
                (np.dtype("<f4"), (10,), b"\x00" + bytes(40))]
    with pytest.raises(CorruptDataError):
        codec_cls().decode(_message(codec_id(codec_cls()), payloads), like=like())
    with pytest.raises(CorruptDataError):  # without a model to compare against, too
        _wire.unpack_arrays(_message(codec_id(codec_cls()), payloads))


def test_deflate_bombs_are_refused():
    codes = zlib.compress(bytes(1 << 20))
    payload = struct.pack("<BBI", 2, 8, 640) + np.float32([0, 1]).tobytes() + codes
    bad = _message(CODEC_QUANTIZED, [(np.dtype("<f4"), (64, 10), payload),
                                     (np.dtype("<f4"), (10,), b"\x00" + bytes(40))])
    with pytest.raises(CorruptDataError):
        QuantizedCodec().decode(bad, like=like())


# --- in the simulation runtime ----------------------------------------------------------------


def test_codecs_in_simulate_cut_uplink_bytes_and_keep_accuracy():
    """The issue's setup (digits, 10 clients, Dirichlet 0.1, 5 a round) for a few seeds:
    8-bit updates send >= 3.5x fewer bytes than raw parameters for about the same accuracy;
    top-k with error feedback trains, and without it falls behind."""
    from edgekit.federated import FedAvg, simulate
    from edgekit.federated._tasks import evaluator, fleet, load_task

    task = load_task("digits")
    acc: dict[str, list[float]] = {}
    up: dict[str, list[float]] = {}
    for seed in range(3):
        for name, codec in [("raw", None), ("int8", QuantizedCodec(8)),
                            ("top10", TopKCodec(0.1)), ("top2-noef", TopKCodec(0.02,
                                                                          error_feedback=False))]:
            clients, init = fleet(task, n_clients=10, alpha=0.1, seed=seed)
            hist = simulate(FedAvg(init, fraction_fit=0.5), clients, rounds=30, fraction=0.5,
                            seed=seed, evaluate_fn=evaluator(task), codec=codec,
                            progress=False)
            acc.setdefault(name, []).append(hist.final("accuracy"))
            up.setdefault(name, []).append(float(np.mean(hist.bytes_up())) / 5)
    assert np.median(up["raw"]) / np.median(up["int8"]) >= 3.5
    assert abs(np.median(acc["raw"]) - np.median(acc["int8"])) <= 0.01
    assert np.median(up["top10"]) < np.median(up["int8"])
    assert np.median(acc["top10"]) >= np.median(acc["raw"]) - 0.06
    assert np.median(acc["top2-noef"]) < np.median(acc["top10"]) - 0.05
