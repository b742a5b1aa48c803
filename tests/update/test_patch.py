"""Patches: every method round-trips bit for bit, the chooser keeps the smallest, and a
damaged, foreign or overlong patch is refused with a named error, never applied."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit import _telemetry
from edgekit.errors import (
    CorruptDataError,
    FormatVersionError,
    InputTypeError,
    OptionsError,
    UpdateDataError,
    UpdateError,
    WrongBaseError,
)
from edgekit.update import (
    PatchOptions,
    apply_patch,
    apply_patch_file,
    apply_patch_stream,
    make_patch,
    make_patch_file,
    patch_info,
)
from edgekit.update import patch as P
from tests.common import assert_only_raises, mutations
from tests.update.pairs import edited, real_blob

FAST = PatchOptions(level=3)


@pytest.fixture(scope="module")
def so_pair() -> tuple[bytes, bytes]:
    old = real_blob(200_000)
    return old, edited(old, seed=1, edits=10)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("method", ["delta", "prefix", "full"])
def test_each_method_round_trips_real_code(so_pair, method):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=(method,)))
    info = patch_info(patch)
    assert info.method == method
    assert (info.old_size, info.new_size) == (len(old), len(new))
    assert (info.old_sha256, info.new_sha256) == (_sha(old), _sha(new))
    assert _sha(apply_patch(old, patch)) == _sha(new)


def test_delta_is_small_on_an_edited_binary(so_pair):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=("delta",)))
    full = make_patch(old, new, PatchOptions(level=3, methods=("full",)))
    assert len(patch) < len(full) / 4


def test_chooser_keeps_the_smallest_and_records_it(so_pair, tmp_path):
    old, new = so_pair
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "new").write_bytes(new)
    info = make_patch_file(tmp_path / "old", tmp_path / "new", tmp_path / "p", FAST)
    sizes = dict(info.candidates)
    assert set(sizes) == {"delta", "prefix", "full"}
    assert info.patch_size == min(sizes.values()) == sizes[info.method]
    assert (tmp_path / "p").stat().st_size == info.patch_size
    assert patch_info((tmp_path / "p").read_bytes()).method == info.method


def test_random_data_falls_back_to_full():
    rng = np.random.default_rng(3)
    old, new = rng.bytes(50_000), rng.bytes(50_000)
    patch = make_patch(old, new, FAST)
    assert patch_info(patch).method == "full"
    assert apply_patch(old, patch) == new


@given(st.binary(max_size=600), st.binary(max_size=600),
       st.sampled_from(["delta", "prefix", "full"]))
def test_round_trip_any_bytes(old, new, method):
    if method == "prefix" and not old:
        method = "full"
    patch = make_patch(old, new, PatchOptions(level=1, methods=(method,)))
    assert apply_patch(old, patch) == new


@given(st.binary(min_size=1, max_size=2000), st.data())
def test_round_trip_related_bytes(old, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(old)), max_size=6)))
    pieces = [old[a:b] for a, b in zip([0, *cuts], [*cuts, len(old)], strict=True)]
    ins = data.draw(st.lists(st.binary(max_size=30), min_size=len(pieces), max_size=len(pieces)))
    new = b"".join(p + i for p, i in zip(pieces, ins, strict=True))
    patch = make_patch(old, new, PatchOptions(level=1, methods=("delta",)))
    assert apply_patch(old, patch) == new


def test_empty_and_identical():
    for old, new in [(b"", b""), (b"", b"abc"), (b"abc", b""), (b"x" * 1000, b"x" * 1000)]:
        assert apply_patch(old, make_patch(old, new, FAST)) == new


def test_stream_apply_with_small_chunks(so_pair):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=("delta",)))
    out = io.BytesIO()
    old_f = io.BytesIO(b"prefix" + old)
    old_f.seek(6)  # files are read from their current position
    info = apply_patch_stream(old_f, io.BytesIO(patch), out, chunk_size=4096)
    assert out.getvalue() == new and info.method == "delta"


def test_file_apply_is_atomic(so_pair, tmp_path):
    old, new = so_pair
    (tmp_path / "old").write_bytes(old)
    (tmp_path / "p").write_bytes(make_patch(old, new, FAST))
    (tmp_path / "new").write_bytes(b"previous")
    apply_patch_file(tmp_path / "old", tmp_path / "p", tmp_path / "new")
    assert (tmp_path / "new").read_bytes() == new
    (tmp_path / "other").write_bytes(old[:-1] + b"?")
    with pytest.raises(WrongBaseError):
        apply_patch_file(tmp_path / "other", tmp_path / "p", tmp_path / "new")
    assert (tmp_path / "new").read_bytes() == new  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old", "other", "p"]


# --- refusals ---------------------------------------------------------------------------


def test_refuses_patch_for_another_old_version(so_pair):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=("delta",)))
    other = bytearray(old)
    other[100] ^= 1
    with pytest.raises(WrongBaseError) as err:
        apply_patch(bytes(other), patch)
    assert err.value.expected == _sha(old)
    with pytest.raises(WrongBaseError):
        apply_patch(old + b"\0", patch)


@pytest.mark.parametrize("method", ["delta", "prefix", "full"])
def test_damaged_patches_raise_corrupt_data_only(so_pair, method):
    old, new = so_pair
    old, new = old[:20_000], new[:20_000]
    patch = make_patch(old, new, PatchOptions(level=3, methods=(method,)))
    rng = np.random.default_rng(7)
    blobs = list(mutations(patch, rng, flips=60))

    def apply_checked(blob: bytes) -> None:
        # a flip in bits the codec ignores may still apply: then it must give exactly new
        assert apply_patch(old, blob) == new

    raised = assert_only_raises(apply_checked, blobs, CorruptDataError)
    assert raised >= len(blobs) - 3


def _rehead(patch: bytes, **fields) -> bytes:
    names = ("magic", "version", "method", "flags", "old_size", "new_size", "old_sha",
             "new_sha", "s1", "s2", "s3", "window")
    values = dict(zip(names, P._HEAD.unpack_from(patch), strict=True))
    values.update(fields)
    head = P._HEAD.pack(*(values[n] for n in names))
    return head + struct.pack("<I", zlib.crc32(head)) + patch[P.HEADER_SIZE:]


@pytest.mark.parametrize("method", ["delta", "prefix", "full"])
def test_refuses_endless_data(so_pair, method):
    """A patch that would write more than its header declares stops at the declared size."""
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=(method,)))
    short = _rehead(patch, new_size=len(new) // 2)
    out = io.BytesIO()
    with pytest.raises(UpdateDataError) as err:
        apply_patch_stream(io.BytesIO(old), io.BytesIO(short), out)
    assert err.value.reason == "overrun"
    assert len(out.getvalue()) <= len(new) // 2


def _delta_patch(old: bytes, new_size: int, ctrl: list[tuple[int, int, int]], diff: bytes,
                 extra: bytes, new_sha: bytes = b"\0" * 32) -> bytes:
    import zstandard

    c = zstandard.ZstdCompressor(level=1)
    cols = np.array(ctrl, dtype="<i8").T.copy() if ctrl else np.zeros((3, 0), "<i8")
    secs = (c.compress(struct.pack("<I", len(ctrl)) + cols.tobytes()), c.compress(diff),
            c.compress(extra))
    return P._pack("delta", old, new_size, hashlib.sha256(old).digest(), new_sha, 1 << 20,
                   tuple(map(len, secs)), 0) + b"".join(secs)


def test_refuses_reads_outside_the_old_file():
    old = bytes(range(100))
    patch = _delta_patch(old, 50, [(50, 0, 90)], b"\0" * 50, b"")  # seek 90, add 50 > 100
    with pytest.raises(UpdateDataError) as err:
        apply_patch(old, patch)
    assert err.value.reason == "bounds"


def test_refuses_output_that_differs_from_the_declared_digest():
    old = bytes(range(100))
    patch = _delta_patch(old, 10, [(10, 0, 0)], b"\0" * 10, b"")
    with pytest.raises(UpdateDataError) as err:
        apply_patch(old, patch)
    assert err.value.reason == "digest"
    good = _delta_patch(old, 10, [(10, 0, 0)], b"\0" * 10, b"",
                        hashlib.sha256(old[:10]).digest())
    assert apply_patch(old, good) == old[:10]


def test_refuses_short_output_and_trailing_streams():
    old = bytes(range(100))
    sha = hashlib.sha256(old[:10]).digest()
    short = _delta_patch(old, 20, [(10, 0, 0)], b"\0" * 10, b"", sha)
    with pytest.raises(UpdateDataError) as err:
        apply_patch(old, short)
    assert err.value.reason == "size"
    trailing = _delta_patch(old, 10, [(10, 0, 0)], b"\0" * 11, b"", sha)
    with pytest.raises(UpdateDataError) as err:
        apply_patch(old, trailing)
    assert err.value.reason == "trailing"


def test_refuses_unknown_format_version(so_pair):
    old, new = so_pair
    patch = _rehead(make_patch(old, new, FAST), version=9)
    with pytest.raises(FormatVersionError):
        apply_patch(old, patch)


def test_refuses_patch_needing_more_memory_than_allowed(so_pair):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=("prefix",)))
    need = patch_info(patch).apply_memory
    assert need >= len(old)
    with pytest.raises(UpdateError):
        apply_patch_stream(io.BytesIO(old), io.BytesIO(patch), io.BytesIO(),
                           max_memory=need - 1)


def test_prefix_mode_only_when_it_fits_the_device_budget():
    old = real_blob(600_000)
    new = edited(old, seed=2)
    info = patch_info(make_patch(old, new, PatchOptions(level=3, methods=("prefix", "full"),
                                                        apply_memory=1 << 20)))
    assert info.method == "full"
    with pytest.raises(OptionsError):
        make_patch(old, new, PatchOptions(methods=("prefix",), apply_memory=1 << 20))


def test_bad_arguments():
    with pytest.raises(InputTypeError):
        make_patch("text", b"")  # type: ignore[arg-type]
    with pytest.raises(OptionsError):
        PatchOptions(level=0)
    with pytest.raises(OptionsError):
        PatchOptions(methods=("bsdiff",))
    with pytest.raises(OptionsError):
        PatchOptions(window_log=40)
    with pytest.raises(CorruptDataError):
        patch_info(b"EKUP")
    with pytest.raises(CorruptDataError):
        patch_info(b"X" * 200)


def test_emits_update_apply(so_pair):
    old, new = so_pair
    patch = make_patch(old, new, PatchOptions(level=3, methods=("delta",)))
    events = []
    sink = lambda e, f: events.append((e, f))  # noqa: E731
    _telemetry.add_sink(sink)
    try:
        apply_patch(old, patch)
        with pytest.raises(WrongBaseError):
            apply_patch(new, patch)
    finally:
        _telemetry.remove_sink(sink)
    assert [e for e, _ in events] == ["update.apply", "update.apply"]
    assert events[0][1]["method"] == "delta" and events[0][1]["outcome"] == "ok"
    assert events[0][1]["bytes"] == len(new)
    assert events[1][1]["outcome"] == "WrongBaseError"
