"""Signed updates of an installed directory, switched atomically.

Server side, :func:`build_update` diffs the installed tree against the new one
(:func:`~edgekit.update.tree.diff_trees`) and signs a manifest with
:mod:`edgekit.secure`'s artifact signing (TUF-like): the target name and new version, the
base version it applies to, an expiry time, the tree patch's size and SHA-256 and, per file,
the old and new sizes and digests and the patch method.

Device side, an :class:`Installer` keeps every version in ``root/versions/<version>`` and
``root/current``, a symlink to the one in use.  :meth:`Installer.install` refuses, before
writing anything:

* a manifest without ``threshold`` valid signatures from the trusted keys, or for another
  target (:class:`~edgekit.errors.SignatureError`);
* a version not newer than the installed one (:class:`~edgekit.errors.RollbackError`);
* an expired manifest, i.e. a freeze or a stale mirror (:class:`~edgekit.errors.ExpiredError`);
* a patch file of another size or digest than signed, or longer than signed ("endless data":
  it is never read past the signed size) (:class:`~edgekit.errors.UpdateDataError`);
* an update made for another base version or an installed tree that differs from the base
  (:class:`~edgekit.errors.WrongBaseError`);

then builds the new tree in ``root/staging``, checks every file's size and digest while
writing (a per-file patch cannot write more than its declared size), fsyncs it, renames it
to ``root/versions/<version>`` and switches ``current`` with one atomic ``rename(2)`` of a
symlink.  Killed at any point, the device still runs the old version (``current`` is
untouched until the switch, and the switch is atomic); the next install cleans up the
leftovers and succeeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edgekit import _telemetry
from edgekit.errors import (
    CorruptDataError,
    InputError,
    SecurityError,
    UpdateDataError,
    UpdateError,
    WrongBaseError,
)
from edgekit.update.patch import PatchOptions
from edgekit.update.tree import (
    FileEntry,
    _fsync,
    _fsync_tree,
    apply_tree,
    diff_trees,
    read_tree_index,
    scan_tree,
)

__all__ = ["InstallResult", "Installer", "UpdateBundle", "build_update"]

PATCH_NAME = "update.ekt"
MANIFEST_NAME = "manifest.json"
_META_KEY = "edgekit.update"
_META_VERSION = "1"

# Private fault-injection hook for the interrupted-install tests: called with a label at
# every point where the installer has just written something.
_FAULT: Callable[[str], None] | None = None


def _point(label: str) -> None:
    if _FAULT is not None:
        _FAULT(label)


def _secure() -> Any:
    from edgekit.secure import artifact

    return artifact


@dataclass(frozen=True, slots=True)
class UpdateBundle:
    """What :func:`build_update` wrote: ``manifest`` (signed JSON) and ``patch`` (the tree
    patch) paths, the tree patch's size in bytes, the new tree's total size in bytes and the
    per-file methods."""

    manifest: Path
    patch: Path
    patch_size: int
    new_size: int
    methods: dict[str, str]


def build_update(old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str],
                 out_dir: str | os.PathLike[str], *, name: str, base_version: str,
                 version: str, keys: Any, expires: datetime,
                 options: PatchOptions | None = None) -> UpdateBundle:
    """Diff ``old_dir`` (version ``base_version``) against ``new_dir`` (``version``) and write
    ``out_dir/update.ekt`` and ``out_dir/manifest.json``, signed with ``keys`` (one private
    key or several, as :func:`edgekit.secure.sign_manifest` takes)."""
    art = _secure()
    if art.compare_versions(version, base_version) <= 0:
        raise InputError(f"version {version} is not newer than base {base_version}",
                         name="version", got=version)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    patch_path = out_dir / PATCH_NAME
    old = scan_tree(old_dir)
    info = diff_trees(old_dir, new_dir, patch_path, options)
    files = []
    for e in info.files:
        o = old.get(e.path)
        files.append({"path": e.path, "mode": e.mode, "new_size": e.size,
                      "new_sha256": e.sha256,
                      "old_size": None if o is None else o.size,
                      "old_sha256": None if o is None else o.sha256,
                      "method": info.methods.get(e.path, "copy")})
    size, sha = _hash(patch_path, None)
    manifest = art.Manifest(
        name=name, version=version, created=art._now(), kind="blobs",
        files=(art.ArtifactFile(PATCH_NAME, size, sha),), expires=expires,
        metadata={_META_KEY: _META_VERSION, "base_version": str(base_version),
                  "removed": json.dumps(list(info.removed)),
                  "files": json.dumps(files, sort_keys=True, separators=(",", ":"))})
    blob = art.sign_manifest(manifest, keys)
    man_path = out_dir / MANIFEST_NAME
    man_path.write_bytes(blob)
    return UpdateBundle(man_path, patch_path, size, sum(e.size for e in info.files),
                        dict(info.methods))


def _hash(path: Path, limit: int | None) -> tuple[int, str]:
    """Size and SHA-256 of a file, reading at most ``limit + 1`` bytes (so an endless
    file is refused after the signed size, not read to its end)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while True:
            want = 1 << 20 if limit is None else min(1 << 20, limit + 1 - n)
            if want <= 0:
                break
            chunk = f.read(want)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
    return n, h.hexdigest()


