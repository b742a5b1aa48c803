"""Spill to disk: nothing lost under the budget, reopened after a restart, acknowledged
readings survive kill -9 in the middle of writing, damaged files are reported."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edgekit.errors import (
    ChecksumError,
    CorruptDataError,
    FormatVersionError,
    InputError,
    OptionsError,
)
from edgekit.memory import ReadingStore, StoreOptions
from edgekit.memory._series import readings
from tests._env import child_env


def opts(path, **kw) -> StoreOptions:
    base = {"segment_size": 1024, "budget_bytes": 2 * 1024 * 17 + 8192, "policy": "spill",
            "spill_dir": path}
    return StoreOptions(**{**base, **kw})


def test_spill_keeps_everything_within_budget_and_reopens(tmp_path):
    t, v, q = readings("payerne_ghi_Wm2")
    with ReadingStore(opts(tmp_path)) as s:
        for a in range(0, t.size, 700):
            s.extend(t[a:a + 700], v[a:a + 700], q[a:a + 700], channels=5)
            assert s.nbytes <= s.options.budget_bytes
        st = s.stats()
        assert st.spilled_segments > 10 and st.dropped_readings == 0
        assert st.disk_bytes == sum(p.stat().st_size for p in tmp_path.glob("seg-*.eks"))
        r = s.query(channel=5)
        assert np.array_equal(r.timestamps_ns, t)
        assert np.array_equal(r.values.view(np.uint64), v.view(np.uint64))
        assert np.array_equal(r.qualities, q)
    # restart: a new store on the same directory sees every reading (close() flushed)
    s2 = ReadingStore(opts(tmp_path))
    assert len(s2) == t.size and s2.channels == (5,)
    r = s2.query(int(t[100]), int(t[30000]))
    assert np.array_equal(r.timestamps_ns, t[100:30000])
    assert np.array_equal(r.values.view(np.uint64), v[100:30000].view(np.uint64))
    # time order is still enforced after the restart, and appending continues
    with pytest.raises(Exception, match="older"):
        s2.append(int(t[0]), 1.0, channel=5)
    s2.append(int(t[-1]) + 60 * 10**9, 2.5, channel=5)
    s2.close()
    assert len(ReadingStore(opts(tmp_path))) == t.size + 1


def test_directory_is_locked_while_open(tmp_path):
    s = ReadingStore(opts(tmp_path))
    with pytest.raises(OptionsError, match="in use"):
        ReadingStore(opts(tmp_path))
    s.close()
    ReadingStore(opts(tmp_path)).close()


def test_value_dtype_mismatch_on_reopen(tmp_path):
    with ReadingStore(opts(tmp_path, value_dtype="float32")) as s:
        s.extend([1, 2, 3], [1.0, 2.0, 3.0])
    with pytest.raises(OptionsError, match="float32"):
        ReadingStore(opts(tmp_path, value_dtype="float64", budget_bytes=100_000))
    # following the input, each channel keeps the dtype its segments hold
    with ReadingStore(opts(tmp_path)) as s:
        assert s.channel(0).value_dtype == np.float32
        s.append(4, 4.5)  # exactly a float32
        with pytest.raises(InputError, match="never rounds"):
            s.append(5, 0.1)
        s.append(5, 0.1, channel=1)  # a new channel: float64
    with ReadingStore(opts(tmp_path)) as s:
        assert s.query(channel=0).values.dtype == np.float32
        assert s.query(channel=1).values.tolist() == [0.1]


def _one_segment_dir(tmp_path):
    with ReadingStore(opts(tmp_path)) as s:
        t, v, q = readings("payerne_temp_C")
        s.extend(t[:500], v[:500], q[:500])
    (path,) = tmp_path.glob("seg-*.eks")
    return path


def test_truncated_file_is_reported_on_open(tmp_path):
    path = _one_segment_dir(tmp_path)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CorruptDataError, match="seg-") as info:
        ReadingStore(opts(tmp_path))
    assert info.value.reason == "truncated"


def test_flipped_bit_is_reported_on_read(tmp_path):
    path = _one_segment_dir(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[60] ^= 0x10
    path.write_bytes(bytes(blob))
    s = ReadingStore(opts(tmp_path))  # the header is intact: opens
    with pytest.raises(ChecksumError):
        s.query()
    s.close()


def test_future_version_is_refused(tmp_path):
    path = _one_segment_dir(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[4] = 9
    path.write_bytes(bytes(blob))
    with pytest.raises(FormatVersionError):
        ReadingStore(opts(tmp_path))


def test_leftover_temporary_file_is_ignored(tmp_path):
    path = _one_segment_dir(tmp_path)
    tmp = tmp_path / ".seg-000000000099.eks.tmp"
    tmp.write_bytes(path.read_bytes()[:40])
    s = ReadingStore(opts(tmp_path))
    assert len(s) == 500 and not tmp.exists()
    s.close()


def test_deleted_spill_file_is_an_error_not_a_silent_gap(tmp_path):
    t, v, q = readings("payerne_temp_C")
    # small segments at the smallest budget: 169 segments do not all fit, some are spilled
    s = ReadingStore(opts(tmp_path, segment_size=256, budget_bytes=2 * 256 * 17 + 4096))
    s.extend(t, v, q)
    assert s.stats().spilled_segments > 0
    victim = sorted(tmp_path.glob("seg-*.eks"))[0]
    victim.unlink()
    with pytest.raises(CorruptDataError, match="missing"):
        s.query()
    s.close()


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from edgekit.memory import ReadingStore, StoreOptions
    from edgekit.memory._series import readings

    t, v, q = readings("payerne_temp_C")
    s = ReadingStore(StoreOptions(segment_size=512, budget_bytes=2 * 512 * 17 + 4096,
                                  policy="spill", spill_dir=sys.argv[1]))
    batch, sent = 97, 0
    for i, a in enumerate(range(0, t.size, batch)):
        s.extend(t[a:a + batch], v[a:a + batch], q[a:a + batch], channels=i % 2)
        sent = min(a + batch, t.size)
        if i % 5 == 4:
            s.flush()
            print("ACK", sent, flush=True)
    print("DONE", flush=True)
    """)


