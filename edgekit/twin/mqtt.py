"""Shadows over MQTT with the AWS topic layout: the cloud-side :class:`ShadowService` and the
device-side :class:`ShadowClient`, on ``paho-mqtt`` (extra ``[twin]``) and any MQTT 3.1.1
broker (tested with mosquitto, mutual TLS and a per-device topic ACL).

The service's message handling, :meth:`ShadowService.handle`, is transport-free: it maps one
request message to the messages to publish.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import socket
import sqlite3
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from edgekit import _telemetry
from edgekit.errors import CapacityError, InputError, RuntimeUnavailableError, ShadowError
from edgekit.twin._document import compact_json
from edgekit.twin.shadows import Shadows
from edgekit.twin.topics import SERVICE_SUBSCRIPTIONS, parse_request_topic, shadow_topic

__all__ = ["ShadowClient", "ShadowService"]

_log = logging.getLogger(__name__)
_QOS = 1


def _paho() -> Any:
    try:
        import paho.mqtt.client as mqtt
    except ImportError as error:
        raise RuntimeUnavailableError(
            "edgekit.twin's MQTT transport needs paho-mqtt >= 2: pip install 'edgekit[twin]'",
            feature="twin.mqtt", extra="twin") from error
    return mqtt


def _new_client(client_id: str, tls: ssl.SSLContext | None) -> Any:
    mqtt = _paho()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv311, clean_session=True)
    if tls is not None:
        client.tls_set_context(tls)
    client.on_socket_open = _no_delay
    return client


def _no_delay(client: Any, userdata: Any, sock: Any) -> None:
    """Turn off Nagle's algorithm: an answer is several small writes, and Nagle holds the
    second one until the peer's delayed ACK (~40 ms on Linux)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (a unix or websocket transport)
        pass


def _dumps(doc: Any) -> bytes:
    return compact_json(doc).encode("utf-8")


