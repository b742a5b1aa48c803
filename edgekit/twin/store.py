"""Durable shadow storage: the :class:`ShadowStore` interface and its SQLite implementation.

A store keeps, per (thing, shadow), the current document and a gapless history of versions.
Its one write, :meth:`ShadowStore.commit`, is a compare-and-set: the new version is stored
only if it follows the stored one, in one transaction with its history entry, and is durable
when ``commit`` returns.  Any database that offers one atomic transaction per write can
implement the interface (see docs/twin.md).
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from edgekit.errors import InputError
from edgekit.twin._document import compact_json

__all__ = ["HistoryEntry", "SQLiteShadowStore", "ShadowStore", "StoredShadow"]


@dataclass(frozen=True)
class StoredShadow:
    """One version of a shadow as a store keeps it.

    Attributes:
        version: the document's version, >= 1.
        timestamp: when it was written, epoch seconds.
        desired, reported: the sections' state (``{}`` when the section is absent).
        metadata: ``{"desired": ..., "reported": ...}``, per-leaf ``{"timestamp": t}``.
        deleted: True for the version that records a delete (the sections are empty).
    """

    version: int
    timestamp: int
    desired: dict[str, Any] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


@dataclass(frozen=True)
class HistoryEntry:
    """One accepted change of a shadow.

    Attributes:
        version: the version the change produced.
        timestamp: when it was accepted, epoch seconds.
        operation: ``"update"`` or ``"delete"``.
        request: the accepted update as compact JSON (``state``, and ``version`` /
            ``clientToken`` when given); ``""`` for a delete.
    """

    version: int
    timestamp: int
    operation: str
    request: str


@runtime_checkable
class ShadowStore(Protocol):
    """What :class:`~edgekit.twin.Shadows` needs from a database.  ``shadow`` is the shadow's
    name, ``""`` for the classic shadow."""

    def load(self, thing: str, shadow: str) -> StoredShadow | None:
        """The current version (a delete's tombstone included), or ``None`` if never written."""
        ...

    def commit(self, thing: str, shadow: str, record: StoredShadow, *, operation: str,
               request: str) -> bool:
        """Atomically store ``record`` as the current version and append its history entry,
        if and only if the stored version is ``record.version - 1`` (0: none stored).  Return
        False, storing nothing, when another writer got there first.  Durable on return."""
        ...

    def history(self, thing: str, shadow: str) -> list[HistoryEntry]:
        """Every history entry of a shadow, oldest first."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow (
    thing TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, deleted INTEGER NOT NULL, document TEXT NOT NULL,
    PRIMARY KEY (thing, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
    thing TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
    timestamp INTEGER NOT NULL, operation TEXT NOT NULL, request TEXT NOT NULL,
    PRIMARY KEY (thing, name, version)) WITHOUT ROWID;
"""

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class SQLiteShadowStore:
    """A :class:`ShadowStore` in one SQLite file (stdlib ``sqlite3``).

    The file is in WAL mode; each commit is one ``BEGIN IMMEDIATE`` transaction that checks
    the version, writes the document and appends the history row.  With ``synchronous="FULL"``
    (the default) a commit that returned survives a killed process and a power cut;
    ``"NORMAL"`` survives a killed process only (WAL), and is faster.  Several processes may
    share the file: the version check runs inside the write lock.

    Args:
        path: the database file, or ``":memory:"`` (the default) for a private in-memory one.
        synchronous: SQLite's ``synchronous`` pragma, one of OFF, NORMAL, FULL, EXTRA.
        timeout_s: how long a writer waits for another process's lock, in seconds.
        cache: how many shadows' current versions :meth:`load_many` keeps in memory (the
            ones this store committed or read last); 0 disables it.  The cache is dropped
            whenever another connection (another process) has committed to the file.
    """

    def __init__(self, path: str | os.PathLike[str] = ":memory:", *,
                 synchronous: str = "FULL", timeout_s: float = 30.0,
                 cache: int = 65536) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise InputError(f"synchronous must be one of {_SYNCHRONOUS}, got {synchronous!r}",
                             name="synchronous", expected=_SYNCHRONOUS, got=synchronous)
        if isinstance(cache, bool) or not isinstance(cache, int) or cache < 0:
            raise InputError("cache must be an int >= 0", name="cache", got=cache)
        self._path = os.fspath(path)
        self._lock = threading.Lock()
        self._cache_size = cache
        self._cache: collections.OrderedDict[tuple[str, str], StoredShadow | None] = (
            collections.OrderedDict())
        self._data_version = -1
        self._conn = sqlite3.connect(self._path, timeout=timeout_s, isolation_level=None,
                                     check_same_thread=False)
        try:
            if self._path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._conn.executescript(_SCHEMA)
        except BaseException:
            self._conn.close()
            raise

    @property
    def path(self) -> str:
        """The database file (``":memory:"`` for an in-memory store)."""
        return self._path

    def load(self, thing: str, shadow: str) -> StoredShadow | None:
        with self._lock:
            return self._load(thing, shadow)

    def load_many(self, keys: Sequence[tuple[str, str]]) -> list[StoredShadow | None]:
        """:meth:`load` of several (thing, shadow), from the cache where it holds them (one
        check that no other connection committed since, instead of a query and a JSON parse
        each).  The records may be shared with the cache and with earlier answers: treat them
        and their dicts as read-only.  (Optional for other stores: ``Shadows`` uses it when
        present.)"""
        with self._lock:
            self._check_cache()
            out = []
            for key in keys:
                if key in self._cache:
                    out.append(self._cache[key])
                else:
                    record = self._load(*key)
                    self._remember(key, record)
                    out.append(record)
            return out

    def _check_cache(self) -> None:
        """Drop the cache when another connection committed since the last look."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version

    def _remember(self, key: tuple[str, str], record: StoredShadow | None) -> None:
        if not self._cache_size:
            return
        self._cache.pop(key, None)
        self._cache[key] = record
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _load(self, thing: str, shadow: str) -> StoredShadow | None:
        row = self._conn.execute(
            "SELECT version, timestamp, deleted, document FROM shadow "
            "WHERE thing = ? AND name = ?", (thing, shadow)).fetchone()
        if row is None:
            return None
        version, timestamp, deleted, document = row
        doc = json.loads(document)
        return StoredShadow(version=version, timestamp=timestamp, desired=doc["desired"],
                            reported=doc["reported"], metadata=doc["metadata"],
                            deleted=bool(deleted))

    def commit(self, thing: str, shadow: str, record: StoredShadow, *, operation: str,
               request: str) -> bool:
        return self._commit_items([(thing, shadow, record, operation, request)])[0]

    def commit_many(self, items: Sequence[tuple[str, str, StoredShadow, str, str]]
                    ) -> list[bool]:
        """Several :meth:`commit` in one transaction (one fsync: group commit).  Each item is
        (thing, shadow, record, operation, request) and is checked in order, so consecutive
        versions of one shadow chain.  A refused item stores nothing, and neither do the
        later items of the same shadow (they were computed on top of it); the other shadows'
        items are still stored.  Returns one bool per item.  (Optional for other stores:
        ``Shadows`` uses it when present.)"""
        return self._commit_items(items)

    def _commit_items(self, items: Sequence[tuple[str, str, StoredShadow, str, str]]
                      ) -> list[bool]:
        refused: set[tuple[str, str]] = set()
        out = []
        with self._lock:
            try:
                with self._transaction():
                    self._check_cache()
                    for thing, shadow, record, operation, request in items:
                        ok = ((thing, shadow) not in refused
                              and self._commit_one(thing, shadow, record, operation, request))
                        if not ok:
                            refused.add((thing, shadow))
                        out.append(ok)
            except BaseException:
                self._cache.clear()  # the transaction may or may not have reached the file
                raise
            for (thing, shadow, record, _, _), ok in zip(items, out, strict=True):
                if ok:
                    self._remember((thing, shadow), record)
            for key in refused:  # another writer's version is in the file: read it next time
                self._cache.pop(key, None)
        return out

    def _commit_one(self, thing: str, shadow: str, record: StoredShadow, operation: str,
                    request: str) -> bool:
        document = compact_json({"desired": record.desired, "reported": record.reported,
                                 "metadata": record.metadata})
        row = self._conn.execute("SELECT version FROM shadow WHERE thing = ? AND name = ?",
                                 (thing, shadow)).fetchone()
        if (row[0] if row else 0) != record.version - 1:
            return False
        self._conn.execute(
            "INSERT INTO shadow (thing, name, version, timestamp, deleted, document) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thing, name) DO UPDATE SET "
            "version = excluded.version, timestamp = excluded.timestamp, "
            "deleted = excluded.deleted, document = excluded.document",
            (thing, shadow, record.version, record.timestamp, int(record.deleted), document))
        self._conn.execute(
            "INSERT INTO history (thing, name, version, timestamp, operation, request) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (thing, shadow, record.version, record.timestamp, operation, request))
        return True

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    def history(self, thing: str, shadow: str) -> list[HistoryEntry]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT version, timestamp, operation, request FROM history "
                "WHERE thing = ? AND name = ? ORDER BY version", (thing, shadow)).fetchall()
        return [HistoryEntry(*row) for row in rows]

    def shadows(self) -> Iterator[tuple[str, str, int]]:
        """Every (thing, shadow name, current version) in the store, deleted ones included."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT thing, name, version FROM shadow ORDER BY thing, name").fetchall()
        yield from rows

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLiteShadowStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back when the block raises."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
