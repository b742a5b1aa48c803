"""Prometheus metrics for every edgekit subsystem, from the telemetry events they emit.

:func:`enable_metrics` registers a telemetry sink that turns each event of
:mod:`edgekit._telemetry` into Prometheus counters, histograms and gauges (the list is in
``docs/metrics.md``), on a registry you choose: by default prometheus_client's global
``REGISTRY``, so an application that already serves it (``prometheus_client.
start_http_server``) exports edgekit's metrics with no more code.  :func:`start_metrics_server`
serves a registry over HTTP, on 127.0.0.1 unless told otherwise.

prometheus_client is optional (extra ``[metrics]``): without it :func:`enable_metrics` and
:func:`start_metrics_server` log one warning and return ``None`` (pass ``required=True`` to
get :class:`~edgekit.errors.RuntimeUnavailableError` instead), so application code can call
them unconditionally on a device without the extra.

Label values are bounded: each label keeps the first :data:`MAX_LABEL_VALUES` distinct values
it sees (cut to 64 characters) and files later ones under ``"other"``, so free-text reasons
cannot create unbounded series.  A malformed numeric field (not a finite number >= 0) is
skipped and counted in ``edgekit_metrics_malformed_fields_total``: metrics never break the
operation that reports them.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

from edgekit import _telemetry
from edgekit.errors import InputError, InputTypeError, RuntimeUnavailableError
from edgekit.metrics._table import HANDLERS, INSTRUMENTS, Instrument

__all__ = [
    "MAX_LABEL_VALUES",
    "EdgekitMetrics",
    "MetricsServer",
    "available",
    "disable_metrics",
    "enable_metrics",
    "start_metrics_server",
]

MAX_LABEL_VALUES = 32
OTHER = "other"
_MAX_LABEL_CHARS = 64

_log = logging.getLogger("edgekit.metrics")
_warned = False
_lock = threading.Lock()
_ACTIVE: dict[int, EdgekitMetrics] = {}  # id(registry) -> the sink registered on it


def _prometheus(required: bool) -> Any:
    global _warned
    try:
        import prometheus_client
    except ImportError as err:
        message = ("edgekit.metrics needs prometheus_client: pip install 'edgekit[metrics]'; "
                   "metrics are off")
        if required:
            raise RuntimeUnavailableError(message, feature="metrics", extra="metrics") from err
        if not _warned:
            _log.warning(message)
            _warned = True
        return None
    return prometheus_client


def available() -> bool:
    """True when prometheus_client is installed (metrics can be enabled)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class _Labels:
    """The bounded set of values one label may take."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        if value is None:
            return "none"
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value).strip()[:_MAX_LABEL_CHARS] or "none"
        if text in self._seen:
            return text
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(text)
                return text
        return OTHER


class _Collector:
    """All of one sink's instruments as one prometheus_client collector, so that they are
    registered and unregistered together."""

    def __init__(self, metrics: dict[str, Any]) -> None:
        self._metrics = metrics

    def collect(self) -> Any:
        for metric in self._metrics.values():
            yield from metric.collect()


class _Call:
    """What a handler of ``_table`` updates the instruments through, for one event."""

    __slots__ = ("_event", "_labels", "_metrics")

    def __init__(self, metrics: dict[str, Any], labels: dict[str, _Labels], event: str) -> None:
        self._metrics = metrics
        self._labels = labels
        self._event = event

    def num(self, fields: Mapping[str, Any], key: str) -> float | None:
        value = fields.get(key)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number < 0:
            self._metrics["metrics_malformed_fields"].labels(self._event).inc()
            return None
        return number

    def label(self, fields: Mapping[str, Any], key: str) -> str:
        return self._labels[key](fields.get(key))

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).inc(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).observe(value)

    def set(self, name: str, value: float, **labels: str) -> None:
        metric = self._metrics[name]
        (metric.labels(**labels) if labels else metric).set(value)


class EdgekitMetrics:
    """The sink: a callable ``(event, fields)`` registered with edgekit's telemetry, and the
    instruments it updates.  Made by :func:`enable_metrics`; :meth:`close` unregisters both.

    Attributes:
        registry: the prometheus_client registry the instruments are on.
        namespace: the metric name prefix (``"edgekit"``).
    """

    def __init__(self, registry: Any, namespace: str, prometheus: Any) -> None:
        self.registry = registry
        self.namespace = namespace
        self._labels: dict[str, _Labels] = {}
        self._metrics: dict[str, Any] = {}
        kinds = {"counter": prometheus.Counter, "histogram": prometheus.Histogram,
                 "gauge": prometheus.Gauge}
        for inst in INSTRUMENTS:
            kwargs: dict[str, Any] = {"namespace": namespace, "registry": None}
            if inst.buckets is not None:
                kwargs["buckets"] = inst.buckets
            self._metrics[inst.name] = kinds[inst.kind](inst.name, inst.doc, inst.labels,
                                                        **kwargs)
            for label in inst.labels:
                self._labels.setdefault(label, _Labels(MAX_LABEL_VALUES))
        self._collector = _Collector(self._metrics)
        self._event_label = _Labels(len(HANDLERS) + 8)
        registry.register(self._collector)

    # --- the telemetry sink -------------------------------------------------------------

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        entry = HANDLERS.get(event)
        name = self._event_label(event) if entry is not None else OTHER
        self._metrics["events"].labels(name).inc()
        if entry is not None:
            entry[1](_Call(self._metrics, self._labels, name), fields)

    def close(self) -> None:
        """Stop listening and unregister the instruments (idempotent)."""
        _telemetry.remove_sink(self)
        with _lock:
            if _ACTIVE.get(id(self.registry)) is self:
                del _ACTIVE[id(self.registry)]
                self.registry.unregister(self._collector)

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return INSTRUMENTS


def enable_metrics(registry: Any = None, *, namespace: str = "edgekit",
                   required: bool = False) -> EdgekitMetrics | None:
    """Export every subsystem's telemetry as Prometheus metrics on ``registry``.

    Args:
        registry: a ``prometheus_client.CollectorRegistry``; ``None`` is the global
            ``prometheus_client.REGISTRY``.
        namespace: the metric name prefix.
        required: raise instead of returning ``None`` when prometheus_client is missing.

    Returns:
        The sink (call ``.close()`` or :func:`disable_metrics` to stop), or ``None`` without
        prometheus_client.  Enabling again on the same registry returns the same sink.

    Raises:
        RuntimeUnavailableError: prometheus_client is missing and ``required`` is true.
        InputError: ``namespace`` is not a valid metric name prefix.
    """
    prometheus = _prometheus(required)
    if prometheus is None:
        return None
    if not isinstance(namespace, str) or not namespace.replace("_", "").isalnum() or (
            namespace[:1].isdigit()):
        raise InputError(f"namespace must be letters, digits and _, got {namespace!r}",
                         name="namespace", got=namespace)
    if registry is None:
        registry = prometheus.REGISTRY
    with _lock:
        sink = _ACTIVE.get(id(registry))
        if sink is None:
            sink = EdgekitMetrics(registry, namespace, prometheus)
            _ACTIVE[id(registry)] = sink
    _telemetry.add_sink(sink)
    return sink


def disable_metrics(registry: Any = None) -> None:
    """Stop the sink enabled on ``registry`` and unregister its instruments; ``None`` stops
    every sink :func:`enable_metrics` made.  No error when there is none."""
    with _lock:
        sinks = list(_ACTIVE.values()) if registry is None else [
            s for s in _ACTIVE.values() if s.registry is registry]
    for sink in sinks:
        sink.close()


class MetricsServer:
    """An HTTP server exposing a registry in Prometheus' text format (prometheus_client's
    own, in a daemon thread).  ``port`` is the bound port (useful after asking for 0),
    ``url`` the scrape URL; :meth:`close` stops it.  A context manager."""

    def __init__(self, httpd: Any, thread: threading.Thread, addr: str) -> None:
        self._httpd = httpd
        self._thread = thread
        self.addr = addr
        self.port: int = httpd.server_port

    @property
    def url(self) -> str:
        host = f"[{self.addr}]" if ":" in self.addr else self.addr
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5.0)
        self._httpd = None

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_metrics_server(port: int, addr: str = "127.0.0.1", *, registry: Any = None,
                         required: bool = False) -> MetricsServer | None:
    """Serve ``registry`` (default: the global ``prometheus_client.REGISTRY``, where
    :func:`enable_metrics` puts the instruments by default) at ``http://addr:port/metrics``.

    Args:
        port: TCP port, 0 for any free one (read it back from ``.port``).
        addr: the address to listen on; 127.0.0.1 by default so that nothing is exposed to
            the network unless asked (``"0.0.0.0"`` for a scraper on another machine).
        registry: the registry to serve.
        required: raise instead of returning ``None`` when prometheus_client is missing.

    Raises:
        InputError, InputTypeError: a bad port or address.
        OSError: the port cannot be bound (in use, no permission).
        RuntimeUnavailableError: prometheus_client is missing and ``required`` is true.
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise InputTypeError(f"port must be an int, got {type(port).__name__}", name="port",
                             got=port)
    if not 0 <= port <= 65535:
        raise InputError(f"port must be in 0..65535, got {port}", name="port", got=port)
    if not isinstance(addr, str) or not addr:
        raise InputTypeError("addr must be a non-empty str", name="addr", got=addr)
    prometheus = _prometheus(required)
    if prometheus is None:
        return None
    httpd, thread = prometheus.start_http_server(
        port, addr, registry=registry if registry is not None else prometheus.REGISTRY)
    return MetricsServer(httpd, thread, addr)
