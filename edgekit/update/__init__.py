"""Signed delta updates for edge devices (see ``docs/update.md``).

* :mod:`~edgekit.update.patch`: binary patches (bsdiff-class delta with C hot loops, zstd
  prefix mode, or the whole file compressed, whichever is smallest), applied as streams in
  flat memory: :func:`make_patch`, :func:`apply_patch` and their file/stream forms;
* :mod:`~edgekit.update.tree`: directory updates (changed, added, removed, renamed files,
  modes): :func:`diff_trees`, :func:`apply_tree`;
* :mod:`~edgekit.update.install`: manifests signed with :mod:`edgekit.secure` and an
  :class:`Installer` that refuses bad signatures, rollbacks, expired manifests, size/digest
  mismatches, foreign bases and endless data, then switches atomically.
"""

from __future__ import annotations

from edgekit.update.install import Installer, InstallResult, UpdateBundle, build_update
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
from edgekit.update.tree import FileEntry, TreePatchInfo, apply_tree, diff_trees, scan_tree

__all__ = [
    "METHODS",
    "FileEntry",
    "InstallResult",
    "Installer",
    "PatchInfo",
    "PatchOptions",
    "TreePatchInfo",
    "UpdateBundle",
    "apply_patch",
    "apply_patch_file",
    "apply_patch_stream",
    "apply_tree",
    "build_update",
    "diff_trees",
    "make_patch",
    "make_patch_file",
    "patch_info",
    "scan_tree",
]
