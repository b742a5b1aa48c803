"""Measure many separate device connections to mosquitto (docs/twin.md, "Many connections").

    python tools/twin_many_devices.py [--devices 10000] [--rate 500] [--seconds 20]
                                      [--store memory|NORMAL|FULL]

Starts mosquitto on 127.0.0.1 (mutual TLS 1.3 and the per-device ACL of the tests; the open
file limit raised to its hard limit for it and for this tool), one ``ShadowService`` in this
process, and in a child process N device connections, each a paho client with its own
certificate and its own TLS connection, all driven by one thread through paho's external-loop
API over an epoll selector (paho's own ``select()`` loop cannot watch descriptors >= 1024).
Prints: the time to issue the certificates, the time until every device is connected and
subscribed (one TLS handshake each, made one after the other), the broker's resident memory
before and after, then, at ``--rate`` updates/s spread over the devices in turn (one in flight
per device) for ``--seconds``, the acknowledged updates/s, p50 / p99 latency (publish to its
``/update/accepted``) and the service's CPU per update.  Needs mosquitto and paho-mqtt.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import paho.mqtt.client as mqtt  # noqa: E402
from twin_mqtt_bench import SelectorLoop, _cpu_of  # noqa: E402

from edgekit.twin import Shadows, SQLiteShadowStore  # noqa: E402
from edgekit.twin.mqtt import ShadowService  # noqa: E402
from edgekit.twin.topics import shadow_topic  # noqa: E402
from tests.twin.broker import SERVICE, Broker, Fleet  # noqa: E402


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Device:
    def __init__(self, thing: str, context, loop: SelectorLoop) -> None:
        self.thing = thing
        self.topic = shadow_topic(thing, "update")
        self.subscribed = False
        self.sent_at: float | None = None
        self.seq = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing,
                                  protocol=mqtt.MQTTv311)
        self.client.tls_set_context(context)
        self.client.on_connect = lambda c, *a: c.subscribe(
            shadow_topic(thing, "update", "accepted"), 1)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.latencies: list[float] = []
        loop.add(self.client)

    def _on_subscribe(self, *args) -> None:
        self.subscribed = True

    def _on_message(self, client, userdata, message) -> None:
        if self.sent_at is not None and json.loads(message.payload).get(
                "clientToken") == f"{self.thing}-{self.seq}":
            self.latencies.append(time.perf_counter() - self.sent_at)
            self.sent_at = None

    def send(self) -> bool:
        if self.sent_at is not None or not self.subscribed:
            return False
        self.seq += 1
        self.sent_at = time.perf_counter()
        self.client.publish(self.topic, json.dumps(
            {"state": {"reported": {"seq": self.seq, "temp_C": 21.5}},
             "clientToken": f"{self.thing}-{self.seq}"}), qos=1)
        return True


def _serve_once(loop: SelectorLoop) -> None:
    """One pass over what is ready, without waiting."""
    flag = [False]

    def once() -> None:
        flag[0] = True
    loop.run_until(lambda: flag[0], 5, tick=once)


def _devices_process(devices: int, rate: float, seconds: float, fleet: Fleet, port: int,
                     connected, go, results) -> None:
    started = time.perf_counter()
    contexts = [fleet.context(f"dev-{i:05d}") for i in range(devices)]
    certificates_s = time.perf_counter() - started
    loop = SelectorLoop()
    fleet_devices = [_Device(f"dev-{i:05d}", contexts[i], loop) for i in range(devices)]
    started = time.perf_counter()
    for n, device in enumerate(fleet_devices):
        device.client.connect("127.0.0.1", port, keepalive=300)  # TCP + TLS handshake
        if n % 50 == 49:  # serve the CONNACKs and SUBACKs of those already connected
            _serve_once(loop)
    loop.run_until(lambda: all(d.subscribed for d in fleet_devices), 600)
    connect_s = time.perf_counter() - started
    connected.set()
    go.wait()
    state = {"sent": 0, "next": 0, "skipped": 0}
    begin = time.perf_counter()
    cpu = time.process_time()

    def tick() -> None:
        due = int((time.perf_counter() - begin) * rate) - state["sent"]
        for _ in range(max(0, due)):
            device = fleet_devices[state["next"] % devices]
            state["next"] += 1
            if device.send():
                state["sent"] += 1
            else:
                state["skipped"] += 1
                state["sent"] += 1  # the slot is used: the offered rate stays --rate

    loop.run_until(lambda: time.perf_counter() - begin >= seconds, seconds + 60, tick)
    loop.run_until(lambda: all(d.sent_at is None for d in fleet_devices), 60)
    wall = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    results.put({"certificates_s": certificates_s, "connect_s": connect_s, "wall": wall,
                 "skipped": state["skipped"], "devices_cpu": cpu,
                 "latencies": [x for d in fleet_devices for x in d.latencies]})
    for device in fleet_devices:
        device.client.disconnect()
        device.client.loop_write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=500.0, help="offered updates/s in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--store", default="FULL", choices=["memory", "NORMAL", "FULL"])
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < args.devices + 200:
        sys.exit(f"the open file hard limit ({hard}) is below {args.devices + 200}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by mosquitto
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fleet = Fleet(directory)
        broker = Broker(directory)
        broker.start()
        pid = broker.process.pid
        shadows = (Shadows() if args.store == "memory" else Shadows(
            SQLiteShadowStore(directory / "many.db", synchronous=args.store)))
        service = ShadowService(shadows, "127.0.0.1", broker.port, tls=fleet.context(SERVICE),
                                client_id="svc-many", dedupe=0)
        service.start()
        ctx = multiprocessing.get_context("fork")
        connected, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
        try:
            rss_before = _rss_mib(pid)
            child = ctx.Process(target=_devices_process, args=(
                args.devices, args.rate, args.seconds, fleet, broker.port, connected, go,
                results))
            child.start()
            assert connected.wait(1800), "the devices did not connect"
            rss_connected = _rss_mib(pid)
            cpu, broker_cpu = time.process_time(), _cpu_of(pid)
            go.set()
            out = results.get(timeout=args.seconds + 600)
            cpu, broker_cpu = time.process_time() - cpu, _cpu_of(pid) - broker_cpu
            child.join(120)
        finally:
            service.stop()
            shadows.close()
            broker.stop()
    lat = sorted(out["latencies"])
    n = len(lat)
    print(f"devices={args.devices} offered={args.rate:g}/s for {args.seconds:g} s "
          f"store={args.store} load average {os.getloadavg()[0]:.1f}")
    print(f"certificates issued in {out['certificates_s']:.1f} s; all connected and "
          f"subscribed in {out['connect_s']:.1f} s "
          f"({args.devices / out['connect_s']:.0f} connections/s)")
    print(f"broker RSS {rss_before:.1f} MiB before, {rss_connected:.1f} MiB with "
          f"{args.devices} connections ({(rss_connected - rss_before) * 1024 / args.devices:.1f}"
          f" KiB each)")
    print(f"acknowledged {n} updates in {out['wall']:.1f} s = {n / out['wall']:,.0f}/s "
          f"(skipped, device busy: {out['skipped']}); p50 {statistics.median(lat) * 1e3:.2f} ms, "
          f"p99 {lat[min(n - 1, int(0.99 * n))] * 1e3:.2f} ms; CPU per update: service "
          f"{cpu / n * 1e6:.0f} us, broker {broker_cpu / n * 1e6:.0f} us, devices "
          f"{out['devices_cpu'] / n * 1e6:.0f} us")


if __name__ == "__main__":
    main()
