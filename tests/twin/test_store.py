"""The durable store: SQLite behind the ShadowStore interface, compare-and-set commits, a
gapless history, and no acknowledged update lost when the writer is killed."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgekit.errors import InputError, ShadowError
from edgekit.twin import (
    HistoryEntry,
    Shadows,
    ShadowStore,
    SQLiteShadowStore,
    StoredShadow,
)

ROOT = Path(__file__).resolve().parents[2]


def test_file_store_keeps_documents_and_history_across_reopen(tmp_path):
    path = tmp_path / "shadows.db"
    with Shadows(SQLiteShadowStore(path)) as shadows:
        shadows.update("pump-1", '{"state": {"desired": {"a": 1}}}')
        shadows.update("pump-1", '{"state": {"reported": {"a": 1}}}', name="cfg")
        before = shadows.get("pump-1")
    with Shadows(SQLiteShadowStore(path)) as shadows:
        after = shadows.get("pump-1")
        assert after["state"] == before["state"] and after["metadata"] == before["metadata"]
        assert shadows.get("pump-1", name="cfg")["state"]["reported"] == {"a": 1}
        assert shadows.update("pump-1", '{"state": {}}')["version"] == 2
        assert [h.version for h in shadows.history("pump-1")] == [1, 2]


def test_file_store_uses_wal_and_full_synchronous(tmp_path):
    store = SQLiteShadowStore(tmp_path / "s.db")
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()
    assert SQLiteShadowStore(tmp_path / "s.db", synchronous="normal")._conn.execute(
        "PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(InputError):
        SQLiteShadowStore(tmp_path / "s.db", synchronous="sometimes")


def test_commit_is_a_compare_and_set_on_the_version():
    store = SQLiteShadowStore()
    assert store.commit("t", "", StoredShadow(version=1, timestamp=5), operation="update",
                        request="{}")
    for wrong in (1, 3):  # a repeat and a gap are both refused, storing nothing
        assert not store.commit("t", "", StoredShadow(version=wrong, timestamp=6,
                                                      desired={"x": 1}),
                                operation="update", request="{}")
    assert store.load("t", "").version == 1 and store.load("t", "").desired == {}
    assert store.history("t", "") == [HistoryEntry(1, 5, "update", "{}")]


def test_history_records_each_accepted_request_in_order():
    shadows = Shadows(clock=lambda: 7)
    shadows.update("t", '{"state": {"desired": {"a": 1}}, "clientToken": "c"}')
    shadows.delete("t")
    with pytest.raises(ShadowError):
        shadows.update("t", '{"state": {"desired": {"a": 1}}, "version": 0}')  # refused: not kept
    assert shadows.history("t") == [
        HistoryEntry(1, 7, "update", '{"state":{"desired":{"a":1}},"clientToken":"c"}'),
        HistoryEntry(2, 7, "delete", "")]


def test_two_writers_on_one_file_lose_nothing_and_conflict_on_stale_versions(tmp_path):
    path = tmp_path / "shared.db"
    a, b = Shadows(SQLiteShadowStore(path)), Shadows(SQLiteShadowStore(path))
    for i in range(10):
        (a if i % 2 else b).update("t", json.dumps({"state": {"reported": {f"k{i}": i}}}))
    assert a.get("t")["state"]["reported"] == {f"k{i}": i for i in range(10)}
    assert a.get("t")["version"] == 10
    b.update("t", '{"state": {}, "version": 10}')
    with pytest.raises(ShadowError) as info:
        a.update("t", '{"state": {}, "version": 10}')
    assert info.value.code == 409
    assert [h.version for h in a.history("t")] == list(range(1, 12))


class DictStore:
    """Another database behind the interface: a dict, with the same compare-and-set."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], StoredShadow] = {}
        self.log: dict[tuple[str, str], list[HistoryEntry]] = {}

    def load(self, thing: str, shadow: str) -> StoredShadow | None:
        return self.rows.get((thing, shadow))

    def commit(self, thing: str, shadow: str, record: StoredShadow, *, operation: str,
               request: str) -> bool:
        current = self.rows.get((thing, shadow))
        if (current.version if current else 0) != record.version - 1:
            return False
        self.rows[thing, shadow] = record
        self.log.setdefault((thing, shadow), []).append(
            HistoryEntry(record.version, record.timestamp, operation, request))
        return True

    def history(self, thing: str, shadow: str) -> list[HistoryEntry]:
        return list(self.log.get((thing, shadow), []))

    def close(self) -> None:
        pass


