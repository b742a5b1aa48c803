"""The MQTT shadow service killed with SIGKILL at random moments while 10,000 simulated
devices send updates: no update whose /update/accepted was published is lost, and every
shadow's version history is gapless."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgekit.twin import SQLiteShadowStore
from tests.twin.broker import OPERATOR, SERVICE, Broker, Fleet, needs_mosquitto

pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (extra [twin])")
from tests.twin.test_mqtt import Listener  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
THINGS = 10_000


@needs_mosquitto
@pytest.mark.slow
def test_service_killed_20_times_loses_no_acknowledged_update(tmp_path):
    fleet = Fleet(tmp_path)
    broker = Broker(tmp_path)
    broker.start()
    cert, key, ca = fleet.write_identity(SERVICE)
    db = tmp_path / "service.db"
    # the operator stands for 10,000 devices: it may publish any thing's update
    app = Listener(broker, fleet, OPERATOR, ["$aws/things/+/shadow/update/accepted"])
    rng = random.Random(20)
    stop = threading.Event()
    sent = 0

    def publish() -> None:
        nonlocal sent
        while not stop.is_set():
            sent += 1
            thing = f"dev-{rng.randrange(20 if rng.random() < 0.5 else THINGS):05d}"
            app.client.publish(f"$aws/things/{thing}/shadow/update", json.dumps(
                {"state": {"reported": {"seq": sent}}, "clientToken": f"u{sent}"}), qos=1)
            time.sleep(0.0005)

    publisher = threading.Thread(target=publish)
    publisher.start()
    try:
        for _ in range(KILLS):
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.twin._service_child", str(db), str(broker.port),
                 str(cert), str(key), str(ca)], cwd=ROOT, stdout=subprocess.PIPE)
            try:
                assert child.stdout.readline().strip() == b"ready"
                time.sleep(rng.uniform(0.05, 0.2))
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
        time.sleep(0.2)  # acknowledgements already published are delivered
    finally:
        stop.set()
        publisher.join()
        broker.stop()
    acks = []
    while not app.messages.empty():
        topic, payload = app.messages.get()
        doc = json.loads(payload)
        acks.append((topic.split("/")[2], doc["version"], doc["clientToken"]))
    app.close()

    store = SQLiteShadowStore(db)
    assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(acks) > 10 * KILLS, "too few acknowledgements to mean anything"
    for thing, version, token in acks:
        history = store.history(thing, "")
        assert [h.version for h in history] == list(range(1, len(history) + 1)), thing
        assert json.loads(history[version - 1].request)["clientToken"] == token
    for thing, _, version in store.shadows():
        assert [h.version for h in store.history(thing, "")] == list(range(1, version + 1))
    things = {thing for thing, _, _ in acks}
    print(f"{KILLS} kills, {sent} updates sent, {len(acks)} acknowledged, {len(things)} things")
