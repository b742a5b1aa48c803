"""BufferPool and ObjectPool: reuse, bounds, statistics, misuse."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgekit.errors import InputError, InputTypeError
from edgekit.memory import BufferPool, ObjectPool


def test_buffer_pool_reuses_blocks_across_shapes_and_dtypes():
    pool = BufferPool(max_free_bytes=1 << 20)
    a = pool.acquire((100, 3), np.float32)
    assert a.shape == (100, 3) and a.dtype == np.float32 and a.flags.c_contiguous
    a[:] = 1.5
    addr = a.ctypes.data
    pool.release(a)
    b = pool.acquire(1100, np.uint8)  # 1200 and 1100 bytes share the 2048-byte class
    assert b.ctypes.data == addr
    z = pool.acquire(10, np.int64, zero=True)
    assert not z.any()
    st = pool.stats()
    assert (st.acquired, st.reused, st.created, st.outstanding) == (3, 1, 2, 2)
    assert st.hit_rate == pytest.approx(1 / 3)


def test_buffer_pool_is_bounded_and_counts_discards():
    pool = BufferPool(max_free_bytes=4096)
    bufs = [pool.acquire(4096, np.uint8) for _ in range(3)]
    for b in bufs:
        pool.release(b)
    st = pool.stats()
    assert st.free == 1 and st.free_bytes == 4096 and st.discarded == 2 and st.released == 3
    pool.clear()
    assert pool.stats().free_bytes == 0


def test_buffer_pool_refuses_misuse():
    pool = BufferPool()
    with pytest.raises(InputError):
        pool.release(np.zeros(3))
    a = pool.acquire(8)
    pool.release(a)
    with pytest.raises(InputError):
        pool.release(a)
    with pytest.raises(InputTypeError):
        pool.acquire(3, object)
    with pytest.raises(InputError):
        pool.acquire((-1, 2))
    with pytest.raises(InputError):
        BufferPool(max_free_bytes=-1)


def test_borrow_releases_on_error():
    pool = BufferPool()
    with pytest.raises(RuntimeError), pool.borrow((4, 4), np.float64):
        raise RuntimeError("boom")
    assert pool.stats().outstanding == 0 and pool.stats().free == 1


def test_object_pool_resets_and_bounds():
    made = []

    def factory():
        made.append(bytearray(16))
        return made[-1]

    pool = ObjectPool(factory, max_free=1, reset=lambda b: b.__setitem__(slice(None), bytes(16)))
    a, b = pool.acquire(), pool.acquire()
    a[0] = 9
    pool.release(a)
    pool.release(b)
    st = pool.stats()
    assert st.created == 2 and st.free == 1 and st.discarded == 1
    c = pool.acquire()
    assert c is a and c[0] == 0  # reset ran
    with pytest.raises(InputError):
        pool.release(bytearray(16))
    pool.release(c)
    with pytest.raises(InputError):
        pool.release(c)
    with pytest.raises(InputTypeError):
        ObjectPool(42)  # type: ignore[arg-type]


def test_pools_are_thread_safe():
    pool = BufferPool(max_free_bytes=1 << 16)
    opool = ObjectPool(list, max_free=8)

    def work():
        for i in range(500):
            with pool.borrow(64 + i % 3, np.uint8) as buf:
                buf[:] = 1
            with opool.borrow() as obj:
                obj.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    st = pool.stats()
    assert st.acquired == st.released == 2000 and st.outstanding == 0
    assert st.reused + st.created == 2000 and st.created <= 8  # 4 threads x 2 size classes
    assert opool.stats().outstanding == 0
