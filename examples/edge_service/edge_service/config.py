"""The service's configuration: one JSON file (see ``config.example.json``), validated here
into frozen dataclasses so that a bad file fails at start with the field it is about."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import OptionsError
from edgekit.memory import StoreOptions
from edgekit.types import Node

__all__ = ["Config", "DetectConfig", "TlsConfig", "load_config"]


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """PEM files of the gateway's identity and of what it trusts.

    Attributes:
        cert: the gateway's server certificate (issued with ``issue_server``).
        key: its private key.
        trust: CA certificates device certificates must chain to: self-signed ones are the
            roots, the others are intermediates (before Python 3.13 a TLS peer's intermediates
            are not visible to the re-verification, so list them here).
        chain: intermediates sent after ``cert`` (optional).
        crl: CRLs to check device certificates against (optional).
    """

    cert: Path
    key: Path
    trust: Path
    chain: Path | None = None
    crl: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class DetectConfig:
    """Detection on posted images.

    Attributes:
        model: a ``.tflite`` path, or ``"face"`` for the BlazeFace model shipped with edgekit.
        score_threshold: lowest score reported, in [0, 1] (``None``: the model's default).
        max_results: most detections reported per image.
        max_image_bytes: larger request bodies are refused (413).
        max_pixels: images with more pixels are refused before they are decoded (413).
        task_demand: resources one detection asks of a worker node (the scheduler's units).
        task_timeout_s: how long a request waits for a node before it is refused (503).
        max_queue: detection tasks allowed to wait for a node; more are refused (503).
    """

    model: str = "face"
    score_threshold: float | None = None
    max_results: int | None = 16
    max_image_bytes: int = 8 << 20
    max_pixels: int = 24_000_000
    task_demand: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0})
    task_timeout_s: float = 10.0
    max_queue: int = 64

    def __post_init__(self) -> None:
        for name in ("max_image_bytes", "max_pixels", "max_queue"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise OptionsError(f"detect.{name} must be a positive int", name=name, got=v)
        if not isinstance(self.task_timeout_s, (int, float)) or not self.task_timeout_s > 0:
            raise OptionsError("detect.task_timeout_s must be > 0", name="task_timeout_s",
                               got=self.task_timeout_s)


@dataclass(frozen=True, slots=True)
class Config:
    """Everything the service needs.

    Attributes:
        tls: the mutual-TLS identity and trust.
        host, port: where devices connect (mutual TLS).
        metrics_host, metrics_port: a separate plain-HTTP listener serving only /metrics
            (``metrics_port=None``: none; /metrics on the mutual-TLS port still works for
            the certificates named in ``operators``).
        store: the reading store's options (segments, budget, policy, spill directory).
        nodes: the worker nodes detection tasks are placed on.
        policy, queue: the scheduler's placement policy and queue policy.
        detect: detection options.
        operators: device ids that may read any device's readings, /v1/nodes and /metrics.
        sessions_per_device: envelope sessions kept per device (the oldest is dropped).
        session_ttl_s: an envelope session unused this long is forgotten.
        max_readings_bytes: largest sealed readings body accepted (413 above).
        max_sensors_per_device: distinct sensor names a device may create (a channel each).
        max_query_readings: most readings one query returns (the rest: ``next_start_ns``).
        flush_interval_s: with the store's ``"spill"`` policy, how often accepted readings
            are flushed to disk (made durable); also at shutdown.
    """

    tls: TlsConfig
    host: str = "127.0.0.1"
    port: int = 8443
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = 9464
    store: StoreOptions = field(default_factory=StoreOptions)
    nodes: tuple[Node, ...] = (Node("local", {"cpu": 1.0}),)
    policy: str = "default"
    queue: str = "fifo"
    detect: DetectConfig = field(default_factory=DetectConfig)
    operators: frozenset[str] = frozenset()
    sessions_per_device: int = 4
    session_ttl_s: float = 3600.0
    max_readings_bytes: int = 1 << 20
    max_sensors_per_device: int = 256
    max_query_readings: int = 100_000
    flush_interval_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("port", "metrics_port"):
            v = getattr(self, name)
            if v is None and name == "metrics_port":
                continue
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 65535:
                raise OptionsError(f"{name} must be an int in 0..65535", name=name, got=v)
        if not self.nodes:
            raise OptionsError("at least one worker node is needed", name="nodes")
        if isinstance(self.sessions_per_device, bool) or not isinstance(
                self.sessions_per_device, int) or self.sessions_per_device < 1:
            raise OptionsError("sessions_per_device must be a positive int",
                               name="sessions_per_device", got=self.sessions_per_device)
        if not isinstance(self.session_ttl_s, (int, float)) or not self.session_ttl_s > 0:
            raise OptionsError("session_ttl_s must be > 0", name="session_ttl_s",
                               got=self.session_ttl_s)


def _path(base: Path, value: Any, name: str) -> Path:
    if not isinstance(value, str) or not value:
        raise OptionsError(f"{name} must be a path", name=name, got=value)
    p = Path(os.path.expandvars(value))
    return p if p.is_absolute() else base / p


def load_config(path: str | os.PathLike[str], **overrides: Any) -> Config:
    """Read a JSON configuration file; relative paths in it are relative to the file.
    ``overrides`` replace top-level fields (the command line's ``--host``/``--port``)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise OptionsError(f"cannot read the configuration {path}: {err}",
                           name="config") from err
    if not isinstance(raw, dict):
        raise OptionsError("the configuration must be a JSON object", name="config")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    base = path.resolve().parent
    known = set(Config.__slots__)  # type: ignore[attr-defined]
    unknown = sorted(set(raw) - known)
    if unknown:
        raise OptionsError(f"unknown configuration keys: {unknown}", name="config",
                           got=unknown)
    tls = raw.get("tls")
    if not isinstance(tls, dict):
        raise OptionsError("the configuration needs a 'tls' object", name="tls")
    kw: dict[str, Any] = dict(raw)
    kw["tls"] = TlsConfig(
        cert=_path(base, tls.get("cert"), "tls.cert"),
        key=_path(base, tls.get("key"), "tls.key"),
        trust=_path(base, tls.get("trust"), "tls.trust"),
        chain=_path(base, tls["chain"], "tls.chain") if tls.get("chain") else None,
        crl=tuple(_path(base, c, "tls.crl") for c in tls.get("crl", ())),
    )
    if "store" in raw:
        store = dict(raw["store"])
        if store.get("spill_dir"):
            store["spill_dir"] = _path(base, store["spill_dir"], "store.spill_dir")
        kw["store"] = StoreOptions(**store)
    if "nodes" in raw:
        kw["nodes"] = tuple(Node(n["name"], n["capacity"], n.get("labels", {}),
                                 tuple(n.get("taints", ()))) for n in raw["nodes"])
    if "detect" in raw:
        detect = dict(raw["detect"])
        if detect.get("model", "face") != "face":
            detect["model"] = str(_path(base, detect["model"], "detect.model"))
        kw["detect"] = DetectConfig(**detect)
    if "operators" in raw:
        kw["operators"] = frozenset(raw["operators"])
    try:
        return Config(**kw)
    except TypeError as err:
        raise OptionsError(f"bad configuration: {err}", name="config") from err