@dataclass(frozen=True, slots=True)
class InstallResult:
    """A finished install: the version now current, the one it replaced, its directory, its
    files, the bytes written and the seconds it took."""

    version: str
    previous: str | None
    path: Path
    files: tuple[FileEntry, ...]
    bytes_written: int
    seconds: float


class Installer:
    """Installs signed updates of one target under ``root`` (see the module docstring).

    Args:
        root: the device's directory for this target (created if missing).
        name: the target name manifests must carry.
        trusted_keys: public keys (or certificates) accepted as signers.
        threshold: how many distinct trusted keys must have signed.
        chunk_size, max_memory: as :func:`~edgekit.update.apply_patch_stream` (bytes).
    """

    def __init__(self, root: str | os.PathLike[str], name: str, trusted_keys: Any, *,
                 threshold: int = 1, chunk_size: int = 256 * 1024,
                 max_memory: int | None = None) -> None:
        self.root = Path(root)
        self.name = name
        self.trusted_keys = trusted_keys
        self.threshold = threshold
        self.chunk_size = chunk_size
        self.max_memory = max_memory
        self.root.mkdir(parents=True, exist_ok=True)

    # --- state ------------------------------------------------------------------------

    @property
    def _link(self) -> Path:
        return self.root / "current"

    @property
    def installed_version(self) -> str | None:
        """The version ``current`` points to, or ``None`` before the first install."""
        try:
            target = os.readlink(self._link)
        except FileNotFoundError:
            return None
        return Path(target).name

    @property
    def current(self) -> Path | None:
        """The directory of the version in use."""
        v = self.installed_version
        return None if v is None else self.root / "versions" / v

    def versions(self) -> list[str]:
        """Versions present under ``root/versions`` (the current one and the previous)."""
        d = self.root / "versions"
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []

    # --- operations -------------------------------------------------------------------

    def bootstrap(self, tree: str | os.PathLike[str], version: str) -> Path:
        """First install: copy ``tree`` in as ``version`` (no manifest: the device's factory
        image is trusted as it is).  Refused when a version is already installed."""
        _secure().parse_version(version)
        if self.installed_version is not None:
            raise UpdateError(f"{self.name} is already installed "
                              f"({self.installed_version}); use install()")
        scan_tree(tree)  # refuses symlinks and special files
        self._clean()
        staging = self.root / "staging" / version
        shutil.copytree(tree, staging)
        for f in staging.rglob("*"):
            if f.is_file():
                fd = os.open(f, os.O_RDONLY)
                try:
                    _fsync(fd)
                finally:
                    os.close(fd)
        _fsync_tree(staging)
        return self._commit(staging, version)

    def install(self, manifest: bytes | str | os.PathLike[str],
                patch: str | os.PathLike[str], *, at: datetime | None = None) -> InstallResult:
        """Verify ``manifest`` and apply the tree patch file ``patch``; see the module
        docstring for every refusal.  ``at`` is the time expiry is checked against."""
        t0 = time.perf_counter()
        try:
            result = self._install(manifest, Path(patch), at)
        except (SecurityError, UpdateError, CorruptDataError) as err:
            reason = getattr(err, "reason", None) or type(err).__name__
            _telemetry.emit("update.apply", method="tree", bytes=0, outcome=reason)
            raise
        _telemetry.emit("update.apply", method="tree", bytes=result.bytes_written,
                        outcome="ok", seconds=time.perf_counter() - t0)
        return result

    def _install(self, manifest: Any, patch: Path, at: datetime | None) -> InstallResult:
        t0 = time.perf_counter()
        art = _secure()
        installed = self.installed_version
        if installed is None:
            raise UpdateError(f"{self.name} is not installed: bootstrap() it first")
        m = art.verify_manifest(manifest, self.trusted_keys, threshold=self.threshold,
                                installed=installed, require_newer=True, at=at,
                                name=self.name)
        meta = dict(m.metadata)
        if meta.get(_META_KEY) != _META_VERSION or m.kind != "blobs" or [
                f.path for f in m.files] != [PATCH_NAME]:
            raise UpdateDataError("manifest is not an edgekit update manifest",
                                  reason="header")
        if meta.get("base_version") != installed:
            raise WrongBaseError(f"update to {m.version} is made for "
                                 f"{meta.get('base_version')}, {installed} is installed",
                                 expected=meta.get("base_version"), got=installed)
        signed = m.files[0]
        size, sha = _hash(patch, signed.size)
        if size != signed.size:
            raise UpdateDataError(
                f"patch file has {'more' if size > signed.size else 'fewer'} bytes than the "
                f"{signed.size} signed", reason="overrun" if size > signed.size else "size")
        if sha != signed.sha256:
            raise UpdateDataError("patch file does not match its signed SHA-256",
                                  reason="digest")
        try:
            files_meta = {f["path"]: f for f in json.loads(meta["files"])}
        except (KeyError, ValueError, TypeError) as err:
            raise UpdateDataError("manifest file list is malformed", reason="header") from err
        with open(patch, "rb") as pf:
            index, _ = read_tree_index(pf)
        listed = {r["path"]: (r["size"], r["sha256"]) for r in index["files"]}
        signed_new = {p: (f.get("new_size"), f.get("new_sha256")) for p, f in files_meta.items()}
        if listed != signed_new:
            raise UpdateDataError("tree patch lists other files than the manifest",
                                  reason="digest")
        self._clean()
        _point("cleaned")
        staging = self.root / "staging" / m.version
        new_files = apply_tree(self.current, patch, staging,  # type: ignore[arg-type]
                               chunk_size=self.chunk_size, max_memory=self.max_memory,
                               on_write=lambda p: _point(f"file {p}"))
        _point("staged")
        path = self._commit(staging, m.version)
        return InstallResult(m.version, installed, path, new_files,
                             sum(f.size for f in new_files), time.perf_counter() - t0)

    # --- internals --------------------------------------------------------------------

    def _clean(self) -> None:
        """Remove what an interrupted install left: staging, a half-made link, and version
        directories that are neither current nor the previous one."""
        shutil.rmtree(self.root / "staging", ignore_errors=True)
        tmp = self.root / ".current.tmp"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        self._prune(keep_previous=True)

    def _prune(self, keep_previous: bool) -> None:
        d = self.root / "versions"
        if not d.is_dir():
            return
        current = self.installed_version
        prev_file = self.root / "previous"
        previous = prev_file.read_text().strip() if prev_file.exists() else None
        for p in d.iterdir():
            if p.name == current or (keep_previous and p.name == previous):
                continue
            shutil.rmtree(p, ignore_errors=True)

    def _commit(self, staging: Path, version: str) -> Path:
        versions = self.root / "versions"
        versions.mkdir(exist_ok=True)
        final = versions / version
        if final.exists():  # left by an install killed between rename and switch
            shutil.rmtree(final)
        os.replace(staging, final)
        _fsync_dir(versions)
        shutil.rmtree(self.root / "staging", ignore_errors=True)
        _point("renamed")
        previous = self.installed_version
        tmp = self.root / ".current.tmp"
        os.symlink(os.path.join("versions", version), tmp)
        _point("linked")
        os.replace(tmp, self._link)  # the switch: one atomic rename
        _fsync_dir(self.root)
        _point("switched")
        if previous is not None:
            _atomic_text(self.root / "previous", previous)
        self._prune(keep_previous=True)
        _point("pruned")
        return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

