"""Stateful hypothesis test: a ReadingStore against a plain list of readings.

Random appends (one and batched, several channels, equal timestamps), seals, queries with
random bounds and channels, iteration, and, with the spill policy, flush/close/reopen cycles:
every query must return exactly what the list model says, bit for bit.
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edgekit.errors import CapacityError
from edgekit.memory import ReadingStore, StoreOptions

CHANNELS = st.integers(0, 3)
VALUES = st.floats(width=32, allow_nan=True, allow_infinity=True)
QUALITIES = st.integers(0, 255)
STEPS = st.integers(0, 3).map(lambda k: [0, 1, 7, 10**9][k])
BOUND = st.one_of(st.none(), st.integers(-5, 400))


def assert_values(got: np.ndarray, want: list[float]) -> None:
    """Equal values, -0.0 and NaN included (NaN payloads: see test_store's exactness tests)."""
    g, w = got.astype(np.float64), np.array(want, np.float64)
    assert np.array_equal(g, w, equal_nan=True)
    assert np.array_equal(np.signbit(g), np.signbit(w))


class StoreModel(RuleBasedStateMachine):
    policy = "refuse"

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="ekmem-") if self.policy == "spill" else None
        self.store = self._open()
        self.model: list[tuple[int, int, float, int]] = []  # (t, channel, value, quality)
        self.last: dict[int, int] = {}
        # each channel's value dtype, fixed by its first readings: append() gives Python
        # floats (float64), extend() float32 arrays
        self.dtypes: dict[int, np.dtype] = {}

    def _open(self) -> ReadingStore:
        if self.dir is None:
            return ReadingStore(StoreOptions(segment_size=16))
        return ReadingStore(StoreOptions(segment_size=16, budget_bytes=2 * 16 * 17 + 4096,
                                         policy="spill", spill_dir=self.dir))

    def teardown(self) -> None:
        self.store.close()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _next_t(self, channel: int, step: int) -> int:
        t = self.last.get(channel, 0) + step
        self.last[channel] = t
        return t

    def _try(self, call) -> bool:
        """Run a store call; under the refuse policy a CapacityError must leave the store
        exactly as it was (the caller then leaves the model alone)."""
        before = (len(self.store), self.store.nbytes, dict(self.last))
        try:
            call()
            return True
        except CapacityError:
            if self.policy != "refuse_tight":
                raise
            assert (len(self.store), self.store.nbytes) == before[:2]
            self.last = before[2]
            return False

    @rule(channel=CHANNELS, step=STEPS, value=VALUES, quality=QUALITIES)
    def append(self, channel, step, value, quality):
        saved = dict(self.last)
        t = self._next_t(channel, step % 5)  # keep appends dense in time
        if self._try(lambda: self.store.append(t, value, quality, channel)):
            self.model.append((t, channel, value, quality))
            self.dtypes.setdefault(channel, np.dtype(np.float64))
        else:
            self.last = saved

    @rule(channel=st.one_of(st.none(), CHANNELS),
          batch=st.lists(st.tuples(CHANNELS, STEPS, VALUES, QUALITIES), max_size=40))
    def extend(self, channel, batch):
        saved = dict(self.last)
        rows = []
        for c, step, v, q in batch:
            c = c if channel is None else channel
            rows.append((self._next_t(c, step % 4), c, v, q))
        if not rows:
            return
        t = np.array([r[0] for r in rows], np.int64)
        v = np.array([r[2] for r in rows], np.float32)
        q = np.array([r[3] for r in rows], np.uint8)
        c = channel if channel is not None else np.array([r[1] for r in rows])
        if self._try(lambda: self.store.extend(t, v, q, c)):
            self.model.extend(rows)
            for r in rows:
                self.dtypes.setdefault(r[1], np.dtype(np.float32))
        else:
            self.last = saved

    @rule()
    def seal(self):
        self._try(self.store.seal)

    @precondition(lambda self: self.dir is not None)
    @rule()
    def restart(self):
        self.store.close()
        self.store = self._open()

    def _expected(self, t0, t1, channel):
        rows = [r for r in self.model
                if (t0 is None or r[0] >= t0) and (t1 is None or r[0] < t1)
                and (channel is None or r[1] == channel)]
        rows.sort(key=lambda r: (r[0], r[1]))  # stable: append order within (t, channel)
        return rows

    @rule(t0=BOUND, t1=BOUND, channel=st.one_of(st.none(), CHANNELS))
    def query(self, t0, t1, channel):
        exp = self._expected(t0, t1, channel)
        r = self.store.query_with_channels(t0, t1, channel)
        assert r.timestamps_ns.tolist() == [x[0] for x in exp]
        assert r.channels.tolist() == [x[1] for x in exp]
        kinds = [d for c, d in self.dtypes.items() if channel is None or c == channel]
        assert r.values.dtype == (np.result_type(*kinds) if kinds else np.float64)
        assert_values(r.values, [x[2] for x in exp])
        assert r.qualities.tolist() == [x[3] for x in exp]

    @rule()
    def iterate(self):
        got = [(x.timestamp_ns, x.channel, x.quality) for x in self.store]
        assert got == [(r[0], r[1], r[3]) for r in self._expected(None, None, None)]

    @invariant()
    def counts(self):
        assert len(self.store) == len(self.model)
        st_ = self.store.stats()
        assert st_.dropped_readings == 0
        assert st_.hot_readings + st_.sealed_readings == len(self.model)


