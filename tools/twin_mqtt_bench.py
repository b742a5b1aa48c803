"""Measure shadow updates end to end through mosquitto (docs/twin.md, "Over MQTT").

    python tools/twin_mqtt_bench.py [--devices 1 100] [--updates 2000] [--window 1]
                                    [--store memory|NORMAL|FULL] [--generator selector|threads]

Starts mosquitto on 127.0.0.1 (mutual TLS 1.3, the per-device ACL of the tests), one
``ShadowService`` in this process and N device connections (raw paho clients, each with its
own certificate) in a child process.  ``--generator selector`` (the default) drives all the
device connections from one thread with paho's external-loop API over an epoll selector, as N
separate devices would (each on its own CPU); ``threads`` gives each connection paho's own
network thread (``loop_start``), where 100 threads in one process contend for its GIL and that
wait is counted in the latency.
Every device publishes its share of ``--updates`` reported-state updates (QoS 1) with at most
``--window`` unacknowledged; an update counts when its ``/update/accepted`` (committed to the
store) reaches the device.  Prints acknowledged updates per second (wall) and p50 / p99
latency (publish to accepted), and the service process's CPU time per acknowledged
update (which neighbours on a shared machine disturb less than wall time), per device
count.  Needs the mosquitto binary and paho-mqtt.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import selectors
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402

from edgekit.twin import Shadows, SQLiteShadowStore  # noqa: E402
from edgekit.twin.mqtt import ShadowService, _no_delay  # noqa: E402
from edgekit.twin.topics import shadow_topic  # noqa: E402
from tests.twin.broker import SERVICE, Broker, Fleet  # noqa: E402


class Device:
    """One connection publishing updates with a bounded window and timing their accepts."""

    def __init__(self, thing: str, fleet: Fleet, port: int, count: int, window: int,
                 loop: SelectorLoop | None = None) -> None:
        self.thing, self.count, self.window = thing, count, window
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.next = 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=thing,
                                  protocol=mqtt.MQTTv311)
        self.client.tls_set_context(fleet.context(thing))
        self.client.on_socket_open = _no_delay
        self.client.on_connect = lambda c, *a: c.subscribe(
            shadow_topic(thing, "update", "accepted"), 1)
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = self.on_message
        if loop is None:
            self.client.connect("127.0.0.1", port)
            self.client.loop_start()
        else:
            loop.add(self.client)
            self.client.connect("127.0.0.1", port)

    def send(self) -> None:
        with self.lock:
            while self.next < self.count and len(self.sent) < self.window:
                token = f"{self.thing}-{self.next}"
                self.next += 1
                self.sent[token] = time.perf_counter()
                self.client.publish(shadow_topic(self.thing, "update"), json.dumps(
                    {"state": {"reported": {"seq": self.next, "temp_C": 21.5}},
                     "clientToken": token}), qos=1)

    def on_message(self, client, userdata, message) -> None:
        token = json.loads(message.payload).get("clientToken")
        with self.lock:
            started = self.sent.pop(token, None)
            if started is not None:
                self.latencies.append(time.perf_counter() - started)
        if len(self.latencies) == self.count:
            self.finished.set()
        else:
            self.send()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class SelectorLoop:
    """Many paho clients served by one thread: paho's external-loop API (``loop_read``,
    ``loop_write``, ``loop_misc`` and the socket callbacks) over an epoll selector, which,
    unlike paho's own ``select()``, takes descriptors numbered 1024 and above."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.clients: list[mqtt.Client] = []

    def add(self, client: mqtt.Client) -> None:
        """Drive ``client`` from this loop (call before ``client.connect``)."""
        client.on_socket_open = self._open
        client.on_socket_close = self._close
        client.on_socket_register_write = self._want_write
        client.on_socket_unregister_write = self._no_write
        self.clients.append(client)

    def _open(self, client, userdata, sock) -> None:
        _no_delay(client, userdata, sock)
        self.selector.register(sock, selectors.EVENT_READ, client)

    def _close(self, client, userdata, sock) -> None:
        try:
            self.selector.unregister(sock)
        except (KeyError, ValueError):
            pass

    def _want_write(self, client, userdata, sock) -> None:
        self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, client)

    def _no_write(self, client, userdata, sock) -> None:
        try:
            self.selector.modify(sock, selectors.EVENT_READ, client)
        except (KeyError, ValueError):  # already closed
            pass

    def run_until(self, done, timeout_s: float, tick=None) -> None:
        """Serve every client until ``done()``, calling ``tick()`` (when given) every few
        milliseconds; TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        misc_at = time.monotonic() + 1.0
        wait = 0.05 if tick is None else 0.002
        while not done():
            if tick is not None:
                tick()
            for key, mask in self.selector.select(wait):
                client = key.data
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                    sock = client.socket()
                    # TLS may hold whole records already read from the socket
                    while sock is not None and hasattr(sock, "pending") and sock.pending():
                        client.loop_read()
                        sock = client.socket()
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
            now = time.monotonic()
            if now >= misc_at:  # keepalive pings
                misc_at = now + 1.0
                for client in self.clients:
                    client.loop_misc()
            if now > deadline:
                raise TimeoutError(f"not done within {timeout_s} s")


def _devices_process(devices: int, per: int, window: int, fleet: Fleet, port: int,
                     generator: str, ready, go, results) -> None:
    """The device side, in its own process (so the service does not share a GIL with the
    simulated devices): connect, wait for ``go``, publish, report the latencies."""
    loop = SelectorLoop() if generator == "selector" else None
    fleet_devices = [Device(f"dev-{i:05d}", fleet, port, per, window, loop)
                     for i in range(devices)]
    if loop is not None:
        loop.run_until(lambda: all(d.ready.is_set() for d in fleet_devices), 120)
    for d in fleet_devices:
        assert d.ready.wait(60), "a device did not subscribe"
    ready.set()
    go.wait()
    cpu = time.process_time()
    started = time.perf_counter()
    for d in fleet_devices:
        d.send()
    if loop is not None:
        loop.run_until(lambda: all(d.finished.is_set() for d in fleet_devices), 600)
    for d in fleet_devices:
        assert d.finished.wait(600), f"{d.thing} did not finish"
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    results.put((wall, cpu, [x for d in fleet_devices for x in d.latencies]))
    for d in fleet_devices:
        d.close()


def run(devices: int, updates: int, window: int, store: str, fleet: Fleet, port: int,
        directory: Path, generator: str = "selector", broker_pid: int = 0
        ) -> tuple[float, float, float, float, float, float]:
    """(acknowledged updates/s, p50 ms, p99 ms, and CPU microseconds per update of the
    service, the broker and the devices' process)."""
    ctx = multiprocessing.get_context("fork")  # the child inherits the fleet's CA
    ready, go, results = ctx.Event(), ctx.Event(), ctx.Queue()
    per = max(1, updates // devices)
    child = ctx.Process(target=_devices_process,
                        args=(devices, per, window, fleet, port, generator, ready, go,
                              results))
    child.start()
    if store == "memory":
        shadows = Shadows()
    else:
        shadows = Shadows(SQLiteShadowStore(directory / f"bench-{devices}-{store}.db",
                                            synchronous=store))
    service = ShadowService(shadows, "127.0.0.1", port, tls=fleet.context(SERVICE),
                            client_id=f"svc-{devices}", dedupe=0)
    service.start()
    try:
        assert ready.wait(120), "the devices did not connect"
        cpu, broker_cpu = time.process_time(), _cpu_of(broker_pid)
        go.set()
        wall, devices_cpu, latencies = results.get(timeout=900)
        cpu, broker_cpu = time.process_time() - cpu, _cpu_of(broker_pid) - broker_cpu
    finally:
        child.join(60)
        service.stop()
        shadows.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    n = len(latencies)
    return (n / wall, statistics.median(latencies) * 1e3, p99 * 1e3, cpu / n * 1e6,
            broker_cpu / n * 1e6, devices_cpu / n * 1e6)


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--store", default="memory", choices=["memory", "NORMAL", "FULL"])
    parser.add_argument("--generator", default="selector", choices=["selector", "threads"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fleet = Fleet(directory)
        broker = Broker(directory)
        broker.start()
        try:
            print(f"store={args.store} window={args.window} updates={args.updates} "
                  f"generator={args.generator}")
            print(f"load average before: {os.getloadavg()[0]:.1f}")
            print("| devices | acknowledged updates/s | p50 latency | p99 latency "
                  "| service CPU per update | broker CPU | devices' CPU |")
            print("|---|---|---|---|---|---|---|")
            for devices in args.devices:
                rate, p50, p99, cpu, bcpu, dcpu = run(
                    devices, args.updates, args.window, args.store, fleet, broker.port,
                    directory, args.generator, broker.process.pid)
                print(f"| {devices} | {rate:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {cpu:.0f} us "
                      f"| {bcpu:.0f} us | {dcpu:.0f} us |", flush=True)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
