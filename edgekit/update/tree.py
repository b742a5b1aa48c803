"""Directory updates: the difference between an installed tree and a new tree, as one file.

:func:`diff_trees` compares two directories file by file and writes a *tree patch*: an index
(every new file with its mode, size and SHA-256, how to make it, and every old file it
expects) followed by one :mod:`~edgekit.update.patch` per file that changed.  Files are
matched by path; a new path whose content is an old file's is a rename (no data shipped);
a new path with no old counterpart is diffed against the old file of the most similar name
(``lib-1.2.so`` against ``lib-1.1.so``, ``pkg-2.1.3.dist-info/RECORD`` against
``pkg-2.1.2.dist-info/RECORD``), and the patch chooser falls back to the compressed file when
that does not help.  Symlinks and special files are refused: what is shipped is exactly the
regular files and their permission bits.

:func:`apply_tree` builds the complete new tree in an empty staging directory from the old
tree and the tree patch, checking every file's size and digest; the installer
(:mod:`~edgekit.update.install`) then switches to it atomically.

Tree patch layout: ``EKTP``, format version (u8), 3 zero bytes, index length (u64), CRC-32
of the index (u32), the index (canonical JSON, UTF-8), then the per-file patches.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit._fileio import sha256_file
from edgekit.errors import InputError, UpdateDataError, WrongBaseError
from edgekit.update.patch import (
    PatchOptions,
    _make,
    _Section,
    apply_patch_stream,
)

__all__ = ["FileEntry", "TreePatchInfo", "apply_tree", "diff_trees", "read_tree_index",
           "scan_tree"]

MAGIC = b"EKTP"
VERSION = 1
_HEAD = struct.Struct("<4sB3xQI")
_MAX_INDEX = 64 << 20
_CHUNK = 1 << 20

# fsync what is written (power-loss safety).  Only the process-kill tests turn it off: a
# killed process loses nothing the kernel already holds, and fsync is most of their time.
_FSYNC = True


def _fsync(fd: int) -> None:
    if _FSYNC:
        os.fsync(fd)


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A regular file of a tree: ``path`` relative with ``/``; ``mode`` its permission bits
    (``0o755``); ``size`` in bytes; ``sha256`` hex."""

    path: str
    mode: int
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class TreePatchInfo:
    """What :func:`diff_trees` wrote.

    Attributes:
        size: bytes of the tree patch file.
        files: the new tree's files.
        ops: how many new files each operation makes: ``keep`` (unchanged), ``rename``
            (an old file's content at a new path), ``patch`` (a delta/prefix patch from an old
            file), ``add`` (compressed whole).
        removed: old paths absent from the new tree.
        methods: per patched or added path, the patch method chosen.
    """

    size: int
    files: tuple[FileEntry, ...]
    ops: dict[str, int]
    removed: tuple[str, ...]
    methods: dict[str, str]