class SpillingStoreModel(StoreModel):
    policy = "spill"


TestStoreModel = StoreModel.TestCase
TestStoreModel.settings = settings(stateful_step_count=40)
TestSpillingStoreModel = SpillingStoreModel.TestCase
TestSpillingStoreModel.settings = settings(stateful_step_count=30, max_examples=40)


class DroppingStoreModel(StoreModel):
    """drop_oldest under a tight budget: what is left of each channel must be a suffix of
    what was appended to it, exactly, and the counts must add up."""

    policy = "drop_oldest"

    def _open(self) -> ReadingStore:
        return ReadingStore(StoreOptions(segment_size=16, budget_bytes=2 * 16 * 17 + 4096,
                                         policy="drop_oldest"))

    @rule(channel=CHANNELS, n=st.integers(50, 300), seed=st.integers(0, 2**16))
    def bulk(self, channel, n, seed):
        rng = np.random.default_rng(seed)
        t = self.last.get(channel, 0) + np.cumsum(rng.integers(0, 3, n))
        v = np.round(rng.normal(20, 3, n), 1).astype(np.float32)
        q = (rng.random(n) < 0.05).astype(np.uint8)
        self.store.extend(t, v, q, channel)
        self.last[channel] = int(t[-1])
        self.model.extend(zip(t.tolist(), [channel] * n, v.tolist(), q.tolist(), strict=True))

    def _kept(self, channel):
        rows = [r for r in self.model if r[1] == channel]
        n = self.store.channel(channel).__len__()
        return rows[len(rows) - n:] if n else []

    @rule(t0=BOUND, t1=BOUND, channel=CHANNELS)
    def query(self, t0, t1, channel):
        exp = [r for r in self._kept(channel)
               if (t0 is None or r[0] >= t0) and (t1 is None or r[0] < t1)]
        r = self.store.query(t0, t1, channel)
        assert r.timestamps_ns.tolist() == [x[0] for x in exp]
        assert_values(r.values, [x[2] for x in exp])
        assert r.qualities.tolist() == [x[3] for x in exp]

    @rule()
    def iterate(self):
        kept = sorted((r for c in range(4) for r in self._kept(c)), key=lambda r: (r[0], r[1]))
        assert [(x.timestamp_ns, x.channel) for x in self.store] == [(r[0], r[1]) for r in kept]

    @invariant()
    def counts(self):
        st_ = self.store.stats()
        assert len(self.store) + st_.dropped_readings == len(self.model)
        assert st_.nbytes <= self.store.options.budget_bytes


TestDroppingStoreModel = DroppingStoreModel.TestCase
TestDroppingStoreModel.settings = settings(stateful_step_count=50, max_examples=25)


class RefusingStoreModel(StoreModel):
    """refuse under a tight budget: a refused call changes nothing, the store never exceeds
    its budget, and everything accepted reads back exactly."""

    policy = "refuse_tight"

    def _open(self) -> ReadingStore:
        return ReadingStore(StoreOptions(segment_size=16, budget_bytes=2 * 16 * 17 + 4096,
                                         policy="refuse"))

    @invariant()
    def within_budget(self):
        assert self.store.nbytes <= self.store.options.budget_bytes


TestRefusingStoreModel = RefusingStoreModel.TestCase
TestRefusingStoreModel.settings = settings(stateful_step_count=60, max_examples=30)
