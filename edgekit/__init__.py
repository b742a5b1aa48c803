"""edgekit: edge-computing algorithms for Python gateways.

Subpackages (import the one you need): :mod:`edgekit.compress` (sensor-series codecs),
and more as they land.  :func:`show_config` tells which backend and optional dependencies
this installation has.
"""

from __future__ import annotations

from edgekit._config import show_config
from edgekit._version import __version__

__all__ = ["__version__", "show_config"]
