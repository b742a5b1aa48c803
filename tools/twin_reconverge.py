"""Time for N offline devices to reconverge after the broker returns (docs/twin.md).

    python tools/twin_reconverge.py [--devices 1000]

mosquitto (mutual TLS, the tests' ACL) and a ``ShadowService`` on a FULL file store run in
this process; N ``ShadowClient`` devices (one certificate each, persistent queues) in child
processes of 100.  Once all are synced the broker is stopped; while it is down every device
reports a change (queued) and the cloud changes every device's desired state (through
``Shadows`` directly).  The broker is restarted and the clock runs until every shadow has the
device's change, the desired change applied by the device's callback, and no delta.  Prints
that time and the number of callback calls (one per device expected).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgekit.errors import ShadowError  # noqa: E402
from edgekit.twin import Shadows, SQLiteShadowStore  # noqa: E402
from edgekit.twin.mqtt import ShadowClient, ShadowService  # noqa: E402
from tests.twin.broker import SERVICE, Broker, Fleet  # noqa: E402

PER_PROCESS = 100  # paho waits on select(), which takes no descriptor above 1023: each
                  # device holds ~6 (socket, wake-up pair, its queue's SQLite files)


def _devices(first: int, n: int, fleet: Fleet, port: int, directory: Path, synced, offline,
             reported, calls) -> None:

    def on_delta(delta: dict) -> dict:
        with calls.get_lock():
            calls.value += 1
        return delta

    devices = [ShadowClient(f"dev-{i:05d}", "127.0.0.1", port,
                            tls=fleet.context(f"dev-{i:05d}"),
                            on_delta=on_delta, queue_path=str(directory / f"q{i}.db"))
               for i in range(first, first + n)]
    for d in devices:
        d.start()
    for d in devices:
        d.report({"fw": "1.0", "speed": 1})
    for d in devices:
        assert d.wait_synced(300), f"{d.thing} did not sync"
    with synced.get_lock():
        synced.value += n
    offline.wait()
    deadline = time.monotonic() + 60
    while any(d.connected for d in devices):
        assert time.monotonic() < deadline, "devices did not notice the broker leaving"
        time.sleep(0.05)
    for d in devices:
        d.report({"fw": "1.1"})
    with reported.get_lock():
        reported.value += n
    for d in devices:
        d.wait_synced(600)
    time.sleep(1.0)
    for d in devices:
        d.stop()


def _converged(shadows: Shadows, n: int) -> int:
    done = 0
    for i in range(n):
        try:
            state = shadows.get(f"dev-{i:05d}")["state"]
        except ShadowError:
            continue
        if "delta" not in state and state.get("reported", {}).get("fw") == "1.1":
            done += 1
    return done


def _wait(condition, timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    args = parser.parse_args()
    n = args.devices
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fleet = Fleet(directory)
        broker = Broker(directory)
        broker.start()
        ctx = multiprocessing.get_context("fork")
        synced, offline, reported = ctx.Value("i", 0), ctx.Event(), ctx.Value("i", 0)
        calls = ctx.Value("i", 0)
        children = [ctx.Process(target=_devices, args=(
            first, min(PER_PROCESS, n - first), fleet, broker.port, directory, synced, offline,
            reported, calls)) for first in range(0, n, PER_PROCESS)]
        for child in children:
            child.start()
        shadows = Shadows(SQLiteShadowStore(directory / "service.db"))
        service = ShadowService(shadows, "127.0.0.1", broker.port, tls=fleet.context(SERVICE))
        service.start(timeout_s=60)
        try:
            _wait(lambda: synced.value == n, 900, "the devices did not sync")
            broker.stop()
            offline.set()
            for i in range(n):
                shadows.update(f"dev-{i:05d}", '{"state": {"desired": {"speed": 4}}}')
            _wait(lambda: reported.value == n, 300, "the devices did not report offline")
            calls_before = calls.value
            started = time.perf_counter()
            broker.start()
            while (done := _converged(shadows, n)) < n:
                assert time.perf_counter() - started < 900, f"only {done}/{n} converged"
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        finally:
            offline.set()
            for child in children:
                child.join(120)
            service.stop()
            broker.stop()
        print(f"{n} offline devices reconverged {elapsed:.1f} s after the broker returned; "
              f"on_delta calls after the return: {calls.value - calls_before}")


if __name__ == "__main__":
    main()
