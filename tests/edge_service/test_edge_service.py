"""The example edge service (examples/edge_service) end to end on 127.0.0.1: real mutual TLS
with certificates from edgekit's PKI, envelope-sealed readings of a real sensor series stored
in compressed segments and read back exactly, BlazeFace on a real image placed on worker
nodes by edgekit.schedule, and /metrics scraped and parsed with prometheus_client.

The service runs in a thread with its own event loop (as it would in its own process); every
test talks to it over TLS sockets only.  One test also runs ``python -m edge_service`` as a
process and stops it with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("prometheus_client")
pytest.importorskip("PIL")
for _sub in ("edgekit.memory", "edgekit.schedule", "edgekit.metrics"):
    pytest.importorskip(_sub, reason=f"{_sub} is not in this tree")
from edgekit.infer import available_runtimes  # noqa: E402

if not available_runtimes():
    pytest.skip("no TFLite runtime installed", allow_module_level=True)

import aiohttp  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

import edgekit.data  # noqa: E402
from edgekit.data import load_series  # noqa: E402
from edgekit.errors import OptionsError  # noqa: E402
from edgekit.memory import ReadingStore  # noqa: E402
from edgekit.secure import (  # noqa: E402
    CertificateAuthority,
    certificate_pem,
    create_csr,
    generate_key,
    private_key_pem,
)
from tests._env import child_env  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "examples" / "edge_service"
sys.path.insert(0, str(SERVICE_DIR))

from edge_service import EdgeService, load_config  # noqa: E402
from edge_service.client import DeviceClient, ServiceError  # noqa: E402
from edge_service.provision import provision  # noqa: E402

ASTRONAUT = Path(edgekit.data.__file__).parent / "images" / "astronaut.png"  # package data
FACE_BOX = (179.0, 81.0, 93.0, 93.0)  # the face in astronaut.png, x, y, w, h (tests/infer)
T0_NS = 1_464_739_200 * 10**9  # 2016-06-01, the Payerne series' month
MINUTE_NS = 60 * 10**9
TIMEOUT = 20.0


def _config(pki: Path, tmp: Path, **extra) -> Path:
    cfg = {
        "tls": {"cert": str(pki / "gateway.pem"), "key": str(pki / "gateway.key"),
                "trust": str(pki / "trust.pem"), "chain": str(pki / "chain.pem")},
        "host": "127.0.0.1", "port": 0, "metrics_host": "127.0.0.1", "metrics_port": 0,
        "store": {"segment_size": 256},
        "nodes": [{"name": "cpu-a", "capacity": {"cpu": 1}},
                  {"name": "cpu-b", "capacity": {"cpu": 1}, "labels": {"zone": "b"}}],
        "queue": "fifo",
        "detect": {"model": "face", "task_demand": {"cpu": 1}},
        "operators": ["ops"],
        **extra,
    }
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg))
    return path


class _Running:
    """The service on a thread with its own event loop; ``stop()`` is bounded."""

    def __init__(self, service: EdgeService) -> None:
        self.service = service
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self._ready.wait(TIMEOUT):
            raise TimeoutError("the service did not start")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.service.start())
        except BaseException as err:  # noqa: BLE001 - reported to the test thread
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        fut = asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop)
        fut.result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        # as asyncio.run does: cancel what is left (aiohttp lingers to drain the body of a
        # request refused before it was read) and let it finish
        async def drain() -> None:
            left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in left:
                task.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.loop.run_until_complete(drain())
        self.loop.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    provision(out, ["dev-1", "dev-2", "ops"], hosts=["localhost"], ips=["127.0.0.1"])
    # a CA the gateway does not trust, with the same name as the real root
    rogue = CertificateAuthority.create_root("edge service fleet root")
    key = generate_key()
    (out / "rogue.pem").write_bytes(certificate_pem(rogue.issue_device(create_csr(key,
                                                                                  "dev-1"))))
    (out / "rogue.key").write_bytes(private_key_pem(key))
    return out


@pytest.fixture(scope="module")
def gateway(pki, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gw")
    running = _Running(EdgeService(load_config(_config(pki, tmp))))
    yield running
    running.stop()


def _url(gateway) -> str:
    return f"https://127.0.0.1:{gateway.service.port}"


def _client(gateway, pki, device: str, **kw) -> DeviceClient:
    return DeviceClient(_url(gateway), pki / f"{device}.pem", pki / f"{device}.key",
                        pki / "trust.pem", device_id=device, **kw)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def _scrape_text(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(gateway) -> dict[tuple[str, tuple], float]:
    async def go():
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{gateway.service.metrics_port}/metrics") as r:
            assert r.status == 200
            return await r.text()
    return _scrape_text(run(go()))


def _value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- identity -------------------------------------------------------------------------------


def test_device_is_named_by_its_certificate(gateway, pki):
    async def go():
        async with _client(gateway, pki, "dev-2") as dev:
            return await dev.request("GET", "/healthz")
    assert run(go()) == (200, {"device": "dev-2", "status": "ok"})


@pytest.mark.parametrize("who", ["no certificate", "rogue CA"])
def test_client_without_a_trusted_certificate_is_refused(gateway, pki, who):
    before = _scrape(gateway)

    async def go():
        if who == "no certificate":
            dev = DeviceClient(_url(gateway), None, None, pki / "trust.pem", device_id="x")
        else:
            dev = DeviceClient(_url(gateway), pki / "rogue.pem", pki / "rogue.key",
                               pki / "trust.pem", device_id="dev-1")
        async with dev:
            return await dev.request("GET", "/healthz")
    # TLS 1.3: the client's handshake completes first; the server's alert ends the request
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        run(go())
    # refused in the handshake: no request reached the application
    after = _scrape(gateway)
    requests = [k for k in after if k[0] == "edge_service_requests_total"]
    assert sum(after[k] - before.get(k, 0.0) for k in requests) == 0


def test_a_revoked_device_is_refused(pki, tmp_path):
    site = CertificateAuthority.load(pki / "ca" / "site", None)
    key = generate_key()
    cert = site.issue_device(create_csr(key, "dev-stolen"))
    (tmp_path / "dev-stolen.pem").write_bytes(certificate_pem(cert))
    (tmp_path / "dev-stolen.key").write_bytes(private_key_pem(key))
    (tmp_path / "crl.pem").write_bytes(site.crl([cert]).public_bytes(Encoding.PEM))
    path = _config(pki, tmp_path, metrics_port=None)
    cfg = json.loads(path.read_text())
    cfg["tls"]["crl"] = [str(tmp_path / "crl.pem")]
    path.write_text(json.dumps(cfg))
    running = _Running(EdgeService(load_config(path)))
    try:
        async def go(device, where):
            async with DeviceClient(_url(running), where / f"{device}.pem",
                                    where / f"{device}.key", pki / "trust.pem",
                                    device_id=device) as dev:
                return await dev.request("GET", "/healthz")
        assert run(go("dev-1", pki))[0] == 200
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            run(go("dev-stolen", tmp_path))
    finally:
        running.stop()


# --- readings -------------------------------------------------------------------------------


def _series(name: str, n: int, start: int = 0):
    values = load_series(name)[start:start + n]
    ts = T0_NS + (np.arange(n, dtype=np.int64) + start) * MINUTE_NS
    return ts, values


def test_sealed_readings_are_stored_compressed_and_read_back_exactly(gateway, pki):
    temp_ts, temp = _series("payerne_temp_C", 1500)
    pres_ts, pres = _series("payerne_pressure_hPa", 1500)
    quality = (np.arange(1500) % 7 == 0).astype(np.uint8) * 2
    seals_before = gateway.service.store.stats().seals

    async def go():
        async with _client(gateway, pki, "dev-1") as dev:
            await dev.open_session()
            for a in range(0, 1500, 500):  # three sealed batches of two sensors each
                env = dev.seal_readings([
                    {"sensor": "temp", "timestamps_ns": temp_ts[a:a + 500].tolist(),
                     "values": temp[a:a + 500].tolist(),
                     "qualities": quality[a:a + 500].tolist()},
                    {"sensor": "pressure", "timestamps_ns": pres_ts[a:a + 500].tolist(),
                     "values": pres[a:a + 500].tolist()}])
                status, body = await dev.post_envelope(env)
                assert status == 200, body
                assert body["stored"] == 1000
            got_t = await dev.readings("temp")
            got_p = await dev.readings("pressure", start_ns=int(pres_ts[100]),
                                       end_ns=int(pres_ts[1200]))
        async with _client(gateway, pki, "dev-2") as other:
            status, _ = await other.request("GET", "/v1/readings",
                                            params={"sensor": "temp", "device": "dev-1"})
            assert status == 403  # a device reads only its own readings
        async with _client(gateway, pki, "ops") as ops:
            got_ops = await ops.readings("temp", device="dev-1")
        return got_t, got_p, got_ops

    got_t, got_p, got_ops = run(go())
    assert got_t["value_dtype"] == "float64"  # the store keeps what it was given
    assert got_t["timestamps_ns"] == temp_ts.tolist()
    assert got_t["values"] == temp.tolist()  # exactly
    assert got_t["qualities"] == quality.tolist()
    assert got_p["timestamps_ns"] == pres_ts[100:1200].tolist()
    assert got_p["values"] == pres[100:1200].tolist()
    assert got_ops["values"] == got_t["values"]
    stats = gateway.service.store.stats()
    assert stats.seals - seals_before >= 2 * (1500 // 256)  # segments of 256 were sealed
    # the sealed segments are compressed: far below the 17 bytes a reading of a hot buffer
    assert stats.sealed_nbytes < 0.5 * stats.sealed_readings * 13


def test_replayed_tampered_and_foreign_envelopes_are_refused(gateway, pki):
    ts, vals = _series("payerne_temp_C", 10, start=5000)

    async def go():
        async with _client(gateway, pki, "dev-2") as dev:
            await dev.open_session()
            env = dev.seal_readings([{"sensor": "t2", "timestamps_ns": ts.tolist(),
                                      "values": vals.tolist()}])
            first = await dev.post_envelope(env)
            replay = await dev.post_envelope(env)
            flipped = bytearray(dev.seal_readings([{"sensor": "t2", "timestamps_ns": [],
                                                    "values": []}]))
            flipped[-1] ^= 1
            tampered = await dev.post_envelope(bytes(flipped))
            # an older reading than the channel's last: refused whole, nothing stored
            late = await dev.post_envelope(dev.seal_readings([{
                "sensor": "t2", "timestamps_ns": [int(ts[0])], "values": [1.0]}]))
            stored = await dev.readings("t2")
            sid, env2 = dev.session_id, dev.seal_readings([{
                "sensor": "t2", "timestamps_ns": [int(ts[-1]) + 1], "values": [2.0]}])
        async with _client(gateway, pki, "dev-1") as thief:  # another device, same session
            thief.session_id = sid
            foreign = await thief.post_envelope(env2)
        return first, replay, tampered, late, stored, foreign

    first, replay, tampered, late, stored, foreign = run(go())
    assert first[0] == 200 and first[1]["stored"] == 10
    assert replay[0] == 409
    assert tampered[0] == 400 and tampered[1]["error"] == "envelope failed authentication"
    assert late[0] == 422
    assert stored["timestamps_ns"] == ts.tolist()  # exactly the first envelope, once
    assert foreign[0] == 401  # sessions belong to the device whose certificate opened them


def test_bad_payloads_are_refused_with_the_reason(gateway, pki):
    async def go():
        async with _client(gateway, pki, "dev-2") as dev:
            await dev.open_session()
            out = []
            for batch in ({"sensor": "x", "timestamps_ns": [1.5], "values": [1.0]},
                          {"sensor": "x", "timestamps_ns": [1, 2], "values": [1.0]},
                          {"sensor": "", "timestamps_ns": [1], "values": [1.0]},
                          {"sensor": "x", "timestamps_ns": [1], "values": [True]}):
                out.append(await dev.post_envelope(dev.seal_readings([batch])))
            out.append(await dev.request("POST", "/v1/sessions", json={"public_key": "AAAA"}))
            dev.session_id = "0" * 32
            out.append(await dev.post_envelope(b"\x01" * 40))
            return out

    statuses = [s for s, _ in run(go())]
    assert statuses == [400, 400, 400, 400, 400, 401]


# --- detection and scheduling ---------------------------------------------------------------


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_detection_on_a_real_image_placed_on_the_worker_nodes(gateway, pki):
    image = ASTRONAUT.read_bytes()
    before = _scrape(gateway)

    async def go():
        async with _client(gateway, pki, "dev-1") as dev, _client(gateway, pki, "ops") as ops:
            # six at once on two one-slot nodes: two run, the rest wait in the queue
            results = await asyncio.gather(*(dev.detect(image) for _ in range(6)))
            state = await ops.request("GET", "/v1/nodes")
            denied = await dev.request("GET", "/v1/nodes")
            return results, state, denied

    results, (status, state), denied = run(go())
    assert status == 200 and denied[0] == 403
    for r in results:
        assert r["image"] == {"width": 512, "height": 512}
        assert len(r["detections"]) == 1
        d = r["detections"][0]
        box = (d["box"]["x"], d["box"]["y"], d["box"]["width"], d["box"]["height"])
        assert _iou(box, FACE_BOX) > 0.7, box
        assert len(d["keypoints"]) == 6 and d["categories"][0]["score"] > 0.5
        assert r["node"] in ("cpu-a", "cpu-b")
    assert {r["node"] for r in results} == {"cpu-a", "cpu-b"}  # both nodes were needed
    assert state["running"] == {} and state["queued"] == []
    assert all(u == 0.0 for u in state["utilization"].values())
    after = _scrape(gateway)
    placed = (_value(after, "edgekit_schedule_tasks_total", policy="default", mode="online",
                     result="placed")
              - _value(before, "edgekit_schedule_tasks_total", policy="default",
                       mode="online", result="placed"))
    assert placed == 6  # queued tasks placed by release() are reported too (issue #17)
    runs = [k for k in after if k[0] == "edgekit_infer_runs_total"]
    assert sum(after[k] - before.get(k, 0.0) for k in runs) == 6
    assert sum(n["completed"] for n in state["nodes"]) >= 6


def test_bad_images_are_refused(gateway, pki):
    async def go():
        async with _client(gateway, pki, "dev-1") as dev:
            garbage = await dev.request("POST", "/v1/detect", data=b"not an image" * 10)
            empty = await dev.request("POST", "/v1/detect", data=b"")
            # announce 9 MiB and send none of it: refused from Content-Length, unread
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gateway.service.port, ssl=dev.ssl_context,
                server_hostname="localhost")
            writer.write(b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (9 << 20))
            await writer.drain()
            status_line = await reader.readline()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
            return garbage[0], empty[0], status_line.split()[1]
    assert run(go()) == (400, 400, b"413")


# --- metrics --------------------------------------------------------------------------------


def test_metrics_count_what_the_service_did(gateway, pki):
    before = _scrape(gateway)
    ts, vals = _series("payerne_temp_C", 300, start=20000)

    async def go():
        async with _client(gateway, pki, "dev-1") as dev:
            await dev.open_session()
            env = dev.seal_readings([{"sensor": "m", "timestamps_ns": ts.tolist(),
                                      "values": vals.tolist()}])
            assert (await dev.post_envelope(env))[0] == 200
            assert (await dev.post_envelope(env))[0] == 409
            denied = await dev.request("GET", "/metrics")
        async with _client(gateway, pki, "ops") as ops:  # /metrics over mTLS for operators
            status, text = await ops.request("GET", "/metrics")
        return denied[0], status, text

    denied, status, text = run(go())
    assert denied == 403 and status == 200
    after = _scrape(gateway)

    def delta(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("edgekit_memory_appended_readings_total") == 300
    assert delta("edgekit_memory_sealed_readings_total") >= 256  # one 256-reading segment
    assert delta("edgekit_secure_failures_total", kind="envelope", reason="replay") == 1
    assert delta("edgekit_secure_operations_total", op="open") == 1
    assert delta("edge_service_requests_total", route="/v1/readings", status="409") == 1
    assert delta("edge_service_requests_total", route="/v1/readings", status="200") == 1
    assert _value(after, "edge_service_stored_readings") == len(gateway.service.store)
    mtls = _scrape_text(text)
    assert ("edgekit_memory_usage_bytes", ()) in mtls


def test_sessions_per_device_are_bounded(gateway, pki):
    async def go():
        async with _client(gateway, pki, "dev-2") as dev:
            await dev.open_session()
            first_sid, first_sealer = dev.session_id, dev.sealer
            for _ in range(4):  # sessions_per_device = 4: the first one is dropped
                await dev.open_session()
            env = dev.seal_readings([{"sensor": "s", "timestamps_ns": [1], "values": [1.0]}])
            current = await dev.post_envelope(env)
            dev.session_id, dev.sealer = first_sid, first_sealer
            env = dev.seal_readings([{"sensor": "s", "timestamps_ns": [2], "values": [2.0]}])
            return current[0], (await dev.post_envelope(env))[0]
    assert run(go()) == (200, 401)


def test_a_full_store_and_an_impossible_task_are_refused_not_lost(pki, tmp_path):
    # policy "refuse" at a tiny budget, and detection tasks no node can ever hold
    path = _config(pki, tmp_path, store={"segment_size": 16, "budget_bytes": 8192},
                   metrics_port=None, detect={"model": "face", "task_demand": {"cpu": 2}})
    running = _Running(EdgeService(load_config(path)))
    try:
        ts, vals = _series("payerne_temp_C", 4000)

        async def go():
            out = []
            async with _client(running, pki, "dev-1") as dev:
                await dev.open_session()
                for a in range(0, 4000, 10):
                    env = dev.seal_readings([{"sensor": "t", "timestamps_ns":
                                              ts[a:a + 10].tolist(),
                                              "values": vals[a:a + 10].tolist()}])
                    status, body = await dev.post_envelope(env)
                    out.append(status)
                    if status != 200:
                        break
                got = await dev.readings("t")
                image = await dev.request("POST", "/v1/detect", data=ASTRONAUT.read_bytes())
            return out, got, image

        statuses, got, image = run(go())
        assert running.service.metrics_port is None
    finally:
        running.stop()
    assert statuses[-1] == 503 and set(statuses[:-1]) == {200} and len(statuses) > 5
    n = 10 * (len(statuses) - 1)  # every accepted batch, whole; nothing of the refused one
    assert got["timestamps_ns"] == ts[:n].tolist()
    assert got["values"] == vals[:n].tolist()
    assert image[0] == 503 and "no worker node can run" in image[1]["error"]


# --- configuration and the process ----------------------------------------------------------


def test_configuration_errors_name_the_field(pki, tmp_path):
    path = _config(pki, tmp_path, colour="blue")
    with pytest.raises(OptionsError, match="colour"):
        load_config(path)
    path = _config(pki, tmp_path, store={"segment_size": 3})
    with pytest.raises(OptionsError, match="segment_size"):
        load_config(path)
    path = _config(pki, tmp_path, nodes=[])
    with pytest.raises(OptionsError, match="node"):
        load_config(path)


def test_the_process_serves_and_flushes_the_store_on_sigterm(pki, tmp_path):
    spill = tmp_path / "spill"
    path = _config(pki, tmp_path, store={"segment_size": 256, "policy": "spill",
                                         "spill_dir": str(spill),
                                         "budget_bytes": 64 << 10})
    env = child_env(PYTHONPATH=os.pathsep.join(
        [str(SERVICE_DIR), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "edge_service", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)  # bounded start
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("edge_service listening"), (line, proc.stderr.read()
                                                           if proc.poll() is not None else "")
        port = int(line.split("port=")[1].split()[0])
        ts, vals = _series("payerne_temp_C", 700)

        async def go():
            dev = DeviceClient(f"https://127.0.0.1:{port}", pki / "dev-1.pem",
                               pki / "dev-1.key", pki / "trust.pem", device_id="dev-1")
            async with dev:
                return await dev.post_readings("temp", ts, vals)
        assert run(go())["stored"] == 700
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    channels = json.loads((spill / "channels.json").read_text())
    assert channels == [["dev-1", "temp", 0]]
    with ReadingStore(segment_size=256, policy="spill", spill_dir=spill) as store:
        t, v, _ = store.query(channel=0)  # everything, durable after the shutdown flush
    assert t.tolist() == ts.tolist()
    assert v.dtype == np.float64 and v.tolist() == vals.tolist()  # exactly as sent


def test_service_client_raises_service_error(gateway, pki):
    async def go():
        async with _client(gateway, pki, "dev-1") as dev:
            await dev.readings("no-such-sensor")
    with pytest.raises(ServiceError) as err:
        run(go())
    assert err.value.status == 404


# --- the Dockerfile and the shipped configurations (Docker cannot run here) -----------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    lines = [ln for ln in (SERVICE_DIR / "Dockerfile").read_text().splitlines()
             if not ln.lstrip().startswith("#")]  # Docker drops comment lines first
    text = "\n".join(lines).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_is_multistage_builds_the_kernels_and_runs_unprivileged():
    ins = _dockerfile_instructions()
    stages = [rest for op, rest in ins if op == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS builder") and "slim" in stages[1]
    builder = ins[:next(i for i, (op, _) in enumerate(ins) if op == "FROM" and i > 0
                        and "runtime" in ins[i][1])]
    runtime = ins[len(builder):]
    runs = " ".join(rest for op, rest in builder if op == "RUN")
    assert "gcc" in runs and "pip wheel" in runs and "EDGEKIT_BACKEND=native" in runs
    assert "libssl-dev" in runs  # the envelope opener links libcrypto
    assert not any("gcc" in rest for op, rest in runtime if op == "RUN")  # no compiler
    users = [rest for op, rest in runtime if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # every COPY from the context names a path that exists in the repository and that the
    # Dockerfile's ignore file lets through
    ignore = [p for p in (SERVICE_DIR / "Dockerfile.dockerignore").read_text().splitlines()
              if p.startswith("!")]
    for op, rest in ins:
        if op == "COPY" and "--from=" not in rest:
            for src in rest.split()[:-1]:
                assert (ROOT / src).exists(), src
                assert any(src.rstrip("/").startswith(p[1:].rstrip("/")) for p in ignore), src
    cmd = json.loads(next(rest for op, rest in reversed(runtime) if op == "CMD"))
    assert cmd[:3] == ["python", "-m", "edge_service"]
    copied = [rest.split() for op, rest in runtime if op == "COPY"]
    assert [SERVICE_DIR.relative_to(ROOT).as_posix() + "/config.docker.json",
            cmd[3]] in copied


@pytest.mark.parametrize("name", ["config.example.json", "config.docker.json"])
def test_shipped_configurations_load(name):
    cfg = load_config(SERVICE_DIR / name)
    assert cfg.store.policy == "spill" and cfg.nodes and cfg.operators == {"ops"}
    assert cfg.tls.cert.name == "gateway.pem"