@pytest.mark.parametrize("kill_after", [3, 11, 40])
def test_kill_mid_write_loses_nothing_acknowledged(tmp_path, kill_after):
    """A writer appends in batches (alternating two channels), flushes every 5 batches and
    prints "ACK n" after each flush returns.  It is killed (SIGKILL) at a random moment after
    ``kill_after`` acknowledgements; the reopened store must hold every acknowledged reading,
    bit for bit, and nothing that was not sent (a per-channel prefix of what was sent)."""
    d = tmp_path / "spill"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(d)], stdout=subprocess.PIPE,
                            text=True, env=child_env(PYTHONHASHSEED="0"))
    acked = 0
    acks = 0
    deadline = time.monotonic() + 60
    rng = np.random.default_rng(kill_after)
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("DONE"):
                break
            acked = int(line.split()[1])
            acks += 1
            if acks >= kill_after:
                time.sleep(float(rng.uniform(0, 0.01)))
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    assert acks >= min(kill_after, 1)
    t, v, q = readings("payerne_temp_C")
    batch = 97
    chan = (np.arange(t.size) // batch) % 2
    with ReadingStore(opts(d, segment_size=512, budget_bytes=2 * 512 * 17 + 4096)) as s:
        total = len(s)
        assert total >= acked
        for c in (0, 1):
            sent = np.flatnonzero(chan == c)
            want_acked = sent[sent < acked]
            r = s.query(channel=c)
            got = r.timestamps_ns.size
            assert got >= want_acked.size
            prefix = sent[:got]  # whatever survived is a prefix of what was sent
            assert np.array_equal(r.timestamps_ns, t[prefix])
            assert np.array_equal(r.values.view(np.uint64), v[prefix].view(np.uint64))
            assert np.array_equal(r.qualities, q[prefix])


def test_discard_bounds_the_directory_and_survives_a_restart(tmp_path):
    t, v, q = readings("payerne_pressure_hPa")
    cut = int(t[20_000])
    with ReadingStore(opts(tmp_path)) as s:
        s.extend(t, v, q, channels=2)
        s.extend(t[:5000], v[:5000], q[:5000], channels=3)
        files = len(list(tmp_path.glob("seg-*.eks")))
        disk = s.stats().disk_bytes
        n = s.discard(cut, channel=2)
        st = s.stats()
        assert 0 < n <= 20_000 and st.dropped_readings == n and len(s) == t.size + 5000 - n
        assert st.disk_bytes < disk and len(list(tmp_path.glob("seg-*.eks"))) < files
        kept = s.query(channel=2).timestamps_ns
        assert np.array_equal(kept, t[n:])  # whole segments only, oldest first
        assert s.query(channel=3).timestamps_ns.size == 5000
        assert s.discard(int(t[-1]) + 1) > 0  # everything sealed, both channels
        left = len(s)
    again = ReadingStore(opts(tmp_path))
    assert len(again) == left
    again.close()


def test_discard_in_memory_counts_as_dropped():
    t, v, q = readings("payerne_temp_C")
    s = ReadingStore(segment_size=1024)
    s.extend(t, v, q)
    before = s.nbytes
    n = s.discard(int(t[10_000]))
    assert n == 9 * 1024 and s.nbytes < before and s.stats().dropped_readings == n
    assert np.array_equal(s.query().timestamps_ns, t[n:])
    assert s.discard(int(t[10_000]), channel=99) == 0


def test_a_failing_spill_loses_nothing_and_keeps_order(tmp_path, monkeypatch):
    """The disk fails mid-batch: the error propagates, what was stored stays stored and
    queryable, and the time order of the channel still holds."""
    from edgekit.memory import _segment

    t, v, q = readings("payerne_temp_C")
    small = opts(tmp_path, segment_size=256, budget_bytes=2 * 256 * 17 + 4096)
    s = ReadingStore(small)  # spills as it goes: ~80 segments of 256 do not fit
    s.extend(t[:20_000], v[:20_000], q[:20_000])
    assert s.stats().spilled_segments > 0
    real = _segment.write_file

    def full_disk(path, blob):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_segment, "write_file", full_disk)
    with pytest.raises(OSError):
        s.extend(t[20_000:], v[20_000:], q[20_000:])
    stored = len(s)
    assert 20_000 <= stored < t.size
    r = s.query()
    assert np.array_equal(r.timestamps_ns, t[:stored])
    with pytest.raises(Exception, match="older"):
        s.append(int(t[stored - 1]) - 1, 0.0)
    monkeypatch.setattr(_segment, "write_file", real)
    s.extend(t[stored:], v[stored:], q[stored:])  # the disk is back: carry on
    s.close()
    again = ReadingStore(small)
    assert np.array_equal(again.query().values.view(np.uint64), v.view(np.uint64))
    again.close()


