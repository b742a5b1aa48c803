"""Signed artifacts: a model file, an update directory, or named blobs, signed as a manifest.

A manifest lists every file of the artifact with its size and SHA-256 digest, plus the
artifact's name, version, creation time, optional expiry and free-form string metadata.  The
manifest is signed (Ed25519 or ECDSA P-256/P-384 with SHA-256), possibly by several keys, and
stored as JSON beside the artifact (``default_manifest_path``).  Verification checks, in
order: the signatures against the *trusted* keys (at least ``threshold`` distinct ones), the
expiry, the version against the installed one (rollback), then every file: an edited, added,
removed or renamed file, a symlink, or a file where a directory was signed, is refused.

Two tiers:

* ``sign_artifact(path, key, name=, version=)`` / ``verify_artifact(path, manifest, keys)``
  for the common case, and ``read_verified(path, manifest, keys)`` for a single file read once
  and checked in memory (no window between checking and loading);
* ``build_manifest`` / ``sign_manifest`` / ``verify_manifest`` / ``check_files`` to compose,
  e.g. to sign a manifest of in-memory blobs (``{"delta.bin": b"..."}``) with extra metadata.

The format is described in ``docs/secure/artifacts.md``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from edgekit import _telemetry
from edgekit._fileio import sha256_file
from edgekit.errors import (
    ExpiredError,
    InputError,
    InputTypeError,
    OptionsError,
    RollbackError,
    SecurityError,
    SignatureError,
)
from edgekit.secure import _keys
from edgekit.secure._keys import PrivateKey, PublicKey

__all__ = [
    "ArtifactFile",
    "Manifest",
    "build_manifest",
    "check_files",
    "compare_versions",
    "default_manifest_path",
    "parse_version",
    "read_verified",
    "sign_artifact",
    "sign_manifest",
    "verify_artifact",
    "verify_manifest",
]

FORMAT = "edgekit-manifest"
FORMAT_VERSION = 1
_DOMAIN = b"edgekit-manifest-v1\n"  # prefixed to the signed bytes: a manifest signature
#                                     can never be replayed as a signature on anything else
_VERSION_RE = re.compile(r"^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8})){0,7}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

PathLike = str | os.PathLike
Content = PathLike | Mapping[str, bytes]


# --- versions ---------------------------------------------------------------------------------


def parse_version(version: str | int) -> tuple[int, ...]:
    """``"1.10.2"`` -> ``(1, 10, 2)``: up to 8 dot-separated decimal integers, trailing zeros
    dropped, so ``"2"`` and ``"2.0"`` compare equal.  Raises :class:`InputError` otherwise."""
    if isinstance(version, bool) or not isinstance(version, (str, int)):
        raise InputTypeError("version must be a str or an int", name="version",
                             expected="str like '1.2.0'", got=type(version).__name__)
    text = str(version)
    if not _VERSION_RE.match(text):
        raise InputError(f"bad version {text!r}: expected dot-separated integers like '1.2.0'",
                         name="version", expected="'1.2.0'", got=text)
    parts = [int(p) for p in text.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def compare_versions(a: str | int, b: str | int) -> int:
    """-1, 0 or 1 as version ``a`` is lower than, equal to or higher than ``b``."""
    pa, pb = parse_version(a), parse_version(b)
    return (pa > pb) - (pa < pb)


# --- data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One file of an artifact: ``path`` relative, with ``/`` separators; ``size`` in bytes;
    ``sha256`` as 64 lowercase hex digits."""

    path: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        _check_relpath(self.path)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise InputError("size must be an int >= 0", name="size", got=self.size)
        if not isinstance(self.sha256, str) or not _HEX64.match(self.sha256):
            raise InputError("sha256 must be 64 lowercase hex digits", name="sha256",
                             got=self.sha256)


def _check_relpath(path: object) -> None:
    if not isinstance(path, str) or not path:
        raise InputError("file path must be a non-empty str", name="path", got=path)
    p = PurePosixPath(path)
    if (p.is_absolute() or "\\" in path or "\x00" in path or str(p) != path
            or any(part in ("", ".", "..") for part in p.parts)):
        raise InputError(f"file path {path!r} must be relative, normalised, with '/' and "
                         "without '.' or '..'", name="path", got=path)


