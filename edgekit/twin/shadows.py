"""The transport-free shadow service: :class:`Shadows` applies update, get and delete
requests with AWS IoT Device Shadow semantics and keeps the documents in a
:class:`~edgekit.twin.store.ShadowStore`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edgekit import _telemetry
from edgekit.errors import ShadowError
from edgekit.twin import _document as _doc
from edgekit.twin._document import ShadowLimits
from edgekit.twin.store import HistoryEntry, ShadowStore, SQLiteShadowStore, StoredShadow

__all__ = ["Shadows", "UpdateResult", "document"]

_SECTIONS = ("desired", "reported")
# how often an update without a version is retried when another process commits first
_MAX_RETRIES = 16


@dataclass(frozen=True)
class UpdateResult:
    """Everything an accepted update produces, for a transport that publishes it.

    Attributes:
        accepted: the ``/update/accepted`` document (what :meth:`Shadows.update` returns).
        previous: the shadow's document before the update (``state``, ``metadata``,
            ``version``), ``None`` when it did not exist or was deleted.
        current: the document after it.
        delta: the ``/update/delta`` document when the update had a ``desired`` section and
            desired now differs from reported (``state`` is the whole delta, ``metadata`` its
            desired metadata), else ``None``.
    """

    accepted: dict[str, Any]
    previous: dict[str, Any] | None
    current: dict[str, Any]
    delta: dict[str, Any] | None

    def documents(self) -> dict[str, Any]:
        """The ``/update/documents`` message: ``previous``, ``current``, ``timestamp`` and
        ``clientToken`` when the request had one."""
        doc: dict[str, Any] = {"previous": self.previous, "current": self.current,
                               "timestamp": self.accepted["timestamp"]}
        if "clientToken" in self.accepted:
            doc["clientToken"] = self.accepted["clientToken"]
        return doc


class Shadows:
    """Device shadows (classic and named) with the AWS IoT Device Shadow semantics.

    Each method takes the thing's name and, for a named shadow, ``name``; it returns the
    response document the service would publish on ``.../accepted``, or raises
    :class:`~edgekit.errors.ShadowError` carrying the ``code`` and ``message`` it would publish
    on ``.../rejected``.  Every accepted update or delete is committed to the store (one
    transaction, durable on return) before its response is returned.  Safe to share between
    threads; processes may share a file store.

    Args:
        store: where documents live; ``None``: a private in-memory SQLite store.
        limits: the document-size, nesting and token limits (AWS IoT's by default).
        clock: the time source, epoch seconds (responses and metadata carry whole seconds).
    """

    def __init__(self, store: ShadowStore | None = None, *,
                 limits: ShadowLimits | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store: ShadowStore = store if store is not None else SQLiteShadowStore()
        self._limits = limits if limits is not None else ShadowLimits()
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def store(self) -> ShadowStore:
        """The store the documents are kept in."""
        return self._store

    @property
    def limits(self) -> ShadowLimits:
        """The limits updates are checked against."""
        return self._limits

    def _now(self) -> int:
        return int(self._clock())

    def update(self, thing: str, request: str | bytes, *, name: str | None = None
               ) -> dict[str, Any]:
        """Apply an update request (JSON text or UTF-8 bytes) to a shadow, creating it if needed.

        Returns the ``/update/accepted`` document: the request's ``state`` as sent, the
        metadata of the leaves it set, the new ``version``, ``timestamp`` and the
        ``clientToken`` when the request had one.  Raises :class:`ShadowError`: 400 (bad
        request), 409 (``version`` given and not the current one), 413 (request or resulting
        state too large), 415 (not UTF-8).
        """
        return self.apply_update(thing, request, name=name).accepted

    def apply_update(self, thing: str, request: str | bytes, *, name: str | None = None
                     ) -> UpdateResult:
        """:meth:`update`, returning also the documents before and after and the delta
        message, which an MQTT service publishes on ``/update/documents`` and
        ``/update/delta``.  Same refusals as :meth:`update`."""
        try:
            result = self._apply_update(thing, request, name)
        except ShadowError as error:
            _rejected("update", error)
            raise
        _telemetry.emit("twin.update", accepted=1)
        return result

    def _apply_update(self, thing: str, request: str | bytes, name: str | None
                      ) -> UpdateResult:
        key = _doc.check_names(thing, name)
        req = _doc.parse_request(request, self._limits)
        with self._lock:
            for _ in range(_MAX_RETRIES):
                now = self._now()
                current = self._store.load(thing, key)
                record = self._apply(current, req, now)
                if self._store.commit(thing, key, record, operation="update",
                                      request=_canonical(req)):
                    break
                if req.version is not None:
                    raise _doc.conflict(req.client_token)
            else:
                raise _doc.conflict(req.client_token)
        return self._result(req, current, record)

    def apply_updates(self, updates: Sequence[tuple[str, str | bytes, str | None]]
                      ) -> list[UpdateResult | ShadowError]:
        """Apply several updates, given as (thing, request, name), in one store transaction
        when the store has ``commit_many`` (group commit: one fsync for all of them).

        Returns one entry per update, in order: its :class:`UpdateResult`, or the
        :class:`ShadowError` that refused it (a refusal does not affect the others).  Updates
        of one shadow apply in the order given, each on top of the previous one.  The
        results' documents may share dicts with the store's cache of current versions (see
        ``SQLiteShadowStore.load_many``): read them, do not modify them.
        """
        commit_many = getattr(self._store, "commit_many", None)
        if commit_many is None or len(updates) < 2:
            return [self._attempt(thing, request, name) for thing, request, name in updates]
        results: list[UpdateResult | ShadowError | None] = [None] * len(updates)
        parsed = []
        for i, (thing, request, name) in enumerate(updates):
            try:
                parsed.append((i, thing, _doc.check_names(thing, name),
                               _doc.parse_request(request, self._limits)))
            except ShadowError as error:
                results[i] = error
                _rejected("update", error)
        staged = []
        with self._lock:
            now = self._now()
            keys = list(dict.fromkeys((thing, key) for _, thing, key, _ in parsed))
            load_many = getattr(self._store, "load_many", None)
            overlay: dict[tuple[str, str], StoredShadow | None] = dict(zip(
                keys, load_many(keys) if load_many is not None
                else [self._store.load(*k) for k in keys], strict=True))
            for i, thing, key, req in parsed:
                try:
                    current = overlay[thing, key]
                    record = self._apply(current, req, now)
                except ShadowError as error:
                    results[i] = error
                    _rejected("update", error)
                    continue
                overlay[thing, key] = record
                staged.append((i, thing, key, req, current, record))
            committed = commit_many([(thing, key, record, "update", _canonical(req))
                                     for _, thing, key, req, _, record in staged])
        accepted = 0
        for (i, thing, _key, req, current, record), ok in zip(staged, committed, strict=True):
            if ok:
                results[i] = self._result(req, current, record)
                accepted += 1
            else:  # another writer got there first: apply this one alone, on the fresh state
                results[i] = self._attempt(thing, updates[i][1], updates[i][2])
        if accepted:
            _telemetry.emit("twin.update", accepted=accepted)
        return results  # type: ignore[return-value]

    def _attempt(self, thing: str, request: str | bytes, name: str | None
                 ) -> UpdateResult | ShadowError:
        try:
            return self.apply_update(thing, request, name=name)
        except ShadowError as error:
            return error

    def _result(self, req: _doc.Request, current: StoredShadow | None, record: StoredShadow
                ) -> UpdateResult:
        accepted = self._accepted(req, record)
        previous = (document(current) if current is not None and not current.deleted
                    else None)
        now_doc = document(record)
        for doc in (previous, now_doc):
            if doc is not None:
                del doc["timestamp"]
        delta = None
        if req.state is not None and req.state.get("desired") is not None \
                and "delta" in now_doc["state"]:
            delta = {"state": now_doc["state"]["delta"],
                     "metadata": _doc.delta_metadata(now_doc["state"]["delta"],
                                                     record.metadata.get("desired", {})),
                     "version": record.version, "timestamp": record.timestamp}
            if req.client_token is not None:
                delta["clientToken"] = req.client_token
        return UpdateResult(accepted, previous, now_doc, delta)

    def _apply(self, current: StoredShadow | None, req: _doc.Request, now: int
               ) -> StoredShadow:
        version = current.version if current is not None else 0
        if req.version is not None and req.version != version:
            raise _doc.conflict(req.client_token)
        live = current if current is not None and not current.deleted else None
        sections = {s: getattr(live, s) if live else {} for s in _SECTIONS}
        meta = {s: live.metadata.get(s, {}) if live else {} for s in _SECTIONS}
        if req.state is None:
            sections = {s: {} for s in _SECTIONS}
            meta = {s: {} for s in _SECTIONS}
        else:
            for section, patch in req.state.items():
                if patch is None:
                    sections[section], meta[section] = {}, {}
                else:
                    sections[section], meta[section] = _doc.merge(
                        sections[section], meta[section], patch, now)
        if _doc.state_size(sections["desired"], sections["reported"]) > self._limits.state_bytes:
            raise ShadowError(413, _doc.MSG_TOO_LARGE, client_token=req.client_token)
        return StoredShadow(version=version + 1, timestamp=now, desired=sections["desired"],
                            reported=sections["reported"],
                            metadata={s: m for s, m in meta.items() if sections[s]})

    def _accepted(self, req: _doc.Request, record: StoredShadow) -> dict[str, Any]:
        ts = record.timestamp
        if req.state is None:
            response: dict[str, Any] = {"state": None, "metadata": {}}
        else:
            response = {"state": dict(req.state),
                        "metadata": {s: _doc.leaf_metadata(p, ts) for s, p in req.state.items()}}
        response["version"] = record.version
        response["timestamp"] = ts
        if req.client_token is not None:
            response["clientToken"] = req.client_token
        return response

    def get(self, thing: str, *, name: str | None = None, client_token: str | None = None
            ) -> dict[str, Any]:
        """The shadow's document (``/get/accepted``): ``state`` with ``desired``, ``reported``
        and ``delta`` (each only when not empty), ``metadata``, ``version``, ``timestamp``
        (now) and ``clientToken`` when given.  Raises :class:`ShadowError` 404 when the shadow
        does not exist or was deleted."""
        try:
            return self._get(thing, name, client_token)
        except ShadowError as error:
            _rejected("get", error)
            raise

    def _get(self, thing: str, name: str | None, client_token: str | None) -> dict[str, Any]:
        key = _doc.check_names(thing, name)
        token = self._token(client_token)
        current = self._store.load(thing, key)
        if current is None or current.deleted:
            raise ShadowError(404, f"No shadow exists with name: '{name or thing}'",
                              client_token=token)
        doc = document(current)
        doc["timestamp"] = self._now()
        if token is not None:
            doc["clientToken"] = token
        return doc

    def delete(self, thing: str, *, name: str | None = None, client_token: str | None = None
               ) -> dict[str, Any]:
        """Delete a shadow (``/delete/accepted``: ``version``, ``timestamp``, ``clientToken``).

        The delete is a version of its own (the stored version + 1) in the history, and the
        shadow's next update continues from it: versions never repeat.  Raises
        :class:`ShadowError` 404 when the shadow does not exist or is already deleted."""
        try:
            return self._delete(thing, name, client_token)
        except ShadowError as error:
            _rejected("delete", error)
            raise

    def _delete(self, thing: str, name: str | None, client_token: str | None
                ) -> dict[str, Any]:
        key = _doc.check_names(thing, name)
        token = self._token(client_token)
        with self._lock:
            for _ in range(_MAX_RETRIES):
                current = self._store.load(thing, key)
                if current is None or current.deleted:
                    raise ShadowError(404, f"No shadow exists with name: '{name or thing}'",
                                      client_token=token)
                record = StoredShadow(version=current.version + 1, timestamp=self._now(),
                                      deleted=True)
                if self._store.commit(thing, key, record, operation="delete", request=""):
                    break
            else:
                raise _doc.conflict(token)
        response: dict[str, Any] = {"version": record.version, "timestamp": record.timestamp}
        if token is not None:
            response["clientToken"] = token
        return response

    def history(self, thing: str, *, name: str | None = None) -> list[HistoryEntry]:
        """Every accepted change of a shadow, oldest first (versions 1, 2, ... without gaps)."""
        return self._store.history(thing, _doc.check_names(thing, name))

    def _token(self, client_token: str | None) -> str | None:
        if client_token is not None and (
                not isinstance(client_token, str)
                or len(client_token.encode("utf-8")) > self._limits.client_token_bytes):
            raise ShadowError(400, _doc.MSG_TOKEN)
        return client_token

    def close(self) -> None:
        """Close the store."""
        self._store.close()

    def __enter__(self) -> Shadows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def document(record: StoredShadow) -> dict[str, Any]:
    """The full document of a stored version: ``state`` (desired, reported, delta: each only
    when not empty), ``metadata`` (desired, reported) and ``version``; ``timestamp`` is the
    version's."""
    state: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    for section in _SECTIONS:
        value = getattr(record, section)
        if value:
            state[section] = value
            metadata[section] = record.metadata.get(section, {})
    if record.desired:
        delta = _doc.delta(record.desired, record.reported)
        if delta:
            state["delta"] = delta
    return {"state": state, "metadata": metadata, "version": record.version,
            "timestamp": record.timestamp}


def _rejected(op: str, error: ShadowError) -> None:
    """Telemetry for a refusal (``twin.reject``); a 409 is a version conflict."""
    _telemetry.emit("twin.reject", op=op, code=error.code)


def _canonical(req: _doc.Request) -> str:
    doc: dict[str, Any] = {"state": req.state}
    if req.version is not None:
        doc["version"] = req.version
    if req.client_token is not None:
        doc["clientToken"] = req.client_token
    return _doc.compact_json(doc)
