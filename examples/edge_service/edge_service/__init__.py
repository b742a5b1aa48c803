"""An example edge gateway built only from edgekit's public API and aiohttp.

Devices connect over mutual TLS (certificates from edgekit's PKI), post envelope-sealed
readings (stored in an ``edgekit.memory.ReadingStore`` with compressed segments) and images
(detection with ``edgekit.infer``, placed on worker nodes by ``edgekit.schedule``); metrics
from ``edgekit.metrics`` on /metrics.  See ``README.md`` beside this package.
"""

from edge_service.app import ALGORITHM, SESSION_CONTEXT, EdgeService, readings_associated_data
from edge_service.config import Config, DetectConfig, TlsConfig, load_config

__all__ = [
    "ALGORITHM",
    "SESSION_CONTEXT",
    "Config",
    "DetectConfig",
    "EdgeService",
    "TlsConfig",
    "load_config",
    "readings_associated_data",
]
