"""The gateway: an aiohttp application over edgekit's public API.

Routes (all on the mutual-TLS listener; the device is the one its certificate names):

* ``GET /healthz``: ``{"device": id}``, who the gateway thinks you are.
* ``POST /v1/sessions``: ``{"public_key": b64}`` (X25519, 32 bytes) -> ``{"session",
  "public_key", "algorithm"}``: envelope keys from X25519 + HKDF (``edgekit.secure.session``).
* ``POST /v1/readings``: an envelope (the ``Edgekit-Session`` header names the session)
  sealing ``{"readings": [{"sensor", "timestamps_ns", "values", "qualities"?}, ...]}``.
* ``GET /v1/readings?sensor=&start_ns=&end_ns=`` (``&device=`` for operators).
* ``POST /v1/detect``: a PNG/JPEG image -> detections, the node that ran them, timings.
* ``GET /v1/nodes``: operators: utilization, placements, queue.
* ``GET /metrics``: operators (and the separate plain-HTTP metrics listener).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import math
import os
import secrets
import time
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import x25519

from edge_service.config import Config
from edgekit.errors import (
    AuthenticationError,
    CapacityError,
    CertificateError,
    InputError,
    ReplayError,
)
from edgekit.infer import FACE_MODEL, Detector, DetectorOptions
from edgekit.memory import ReadingStore
from edgekit.metrics import enable_metrics
from edgekit.schedule import Scheduler
from edgekit.secure import (
    Opener,
    TrustStore,
    load_certificates,
    load_crl,
    load_private_key,
    peer_identity,
    server_context,
    session,
)
from edgekit.types import Detection, Task

__all__ = ["ALGORITHM", "EdgeService", "SESSION_CONTEXT", "readings_associated_data"]

_log = logging.getLogger("edge_service")

ALGORITHM = "chacha20-poly1305"
SESSION_CONTEXT = b"edgekit-edge-service v1|"
"""HKDF context of a device's envelope session: this prefix then the device id."""

_IDENTITY_RECHECK_S = 300.0
# the verified device id of a request (a typed key where aiohttp has them, >= 3.12)
_DEVICE: Any = web.RequestKey("device", str) if hasattr(web, "RequestKey") else "device"
_SENSOR_MAX = 64


def readings_associated_data(device_id: str) -> bytes:
    """The envelope's associated data for readings: binds a sealed batch to its route and
    device, so an envelope cannot be replayed to another route or as another device."""
    return b"POST /v1/readings|" + device_id.encode()


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


