"""Signed delta updates for edge devices (see ``docs/update.md``).

* :mod:`~edgekit.update.patch`: binary patches (bsdiff-class delta, zstd prefix mode or the
  whole file compressed, whichever is smallest), applied in flat memory;
"""

from __future__ import annotations

from edgekit.update.patch import (
    METHODS,
    PatchInfo,
    PatchOptions,
    apply_patch,
    apply_patch_file,
    apply_patch_stream,
    make_patch,
    make_patch_file,
    patch_info,
)

__all__ = [
    "METHODS",
    "PatchInfo",
    "PatchOptions",
    "apply_patch",
    "apply_patch_file",
    "apply_patch_stream",
    "make_patch",
    "make_patch_file",
    "patch_info",
]