def test_another_database_plugs_in_through_the_store_interface():
    store = DictStore()
    assert isinstance(store, ShadowStore)
    shadows = Shadows(store)
    shadows.update("t", '{"state": {"desired": {"a": {"b": 1}}}}', name="n")
    shadows.update("t", '{"state": {"reported": {"a": {"b": 2}}}}', name="n")
    assert shadows.get("t", name="n")["state"]["delta"] == {"a": {"b": 1}}
    assert [h.version for h in store.history("t", "n")] == [1, 2]


def _replay(entries: list[HistoryEntry]) -> Shadows:
    """A fresh in-memory service fed the history's requests in order."""
    replica = Shadows()
    for entry in entries:
        if entry.operation == "delete":
            replica.delete("t")
        else:
            request = json.loads(entry.request)
            request.pop("version", None)
            replica.update("t", json.dumps(request))
    return replica


KILLS = 20


def test_sigkill_at_random_moments_loses_no_acknowledged_update(tmp_path):
    """A child applies updates to 10,000 things and acknowledges each after its commit; it is
    killed with SIGKILL 20 times at random moments and restarted, alternately with
    synchronous=FULL (the default) and NORMAL (WAL: also safe against a killed process, and
    ~30x faster here, so more commits race the kill).  Every acknowledged update
    is in the store, each shadow's history is gapless, and replaying the history gives the
    stored document."""
    path = tmp_path / "kill.db"
    rng = random.Random(19)
    acked: list[tuple[str, int, str]] = []
    started = time.monotonic()
    for kill in range(KILLS):
        synchronous = ("FULL", "NORMAL")[kill % 2]
        child = subprocess.Popen([sys.executable, "-m", "tests.twin._kill_child", str(path),
                                  str(kill), synchronous], cwd=ROOT, stdout=subprocess.PIPE)
        try:
            first = child.stdout.readline()  # the child is committing from here on
            assert first, "the child died before its first update"
            time.sleep(rng.uniform(0.0, 0.08))
        finally:
            child.send_signal(signal.SIGKILL)
            rest = child.stdout.read()
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        acked += [tuple(line.split()) for line in (first + rest).decode().splitlines()]
    elapsed = time.monotonic() - started

    store = SQLiteShadowStore(path)
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    by_thing: dict[str, dict[int, str]] = {}
    for thing, version, token in acked:
        by_thing.setdefault(thing, {})[int(version)] = token
    for thing, versions in by_thing.items():
        history = store.history(thing, "")
        assert [h.version for h in history] == list(range(1, len(history) + 1)), thing
        assert store.load(thing, "").version == len(history)
        for version, token in versions.items():
            assert json.loads(history[version - 1].request)["clientToken"] == token
    for thing, _, version in store.shadows():
        replayed = _replay(store.history(thing, ""))
        stored = store.load(thing, "")
        assert replayed.get("t")["state"] == Shadows(_single(thing, stored)).get(thing)["state"]
        assert version == stored.version
    assert len(acked) > KILLS  # the kills landed among committed updates
    print(f"{KILLS} kills, {len(acked)} acknowledged updates, {len(by_thing)} things, "
          f"{elapsed:.1f} s")


def _single(thing: str, record: StoredShadow) -> DictStore:
    store = DictStore()
    store.rows[thing, ""] = record
    return store


# --- group commit ----------------------------------------------------------------------------