_KINDS = ("file", "directory", "blobs")


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a signed manifest says.

    Attributes:
        name: the artifact's name (e.g. ``"face_detection_short_range"``).
        version: dot-separated integers (``"1.2.0"``), compared numerically for rollback.
        created: UTC time of signing (second resolution).
        kind: ``"file"`` (one file, named by its basename), ``"directory"`` (every regular
            file under it, recursively) or ``"blobs"`` (in-memory named byte strings).
        files: the files, sorted by path.
        expires: UTC time after which verification refuses it, or ``None``.
        metadata: free-form ``str -> str`` pairs, signed with the rest.
        key_ids: after :func:`verify_manifest`, the trusted keys whose signatures verified
            (empty on a manifest that was only built).
    """

    name: str
    version: str
    created: datetime
    kind: str
    files: tuple[ArtifactFile, ...]
    expires: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    key_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > 256:
            raise InputError("name must be a non-empty str of at most 256 characters",
                             name="name", got=self.name)
        object.__setattr__(self, "version", str(self.version))
        parse_version(self.version)
        if self.kind not in _KINDS:
            raise InputError(f"kind must be one of {_KINDS}", name="kind", got=self.kind)
        object.__setattr__(self, "created", _utc(self.created, "created"))
        if self.expires is not None:
            object.__setattr__(self, "expires", _utc(self.expires, "expires"))
        files = tuple(self.files)
        if any(not isinstance(f, ArtifactFile) for f in files):
            raise InputTypeError("files must be ArtifactFile", name="files")
        paths = [f.path for f in files]
        if len(set(paths)) != len(paths):
            raise InputError("duplicate file paths", name="files")
        if self.kind == "file" and len(files) != 1:
            raise InputError("a 'file' manifest lists exactly one file", name="files",
                             got=len(files))
        object.__setattr__(self, "files", tuple(sorted(files, key=lambda f: f.path)))
        meta = dict(self.metadata)
        for k, v in meta.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise InputTypeError("metadata must map str to str", name="metadata")
        object.__setattr__(self, "metadata", MappingProxyType(meta))
        object.__setattr__(self, "key_ids", tuple(self.key_ids))

    @property
    def total_size(self) -> int:
        """Sum of the file sizes, in bytes."""
        return sum(f.size for f in self.files)

    def to_signed_dict(self) -> dict[str, Any]:
        """The signed part of the manifest, as JSON-ready data."""
        return {
            "name": self.name,
            "version": self.version,
            "created": _fmt_time(self.created),
            "expires": None if self.expires is None else _fmt_time(self.expires),
            "kind": self.kind,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            "metadata": dict(self.metadata),
        }


def _utc(t: object, name: str) -> datetime:
    if not isinstance(t, datetime):
        raise InputTypeError(f"{name} must be a datetime", name=name, got=type(t).__name__)
    if t.tzinfo is None:
        raise InputError(f"{name} must be timezone-aware", name=name, got=t)
    return t.astimezone(timezone.utc).replace(microsecond=0)


def _fmt_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(s: object) -> datetime:
    if not isinstance(s, str):
        raise ValueError("time is not a string")
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


# --- hashing the content ----------------------------------------------------------------------


def _scan(content: Content) -> tuple[str, list[ArtifactFile], list[str]]:
    """(kind, files, problems): problems are relative paths that are neither regular files
    nor directories (symlinks, devices), which are never signed."""
    if isinstance(content, Mapping):
        files = []
        for name, blob in content.items():
            if not isinstance(blob, (bytes, bytearray, memoryview)):
                raise InputTypeError("blob values must be bytes", name=str(name),
                                     got=type(blob).__name__)
            files.append(ArtifactFile(name, len(blob), hashlib.sha256(blob).hexdigest()))
        return "blobs", files, []
    if not isinstance(content, (str, os.PathLike)):
        raise InputTypeError("content must be a path or a mapping of name to bytes",
                             name="path", got=type(content).__name__)
    root = Path(content)
    try:
        st = root.lstat()
    except FileNotFoundError:
        raise InputError(f"{root} does not exist", name="path", got=str(root)) from None
    if stat.S_ISREG(st.st_mode):
        size, digest = sha256_file(root)
        return "file", [ArtifactFile(root.name, size, digest)], []
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{root} is neither a regular file nor a directory (symlinks are "
                         "not followed)", name="path", got=str(root))
    files, problems = [], []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for d in list(dirnames):
            if (here / d).is_symlink():
                problems.append((here / d).relative_to(root).as_posix())
                dirnames.remove(d)
        dirnames.sort()
        for fn in sorted(filenames):
            p = here / fn
            rel = p.relative_to(root).as_posix()
            if not stat.S_ISREG(p.lstat().st_mode):
                problems.append(rel)
                continue
            size, digest = sha256_file(p)
            files.append(ArtifactFile(rel, size, digest))
    return "directory", files, problems


def build_manifest(
    content: Content,
    *,
    name: str,
    version: str | int,
    metadata: Mapping[str, str] | None = None,
    expires: datetime | None = None,
    created: datetime | None = None,
) -> Manifest:
    """Hash ``content`` (a file, a directory, or a mapping of name to bytes) into an unsigned
    :class:`Manifest`.  A directory containing a symlink or special file is refused
    (:class:`InputError`): what is signed is exactly the regular files."""
    kind, files, problems = _scan(content)
    if problems:
        raise InputError(f"{len(problems)} entries are not regular files (symlinks are not "
                         f"signed): {problems[:5]}", name="path", got=problems)
    return Manifest(name=name, version=str(version), created=created or _now(), kind=kind,
                    files=tuple(files), expires=expires, metadata=metadata or {})


# --- signing ----------------------------------------------------------------------------------


def _canonical(signed: Mapping[str, Any]) -> bytes:
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def sign_manifest(manifest: Manifest, keys: PrivateKey | Sequence[PrivateKey]) -> bytes:
    """Sign ``manifest`` with one key or several (for a ``threshold`` > 1) and return the
    signed manifest as UTF-8 JSON bytes."""
    if not isinstance(manifest, Manifest):
        raise InputTypeError("manifest must be a Manifest", name="manifest",
                             got=type(manifest).__name__)
    key_list = list(keys) if isinstance(keys, (list, tuple)) else [keys]
    if not key_list:
        raise InputError("at least one signing key is needed", name="keys")
    signed = manifest.to_signed_dict()
    message = _DOMAIN + _canonical(signed)
    signatures = []
    for k in key_list:
        k = _keys.check_private(k, "keys")
        signatures.append({
            "keyid": _keys.key_id(k),
            "algorithm": _keys.algorithm_of(k),
            "signature": base64.b64encode(_keys.sign(k, message)).decode("ascii"),
        })
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "signed": signed,
           "signatures": signatures}
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode()


def default_manifest_path(path: PathLike) -> Path:
    """Where :func:`sign_artifact` writes by default: ``<path>.manifest.json`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".manifest.json")


def sign_artifact(
    path: PathLike,
    keys: PrivateKey | Sequence[PrivateKey],
    *,
    name: str,
    version: str | int,
    metadata: Mapping[str, str] | None = None,
    expires: datetime | None = None,
    out: PathLike | None = None,
) -> Path:
    """Hash the file or directory at ``path``, sign the manifest, and write it to ``out``
    (default :func:`default_manifest_path`, which must not lie inside a signed directory).
    Returns the manifest's path."""
    manifest = build_manifest(path, name=name, version=version, metadata=metadata,
                              expires=expires)
    blob = sign_manifest(manifest, keys)
    dest = Path(out) if out is not None else default_manifest_path(path)
    root = Path(path).resolve()
    if manifest.kind == "directory" and root in dest.resolve().parents:
        raise InputError("the manifest cannot be written inside the directory it signs",
                         name="out", got=str(dest))
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, dest)
    return dest


# --- verifying --------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _no_floats(text: str) -> Any:
    raise ValueError("floats are not allowed")


def _malformed(why: str) -> SignatureError:
    return SignatureError(f"not a valid signed manifest: {why}", reason="malformed")


def _load_doc(blob: bytes | str | PathLike) -> dict[str, Any]:
    if isinstance(blob, (str, os.PathLike)) and not (isinstance(blob, str)
                                                     and blob.lstrip().startswith("{")):
        blob = Path(blob).read_bytes()
    if isinstance(blob, (bytes, bytearray, memoryview)):
        try:
            blob = bytes(blob).decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed("not UTF-8") from None
    if not isinstance(blob, str):
        raise InputTypeError("manifest must be bytes, str or a path", name="manifest",
                             got=type(blob).__name__)
    if len(blob) > 64 << 20:
        raise _malformed("larger than 64 MiB")
    try:
        doc = json.loads(blob, object_pairs_hook=_no_duplicates, parse_float=_no_floats,
                         parse_constant=_no_floats)
    except (ValueError, RecursionError):
        raise _malformed("not JSON (or duplicate keys, or floats)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _malformed("no edgekit-manifest format tag")
    if doc.get("format_version") != FORMAT_VERSION:
        raise _malformed(f"format version {doc.get('format_version')!r} is not supported")
    if not isinstance(doc.get("signed"), dict) or not isinstance(doc.get("signatures"), list):
        raise _malformed("missing 'signed' or 'signatures'")
    return doc


def _manifest_from_signed(signed: dict[str, Any], key_ids: tuple[str, ...]) -> Manifest:
    try:
        expected = {"name", "version", "created", "expires", "kind", "files", "metadata"}
        if set(signed) != expected:
            raise ValueError("unexpected fields")
        files = []
        for f in signed["files"]:
            if not isinstance(f, dict) or set(f) != {"path", "size", "sha256"}:
                raise ValueError("bad file entry")
            files.append(ArtifactFile(f["path"], f["size"], f["sha256"]))
        if not isinstance(signed["metadata"], dict) or not isinstance(signed["version"], str):
            raise ValueError("bad metadata or version")
        return Manifest(
            name=signed["name"], version=signed["version"],
            created=_parse_time(signed["created"]), kind=signed["kind"], files=tuple(files),
            expires=None if signed["expires"] is None else _parse_time(signed["expires"]),
            metadata=signed["metadata"], key_ids=key_ids,
        )
    except (ValueError, TypeError, KeyError):
        raise _malformed("bad signed fields") from None


def _trusted_map(trusted_keys: Any) -> dict[str, PublicKey]:
    if isinstance(trusted_keys, (list, tuple, set, frozenset)):
        items = list(trusted_keys)
    else:
        items = [trusted_keys]
    if not items:
        raise InputError("at least one trusted key is needed", name="trusted_keys")
    out = {}
    for k in items:
        if _is_certificate(k):
            k = k.public_key()
        pub = _keys.check_public(k, "trusted_keys")
        out[_keys.key_id(pub)] = pub
    return out


def _is_certificate(obj: object) -> bool:
    from cryptography import x509
    return isinstance(obj, x509.Certificate)


def verify_manifest(
    manifest: bytes | str | PathLike,
    trusted_keys: PublicKey | Iterable[PublicKey],
    *,
    threshold: int = 1,
    installed: str | int | None = None,
    require_newer: bool = False,
    at: datetime | None = None,
    name: str | None = None,
) -> Manifest:
    """Verify a signed manifest (bytes, JSON text or a path) and return what it says.

    Args:
        trusted_keys: public keys (Ed25519, ECDSA; certificates are taken for their key) of
            which at least ``threshold`` distinct ones must have signed.
        installed: the version installed now; an offered version lower than it raises
            :class:`RollbackError` (equal too, when ``require_newer``).
        at: the time to check ``expires`` against (default: now).
        name: when given, the manifest must be for this artifact name (else
            :class:`SignatureError`, reason ``"name"``): a validly signed manifest of another
            artifact is not a substitute.

    Raises:
        SignatureError: malformed, or fewer than ``threshold`` trusted signatures verify.
        ExpiredError, RollbackError: as above.
    """
    try:
        return _verify_manifest(manifest, trusted_keys, threshold, installed, require_newer,
                                at, name)
    except SecurityError as err:
        _telemetry.emit("secure.failure", kind="artifact", reason=_reason(err))
        raise


def _reason(err: SecurityError) -> str:
    if isinstance(err, RollbackError):
        return "rollback"
    if isinstance(err, ExpiredError):
        return "expired"
    return getattr(err, "reason", None) or type(err).__name__


def _verify_manifest(manifest, trusted_keys, threshold, installed, require_newer, at,
                     name) -> Manifest:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise OptionsError("threshold must be an int >= 1", name="threshold", got=threshold)
    trusted = _trusted_map(trusted_keys)
    if threshold > len(trusted):
        raise OptionsError("threshold is larger than the number of trusted keys",
                           name="threshold", got=threshold)
    if installed is not None:
        parse_version(installed)
    doc = _load_doc(manifest)
    try:
        message = _DOMAIN + _canonical(doc["signed"])
    except (TypeError, ValueError):
        raise _malformed("signed part cannot be canonicalised") from None
    good: list[str] = []
    for sig in doc["signatures"]:
        if not isinstance(sig, dict):
            raise _malformed("bad signature entry")
        kid = sig.get("keyid")
        if not isinstance(kid, str) or kid not in trusted or kid in good:
            continue
        try:
            raw = base64.b64decode(sig.get("signature", ""), validate=True)
            _keys.verify(trusted[kid], raw, message)
        except (SignatureError, ValueError, TypeError):
            continue
        good.append(kid)
    if len(good) < threshold:
        raise SignatureError(f"manifest has {len(good)} valid signature(s) from trusted keys, "
                             f"{threshold} needed", reason="signature")
    m = _manifest_from_signed(doc["signed"], tuple(good))
    if name is not None and m.name != name:
        raise SignatureError(f"manifest is for {m.name!r}, not {name!r}", reason="name")
    now = _utc(at, "at") if at is not None else _now()
    if m.expires is not None and now > m.expires:
        raise ExpiredError(f"manifest of {m.name} {m.version} expired at {_fmt_time(m.expires)}")
    if installed is not None:
        c = compare_versions(m.version, installed)
        if c < 0 or (c == 0 and require_newer):
            raise RollbackError(
                f"{m.name} {m.version} offered, {installed} installed: refusing a "
                f"{'rollback' if c < 0 else 'reinstall'}", installed=str(installed),
                offered=m.version)
    return m


def check_files(manifest: Manifest, content: Content) -> None:
    """Check ``content`` (the file, directory or blobs) against a *verified* manifest; raises
    :class:`SignatureError` with ``reason`` ``"modified"``, ``"added"``, ``"removed"``,
    ``"kind"`` and ``path`` naming the first offending file (renaming shows as a removed and
    an added file)."""
    try:
        _check_files(manifest, content)
    except SignatureError as err:
        _telemetry.emit("secure.failure", kind="artifact", reason=err.reason or "files")
        raise


def _check_files(manifest: Manifest, content: Content) -> None:
    if not isinstance(manifest, Manifest):
        raise InputTypeError("manifest must be a Manifest", name="manifest",
                             got=type(manifest).__name__)
    if not isinstance(content, Mapping):
        p = Path(content)
        if p.is_symlink() or (manifest.kind == "file" and not p.is_file()) or (
                manifest.kind == "directory" and not p.is_dir()):
            raise SignatureError(f"{p} is not the {manifest.kind} that was signed",
                                 reason="kind", path=p.name)
        if manifest.kind == "blobs":
            raise SignatureError("the manifest signs in-memory blobs, not a path",
                                 reason="kind")
    elif manifest.kind != "blobs":
        raise SignatureError(f"the manifest signs a {manifest.kind}, not blobs", reason="kind")
    kind, files, problems = _scan(content)
    if problems:
        raise SignatureError(f"{problems[0]} is not a regular file", reason="added",
                             path=problems[0])
    want = {f.path: f for f in manifest.files}
    have = {f.path: f for f in files}
    for path in sorted(want.keys() - have.keys()):
        raise SignatureError(f"{path} is signed but missing (removed or renamed)",
                             reason="removed", path=path)
    for path in sorted(have.keys() - want.keys()):
        raise SignatureError(f"{path} is not in the signed manifest (added or renamed)",
                             reason="added", path=path)
    for path in sorted(want):
        if want[path] != have[path]:
            raise SignatureError(f"{path} differs from the signed digest", reason="modified",
                                 path=path)


def verify_artifact(
    path: Content,
    manifest: bytes | str | PathLike | None,
    trusted_keys: PublicKey | Iterable[PublicKey],
    *,
    threshold: int = 1,
    installed: str | int | None = None,
    require_newer: bool = False,
    at: datetime | None = None,
    name: str | None = None,
) -> Manifest:
    """Verify the signed ``manifest`` (default: :func:`default_manifest_path` of ``path``),
    then every file of ``path`` against it.  Returns the verified :class:`Manifest`.

    Raises :class:`SignatureError`, :class:`ExpiredError` or :class:`RollbackError` (all
    :class:`~edgekit.errors.SecurityError`); see :func:`verify_manifest` and
    :func:`check_files`."""
    if manifest is None:
        if isinstance(path, Mapping):
            raise InputError("a manifest is needed to verify blobs", name="manifest")
        mpath = default_manifest_path(path)
        if not mpath.exists():
            err = SignatureError(f"no manifest at {mpath}", reason="malformed")
            _telemetry.emit("secure.failure", kind="artifact", reason="missing")
            raise err
        manifest = mpath
    m = verify_manifest(manifest, trusted_keys, threshold=threshold, installed=installed,
                        require_newer=require_newer, at=at, name=name)
    check_files(m, path)
    return m


def read_verified(
    path: PathLike,
    manifest: bytes | str | PathLike | None,
    trusted_keys: PublicKey | Iterable[PublicKey],
    **options: Any,
) -> tuple[bytes, Manifest]:
    """Read a single-file artifact once, verify those very bytes against the signed manifest
    (options as :func:`verify_artifact`) and return ``(data, manifest)``: no window in which
    the file could be swapped between checking and loading."""
    p = Path(path)
    if manifest is None:
        manifest = default_manifest_path(p)
    m = verify_manifest(manifest, trusted_keys, **options)
    if m.kind != "file":
        raise SignatureError("the manifest does not sign a single file", reason="kind")
    data = p.read_bytes()
    check_files(
        Manifest(name=m.name, version=m.version, created=m.created, kind="blobs",
                 files=m.files, expires=m.expires, metadata=m.metadata, key_ids=m.key_ids),
        {p.name: data})
    return data, m
