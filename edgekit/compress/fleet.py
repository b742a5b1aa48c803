"""Fleet archives: many devices' series in one zarr store, read back in parallel with Dask.

The cloud side of edgekit's codec: each device's series goes into its own zarr group, chunked
along time and coded chunk by chunk with edgekit's codec, and comes back as Dask arrays whose
chunks decode in parallel, on the local scheduler or on a Dask cluster, with the same code.

Layout (zarr format 3 by default, format 2 on request)::

    fleet.zarr/                   root group, attributes {"edgekit_fleet": 1}
      <device>/                   one group per device (ragged lengths are natural)
        values                    (n,) or (n, channels), any dtype edgekit.compress.encode takes
        timestamps                (n,) int64 nanoseconds since the epoch (optional)

Both arrays share ``chunk_len`` readings per chunk; one chunk is one edgekit frame (CRC-32
checked), so a damaged chunk raises :class:`~edgekit.errors.CorruptDataError` and never
decodes to wrong values, and a chunk missing from the store is reported when the device is
opened instead of being read as the fill value.

* :class:`EdgekitZarrCodec`: the zarr 3 array-to-bytes codec (name ``"edgekit"``); registered
  with zarr on import and through the ``zarr.codecs`` entry point, so plain ``zarr.open``
  reads an archive in a process that never imported edgekit.  zarr format 2 arrays use the
  numcodecs :class:`edgekit.compress.zarr.EdgekitCodec` instead.
* :func:`write_device` (create, replace or append one device), :func:`write_fleet` (many).
* :func:`list_devices`, :func:`open_device`, :func:`open_fleet` (lazy Dask arrays and the
  stored/raw sizes), :func:`read_fleet` (every device decoded in one parallel ``compute``).

Needs the ``[fleet]`` extra (zarr>=3.1, dask[array], numcodecs); without it importing this
module raises :class:`~edgekit.errors.RuntimeUnavailableError`.  Guide:
``docs/compress/fleet.md``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Union, cast

import numpy as np

from edgekit.compress.codec import (
    _CODES,
    _check_level,
    _check_tolerance,
    _corrupt,
    decode,
    encode,
)
from edgekit.compress.series import _timestamps
from edgekit.errors import InputError, InputTypeError, OptionsError, RuntimeUnavailableError

_NEEDS = "edgekit.compress.fleet needs zarr>=3.1 and dask: pip install 'edgekit[fleet]'"
try:  # first: edgekit's module imports numcodecs past numcodecs' zfpy version parse
    from edgekit.compress.zarr import EdgekitCodec
except RuntimeUnavailableError as err:  # pragma: no cover - the no-extra install test
    raise RuntimeUnavailableError(_NEEDS, feature="compress.fleet", extra="fleet") from err
try:
    import zarr
    from zarr.abc.codec import ArrayBytesCodec
    from zarr.abc.store import Store
    from zarr.core.common import parse_named_configuration
    from zarr.registry import register_codec
except ImportError as err:  # pragma: no cover - exercised by the no-extra install test
    raise RuntimeUnavailableError(_NEEDS, feature="compress.fleet", extra="fleet") from err

if TYPE_CHECKING:
    import dask.array
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer

__all__ = [
    "CODEC_NAME",
    "DEFAULT_CHUNK_LEN",
    "FLEET_VERSION",
    "DeviceSeries",
    "EdgekitZarrCodec",
    "StoreLike",
    "list_devices",
    "open_device",
    "open_fleet",
    "read_fleet",
    "write_device",
    "write_fleet",
]

CODEC_NAME = "edgekit"
FLEET_VERSION = 1
# readings per chunk (one Dask task, one edgekit frame): 512 KiB of float64, one codec block;
# large enough that the frame header and the per-task overhead vanish, small enough that a
# cluster gets many tasks from one long series
DEFAULT_CHUNK_LEN = 65536
_ROOT_ATTR = "edgekit_fleet"
_DEVICE_ATTR = "edgekit"

StoreLike = Union[str, "os.PathLike[str]", Store]
"""A zarr store: a directory path, or any :class:`zarr.abc.store.Store` (``LocalStore``,
``MemoryStore``, ``FsspecStore.from_url("s3://...")``, ``ZipStore``...)."""


# ------------------------------------------------------------------------------ zarr 3 codec

@dataclass(frozen=True)
class EdgekitZarrCodec(ArrayBytesCodec):
    """edgekit's codec as a zarr format 3 array-to-bytes codec (``serializer=``).

    Each chunk becomes one self-contained, checksummed edgekit frame.  A chunk of more than
    one dimension is coded in Fortran order, first axis fastest, so that a ``(time,
    channels)`` chunk keeps each channel's readings adjacent (interleaved channels would
    defeat the codec's delta model).  Decoding checks the frame's dtype and shape against
    the array and raises :class:`~edgekit.errors.CorruptDataError` on a mismatch.

    Args:
        tolerance: ``None`` (lossless, bit for bit) or the absolute error bound in the
            array's units, as in :func:`edgekit.compress.encode` (floats only).
        level: effort 1..9.

    >>> zarr.create_array(store, shape=(n,), chunks=(65536,), dtype="float64",
    ...                   serializer=EdgekitZarrCodec(), compressors=None)  # doctest: +SKIP
    """

    is_fixed_size = False
    tolerance: float | None
    level: int

    def __init__(self, *, tolerance: float | None = None, level: int = 5) -> None:
        _check_tolerance(tolerance)
        object.__setattr__(self, "tolerance", None if tolerance is None else float(tolerance))
        object.__setattr__(self, "level", _check_level(level))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EdgekitZarrCodec:
        _, config = parse_named_configuration(data, CODEC_NAME, require_configuration=False)
        return cls(**cast(dict[str, Any], config or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"name": CODEC_NAME,
                "configuration": {"tolerance": self.tolerance, "level": self.level}}

    def validate(self, *, shape: tuple[int, ...], dtype: Any, chunk_grid: Any) -> None:
        native = np.dtype(dtype.to_native_dtype()).newbyteorder("=")
        if native not in _CODES:
            raise InputTypeError(f"edgekit's codec cannot store dtype {native}",
                                 name="dtype", got=str(native))

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        arr = decode(chunk_bytes.to_bytes())
        want = np.dtype(chunk_spec.dtype.to_native_dtype())
        if arr.dtype.newbyteorder("=") != want.newbyteorder("=") \
                or arr.shape != tuple(chunk_spec.shape):
            raise _corrupt(f"chunk holds {arr.dtype} {arr.shape}, the array wants "
                           f"{want} {tuple(chunk_spec.shape)}", 0, "chunk shape")
        return chunk_spec.prototype.nd_buffer.from_ndarray_like(
            cast(Any, arr.astype(want, copy=False)))

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer:
        arr = np.asarray(chunk_array.as_ndarray_like())
        if arr.ndim > 1:  # (time, channels): each channel's readings adjacent
            arr = np.asfortranarray(arr)
        blob = encode(arr, tolerance=self.tolerance, level=self.level)
        return chunk_spec.prototype.buffer.from_bytes(blob)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError  # variable-size output


register_codec(CODEC_NAME, EdgekitZarrCodec)


# ------------------------------------------------------------------------------ archive

@dataclass(frozen=True)
class DeviceSeries:
    """One device of a fleet archive, opened lazily (nothing decoded yet).

    Attributes:
        device: the device's name (its group in the store).
        values: the readings, a Dask array of shape ``(n,)`` or ``(n, channels)``, one Dask
            chunk per stored chunk; ``.compute()`` decodes the chunks in parallel.
        timestamps: int64 nanoseconds since the epoch, shape ``(n,)``, or ``None``.
        attrs: the device's attributes as written (units, sensor model...), read-only.
        stored_bytes: bytes the device's chunks take in the store (values and timestamps).
        raw_bytes: bytes of the decoded arrays (values and timestamps).
    """

    device: str
    values: dask.array.Array
    timestamps: dask.array.Array | None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    stored_bytes: int = 0
    raw_bytes: int = 0

    @property
    def ratio(self) -> float:
        """``raw_bytes / stored_bytes`` (compression ratio; ``inf`` for an empty store)."""
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else float("inf")


def _check_device(device: object) -> str:
    if not isinstance(device, str):
        raise InputTypeError(f"device must be a str, got {type(device).__name__}",
                             name="device", got=type(device).__name__)
    if not device or device in (".", "..") or device.startswith("__") \
            or re.search(r"[/\\\x00]", device):
        raise InputError(f"device {device!r} cannot name a zarr group: use a non-empty name "
                         "without '/', '\\' or NUL, not '.', '..' or '__...'", name="device",
                         got=device)
    return device


def _check_values(values: object) -> np.ndarray:
    if not isinstance(values, np.ndarray):
        raise InputTypeError(f"values must be a numpy.ndarray, got {type(values).__name__}",
                             name="values", got=type(values).__name__)
    if values.ndim not in (1, 2):
        raise InputError(f"values must be 1-D (readings) or 2-D (readings, channels), got "
                         f"shape {values.shape}", name="values")
    native = values.dtype.newbyteorder("=")
    if native not in _CODES:
        raise InputTypeError(f"values dtype {values.dtype} is not supported; use bool, "
                             "int8..int64, uint8..uint64, float16/32/64", name="values",
                             got=str(values.dtype))
    return np.ascontiguousarray(values, dtype=native)


def _open_root(store: StoreLike, mode: Literal["r", "a"],
               zarr_format: Literal[2, 3] | None) -> Any:
    if not isinstance(store, (str, os.PathLike, Store)):
        raise InputTypeError("store must be a path or a zarr store", name="store",
                             got=type(store).__name__)
    try:
        root = zarr.open_group(store, mode="r" if mode == "r" else "r+")
    except FileNotFoundError as err:
        if mode == "r":
            raise InputError(f"no fleet archive at {store!r}", name="store") from err
        return zarr.open_group(store, mode="a", zarr_format=zarr_format or 3,
                               attributes={_ROOT_ATTR: FLEET_VERSION})
    fmt = root.metadata.zarr_format
    if zarr_format not in (None, fmt):  # zarr would add a second hierarchy beside it
        raise OptionsError(f"the store holds a zarr format {fmt} archive, not format "
                           f"{zarr_format}")
    if mode == "a" and _ROOT_ATTR not in root.attrs:
        root.attrs[_ROOT_ATTR] = FLEET_VERSION
    return root


def _create(group: Any, name: str, data: np.ndarray, chunk_len: int, codec_args: dict,
            zarr_format: int) -> None:
    chunks = (chunk_len, *data.shape[1:])
    kw: dict[str, Any]
    if zarr_format == 2:  # order "F": as the format 3 codec, channel by channel
        kw = {"compressors": EdgekitCodec(**codec_args), "filters": None, "order": "F"}
    else:
        kw = {"serializer": EdgekitZarrCodec(**codec_args), "compressors": None,
              "filters": None}
    if data.size:
        # zarr stores the last chunk whole, padded with the fill value: the series' last
        # value keeps the padding a cheap constant run (zeros off the data's grid can cost
        # the codec 3x on such a chunk); no reader sees it (a missing chunk is refused)
        kw["fill_value"] = data.reshape(data.shape[0], -1)[-1, 0]
    arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=chunks,
                             config={"write_empty_chunks": True}, overwrite=True, **kw)
    if data.size:
        arr[...] = data


def write_device(store: StoreLike, device: str, values: np.ndarray, *,
                 timestamps: np.ndarray | None = None, mode: Literal["w", "a"] = "w",
                 chunk_len: int = DEFAULT_CHUNK_LEN, tolerance: float | None = None,
                 level: int = 5, attrs: Mapping[str, Any] | None = None,
                 zarr_format: Literal[2, 3] | None = None) -> int:
    """Store one device's series in the fleet archive ``store`` (created if absent).

    Args:
        store: a directory path or a zarr store (see :data:`StoreLike`).
        device: the device's name: the group name, e.g. ``"gw-0042"``.
        values: ``(n,)`` readings or ``(n, channels)``; bool, int8..int64, uint8..uint64,
            float16/32/64.
        timestamps: ``(n,)`` int64 nanoseconds since the epoch (or ``datetime64[ns]``, stored
            as int64), or ``None``; always stored losslessly.
        mode: ``"w"`` replaces the device (other devices are untouched); ``"a"`` appends to
            it (same dtype, channels and timestamps presence; the stored codec settings and
            chunking apply), or creates it when absent.
        chunk_len: readings per chunk (one Dask task, one edgekit frame), >= 1.
        tolerance: ``None`` (lossless) or the absolute error bound on float values, in the
            values' units.
        level: edgekit's effort 1..9.
        attrs: JSON-serialisable device attributes (units, location...), merged into the
            group's attributes.
        zarr_format: 3 (default for a new store) or 2; an existing store keeps its format.

    Returns:
        The device's number of readings after the write.
    """
    device = _check_device(device)
    x = _check_values(values)
    ts = None
    if timestamps is not None:
        ts = _timestamps(timestamps)
        ts = ts.astype(ts.dtype.newbyteorder("="), copy=False).view(np.int64)
    if ts is not None and ts.shape[0] != x.shape[0]:
        raise InputError(f"timestamps ({ts.shape[0]}) and values ({x.shape[0]}) differ in "
                         "length", name="timestamps")
    if mode not in ("w", "a"):
        raise OptionsError(f"mode must be 'w' or 'a', got {mode!r}")
    if isinstance(chunk_len, bool) or not isinstance(chunk_len, (int, np.integer)) \
            or chunk_len < 1:
        raise OptionsError(f"chunk_len must be an int >= 1, got {chunk_len!r}")
    if zarr_format not in (None, 2, 3):
        raise OptionsError(f"zarr_format must be 2, 3 or None, got {zarr_format!r}")
    codec_args = {"tolerance": tolerance, "level": level}
    _check_tolerance(tolerance)
    _check_level(level)
    root = _open_root(store, "a", zarr_format)
    fmt = root.metadata.zarr_format
    if mode == "a" and device in root:
        return _append(root[device], device, x, ts)
    group = root.create_group(device, overwrite=True)
    meta = {"fleet_version": FLEET_VERSION, "tolerance": tolerance, "level": int(level),
            "chunk_len": int(chunk_len)}
    group.attrs.update({**dict(attrs or {}), _DEVICE_ATTR: meta})
    _create(group, "values", x, int(chunk_len), codec_args, fmt)
    if ts is not None:
        _create(group, "timestamps", ts, int(chunk_len), {"tolerance": None, "level": level},
                fmt)
    return int(x.shape[0])


def _append(group: Any, device: str, x: np.ndarray, ts: np.ndarray | None) -> int:
    arr = group["values"]
    has_ts = "timestamps" in group
    if np.dtype(arr.dtype) != x.dtype or tuple(arr.shape[1:]) != x.shape[1:]:
        raise InputError(f"device {device!r} stores {arr.dtype} {tuple(arr.shape)}; cannot "
                         f"append {x.dtype} {x.shape}", name="values")
    if has_ts != (ts is not None):
        raise InputError(f"device {device!r} {'has' if has_ts else 'has no'} timestamps; "
                         "append the same", name="timestamps")
    if ts is not None:
        group["timestamps"].append(ts, axis=0)
    arr.append(x, axis=0)
    return int(arr.shape[0])


def write_fleet(store: StoreLike,
                series: Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]], *,
                mode: Literal["w", "a"] = "w", chunk_len: int = DEFAULT_CHUNK_LEN,
                tolerance: float | None = None, level: int = 5,
                attrs: Mapping[str, Mapping[str, Any]] | None = None,
                zarr_format: Literal[2, 3] | None = None) -> dict[str, int]:
    """Store many devices: ``series`` maps a device name to its values or to
    ``(timestamps, values)`` (as :func:`~edgekit.compress.encode_series` takes them);
    ``attrs`` maps a device name to its attributes.  The other arguments are
    :func:`write_device`'s.  Returns each device's number of readings."""
    if not isinstance(series, Mapping):
        raise InputTypeError("series must be a mapping of device name to values",
                             name="series", got=type(series).__name__)
    out: dict[str, int] = {}
    for device, item in series.items():
        ts, x = item if isinstance(item, tuple) else (None, item)
        out[device] = write_device(store, device, x, timestamps=ts, mode=mode,
                                   chunk_len=chunk_len, tolerance=tolerance, level=level,
                                   attrs=(attrs or {}).get(device), zarr_format=zarr_format)
    return out


def _devices(root: Any) -> list[str]:
    return sorted(name for name, node in root.groups() if "values" in node)


def list_devices(store: StoreLike) -> list[str]:
    """The archive's device names, sorted."""
    return _devices(_open_root(store, "r", None))


