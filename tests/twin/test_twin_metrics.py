"""edgekit.twin reports through edgekit.metrics: real calls of the core, the service's
handler and a broker-less device client, then a scrape of a real metrics server on
127.0.0.1, parsed with prometheus_client's parser.  Each test fails when an event is not
emitted (the counters would stay at 0)."""

from __future__ import annotations

import json
import types
import urllib.request

import pytest

prometheus_client = pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from edgekit.errors import ShadowError  # noqa: E402
from edgekit.metrics import enable_metrics, start_metrics_server  # noqa: E402
from edgekit.twin import Shadows  # noqa: E402


@pytest.fixture
def scrape():
    registry = prometheus_client.CollectorRegistry()
    metrics = enable_metrics(registry, required=True)
    with start_metrics_server(0, registry=registry, required=True) as server:
        def samples() -> dict:
            with urllib.request.urlopen(server.url, timeout=10) as resp:
                text = resp.read().decode()
            return {(s.name, frozenset(s.labels.items())): s.value
                    for f in text_string_to_metric_families(text) for s in f.samples}
        yield samples
    metrics.close()


def _v(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_core_counts_accepted_updates_rejections_by_code_and_conflicts(scrape):
    shadows = Shadows()
    shadows.update("pump-1", '{"state": {"desired": {"speed": 5}}}')
    shadows.update("pump-1", '{"state": {"reported": {"speed": 3}}, "version": 1}')
    for bad, code in (("not json", 400), ('{"state": {"reported": {"a": 1}}, "version": 1}',
                                          409), ("x" * 140_000, 413)):
        with pytest.raises(ShadowError) as err:
            shadows.update("pump-1", bad)
        assert err.value.code == code
    with pytest.raises(ShadowError):
        shadows.get("pump-2")
    shadows.delete("pump-1")
    with pytest.raises(ShadowError):
        shadows.delete("pump-1")
    # a batch (group commit) counts its accepted updates and its refusals
    results = shadows.apply_updates([("a", '{"state": {"reported": {"x": 1}}}', None),
                                     ("b", '{"state": {"reported": {"x": 1}}}', None),
                                     ("a", '{"state": {"reported": {"x": 2}}, "version": 9}',
                                      None)])
    assert [isinstance(r, ShadowError) for r in results] == [False, False, True]
    s = scrape()
    assert _v(s, "edgekit_twin_updates_total") == 4
    assert _v(s, "edgekit_twin_rejections_total", op="update", code="400") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="update", code="409") == 2
    assert _v(s, "edgekit_twin_rejections_total", op="update", code="413") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="get", code="404") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="delete", code="404") == 1
    assert _v(s, "edgekit_twin_version_conflicts_total") == 2
    assert _v(s, "edgekit_events_total", event="twin.update") == 3  # 2 calls + 1 batch


def test_service_handler_counts_forbidden_and_what_the_core_refuses(scrape):
    pytest.importorskip("paho.mqtt")
    from edgekit.twin.mqtt import ShadowService

    service = ShadowService(Shadows(), "127.0.0.1", 1, tls=None,
                            authorize={"pump-1"}.__contains__)
    answers = service.handle_batch([
        ("$aws/things/pump-1/shadow/update", b'{"state": {"reported": {"on": true}}}'),
        ("$aws/things/pump-1/shadow/update", b'[1, 2]'),
        ("$aws/things/pump-9/shadow/update", b'{"state": {"reported": {"on": true}}}'),
        ("$aws/things/pump-1/shadow/get", b'{oops'),
    ])
    assert any(t.endswith("/update/accepted") for t, _ in answers)
    s = scrape()
    assert _v(s, "edgekit_twin_updates_total") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="update", code="400") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="update", code="403") == 1
    assert _v(s, "edgekit_twin_rejections_total", op="get", code="400") == 1


class _Message:
    def __init__(self, topic: str, doc: dict) -> None:
        self.topic, self.payload = topic, json.dumps(doc).encode()