_BATCH = [
    ("t1", '{"state": {"desired": {"a": 1}}}', None),
    ("t1", '{"state": {"reported": {"a": 1}}, "clientToken": "r"}', None),
    ("t2", '{"state": {"desired": {"x": [1, 2]}}}', "cfg"),
    ("t1", '{"state": 7}', None),                                   # refused: 400
    ("t1", '{"state": {"desired": {"a": 2}}, "version": 1}', None),  # stale: 409
    ("t1", '{"state": {"desired": {"a": 3}}, "version": 2}', None),  # current: accepted
    ("bad/name", '{"state": {}}', None),                             # refused: 400
]


def _outcomes(results) -> list:
    return [r.code if isinstance(r, ShadowError) else r.accepted["version"] for r in results]


def test_group_commit_gives_what_sequential_updates_give_in_one_transaction():
    batched, sequential = Shadows(clock=lambda: 9), Shadows(clock=lambda: 9)
    statements: list[str] = []
    batched.store._conn.set_trace_callback(statements.append)
    results = batched.apply_updates(_BATCH)
    assert sum(s.startswith("BEGIN") for s in statements) == 1
    assert _outcomes(results) == [1, 2, 1, 400, 409, 3, 400]
    assert _outcomes(results) == _outcomes(sequential._attempt(*u) for u in _BATCH)
    for thing, name in (("t1", None), ("t2", "cfg")):
        assert batched.get(thing, name=name) == sequential.get(thing, name=name)
        assert batched.history(thing, name=name) == sequential.history(thing, name=name)
    assert results[1].accepted["clientToken"] == "r"
    assert results[1].previous["state"]["desired"] == {"a": 1}


def test_group_commit_retries_an_update_another_writer_overtook(tmp_path):
    path = tmp_path / "race.db"
    other = Shadows(SQLiteShadowStore(path))

    class Racing(SQLiteShadowStore):
        def commit_many(self, items):
            other.update("t1", '{"state": {"reported": {"other": 1}}}')  # lands in between
            return super().commit_many(items)

    shadows = Shadows(Racing(path))
    shadows.update("t1", '{"state": {"desired": {"a": 0}}}')
    results = shadows.apply_updates([("t1", '{"state": {"desired": {"a": 1}}}', None),
                                     ("t2", '{"state": {"desired": {"b": 1}}}', None),
                                     ("t1", '{"state": {}, "version": 2}', None)])
    # t1's first update was computed on version 1, overtaken, and re-applied on version 2;
    # the one that named version 2 is then stale
    assert _outcomes(results) == [3, 1, 409]
    assert shadows.get("t1")["state"]["desired"] == {"a": 1}
    assert shadows.get("t1")["state"]["reported"] == {"other": 1}
    assert [h.version for h in shadows.history("t1")] == [1, 2, 3]


def test_group_commit_without_commit_many_commits_one_by_one():
    shadows = Shadows(DictStore())
    assert _outcomes(shadows.apply_updates(_BATCH)) == [1, 2, 1, 400, 409, 3, 400]


_small = st.dictionaries(st.sampled_from("abc"), st.none() | st.integers(0, 3)
                         | st.dictionaries(st.sampled_from("xy"), st.integers(0, 3) | st.none(),
                                           max_size=2), max_size=3)
_batch = st.lists(st.tuples(
    st.sampled_from(["t1", "t2"]), st.sampled_from([None, "n"]),
    st.fixed_dictionaries({}, optional={"desired": _small, "reported": _small}),
    st.none() | st.integers(0, 4)), min_size=1, max_size=12)