def scan_tree(root: str | os.PathLike[str]) -> dict[str, FileEntry]:
    """Every regular file under ``root`` by relative path.  A symlink or special file raises
    :class:`~edgekit.errors.InputError`."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a directory", name="root", got=str(root))
    out: dict[str, FileEntry] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames) + [d for d in dirnames
                                         if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / name
            st = full.lstat()
            rel = full.relative_to(root).as_posix()
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"{rel} is not a regular file (symlinks and special files "
                                 "are not shipped)", name="root", got=rel)
            size, sha = sha256_file(full)
            out[rel] = FileEntry(rel, stat.S_IMODE(st.st_mode), size, sha)
    return out


def _scan_dirs(root: Path) -> list[dict[str, Any]]:
    """Every directory under ``root`` with its permission bits (so empty ones survive)."""
    out = []
    for dirpath, dirnames, _ in os.walk(root):
        for d in sorted(dirnames):
            full = Path(dirpath) / d
            if full.is_symlink():
                continue
            out.append({"path": full.relative_to(root).as_posix(),
                        "mode": stat.S_IMODE(full.lstat().st_mode)})
    return sorted(out, key=lambda r: r["path"])


def _stem(path: str) -> str:
    """A path with its version-looking parts blanked, to pair renamed versioned files."""
    return re.sub(r"[0-9a-f]{8,}|\d+", "#", path)


def _entry_dict(e: FileEntry) -> dict[str, Any]:
    return {"path": e.path, "mode": e.mode, "size": e.size, "sha256": e.sha256}


def diff_trees(old_dir: str | os.PathLike[str], new_dir: str | os.PathLike[str],
               patch_path: str | os.PathLike[str],
               options: PatchOptions | None = None) -> TreePatchInfo:
    """Write the tree patch from ``old_dir`` to ``new_dir`` at ``patch_path`` (atomically).
    Memory: one old/new file pair at a time, as :func:`~edgekit.update.make_patch`."""
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    old, new = scan_tree(old_dir), scan_tree(new_dir)
    by_sha: dict[str, str] = {}
    for e in old.values():
        by_sha.setdefault(e.sha256, e.path)
    by_stem: dict[str, list[str]] = {}
    for p in old:
        by_stem.setdefault(_stem(p), []).append(p)
    by_name: dict[str, list[str]] = {}
    for p in old:
        by_name.setdefault(PurePosixPath(p).name, []).append(p)

    files, blobs = [], []
    ops = {"keep": 0, "rename": 0, "patch": 0, "add": 0}
    methods: dict[str, str] = {}
    offset = 0
    for path, e in sorted(new.items()):
        rec: dict[str, Any] = _entry_dict(e)
        if path in old and old[path].sha256 == e.sha256:
            rec.update(op="keep", source=path)
        elif e.sha256 in by_sha:
            rec.update(op="rename", source=by_sha[e.sha256])
        else:
            source = path if path in old else None
            if source is None:
                cands = by_stem.get(_stem(path)) or by_name.get(PurePosixPath(path).name)
                if cands:
                    source = min(cands, key=lambda c: abs(old[c].size - e.size))
            new_bytes = (new_dir / path).read_bytes()
            if source is not None:
                blob, info = _make((old_dir / source).read_bytes(), new_bytes, options)
            else:
                opts = options or PatchOptions()
                blob, info = _make(b"", new_bytes, PatchOptions(
                    level=opts.level, methods=("full",), apply_memory=opts.apply_memory))
            op = "add" if info.method == "full" else "patch"
            rec.update(op=op, source=source if op == "patch" else None, offset=offset,
                       length=len(blob), method=info.method)
            methods[path] = info.method
            blobs.append(blob)
            offset += len(blob)
        ops[rec["op"]] += 1
        files.append(rec)
    index = {
        "format": VERSION,
        "files": files,
        "base": [_entry_dict(e) for _, e in sorted(old.items())],
        "removed": sorted(set(old) - set(new)),
        "dirs": _scan_dirs(new_dir),
    }
    raw = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    patch_path = Path(patch_path)
    tmp = patch_path.with_name(f".{patch_path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(_HEAD.pack(MAGIC, VERSION, len(raw), zlib.crc32(raw)))
            f.write(raw)
            for b in blobs:
                f.write(b)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, patch_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return TreePatchInfo(patch_path.stat().st_size, tuple(new[p] for p in sorted(new)), ops,
                         tuple(sorted(set(old) - set(new))), methods)


def _bad(msg: str, reason: str = "header") -> UpdateDataError:
    return UpdateDataError(f"tree patch: {msg}", reason=reason)


def read_tree_index(f: Any) -> tuple[dict[str, Any], int]:
    """The index of a tree patch open for reading (binary, seekable), checked for shape;
    returns it and the offset of the first per-file patch."""
    f.seek(0)
    head = f.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise _bad("truncated", "truncated")
    magic, version, length, crc = _HEAD.unpack(head)
    if magic != MAGIC:
        raise _bad("not a tree patch (bad magic)", "bad magic")
    if version != VERSION:
        raise _bad(f"format version {version}, this edgekit reads {VERSION}")
    if length > _MAX_INDEX:
        raise _bad(f"index of {length} bytes")
    raw = f.read(length)
    if len(raw) != length:
        raise _bad("truncated index", "truncated")
    if zlib.crc32(raw) != crc:
        raise _bad("index checksum mismatch")
    try:
        index = json.loads(raw)
        files = index["files"]
        base = index["base"]
        for rec in index["dirs"]:
            if not isinstance(rec["mode"], int) or isinstance(rec["mode"], bool):
                raise TypeError("mode")
            _check_rel(rec["path"])
        for rec in files + base:
            for key, typ in (("path", str), ("mode", int), ("size", int), ("sha256", str)):
                if not isinstance(rec[key], typ) or isinstance(rec[key], bool):
                    raise TypeError(key)
            _check_rel(rec["path"])
            if rec.get("source") is not None:
                _check_rel(rec["source"])
    except (ValueError, KeyError, TypeError) as err:
        raise _bad(f"malformed index ({err})") from err
    return index, _HEAD.size + length


def _check_rel(path: str) -> None:
    p = PurePosixPath(path)
    if (not path or p.is_absolute() or str(p) != path or "\\" in path or "\0" in path
            or any(part in ("", ".", "..") for part in p.parts)):
        raise _bad(f"unsafe path {path!r}")


def check_base(old_dir: Path, index: dict[str, Any]) -> None:
    """The installed tree must be exactly the tree the patch was made from."""
    have = scan_tree(old_dir)
    want = {r["path"]: (r["size"], r["sha256"]) for r in index["base"]}
    got = {p: (e.size, e.sha256) for p, e in have.items()}
    if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()))[:3]
        raise WrongBaseError(f"the installed tree is not the one this update was made for "
                             f"(first differences: {diff})", expected="base", got=str(diff))


def _copy(src: Path, dst: Path, mode: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        shutil.copyfileobj(fi, fo, _CHUNK)
        fo.flush()
        _fsync(fo.fileno())
    os.chmod(dst, mode)


def apply_tree(old_dir: str | os.PathLike[str], patch_path: str | os.PathLike[str],
               staging_dir: str | os.PathLike[str], *, chunk_size: int = 256 * 1024,
               max_memory: int | None = None, check_old: bool = True,
               on_write: Callable[[str], None] | None = None) -> tuple[FileEntry, ...]:
    """Build the new tree in ``staging_dir`` (created; must not exist) from ``old_dir`` and
    the tree patch.  Every file is checked against the size and digest in the index as it
    is written, and every file and directory is fsynced.  Returns the new tree's files.

    ``check_old`` first checks that ``old_dir`` is exactly the tree the patch was made from
    (:class:`~edgekit.errors.WrongBaseError` otherwise).  ``on_write(path)`` is called after
    each file is complete (the installer's progress and fault-injection point)."""
    old_dir, staging = Path(old_dir), Path(staging_dir)
    with open(patch_path, "rb") as pf:
        index, data_start = read_tree_index(pf)
        total = pf.seek(0, os.SEEK_END)
        if check_old:
            check_base(old_dir, index)
        base = {r["path"]: r for r in index["base"]}
        staging.mkdir(parents=True)
        for rec in index["dirs"]:
            (staging / rec["path"]).mkdir(parents=True, exist_ok=True)
        out_files = []
        for rec in index["files"]:
            path, mode = rec["path"], rec["mode"] & 0o7777
            dst = staging / path
            dst.parent.mkdir(parents=True, exist_ok=True)
            op = rec.get("op")
            if op in ("keep", "rename"):
                src = rec.get("source")
                if src not in base or base[src]["sha256"] != rec["sha256"]:
                    raise _bad(f"{path}: {op} from a file the base does not have", "stream")
                _copy(old_dir / src, dst, mode)
            elif op in ("patch", "add"):
                off, length = rec.get("offset"), rec.get("length")
                if (not isinstance(off, int) or not isinstance(length, int) or off < 0
                        or length < 0 or data_start + off + length > total):
                    raise _bad(f"{path}: patch outside the file", "truncated")
                src = rec.get("source")
                if op == "patch" and src not in base:
                    raise _bad(f"{path}: patch from a file the base does not have", "stream")
                section: Any = _SeekableSection(pf, data_start + off, length)
                with open(dst, "wb") as out:
                    if op == "patch":
                        with open(old_dir / src, "rb") as of:
                            info = apply_patch_stream(of, section, out, chunk_size=chunk_size,
                                                      max_memory=max_memory, _emit=False)
                    else:
                        info = apply_patch_stream(None, section, out, chunk_size=chunk_size,
                                                  max_memory=max_memory, verify_old=False,
                                                  _emit=False)
                    out.flush()
                    _fsync(out.fileno())
                os.chmod(dst, mode)
                if info.new_sha256 != rec["sha256"] or info.new_size != rec["size"]:
                    raise UpdateDataError(f"{path}: patch is for other content than the index "
                                          "lists", reason="digest")
            else:
                raise _bad(f"{path}: unknown operation {op!r}")
            size, sha = sha256_file(dst)
            if (size, sha) != (rec["size"], rec["sha256"]):
                raise UpdateDataError(f"{path}: staged file does not match its digest",
                                      reason="digest")
            out_files.append(FileEntry(path, mode, size, sha))
            if on_write is not None:
                on_write(path)
        for rec in reversed(index["dirs"]):  # deepest first: a 0o555 parent comes last
            os.chmod(staging / rec["path"], rec["mode"] & 0o7777)
    _fsync_tree(staging)
    return tuple(out_files)


class _SeekableSection(_Section):
    """A per-file patch inside the tree patch, as a seekable file of its own."""

    def __init__(self, f: Any, start: int, length: int) -> None:
        super().__init__(f, start, length)
        self._start = start

    def tell(self) -> int:
        return self._pos - self._start

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: self._start, os.SEEK_CUR: self._pos, os.SEEK_END: self._end}
        self._pos = min(max(base[whence] + offset, self._start), self._end)
        return self._pos - self._start


def _fsync_tree(root: Path) -> None:
    """fsync every directory under ``root`` (the files were fsynced as they were written)."""
    for dirpath, _, _ in os.walk(root):
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            _fsync(fd)
        finally:
            os.close(fd)