def _dask_array() -> Any:
    try:
        import dask.array as da
    except ImportError as err:  # pragma: no cover - exercised by the no-extra install test
        raise RuntimeUnavailableError("reading a fleet archive needs dask: pip install "
                                      "'edgekit[fleet]'", feature="compress.fleet",
                                      extra="fleet") from err
    return da


def _checked(arr: Any, device: str, name: str) -> Any:
    missing = arr.nchunks - arr.nchunks_initialized
    if missing:
        raise _corrupt(f"device {device!r}: {missing} of {arr.nchunks} {name} chunks are "
                       "missing from the store", None, "missing chunk")
    return arr


def _open(root: Any, device: str) -> DeviceSeries:
    da = _dask_array()
    device = _check_device(device)
    if device not in root or "values" not in root[device]:
        raise InputError(f"no device {device!r} in the archive", name="device", got=device)
    group = root[device]
    values = _checked(group["values"], device, "values")
    ts = _checked(group["timestamps"], device, "timestamps") if "timestamps" in group \
        else None
    if ts is not None and ts.shape[0] != values.shape[0]:
        raise _corrupt(f"device {device!r}: {ts.shape[0]} timestamps for {values.shape[0]} "
                       "values (an interrupted append?)", None, "length")
    stored = values.nbytes_stored() + (ts.nbytes_stored() if ts is not None else 0)
    raw = values.nbytes + (ts.nbytes if ts is not None else 0)
    attrs = dict(group.attrs)
    attrs.pop(_DEVICE_ATTR, None)
    return DeviceSeries(device=device, values=da.from_zarr(values),
                        timestamps=None if ts is None else da.from_zarr(ts),
                        attrs=MappingProxyType(attrs), stored_bytes=int(stored),
                        raw_bytes=int(raw))


