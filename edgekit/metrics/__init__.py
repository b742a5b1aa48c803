"""Prometheus metrics for every edgekit subsystem (extra ``[metrics]``, prometheus_client).

Subsystems report through :mod:`edgekit._telemetry`; :func:`enable_metrics` turns those
events into Prometheus instruments on a registry of your choice (the global one by default)
and :func:`start_metrics_server` serves them::

    from edgekit.metrics import enable_metrics, start_metrics_server
    enable_metrics()                    # prometheus_client.REGISTRY
    server = start_metrics_server(9464) # http://127.0.0.1:9464/metrics

Without prometheus_client both are documented no-ops returning ``None``.  See
``docs/metrics.md`` for every metric, its unit and labels.
"""

from __future__ import annotations

from edgekit.metrics.exporter import (
    MAX_LABEL_VALUES,
    EdgekitMetrics,
    MetricsServer,
    available,
    disable_metrics,
    enable_metrics,
    start_metrics_server,
)

__all__ = [
    "MAX_LABEL_VALUES",
    "EdgekitMetrics",
    "MetricsServer",
    "available",
    "disable_metrics",
    "enable_metrics",
    "start_metrics_server",
]
