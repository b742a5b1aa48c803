"""The one place edgekit.update imports zstandard (the ``[update]`` extra)."""

from __future__ import annotations

from types import ModuleType

from edgekit.errors import RuntimeUnavailableError


def zstd() -> ModuleType:
    try:
        import zstandard
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise RuntimeUnavailableError(
            "edgekit.update compresses patches with zstandard: pip install 'edgekit[update]'",
            feature="update", extra="update",
        ) from err
    return zstandard