def open_device(store: StoreLike, device: str) -> DeviceSeries:
    """Open one device lazily as Dask arrays (see :class:`DeviceSeries`).

    Raises :class:`~edgekit.errors.InputError` for an unknown device and
    :class:`~edgekit.errors.CorruptDataError` when chunks are missing from the store or
    timestamps and values differ in length; a damaged chunk raises ``CorruptDataError``
    when it is computed.
    """
    return _open(_open_root(store, "r", None), device)


def open_fleet(store: StoreLike, devices: Iterable[str] | None = None
               ) -> dict[str, DeviceSeries]:
    """Open every device (or ``devices``) lazily: ``{device: DeviceSeries}``.  Build one
    computation over all of them (``dask.compute(*[d.values.mean() for d in ...])``) and
    Dask runs every chunk of every device in parallel."""
    if isinstance(devices, str):
        raise InputTypeError("devices must be an iterable of names, not one str",
                             name="devices", got=devices)
    root = _open_root(store, "r", None)
    names = _devices(root) if devices is None else list(devices)
    return {name: _open(root, name) for name in names}


def read_fleet(store: StoreLike, devices: Iterable[str] | None = None, *,
               scheduler: str | None = None
               ) -> dict[str, tuple[np.ndarray | None, np.ndarray]]:
    """Decode every device (or ``devices``) in one parallel Dask computation.

    Args:
        store: the archive.
        devices: names to read; all by default.
        scheduler: Dask's ``scheduler=`` (``"threads"``, ``"processes"``,
            ``"synchronous"``); ``None`` uses the active one (a ``distributed.Client``
            when one exists, else threads).

    Returns:
        ``{device: (timestamps or None, values)}``, numpy arrays (timestamps int64 ns).
    """
    import dask

    opened = open_fleet(store, devices)
    parts = [(d.timestamps, d.values) for d in opened.values()]
    flat = [a for pair in parts for a in pair if a is not None]
    done = iter(dask.compute(*flat, scheduler=scheduler))
    return {name: (None if ts is None else next(done), next(done))
            for name, (ts, _) in zip(opened, parts, strict=True)}