@given(batches=st.lists(_batch, min_size=1, max_size=3))
def test_group_commit_equals_sequential_updates(batches):
    batched, sequential = Shadows(clock=lambda: 9), Shadows(clock=lambda: 9)
    for batch in batches:
        updates = [(thing, json.dumps({"state": state} | ({} if v is None else {"version": v})),
                    name) for thing, name, state, v in batch]
        assert _outcomes(batched.apply_updates(updates)) == _outcomes(
            sequential._attempt(*u) for u in updates)
    for thing in ("t1", "t2"):
        for name in (None, "n"):
            assert batched.store.history(thing, name or "") == \
                sequential.store.history(thing, name or "")
            if batched.store.load(thing, name or "") is not None:
                assert batched.get(thing, name=name) == sequential.get(thing, name=name)


# --- the cache of current versions (load_many) -------------------------------------------------


def test_load_many_serves_this_stores_commits_and_sees_another_connections(tmp_path):
    path = tmp_path / "cache.db"
    mine, other = SQLiteShadowStore(path), SQLiteShadowStore(path)
    shadows, elsewhere = Shadows(mine), Shadows(other)
    shadows.update("t1", '{"state": {"reported": {"a": 1}}}')
    first = mine.load_many([("t1", ""), ("t2", "")])
    assert first[0].reported == {"a": 1} and first[1] is None
    again = mine.load_many([("t1", ""), ("t2", "")])
    assert again[0] is first[0]  # from the cache: no query, no parse
    elsewhere.update("t1", '{"state": {"reported": {"a": 2}}}')  # another process's commit
    elsewhere.update("t2", '{"state": {"reported": {"b": 1}}}')
    fresh = mine.load_many([("t1", ""), ("t2", "")])
    assert fresh[0].version == 2 and fresh[0].reported == {"a": 2}
    assert fresh[1].reported == {"b": 1}
    # and the batch path builds on the other writer's version, not a stale cached one
    results = shadows.apply_updates([("t1", '{"state": {"reported": {"c": 3}}}', None),
                                     ("t2", '{"state": {"reported": {"c": 3}}}', None)])
    assert [r.accepted["version"] for r in results] == [3, 2]
    assert shadows.get("t1")["state"]["reported"] == {"a": 2, "c": 3}
    assert [h.version for h in elsewhere.history("t1")] == [1, 2, 3]
    shadows.close()
    elsewhere.close()


def test_load_many_cache_is_bounded_and_can_be_off(tmp_path):
    with pytest.raises(InputError):
        SQLiteShadowStore(cache=-1)
    small = Shadows(SQLiteShadowStore(tmp_path / "small.db", cache=2))
    off = Shadows(SQLiteShadowStore(tmp_path / "off.db", cache=0))
    for shadows in (small, off):
        for n in range(5):
            shadows.apply_updates([(f"t{n}", '{"state": {"reported": {"n": 1}}}', None),
                                   (f"t{n}", '{"state": {"reported": {"n": 2}}}', None)])
        store = shadows.store
        assert len(store._cache) <= 2
        loaded = store.load_many([(f"t{n}", "") for n in range(5)])
        assert [r.version for r in loaded] == [2] * 5
        assert [r.reported for r in loaded] == [{"n": 2}] * 5
        assert len(store._cache) <= 2
        shadows.close()
    assert len(off.store._cache) == 0


def test_a_failed_batch_stores_nothing_and_the_next_continues_from_the_file(tmp_path):
    class Failing(SQLiteShadowStore):
        fail = False

        def _commit_one(self, *args):
            if self.fail:
                raise sqlite3.OperationalError("disk I/O error")
            return super()._commit_one(*args)

    store = Failing(tmp_path / "fail.db")
    shadows = Shadows(store)
    batch = [("t", '{"state": {"reported": {"n": 1}}}', None),
             ("t", '{"state": {"reported": {"n": 2}}}', None)]
    shadows.apply_updates(batch)
    store.fail = True
    with pytest.raises(sqlite3.OperationalError):
        shadows.apply_updates(batch)
    store.fail = False
    assert store.load_many([("t", "")])[0].version == 2  # rolled back: still version 2
    assert [r.accepted["version"] for r in shadows.apply_updates(batch)] == [3, 4]
    shadows.close()