def test_spill_dir_that_is_a_file_is_an_options_error(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_bytes(b"x")
    with pytest.raises(OptionsError, match="not a directory"):
        ReadingStore(opts(f))


def test_a_segment_file_named_without_padding_is_renamed_and_reopened(tmp_path):
    """Spilled segments are found by sequence number alone (the index keeps no file name):
    a store's file copied in as seg-7.eks is renamed seg-000000000007.eks and read; two files
    with the same number are an error, not a silent pick."""
    t, v, q = readings("payerne_temp_C")
    with ReadingStore(opts(tmp_path / "a")) as s:
        s.extend(t[:2000], v[:2000], q[:2000], channels=4)
    (first, *_) = sorted((tmp_path / "a").glob("seg-*.eks"))
    (tmp_path / "b").mkdir()
    first.rename(tmp_path / "b" / "seg-7.eks")
    with ReadingStore(opts(tmp_path / "b")) as s:
        assert sorted(p.name for p in (tmp_path / "b").glob("seg-*.eks")) == [
            "seg-000000000007.eks"]
        r = s.query(channel=4)
        assert r.timestamps_ns.size == 1024 and np.array_equal(r.timestamps_ns, t[:1024])
    (tmp_path / "b" / "seg-07.eks").write_bytes((tmp_path / "b" / "seg-000000000007.eks")
                                                .read_bytes())
    with pytest.raises(CorruptDataError, match="same sequence number"):
        ReadingStore(opts(tmp_path / "b"))


def test_a_reopened_channel_refuses_older_readings_and_knows_its_last(tmp_path):
    t, v, q = readings("payerne_temp_C")
    with ReadingStore(opts(tmp_path)) as s:
        s.extend(t[:3000], v[:3000], q[:3000], channels=2)
    with ReadingStore(opts(tmp_path)) as s:  # every segment spilled: the last is on disk
        assert s.channel(2).last_timestamp_ns == int(t[2999])
        with pytest.raises(InputError, match="older"):
            s.append(int(t[2999]) - 1, 1.0, channel=2)
        s.append(int(t[2999]), 1.0, channel=2)  # equal is in order
        assert s.discard(int(t[2999]) + 1) == 3000  # every sealed segment goes
        assert len(s) == 1 and s.channel(2).last_timestamp_ns == int(t[2999])