class _BadRequest(Exception):
    """A request the device must fix (400, or the given status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Session:
    opener: Opener
    last_used: float


class _Channels:
    """(device id, sensor name) -> store channel, persisted beside the spilled segments
    (written before any reading of a new channel is stored, so no segment is orphaned)."""

    def __init__(self, path: Path | None, per_device: int) -> None:
        self._path = path
        self._per_device = per_device
        self._map: dict[tuple[str, str], int] = {}
        self._count: dict[str, int] = {}
        if path is not None and path.exists():
            for device, sensor, cid in json.loads(path.read_text()):
                self._add(device, sensor, int(cid))

    def _add(self, device: str, sensor: str, cid: int) -> None:
        self._map[(device, sensor)] = cid
        self._count[device] = self._count.get(device, 0) + 1

    def get(self, device: str, sensor: str) -> int | None:
        return self._map.get((device, sensor))

    def allocate(self, device: str, sensors: list[str]) -> dict[str, int]:
        new = [s for s in dict.fromkeys(sensors) if (device, s) not in self._map]
        if self._count.get(device, 0) + len(new) > self._per_device:
            raise _BadRequest(f"a device may have at most {self._per_device} sensors", 422)
        if new:
            nxt = max(self._map.values(), default=-1) + 1
            for i, s in enumerate(new):
                self._add(device, s, nxt + i)
            self._save()
        return {s: self._map[(device, s)] for s in sensors}

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        data = json.dumps([[d, s, c] for (d, s), c in sorted(self._map.items())])
        with open(tmp, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)
        fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _parse_readings(payload: bytes) -> list[tuple[str, list[int], list[float], list[int]]]:
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise _BadRequest(f"the sealed payload is not JSON: {err}") from None
    batches = doc.get("readings") if isinstance(doc, dict) else None
    if not isinstance(batches, list) or not batches:
        raise _BadRequest("the payload must be {\"readings\": [batch, ...]}")
    out = []
    for i, b in enumerate(batches):
        if not isinstance(b, dict):
            raise _BadRequest(f"readings[{i}] must be an object")
        sensor, ts, vals = b.get("sensor"), b.get("timestamps_ns"), b.get("values")
        qs = b.get("qualities")
        if not isinstance(sensor, str) or not 0 < len(sensor) <= _SENSOR_MAX or \
                not sensor.isprintable():
            raise _BadRequest(f"readings[{i}].sensor must be a printable name of 1..64 chars")
        if not isinstance(ts, list) or not isinstance(vals, list) or len(ts) != len(vals):
            raise _BadRequest(f"readings[{i}]: timestamps_ns and values must be lists of one "
                              f"length")
        if any(type(t) is not int for t in ts):
            raise _BadRequest(f"readings[{i}].timestamps_ns must be integers (ns)")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vals):
            raise _BadRequest(f"readings[{i}].values must be numbers")
        if qs is None:
            qs = [0] * len(ts)
        elif not isinstance(qs, list) or len(qs) != len(ts) or any(
                type(q) is not int or not 0 <= q <= 255 for q in qs):
            raise _BadRequest(f"readings[{i}].qualities must be ints 0..255, one per reading")
        out.append((sensor, ts, vals, qs))
    return out


def _detection_json(d: Detection) -> dict[str, Any]:
    b = d.bounding_box
    return {
        "categories": [{"index": c.index, "score": c.score, "name": c.category_name}
                       for c in d.categories],
        "box": {"x": b.origin_x, "y": b.origin_y, "width": b.width, "height": b.height},
        "keypoints": [{"label": k.label, "x": k.x, "y": k.y} for k in d.keypoints],
    }


class _TooLarge(Exception):
    pass


def _decode_image(data: bytes, max_pixels: int) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > max_pixels:  # checked before any pixel is decoded
                raise _TooLarge(f"{im.width}x{im.height} pixels is over the limit of "
                                f"{max_pixels}")
            im = ImageOps.exif_transpose(im)
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError) as err:
        raise _BadRequest(f"cannot decode the image: {err}") from None


class _Workers:
    """Detection tasks placed on the configured worker nodes by ``edgekit.schedule``.

    Each node runs its tasks on its own threads, as many as its capacity holds at once (the
    scheduler never places more); each thread has its own :class:`Detector` (not thread-safe).
    A task that fits no node *now* waits in the scheduler's queue until a release places it.
    The scheduler is only touched from the event loop."""

    def __init__(self, config: Config) -> None:
        cfg = config.detect
        self.cfg = cfg
        self.scheduler = Scheduler(config.nodes, policy=config.policy, queue=config.queue)
        self._model = Path(FACE_MODEL if cfg.model == "face" else cfg.model).read_bytes()
        self._options = DetectorOptions(score_threshold=cfg.score_threshold,
                                        max_results=cfg.max_results)
        self._detectors: dict[int, Detector] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        for node in config.nodes:
            slots = [node.capacity.get(r, 0.0) / d for r, d in cfg.task_demand.items() if d > 0]
            n = max(1, min(int(math.floor(min(slots, default=1.0))), 16))
            self._pools[node.name] = ThreadPoolExecutor(n, thread_name_prefix=f"node-{node.name}")
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._seq = 0
        self.completed: dict[str, int] = {n.name: 0 for n in config.nodes}
        # load one detector now: a bad model fails at start, not on the first image
        self._detector()

    def _detector(self) -> Detector:
        import threading

        key = threading.get_ident()
        det = self._detectors.get(key)
        if det is None:
            det = Detector.from_bytes(self._model, self._options)
            self._detectors[key] = det
        return det

    def _run(self, data: bytes) -> tuple[tuple[int, int], list[Detection], dict[str, float]]:
        img = _decode_image(data, self.cfg.max_pixels)
        det = self._detector()
        found = det.detect(img)
        t = det.last_timings
        assert t is not None
        return (img.shape[1], img.shape[0]), found, {
            "preprocess_ms": t.preprocess_s * 1e3, "invoke_ms": t.invoke_s * 1e3,
            "postprocess_ms": t.postprocess_s * 1e3}

    async def detect(self, device: str, data: bytes) -> dict[str, Any]:
        self._seq += 1
        name = f"detect-{self._seq}"
        task = Task(name, self.cfg.task_demand, tenant=device)
        if len(self.scheduler.queue) >= self.cfg.max_queue:
            raise _BadRequest(f"{len(self.scheduler.queue)} tasks are already waiting for a "
                              f"node", 503)
        placement = self.scheduler.submit(task)
        node = placement.node
        if node is None:
            if not any(t.name == name for t in self.scheduler.queue):
                raise _BadRequest(f"no worker node can run this task: {placement.reason}", 503)
            node = await self._wait_for_node(name)
        t0 = time.perf_counter()
        job = asyncio.get_running_loop().run_in_executor(self._pools[node], self._run, data)
        try:
            size, found, timings = await asyncio.shield(job)
        except asyncio.CancelledError:  # the client went away: free the node when the
            job.add_done_callback(lambda _f: self._release(name))  # thread is done with it
            raise
        except BaseException:
            self._release(name)
            raise
        self._release(name)
        self.completed[node] += 1
        return {"node": node, "task": name, "image": {"width": size[0], "height": size[1]},
                "detections": [_detection_json(d) for d in found],
                "timings_ms": {**timings, "total": (time.perf_counter() - t0) * 1e3}}

    async def _wait_for_node(self, name: str) -> str:
        """Wait until a release places the queued task ``name``; on timeout or cancellation
        take it out of the queue (or, if it was placed meanwhile, release it)."""
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[name] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.cfg.task_timeout_s)
        except (asyncio.TimeoutError, asyncio.CancelledError) as err:
            self._waiting.pop(name, None)
            if fut.done():  # placed just now: give the slot back
                self._release(name)
            else:
                self.scheduler.queue[:] = [t for t in self.scheduler.queue if t.name != name]
            if isinstance(err, asyncio.CancelledError):
                raise
            raise _BadRequest(f"no worker node was free within {self.cfg.task_timeout_s} s",
                              503) from None

    def _release(self, name: str) -> None:
        for p in self.scheduler.release(name):
            fut = self._waiting.pop(p.task, None)
            if fut is not None and not fut.done() and p.node is not None:
                fut.set_result(p.node)

    def state(self) -> dict[str, Any]:
        s = self.scheduler
        return {"nodes": [{"name": n.name, "capacity": dict(n.capacity),
                           "free": dict(zip(s.resources, s.free[i].tolist(), strict=True)),
                           "completed": self.completed[n.name]}
                          for i, n in enumerate(s.nodes)],
                "utilization": s.utilization(), "running": dict(s.placements),
                "queued": [t.name for t in s.queue]}

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        for det in self._detectors.values():
            det.close()
        self._detectors.clear()


class EdgeService:
    """The gateway.  ``await start()`` binds the listeners (``port``/``metrics_port`` are the
    bound ports afterwards, useful with port 0), ``await stop()`` drains and flushes.

    Run one per process: edgekit's telemetry is process-wide, so two services in one
    process would each count the other's events in their metrics."""

    def __init__(self, config: Config) -> None:
        import prometheus_client as prom

        self.config = config
        tls = config.tls
        certs = load_certificates(tls.trust)
        roots = tuple(c for c in certs if c.issuer == c.subject)
        if not roots:
            raise InputError(f"{tls.trust} holds no self-signed root certificate",
                             name="tls.trust")
        self.trust = TrustStore(roots, tuple(c for c in certs if c.issuer != c.subject),
                                tuple(load_crl(p) for p in tls.crl))
        own = load_certificates(tls.cert)  # the gateway's certificate, maybe + its chain
        chain = own[1:] + (load_certificates(tls.chain) if tls.chain else [])
        self.ssl_context = server_context(own[0], load_private_key(tls.key), self.trust,
                                          chain=chain)
        self.registry = prom.CollectorRegistry()
        self._metrics_sink = enable_metrics(self.registry, required=True)
        self._requests = prom.Counter("edge_service_requests", "HTTP requests by route and "
                                      "status", ("route", "status"), registry=self.registry)
        self._duration = prom.Histogram("edge_service_request_duration_seconds",
                                        "request handling time, seconds", ("route",),
                                        registry=self.registry)
        self._util = prom.Gauge("edge_service_node_utilization", "placed demand / capacity "
                                "of the up worker nodes", ("resource",), registry=self.registry)
        self._queued = prom.Gauge("edge_service_queued_tasks", "detection tasks waiting for a "
                                  "node", registry=self.registry)
        self._sessions_g = prom.Gauge("edge_service_sessions", "open envelope sessions",
                                      registry=self.registry)
        self._stored = prom.Gauge("edge_service_stored_readings", "readings in the store",
                                  registry=self.registry)
        self._prom = prom
        spill = config.store.spill_dir
        self.store = ReadingStore(config.store)
        self.channels = _Channels(Path(spill) / "channels.json" if spill else None,
                                  config.max_sensors_per_device)
        self.workers = _Workers(config)
        self._sessions: dict[str, OrderedDict[str, _Session]] = {}
        self._identities: weakref.WeakKeyDictionary[Any, tuple[Any, float]] = \
            weakref.WeakKeyDictionary()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="store")  # keeps append order
        self._runners: list[web.AppRunner] = []
        self._flusher: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.metrics_port: int | None = None

    # --- applications -----------------------------------------------------------------------

    def device_app(self) -> web.Application:
        limit = max(self.config.detect.max_image_bytes, self.config.max_readings_bytes)
        app = web.Application(middlewares=[self._identity], client_max_size=limit + 1)
        app.add_routes([
            web.get("/healthz", self._healthz),
            web.post("/v1/sessions", self._new_session),
            web.post("/v1/readings", self._post_readings),
            web.get("/v1/readings", self._get_readings),
            web.post("/v1/detect", self._detect),
            web.get("/v1/nodes", self._nodes),
            web.get("/metrics", self._metrics),
        ])
        return app

    def metrics_app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/metrics", self._metrics)])
        return app

    async def start(self) -> None:
        cfg = self.config
        runner = web.AppRunner(self.device_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port, ssl_context=self.ssl_context)
        await site.start()
        self._runners.append(runner)
        self.port = runner.addresses[0][1]
        if cfg.metrics_port is not None:
            mrunner = web.AppRunner(self.metrics_app(), access_log=None)
            await mrunner.setup()
            await web.TCPSite(mrunner, cfg.metrics_host, cfg.metrics_port).start()
            self._runners.append(mrunner)
            self.metrics_port = mrunner.addresses[0][1]
        if self.store.options.policy == "spill":
            self._flusher = asyncio.create_task(self._flush_loop())
        _log.info("listening on https://%s:%d (mutual TLS)%s", cfg.host, self.port,
                  f", metrics on http://{cfg.metrics_host}:{self.metrics_port}/metrics"
                  if self.metrics_port is not None else "")

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self.store.close)  # flushes with "spill"
        self._writer.shutdown(wait=True)
        self.workers.close()
        if self._metrics_sink is not None:
            self._metrics_sink.close()

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.flush_interval_s)
            try:
                await loop.run_in_executor(self._writer, self.store.flush)
            except OSError:
                _log.exception("flushing the reading store failed; will retry")

    # --- identity ---------------------------------------------------------------------------

    @web.middleware
    async def _identity(self, request: web.Request, handler: Any) -> web.StreamResponse:
        t0 = time.perf_counter()
        route = request.match_info.route.resource.canonical if (
            request.match_info.route.resource is not None) else "unmatched"
        ssl_object = request.transport.get_extra_info("ssl_object") if (
            request.transport is not None) else None
        if ssl_object is None:
            response: web.StreamResponse = _error(403, "a client certificate is required")
        else:
            try:
                request[_DEVICE] = self._device_of(ssl_object)
                response = await handler(request)
            except CertificateError as err:
                response = _error(403, f"certificate refused: {err.reason}")
            except _BadRequest as err:
                response = _error(err.status, str(err))
            except web.HTTPException as err:
                response = _error(err.status, err.reason)
        self._requests.labels(route, str(response.status)).inc()
        self._duration.labels(route).observe(time.perf_counter() - t0)
        return response

    def _device_of(self, ssl_object: Any) -> str:
        now = time.monotonic()
        cached = self._identities.get(ssl_object)
        if cached is None or now - cached[1] > _IDENTITY_RECHECK_S:
            ident = peer_identity(ssl_object, self.trust)  # two verifiers must agree
            if ident.device_id is None:
                raise CertificateError("not a device certificate", reason="purpose")
            cached = (ident.device_id, now)
            self._identities[ssl_object] = cached
        return cached[0]

    def _is_operator(self, request: web.Request) -> bool:
        return request[_DEVICE] in self.config.operators

    # --- handlers ---------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"device": request[_DEVICE], "status": "ok"})

    async def _new_session(self, request: web.Request) -> web.Response:
        device = request[_DEVICE]
        try:
            body = await request.json()
            raw = base64.b64decode(body["public_key"], validate=True)
            if len(raw) != 32:
                raise ValueError("32 bytes needed")
            peer = x25519.X25519PublicKey.from_public_bytes(raw)
        except (ValueError, KeyError, TypeError) as err:
            raise _BadRequest(f"body must be {{\"public_key\": base64 of 32 bytes}}: "
                              f"{err}") from None
        mine = x25519.X25519PrivateKey.generate()  # ephemeral: new keys per session
        try:
            _sealer, opener = session(mine, peer, context=SESSION_CONTEXT + device.encode(),
                                      algorithm=ALGORITHM)
        except (AuthenticationError, InputError):
            raise _BadRequest("unusable public key") from None
        sid = secrets.token_hex(16)
        sessions = self._sessions.setdefault(device, OrderedDict())
        sessions[sid] = _Session(opener, time.monotonic())
        while len(sessions) > self.config.sessions_per_device:
            sessions.popitem(last=False)
        pub = mine.public_key().public_bytes_raw()
        return web.json_response({"session": sid, "public_key": base64.b64encode(pub).decode(),
                                  "algorithm": ALGORITHM}, status=201)

    def _session(self, device: str, sid: str | None) -> _Session:
        """The device's session ``sid`` (sessions are per device: another device's id is
        unknown here), or 401."""
        sessions = self._sessions.get(device, OrderedDict())
        s = sessions.get(sid) if sid else None
        now = time.monotonic()
        if sid is None or s is None or now - s.last_used > self.config.session_ttl_s:
            if sid is not None:
                sessions.pop(sid, None)
            raise _BadRequest("unknown or expired session: open one with POST /v1/sessions",
                              401)
        s.last_used = now
        sessions.move_to_end(sid)
        return s

    async def _post_readings(self, request: web.Request) -> web.Response:
        device = request[_DEVICE]
        s = self._session(device, request.headers.get("Edgekit-Session"))
        if (request.content_length or 0) > self.config.max_readings_bytes:
            raise _BadRequest("readings body too large", 413)
        body = await request.read()
        if len(body) > self.config.max_readings_bytes:
            raise _BadRequest("readings body too large", 413)
        try:
            payload = s.opener.open(body, readings_associated_data(device))
        except ReplayError:
            return _error(409, "envelope replayed or older than the replay window")
        except AuthenticationError:
            return _error(400, "envelope failed authentication")
        batches = _parse_readings(payload)
        cids = self.channels.allocate(device, [b[0] for b in batches])
        ts = np.array([t for b in batches for t in b[1]], dtype=object)
        try:
            ts = ts.astype(np.int64) if ts.size else np.empty(0, np.int64)
        except OverflowError:
            raise _BadRequest("timestamps_ns must fit in int64") from None
        vals = np.array([v for b in batches for v in b[2]], dtype=np.float64)
        qs = np.array([q for b in batches for q in b[3]], dtype=np.uint8)
        chans = np.array([cids[b[0]] for b in batches for _ in b[1]], dtype=np.int64)
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(self._writer, self.store.extend, ts, vals, qs,
                                                chans)
        except CapacityError as err:
            return web.json_response({"error": f"store full: {err}"}, status=503,
                                     headers={"Retry-After": "30"})
        except InputError as err:  # out-of-order or out-of-range readings: none stored
            return _error(422, str(err))
        return web.json_response({"stored": stored, "sensors": cids})

    async def _get_readings(self, request: web.Request) -> web.Response:
        q = request.query
        device = q.get("device", request[_DEVICE])
        if device != request[_DEVICE] and not self._is_operator(request):
            return _error(403, "only operators may read another device's readings")
        sensor = q.get("sensor")
        if not sensor:
            raise _BadRequest("give ?sensor=NAME")
        try:
            start = int(q["start_ns"]) if "start_ns" in q else None
            end = int(q["end_ns"]) if "end_ns" in q else None
        except ValueError:
            raise _BadRequest("start_ns and end_ns must be integers (ns)") from None
        cid = self.channels.get(device, sensor)
        if cid is None:
            return _error(404, f"no readings of sensor {sensor!r} from {device!r}")
        loop = asyncio.get_running_loop()
        try:
            t, v, qual = await loop.run_in_executor(None, self.store.query, start, end, cid)
        except InputError as err:
            raise _BadRequest(str(err)) from None
        n, limit, nxt = t.size, self.config.max_query_readings, None
        if n > limit:  # cut between two timestamps so that next_start_ns repeats nothing
            first = int(np.searchsorted(t, t[limit], "left"))
            cut = first if first > 0 else int(np.searchsorted(t, t[limit], "right"))
            nxt = int(t[cut]) if cut < n else None
            t, v, qual = t[:cut], v[:cut], qual[:cut]
        return web.json_response({
            "device": device, "sensor": sensor, "value_dtype": str(v.dtype),
            "timestamps_ns": t.tolist(), "values": v.tolist(), "qualities": qual.tolist(),
            "next_start_ns": nxt})

    async def _detect(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > self.config.detect.max_image_bytes:
            raise _BadRequest("image too large", 413)
        data = await request.read()
        if len(data) > self.config.detect.max_image_bytes:
            raise _BadRequest("image too large", 413)
        if not data:
            raise _BadRequest("post the image file as the body")
        try:
            result = await self.workers.detect(request[_DEVICE], data)
        except _TooLarge as err:
            raise _BadRequest(str(err), 413) from None
        return web.json_response(result)

    async def _nodes(self, request: web.Request) -> web.Response:
        if not self._is_operator(request):
            return _error(403, "operators only")
        return web.json_response(self.workers.state())

    async def _metrics(self, request: web.Request) -> web.Response:
        if _DEVICE in request and not self._is_operator(request):
            return _error(403, "operators only")
        for resource, u in self.workers.scheduler.utilization().items():
            self._util.labels(resource).set(u)
        self._queued.set(len(self.workers.scheduler.queue))
        self._sessions_g.set(sum(len(s) for s in self._sessions.values()))
        self._stored.set(len(self.store))
        body = self._prom.generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": self._prom.CONTENT_TYPE_LATEST})