class ShadowService:
    """The cloud side: serves every thing's shadow topics from a :class:`Shadows`.

    Subscribes to the update, get and delete request topics of all things (classic and named)
    and answers each with the service's messages: ``/accepted`` or ``/rejected`` (the error
    document with its code), and for an accepted update also ``/update/documents`` and, when
    desired differs from reported, ``/update/delta``.  Each accepted update is committed to
    the store before ``/update/accepted`` is published.

    Args:
        shadows: the shadow service core and its store.
        host, port: the broker.
        tls: the service's TLS client context (mutual TLS: ``edgekit.secure.client_context``),
            or ``None`` for plain TCP.
        client_id: the service's MQTT client id.
        authorize: called with a thing name; a request for a thing it refuses is rejected with
            403 ``Forbidden`` (the broker's ACL is the first line; this is the second).
        dedupe: how many recent (thing, shadow, clientToken) results to remember; an update
            repeating one of them (a device retrying after a lost acknowledgement) is answered
            with the first answer and not applied again.  0 disables it.
        batch: most messages handled together: the messages that arrived while the previous
            batch was being committed are applied in one transaction (group commit), so a
            durable store pays one fsync per batch, not per update.
        keepalive_s: MQTT keepalive, seconds.
    """

    def __init__(self, shadows: Shadows, host: str, port: int, *,
                 tls: ssl.SSLContext | None = None, client_id: str = "edgekit-shadow-service",
                 authorize: Callable[[str], bool] | None = None, dedupe: int = 4096,
                 batch: int = 256, keepalive_s: int = 30) -> None:
        if batch < 1:
            raise InputError("batch must be >= 1", name="batch", got=batch)
        self._shadows = shadows
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._authorize = authorize
        self._dedupe_size = dedupe
        self._recent: collections.OrderedDict[tuple[str, str | None, str],
                                              list[tuple[str, bytes]]] = collections.OrderedDict()
        self._client = _new_client(client_id, tls)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._batch = batch
        self._inbox: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self.handled = 0  #: request messages handled

    # --- transport-free -------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> list[tuple[str, bytes]]:
        """The (topic, payload) messages the service publishes in answer to one message;
        empty for a topic that is not a shadow request."""
        return self.handle_batch([(topic, payload)])

    def handle_batch(self, messages: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """The answers to several messages, in order.  Consecutive updates are applied with
        one store transaction (group commit); a get or delete sees every update before it."""
        out: list[tuple[str, bytes]] = []
        group: list[tuple[str, str | None, str | None, bytes]] = []

        def flush() -> None:
            if group:
                out.extend(self._updates(group))
                group.clear()

        for topic, payload in messages:
            parsed = parse_request_topic(topic)
            if parsed is None:
                continue
            thing, name, op = parsed
            token = _token_of(payload)
            if self._authorize is not None and not self._authorize(thing):
                error = ShadowError(403, "Forbidden", client_token=token)
                _telemetry.emit("twin.reject", op=op, code=error.code)
                out.append(self._rejected(thing, name, op, error))
                continue
            if op == "update":
                if token is not None and self._dedupe_size and (
                        (key := (thing, name, token)) in self._recent
                        or any(g[:3] == key for g in group)):
                    flush()
                    out.extend(self._recent.get(key, []))
                else:
                    group.append((thing, name, token, payload))
                continue
            flush()
            out.extend(self._get_or_delete(thing, name, op, token, payload))
        flush()
        return out

    def _get_or_delete(self, thing: str, name: str | None, op: str, token: str | None,
                       payload: bytes) -> list[tuple[str, bytes]]:
        try:
            if payload.strip():
                request = json.loads(payload)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            if op == "get":
                answer = self._shadows.get(thing, name=name, client_token=token)
            else:
                answer = self._shadows.delete(thing, name=name, client_token=token)
        except ShadowError as error:
            return [self._rejected(thing, name, op, error)]
        except (ValueError, UnicodeDecodeError, RecursionError):
            _telemetry.emit("twin.reject", op=op, code=400)
            return [self._rejected(thing, name, op, ShadowError(400, "Invalid JSON",
                                                                client_token=token))]
        return [(shadow_topic(thing, op, "accepted", name=name), _dumps(answer))]

    def _updates(self, group: list[tuple[str, str | None, str | None, bytes]]
                 ) -> list[tuple[str, bytes]]:
        results = self._shadows.apply_updates([(t, p, n) for t, n, _, p in group])
        out: list[tuple[str, bytes]] = []
        for (thing, name, token, _), result in zip(group, results, strict=True):
            if isinstance(result, ShadowError):
                answer = [self._rejected(thing, name, "update", result)]
            else:
                answer = [(shadow_topic(thing, "update", "accepted", name=name),
                           _dumps(result.accepted)),
                          (shadow_topic(thing, "update", "documents", name=name),
                           _dumps(result.documents()))]
                if result.delta is not None:
                    answer.append((shadow_topic(thing, "update", "delta", name=name),
                                   _dumps(result.delta)))
            if token is not None and self._dedupe_size:
                self._recent[(thing, name, token)] = answer
                while len(self._recent) > self._dedupe_size:
                    self._recent.popitem(last=False)
            out.extend(answer)
        return out

    def _rejected(self, thing: str, name: str | None, op: str, error: ShadowError
                  ) -> tuple[str, bytes]:
        return (shadow_topic(thing, op, "rejected", name=name),
                _dumps(error.to_document(int(time.time()))))

    # --- over MQTT ------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect (reconnecting by itself after a loss) and wait until subscribed.
        Raises ``TimeoutError`` when not subscribed within ``timeout_s``."""
        self._worker = threading.Thread(target=self._work, name="shadow-service",
                                        daemon=True)
        self._worker.start()
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.connect_async(self._host, self._port, self._keepalive)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.stop()
            raise TimeoutError(f"the shadow service did not subscribe at {self._host}:"
                               f"{self._port} within {timeout_s} s")

    def stop(self) -> None:
        """Disconnect and stop the network and worker threads (messages not yet handled are
        dropped: their senders get no answer and retry)."""
        self._client.disconnect()
        self._client.loop_stop()
        if self._worker is not None:
            self._inbox.put(None)
            self._worker.join()
            self._worker = None

    def _work(self) -> None:
        """The worker thread: take what arrived (up to ``batch`` messages), answer it."""
        while True:
            first = self._inbox.get()
            if first is None:
                return
            messages = [first]
            while len(messages) < self._batch:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._inbox.put(None)
                    break
                messages.append(item)
            try:
                out = self.handle_batch(messages)
            except Exception:  # a store failure: no answers, the devices retry
                _log.exception("shadow service: failed on a batch of %d", len(messages))
                continue
            self.handled += len(messages)
            for topic, payload in out:
                self._client.publish(topic, payload, qos=_QOS)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            _log.warning("shadow service: connection refused: %s", reason)
            return
        client.subscribe([(topic, _QOS) for topic in SERVICE_SUBSCRIPTIONS])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if all(not r.is_failure for r in reasons):
            self._subscribed.set()
        else:
            _log.error("shadow service: the broker refused a subscription: %s", reasons)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        self._inbox.put((message.topic, message.payload))

    def __enter__(self) -> ShadowService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _token_of(payload: bytes) -> str | None:
    """The clientToken of a request, when it is a JSON object with a string one."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    token = doc.get("clientToken") if isinstance(doc, dict) else None
    if not isinstance(token, str):
        return None
    try:
        return token if len(token.encode("utf-8")) <= 64 else None
    except UnicodeEncodeError:  # an escaped lone surrogate
        return None


class _PendingQueue:
    """The device's reported changes not yet accepted, in order, in SQLite (survives a
    restart when ``path`` is a file)."""

    def __init__(self, path: str, capacity: int) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY "
                           "AUTOINCREMENT, token TEXT NOT NULL, request BLOB NOT NULL, "
                           "queued_at REAL)")
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(pending)")}
        if "queued_at" not in columns:  # a queue file written before the column existed
            self._conn.execute("ALTER TABLE pending ADD COLUMN queued_at REAL")
        self._capacity = capacity
        self._lock = threading.Lock()

    def push(self, token: str, request: bytes) -> int:
        """Append a report; returns the queue's depth after it."""
        with self._lock:
            depth = self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
            if depth >= self._capacity:
                raise CapacityError(f"{depth} reported changes are already waiting for the "
                                    "broker", capacity=self._capacity, requested=depth + 1)
            self._conn.execute("INSERT INTO pending (token, request, queued_at) "
                               "VALUES (?, ?, ?)", (token, request, time.time()))
            return depth + 1

    def head(self) -> tuple[str, bytes] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT token, request FROM pending ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def remove(self, token: str) -> tuple[float | None, int]:
        """Remove a report; returns when it was queued (epoch seconds, ``None`` if unknown)
        and the queue's depth after."""
        with self._lock:
            row = self._conn.execute("SELECT queued_at FROM pending WHERE token = ?",
                                     (token,)).fetchone()
            self._conn.execute("DELETE FROM pending WHERE token = ?", (token,))
            depth = self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
        return (row[0] if row is not None else None), depth

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ShadowClient:
    """The device side of one shadow: applies desired deltas through a callback, reports
    state, and keeps reported changes in a bounded persistent queue while the broker or the
    service is unreachable.

    On every (re)connection it subscribes, fetches the shadow (``/get``), hands a pending
    delta to ``on_delta`` and then sends the queued reports one at a time, each removed when
    its ``/update/accepted`` arrives; a get or report left unanswered for ``retry_s`` is sent
    again.  Reports carry no ``version`` (they merge, so they never
    conflict) and a unique ``clientToken``; a report re-sent after a lost acknowledgement is
    recognised by the service (``dedupe``) and not applied twice.

    Args:
        thing: the thing's name (with mutual TLS, its certificate's identity).
        host, port, tls: the broker and the device's TLS context
            (``edgekit.secure.client_context``), or ``tls=None`` for plain TCP.
        name: the shadow's name, ``None`` for the classic shadow.
        on_delta: called with a delta's ``state`` (what desired asks and reported lacks); it
            applies it to the device and returns the state to report (or ``None``).  Called
            in the MQTT network thread, at most once per shadow version.
        queue_path: the pending-report queue's SQLite file (``":memory:"`` loses it on a
            restart).
        max_pending: most queued reports; :meth:`report` raises ``CapacityError`` beyond.
        retry_s: a get or a report unanswered for this long (the service was down or
            restarting while the broker stayed up) is sent again, seconds.
    """

    def __init__(self, thing: str, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                 name: str | None = None,
                 on_delta: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                 queue_path: str | os.PathLike[str] = ":memory:", max_pending: int = 1000,
                 client_id: str | None = None, keepalive_s: int = 30,
                 retry_s: float = 2.0) -> None:
        if max_pending < 1:
            raise InputError("max_pending must be >= 1", name="max_pending", got=max_pending)
        if not retry_s > 0:
            raise InputError("retry_s must be > 0", name="retry_s", got=retry_s)
        self.thing, self.name = thing, name
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._on_delta = on_delta
        self._queue = _PendingQueue(os.fspath(queue_path), max_pending)
        self._lock = threading.RLock()
        self._connected = False
        self._fetched = threading.Event()     # the shadow was read after this connection
        self._idle = threading.Event()        # nothing queued, nothing in flight
        self._inflight: str | None = None
        self._get_token: str | None = None
        self._retry_s = retry_s
        self._sent_at = 0.0                   # when the unanswered get or report was sent
        self._stopping = threading.Event()
        self._retrier: threading.Thread | None = None
        self._delta_version = 0               # the last shadow version whose delta was applied
        self.version = 0                      #: the last shadow version this device saw
        self.rejections: list[dict[str, Any]] = []  #: error documents of refused reports
        self._client = _new_client(client_id or f"{thing}-{uuid.uuid4().hex[:8]}", tls)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        if not len(self._queue):
            self._idle.set()

    def _topic(self, op: str, suffix: str | None = None) -> str:
        return shadow_topic(self.thing, op, suffix, name=self.name)

    # --- the device's API -----------------------------------------------------------------

    def start(self) -> None:
        """Start connecting (in the background; works offline and reconnects by itself)."""
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.connect_async(self._host, self._port, self._keepalive)
        self._client.loop_start()
        self._retrier = threading.Thread(target=self._retry_loop, name=f"{self.thing}-retry",
                                         daemon=True)
        self._retrier.start()

    def stop(self) -> None:
        """Disconnect; queued reports stay in the queue."""
        self._stopping.set()
        if self._retrier is not None:
            self._retrier.join()
        self._client.disconnect()
        self._client.loop_stop()
        self._queue.close()

    def _retry_loop(self) -> None:
        """Re-send a get or a report that got no answer within ``retry_s`` (same clientToken:
        the service answers a repeated report without applying it twice)."""
        while not self._stopping.wait(min(0.25, self._retry_s / 4)):
            with self._lock:
                if not self._connected or time.monotonic() - self._sent_at < self._retry_s:
                    continue
                if not self._fetched.is_set():
                    self._send_get()
                elif self._inflight is not None:
                    head = self._queue.head()
                    if head is not None and head[0] == self._inflight:
                        self._sent_at = time.monotonic()
                        self._client.publish(self._topic("update"), head[1], qos=_QOS)

    def _send_get(self) -> None:
        self._get_token = uuid.uuid4().hex
        self._sent_at = time.monotonic()
        self._client.publish(self._topic("get"), _dumps({"clientToken": self._get_token}),
                             qos=_QOS)

    def report(self, reported: dict[str, Any]) -> str:
        """Queue a reported-state change (``null`` deletes a key) and send it when connected.
        Returns its clientToken.  Raises ``CapacityError`` when ``max_pending`` are waiting."""
        token = uuid.uuid4().hex
        request = _dumps({"state": {"reported": reported}, "clientToken": token})
        with self._lock:
            depth = self._queue.push(token, request)
            _telemetry.emit("twin.queue", depth=depth)
            self._idle.clear()
            self._send_next()
        return token

    @property
    def pending(self) -> int:
        """Reports queued and not yet accepted."""
        return len(self._queue)

    @property
    def connected(self) -> bool:
        """Whether the device is connected and subscribed."""
        return self._connected

    def wait_synced(self, timeout_s: float) -> bool:
        """Wait until the shadow was read after the last connection and every queued report
        is accepted; False on timeout."""
        deadline = time.monotonic() + timeout_s
        return (self._fetched.wait(max(0.0, deadline - time.monotonic()))
                and self._idle.wait(max(0.0, deadline - time.monotonic())))

    # --- MQTT callbacks (network thread) --------------------------------------------------

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            _log.warning("%s: connection refused: %s", self.thing, reason)
            return
        client.subscribe([(self._topic("update", s), _QOS)
                          for s in ("accepted", "rejected", "delta")]
                         + [(self._topic("get", s), _QOS) for s in ("accepted", "rejected")])

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if any(r.is_failure for r in reasons):
            _log.error("%s: the broker refused a subscription: %s", self.thing, reasons)
            return
        with self._lock:
            self._connected = True
            self._send_get()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._lock:
            self._connected = False
            self._inflight = None   # re-sent after the reconnection; the service dedupes it
            self._fetched.clear()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            doc = json.loads(message.payload)
        except ValueError:
            return
        topic = message.topic
        with self._lock:
            if topic == self._topic("get", "accepted"):
                if doc.get("clientToken") != self._get_token:
                    return
                self.version = max(self.version, doc.get("version", 0))
                delta = doc.get("state", {}).get("delta")
                if delta:
                    self._apply_delta(delta, doc.get("version", 0))
                self._fetched.set()
                self._send_next()
            elif topic == self._topic("get", "rejected"):
                if doc.get("clientToken") == self._get_token and doc.get("code") == 404:
                    self._fetched.set()  # no shadow yet
                    self._send_next()
            elif topic == self._topic("update", "delta"):
                self._apply_delta(doc.get("state", {}), doc.get("version", 0))
            elif topic == self._topic("update", "accepted"):
                self.version = max(self.version, doc.get("version", 0))
                if self._inflight is not None and doc.get("clientToken") == self._inflight:
                    queued_at, depth = self._queue.remove(self._inflight)
                    if _telemetry.enabled():
                        lag = None if queued_at is None else max(0.0, time.time() - queued_at)
                        _telemetry.emit("twin.sync", lag_s=lag)
                        _telemetry.emit("twin.queue", depth=depth)
                    self._inflight = None
                    self._send_next()
            elif topic == self._topic("update", "rejected"):
                if self._inflight is not None and doc.get("clientToken") == self._inflight:
                    self.rejections.append(doc)
                    # a refused report is never accepted: it leaves the queue
                    _telemetry.emit("twin.queue", depth=self._queue.remove(self._inflight)[1])
                    self._inflight = None
                    self._send_next()

    def _apply_delta(self, delta: dict[str, Any], version: int) -> None:
        if version <= self._delta_version or self._on_delta is None:
            return
        self._delta_version = version
        try:
            reported = self._on_delta(delta)
        except Exception:
            _log.exception("%s: on_delta failed", self.thing)
            return
        if reported:
            self.report(reported)

    def _send_next(self) -> None:
        if not self._connected or not self._fetched.is_set() or self._inflight is not None:
            return
        head = self._queue.head()
        if head is None:
            self._idle.set()
            return
        self._inflight, request = head
        self._sent_at = time.monotonic()
        self._client.publish(self._topic("update"), request, qos=_QOS)

    def __enter__(self) -> ShadowClient:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
