"""Shadows over MQTT: the service's message handling without a broker, then end to end
through a real mosquitto with mutual TLS and a per-device ACL (skipped without mosquitto)."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import pytest

from edgekit.errors import ShadowError
from edgekit.twin import Shadows
from edgekit.twin.topics import SERVICE_SUBSCRIPTIONS, parse_request_topic, shadow_topic
from tests.twin.broker import OPERATOR, SERVICE, Broker, Fleet, needs_mosquitto

mqtt_mod = pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (extra [twin])")
from edgekit.twin.mqtt import ShadowClient, ShadowService  # noqa: E402

# --- topics and the transport-free handler ---------------------------------------------------


def test_topics_follow_the_aws_layout():
    assert shadow_topic("pump-1", "update") == "$aws/things/pump-1/shadow/update"
    assert shadow_topic("pump-1", "get", "accepted", name="cfg") == \
        "$aws/things/pump-1/shadow/name/cfg/get/accepted"
    assert parse_request_topic("$aws/things/pump-1/shadow/name/cfg/delete") == \
        ("pump-1", "cfg", "delete")
    assert parse_request_topic("$aws/things/pump-1/shadow/update") == ("pump-1", None, "update")
    for other in ("$aws/things/pump-1/shadow/update/accepted", "$aws/things//shadow/get",
                  "things/pump-1/shadow/update", "$aws/things/p/shadow/name//get"):
        assert parse_request_topic(other) is None
    assert len(SERVICE_SUBSCRIPTIONS) == 6


def _service(**kwargs) -> ShadowService:
    return ShadowService(Shadows(clock=lambda: 1_700_000_000), "127.0.0.1", 1, **kwargs)


def _topics(out: list[tuple[str, bytes]]) -> list[str]:
    return [t.rsplit("/shadow/", 1)[1] for t, _ in out]


def test_handler_answers_update_with_accepted_documents_and_delta():
    service = _service()
    out = service.handle("$aws/things/p/shadow/update",
                         b'{"state": {"desired": {"a": 1}}, "clientToken": "t1"}')
    assert _topics(out) == ["update/accepted", "update/documents", "update/delta"]
    accepted, documents, delta = (json.loads(p) for _, p in out)
    assert accepted["version"] == 1 and accepted["clientToken"] == "t1"
    assert documents["previous"] is None and documents["current"]["version"] == 1
    assert delta["state"] == {"a": 1}
    out = service.handle("$aws/things/p/shadow/name/n/update", b'{"state": {"reported": {}}}')
    assert _topics(out) == ["name/n/update/accepted", "name/n/update/documents"]


def test_handler_answers_get_and_delete_and_rejects_with_the_error_document():
    service = _service()
    (topic, payload), = service.handle("$aws/things/p/shadow/get", b"")
    assert topic.endswith("/get/rejected") and json.loads(payload)["code"] == 404
    service.handle("$aws/things/p/shadow/update", b'{"state": {"reported": {"a": 1}}}')
    (topic, payload), = service.handle("$aws/things/p/shadow/get", b'{"clientToken": "g"}')
    assert topic.endswith("/get/accepted") and json.loads(payload)["clientToken"] == "g"
    (topic, payload), = service.handle("$aws/things/p/shadow/get", b"{not json")
    assert topic.endswith("/get/rejected") and json.loads(payload)["code"] == 400
    (topic, payload), = service.handle("$aws/things/p/shadow/delete", b"")
    assert topic.endswith("/delete/accepted") and json.loads(payload)["version"] == 2
    (topic, payload), = service.handle("$aws/things/p/shadow/update", b'{"state": 5, '
                                                                      b'"clientToken": "x"}')
    assert topic.endswith("/update/rejected")
    assert json.loads(payload) == {"code": 400, "message": "State node must be an object",
                                   "timestamp": json.loads(payload)["timestamp"],
                                   "clientToken": "x"}
    assert service.handle("some/other/topic", b"{}") == []


def test_handler_refuses_things_the_service_does_not_authorize():
    service = _service(authorize=lambda thing: thing.startswith("pump-"))
    (topic, payload), = service.handle("$aws/things/valve-1/shadow/update",
                                       b'{"state": {}, "clientToken": "c"}')
    assert topic.endswith("valve-1/shadow/update/rejected")
    assert json.loads(payload)["code"] == 403 and json.loads(payload)["clientToken"] == "c"
    assert service.handle("$aws/things/pump-1/shadow/update", b'{"state": {}}')


def test_handler_applies_a_retried_update_once():
    service = _service()
    request = b'{"state": {"reported": {"n": 1}}, "clientToken": "retry-me"}'
    first = service.handle("$aws/things/p/shadow/update", request)
    assert service.handle("$aws/things/p/shadow/update", request) == first
    assert service._shadows.get("p")["version"] == 1
    assert json.loads(service.handle("$aws/things/p/shadow/update", request.replace(
        b"retry-me", b"other"))[0][1])["version"] == 2


def test_handler_batches_updates_and_keeps_the_order_of_gets():
    service = _service()
    up = "$aws/things/p/shadow/update"
    out = service.handle_batch([
        (up, b'{"state": {"reported": {"n": 1}}, "clientToken": "a"}'),
        (up, b'{"state": {"reported": {"n": 2}}, "clientToken": "b"}'),
        ("$aws/things/p/shadow/get", b'{"clientToken": "g"}'),
        (up, b'{"state": {"reported": {"n": 2}}, "clientToken": "b"}'),   # a retry
        (up, b'{"state": {"reported": {"n": 3}}}'),
        ("$aws/things/q/shadow/update", b'{"state": "no"}'),
    ])
    assert _topics(out) == ["update/accepted", "update/documents"] * 2 + ["get/accepted"] + [
        "update/accepted", "update/documents"] * 2 + ["update/rejected"]
    docs = [json.loads(p) for _, p in out]
    assert docs[4]["state"]["reported"] == {"n": 2} and docs[4]["version"] == 2
    assert docs[5]["version"] == 2 and docs[5]["clientToken"] == "b"  # answered, not applied
    assert docs[7]["version"] == 3


def test_an_escaped_lone_surrogate_is_rejected_alone_and_the_batch_goes_on():
    # "\ud800" is valid JSON but no UTF-8 text: before, encoding it raised inside the batch,
    # every update of the batch went unanswered, and the device's retry did it again
    service = _service()
    up = "$aws/things/p/shadow/update"
    out = service.handle_batch([
        (up, rb'{"state": {"reported": {"a": "\ud800"}}, "clientToken": "bad"}'),
        ("$aws/things/q/shadow/update", b'{"state": {"reported": {"n": 1}}, "clientToken": "ok"}'),
        (up, rb'{"state": {"reported": {"\udfff": 1}}, "clientToken": "\ud800"}'),
        ("$aws/things/q/shadow/get", rb'{"clientToken": "\ud800"}'),
    ])
    assert _topics(out) == ["update/rejected", "update/accepted", "update/documents",
                            "update/rejected", "get/accepted"]
    docs = [json.loads(p) for _, p in out]
    assert docs[0]["code"] == 415 and docs[0]["clientToken"] == "bad"
    assert docs[1]["clientToken"] == "ok" and docs[3]["code"] == 415
    assert docs[4]["state"]["reported"] == {"n": 1} and "clientToken" not in docs[4]


# --- end to end through mosquitto -------------------------------------------------------------


class Listener:
    """A raw MQTT client with an identity, collecting the messages of its subscriptions."""

    def __init__(self, broker: Broker, fleet: Fleet, identity: str, topics: list[str]) -> None:
        mqtt = mqtt_mod
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"l-{identity}-"
                                  f"{time.monotonic_ns()}", protocol=mqtt.MQTTv311)
        self.client.tls_set_context(fleet.context(identity))
        ready = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert ready.wait(10), "the listener did not subscribe"

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def next(self, suffix: str, timeout_s: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                topic, payload = self.messages.get(timeout=left)
            except queue.Empty:
                break
            if topic.endswith(suffix):
                return json.loads(payload)
        raise TimeoutError(f"no message on *{suffix} within {timeout_s} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Fleet:
    return Fleet(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(fleet):
    if needs_mosquitto.args[0]:
        pytest.skip(needs_mosquitto.kwargs["reason"])
    b = Broker(fleet.directory)
    b.start()
    yield b
    b.stop()


REGISTERED = {"pump-a", "pump-b"}


@pytest.fixture(scope="module")
def service(broker, fleet):
    s = ShadowService(Shadows(), "127.0.0.1", broker.port, tls=fleet.context(SERVICE),
                      authorize=REGISTERED.__contains__)
    s.start()
    yield s
    s.stop()


@needs_mosquitto
def test_device_report_is_committed_and_acknowledged_through_the_broker(service, broker, fleet):
    with ShadowClient("pump-a", "127.0.0.1", broker.port, tls=fleet.context("pump-a")) as dev:
        dev.report({"temp_C": 21.5, "fw": "1.0"})
        assert dev.wait_synced(10) and dev.pending == 0
    assert service._shadows.get("pump-a")["state"]["reported"]["temp_C"] == 21.5


@needs_mosquitto
def test_desired_change_reaches_the_device_callback_and_the_device_reports_it(
        service, broker, fleet):
    applied: list[dict] = []

    def on_delta(delta: dict) -> dict:
        applied.append(delta)
        return delta  # the device did what was asked

    app = Listener(broker, fleet, OPERATOR, [shadow_topic("pump-b", "update", "#")])
    with ShadowClient("pump-b", "127.0.0.1", broker.port, tls=fleet.context("pump-b"),
                      on_delta=on_delta) as dev:
        assert dev.wait_synced(10)
        app.publish(shadow_topic("pump-b", "update"),
                    b'{"state": {"desired": {"speed": 7, "mode": "eco"}}}')
        deadline = time.monotonic() + 10
        while not (applied and _converged(service._shadows, "pump-b")):
            assert time.monotonic() < deadline, "the shadow did not converge"
            time.sleep(0.02)
        assert dev.wait_synced(10)
    app.close()
    assert applied == [{"speed": 7, "mode": "eco"}]
    assert service._shadows.get("pump-b")["state"]["reported"] == {"speed": 7, "mode": "eco"}


def _converged(shadows: Shadows, thing: str) -> bool:
    """The shadow exists and has no delta (False while the update is still on its way)."""
    try:
        return "delta" not in shadows.get(thing)["state"]
    except ShadowError:
        return False


@needs_mosquitto
def test_a_device_cannot_read_or_change_another_things_shadow(service, broker, fleet):
    service._shadows.update("pump-b", '{"state": {"reported": {"owner": "b"}}}')
    before = service._shadows.get("pump-b")
    intruder = Listener(broker, fleet, "pump-a", [shadow_topic("pump-b", "update", "#"),
                                                  shadow_topic("pump-b", "get", "#"),
                                                  shadow_topic("pump-a", "update", "#")])
    intruder.publish(shadow_topic("pump-b", "update"), b'{"state": {"reported": {"owner": "a"}}}')
    intruder.publish(shadow_topic("pump-b", "get"), b"{}")
    # a later request of its own is answered: the broker delivered in order, dropping the others
    intruder.publish(shadow_topic("pump-a", "update"), b'{"state": {}, "clientToken": "mark"}')
    assert intruder.next("pump-a/shadow/update/accepted")["clientToken"] == "mark"
    # the owner's own updates are not readable by the intruder either
    owner = Listener(broker, fleet, "pump-b", [shadow_topic("pump-b", "update", "accepted")])
    owner.publish(shadow_topic("pump-b", "update"), b'{"state": {}, "clientToken": "own"}')
    assert owner.next("update/accepted")["clientToken"] == "own"
    time.sleep(0.2)
    seen = [t for t, _ in list(intruder.messages.queue) if "/pump-b/" in t]
    intruder.close()
    owner.close()
    assert seen == []
    after = service._shadows.get("pump-b")
    assert after["state"] == before["state"] and after["version"] == before["version"] + 1


@needs_mosquitto
def test_the_service_refuses_a_thing_it_does_not_know(service, broker, fleet):
    app = Listener(broker, fleet, OPERATOR, [shadow_topic("pump-z", "update", "#")])
    app.publish(shadow_topic("pump-z", "update"), b'{"state": {"desired": {"a": 1}}}')
    assert app.next("update/rejected")["code"] == 403
    app.close()


def _connects(broker: Broker, context) -> bool:
    """Whether a client with this TLS context gets a CONNACK (waits for the answer, at most
    5 s: a refused handshake ends the connection at once)."""
    mqtt = mqtt_mod
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"u-{time.monotonic_ns()}",
                         protocol=mqtt.MQTTv311)
    client.tls_set_context(context)
    done, result = threading.Event(), []

    def on_connect(c, u, f, reason, p):
        result.append(not reason.is_failure)
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *a: done.set()
    try:
        client.connect("127.0.0.1", broker.port)
    except OSError:
        return False
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return result == [True]


@needs_mosquitto
def test_an_unauthenticated_client_cannot_connect(broker, fleet):
    from edgekit.secure import CertificateAuthority, client_context, create_csr
    from edgekit.secure.keys import generate_key

    assert _connects(broker, fleet.context("pump-a"))  # the control
    assert not _connects(broker, client_context(None, None, fleet.ca.certificate))
    stranger_ca = CertificateAuthority.create_root("another fleet")
    key = generate_key()
    foreign = stranger_ca.issue_device(create_csr(key, "pump-a"))
    assert not _connects(broker, client_context(foreign, key, fleet.ca.certificate))


@needs_mosquitto
@pytest.mark.parametrize("payload,code", [
    (json.dumps({"state": {"reported": {"p": "x" * 9000}}}).encode(), 413),
    (json.dumps({"state": {"reported": {"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}}}
                ).encode(), 400),
    (b"{this is not json", 400),
    (b'["state"]', 400),
])
def test_bad_updates_are_rejected_on_the_topic_and_change_nothing(service, broker, fleet,
                                                                  payload, code):
    service._shadows.update("pump-a", '{"state": {"reported": {"keep": 1}}}')
    before = service._shadows.get("pump-a")
    dev = Listener(broker, fleet, "pump-a", [shadow_topic("pump-a", "update", "rejected")])
    dev.publish(shadow_topic("pump-a", "update"), payload)
    assert dev.next("update/rejected")["code"] == code
    dev.close()
    after = service._shadows.get("pump-a")
    assert after["state"] == before["state"] and after["version"] == before["version"]


@needs_mosquitto
def test_offline_device_reconverges_with_both_changes_applied_once(tmp_path, fleet):
    broker = Broker(fleet.directory)
    broker.start()
    shadows = Shadows()
    service = ShadowService(shadows, "127.0.0.1", broker.port, tls=fleet.context(SERVICE),
                            client_id="svc-offline")
    service.start()
    applied: list[dict] = []

    def on_delta(delta: dict) -> dict:
        applied.append(delta)
        return delta

    dev = ShadowClient("pump-a", "127.0.0.1", broker.port, tls=fleet.context("pump-a"),
                       on_delta=on_delta, queue_path=str(tmp_path / "queue.db"))
    try:
        dev.start()
        dev.report({"fw": "1.0", "speed": 1})
        assert dev.wait_synced(10)
        broker.stop()                                   # the broker goes away
        deadline = time.monotonic() + 10
        while dev.connected:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        dev.report({"fw": "1.1"})                       # the device changes meanwhile
        assert dev.pending == 1
        shadows.update("pump-a", '{"state": {"desired": {"speed": 4}}}')  # and the cloud
        broker.start()                                  # back, on the same port
        assert dev.wait_synced(20), "the device did not reconverge"
    finally:
        dev.stop()
        service.stop()
        broker.stop()
    doc = shadows.get("pump-a")
    assert doc["state"]["reported"] == {"fw": "1.1", "speed": 4}
    assert "delta" not in doc["state"]
    assert applied == [{"speed": 4}]
    tokens = [json.loads(h.request).get("clientToken") for h in shadows.history("pump-a")
              if h.request]
    device_tokens = [t for t in tokens if t]
    assert len(device_tokens) == len(set(device_tokens)) == 3  # 2 reports + 1 after the delta


@needs_mosquitto
def test_device_resends_what_a_down_service_missed_and_it_is_applied_once(tmp_path, fleet):
    broker = Broker(fleet.directory)
    broker.start()
    shadows = Shadows()
    service = ShadowService(shadows, "127.0.0.1", broker.port, tls=fleet.context(SERVICE),
                            client_id="svc-late")
    dev = ShadowClient("pump-b", "127.0.0.1", broker.port, tls=fleet.context("pump-b"),
                       retry_s=0.3)
    try:
        dev.start()
        deadline = time.monotonic() + 10
        while not dev.connected:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        dev.report({"boot": 1})
        time.sleep(1.0)                     # gets and reports go unanswered, and are resent
        assert dev.pending == 1 and not dev.wait_synced(0)
        service.start()
        assert dev.wait_synced(10)
        time.sleep(0.7)                     # a resend racing the first answer is deduped
    finally:
        dev.stop()
        service.stop()
        broker.stop()
    assert shadows.get("pump-b")["state"]["reported"] == {"boot": 1}
    assert shadows.get("pump-b")["version"] == 1