def test_device_client_reports_queue_depth_and_sync_lag(scrape, tmp_path, monkeypatch):
    """A device client with no broker: three reports queue up (depth 3), then the
    acknowledgements are fed to its message handler as the broker would deliver them."""
    pytest.importorskip("paho.mqtt")
    from edgekit.twin import mqtt

    clock = [1_000.0]
    monkeypatch.setattr(mqtt, "time", types.SimpleNamespace(
        time=lambda: clock[0], monotonic=lambda: clock[0]))
    dev = mqtt.ShadowClient("pump-1", "127.0.0.1", 1, queue_path=tmp_path / "q.db")
    sent: list[bytes] = []
    dev._client.publish = lambda topic, payload, qos: sent.append(payload)
    tokens = [dev.report({"speed": i}) for i in range(3)]
    assert _v(scrape(), "edgekit_twin_queue_depth") == 3
    dev._connected = True          # what a connection and /get/accepted would set
    dev._fetched.set()
    dev._send_next()
    accepted = "$aws/things/pump-1/shadow/update/accepted"
    for lag, token in zip((0.2, 1.5, 40.0), tokens, strict=True):
        clock[0] = 1_000.0 + lag   # the broker was away: the lag counts from the queueing
        assert json.loads(sent[-1])["clientToken"] == token
        dev._on_message(None, None, _Message(accepted, {"version": 1, "clientToken": token}))
    s = scrape()
    assert dev.pending == 0
    assert _v(s, "edgekit_twin_queue_depth") == 0
    assert _v(s, "edgekit_twin_sync_lag_seconds_count") == 3
    assert _v(s, "edgekit_twin_sync_lag_seconds_sum") == pytest.approx(41.7)
    assert _v(s, "edgekit_twin_sync_lag_seconds_bucket", le="1.0") == 1
    assert _v(s, "edgekit_twin_sync_lag_seconds_bucket", le="60.0") == 3
    dev._queue.close()


def test_a_queue_file_from_before_the_lag_column_still_opens(tmp_path):
    pytest.importorskip("paho.mqtt")
    import sqlite3

    from edgekit.twin.mqtt import _PendingQueue

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                 "token TEXT NOT NULL, request BLOB NOT NULL)")
    conn.execute("INSERT INTO pending (token, request) VALUES ('t0', x'7b7d')")
    conn.commit()
    conn.close()
    queue = _PendingQueue(str(path), 10)
    assert queue.head() == ("t0", b"{}")
    assert queue.push("t1", b"{}") == 2
    assert queue.remove("t0") == (None, 1)   # queued before the column: lag unknown
    queued_at, depth = queue.remove("t1")
    assert queued_at is not None and depth == 0
    queue.close()


def test_queue_depth_and_sync_lag_through_mosquitto_across_an_outage(scrape, tmp_path):
    """End to end: a device on a real broker (mutual TLS, ACL) reports once while connected,
    then once while the broker is down; during the outage the gauge shows the queued report,
    after the broker returns the queue drains and the late report's lag covers the outage."""
    pytest.importorskip("paho.mqtt")
    import time

    from edgekit.twin.mqtt import ShadowClient, ShadowService
    from tests.twin.broker import SERVICE, Broker, Fleet, needs_mosquitto

    if needs_mosquitto.args[0]:
        pytest.skip(needs_mosquitto.kwargs["reason"])
    fleet = Fleet(tmp_path)
    broker = Broker(fleet.directory)
    broker.start()
    shadows = Shadows()
    service = ShadowService(shadows, "127.0.0.1", broker.port, tls=fleet.context(SERVICE),
                            client_id="svc-metrics")
    service.start()
    dev = ShadowClient("pump-a", "127.0.0.1", broker.port, tls=fleet.context("pump-a"),
                       queue_path=str(tmp_path / "queue.db"))
    outage_s = 0.5
    try:
        dev.start()
        assert dev.wait_synced(10)
        dev.report({"fw": "1.0"})
        assert dev.wait_synced(10)
        broker.stop()
        deadline = time.monotonic() + 10
        while dev.connected:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        dev.report({"fw": "1.1"})
        assert _v(scrape(), "edgekit_twin_queue_depth") == 1
        time.sleep(outage_s)
        broker.start()
        assert dev.wait_synced(20)
    finally:
        dev.stop()
        service.stop()
        broker.stop()
    assert shadows.get("pump-a")["state"]["reported"] == {"fw": "1.1"}
    s = scrape()
    assert _v(s, "edgekit_twin_queue_depth") == 0
    assert _v(s, "edgekit_twin_sync_lag_seconds_count") == 2
    assert _v(s, "edgekit_twin_sync_lag_seconds_sum") >= outage_s
    assert _v(s, "edgekit_twin_sync_lag_seconds_bucket", le="0.25") <= 1  # the late one
    assert _v(s, "edgekit_twin_updates_total") == 2
