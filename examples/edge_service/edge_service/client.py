"""A device-side client of the service: mutual TLS with the device's certificate, an
envelope session from X25519 + HKDF, sealed reading batches, images for detection.

    async with DeviceClient("https://gw.local:8443", "dev-1.pem", "dev-1.key",
                            "trust.pem", device_id="dev-1") as dev:
        await dev.post_readings("temp", timestamps_ns, values)
        faces = await dev.detect(open("photo.jpg", "rb").read())
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import x25519

from edge_service.app import ALGORITHM, SESSION_CONTEXT, readings_associated_data
from edgekit.secure import Sealer, TrustStore, client_context, load_certificates, session

__all__ = ["DeviceClient", "ServiceError"]


class ServiceError(Exception):
    """The service answered with an error status; ``status`` and ``body`` say which."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class DeviceClient:
    """One device's connection to the gateway (an ``aiohttp.ClientSession`` over a
    :func:`edgekit.secure.client_context`).  ``certificate=None`` connects without a client
    certificate (the gateway refuses it: for tests)."""

    def __init__(self, url: str, certificate: str | os.PathLike[str] | None,
                 private_key: str | os.PathLike[str] | None, trust: Any, *,
                 device_id: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.device_id = device_id
        if isinstance(trust, (str, os.PathLike)):  # a PEM bundle: roots + intermediates
            certs = load_certificates(trust)
            trust = TrustStore(tuple(c for c in certs if c.issuer == c.subject),
                               tuple(c for c in certs if c.issuer != c.subject))
        self.ssl_context = client_context(certificate, private_key, trust)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None
        self.sealer: Sealer | None = None
        self.session_id: str | None = None

    async def __aenter__(self) -> DeviceClient:
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl_context),
                                           timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def request(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """One request; returns ``(status, decoded JSON or text)``."""
        assert self._http is not None, "use 'async with DeviceClient(...)'"
        async with self._http.request(method, self.url + path, **kw) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def _ok(self, method: str, path: str, **kw: Any) -> Any:
        status, body = await self.request(method, path, **kw)
        if status >= 300:
            raise ServiceError(status, body)
        return body

    async def open_session(self) -> str:
        """A new envelope session: an ephemeral X25519 key pair, exchanged inside the
        mutual-TLS channel (which authenticates both public keys), keys from HKDF."""
        mine = x25519.X25519PrivateKey.generate()
        body = await self._ok("POST", "/v1/sessions", json={
            "public_key": base64.b64encode(mine.public_key().public_bytes_raw()).decode()})
        peer = base64.b64decode(body["public_key"])
        self.sealer, _opener = session(mine, peer,
                                       context=SESSION_CONTEXT + self.device_id.encode(),
                                       algorithm=ALGORITHM)
        self.session_id = body["session"]
        return self.session_id

    def seal_readings(self, batches: Sequence[dict[str, Any]]) -> bytes:
        """An envelope of ``{"readings": batches}`` for ``POST /v1/readings``."""
        assert self.sealer is not None, "open_session() first"
        payload = json.dumps({"readings": list(batches)}).encode()
        return self.sealer.seal(payload, readings_associated_data(self.device_id))

    async def post_envelope(self, envelope: bytes) -> tuple[int, Any]:
        return await self.request("POST", "/v1/readings", data=envelope, headers={
            "Edgekit-Session": self.session_id or "",
            "Content-Type": "application/octet-stream"})

    async def post_readings(self, sensor: str, timestamps_ns: Sequence[int],
                            values: Sequence[float], qualities: Sequence[int] | None = None
                            ) -> Any:
        """Seal and post one sensor's batch (a session is opened if there is none)."""
        if self.sealer is None:
            await self.open_session()
        batch: dict[str, Any] = {"sensor": sensor, "timestamps_ns": [int(t) for t in
                                                                     timestamps_ns],
                                 "values": [float(v) for v in values]}
        if qualities is not None:
            batch["qualities"] = [int(q) for q in qualities]
        status, body = await self.post_envelope(self.seal_readings([batch]))
        if status >= 300:
            raise ServiceError(status, body)
        return body

    async def readings(self, sensor: str, start_ns: int | None = None,
                       end_ns: int | None = None, device: str | None = None) -> Any:
        params = {"sensor": sensor}
        for k, v in (("start_ns", start_ns), ("end_ns", end_ns), ("device", device)):
            if v is not None:
                params[k] = str(v)
        return await self._ok("GET", "/v1/readings", params=params)

    async def detect(self, image: bytes) -> Any:
        return await self._ok("POST", "/v1/detect", data=image,
                              headers={"Content-Type": "application/octet-stream"})
