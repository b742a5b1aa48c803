"""The messages a networked coordinator and its clients exchange in HTTP bodies.

One layout both ways (little-endian)::

    b"EKFN" | u8 version (1) | u32 header length | header (UTF-8 JSON object) | payload

The payload is :mod:`edgekit.federated._wire` bytes (checksummed): the FitIns parameters on
the way down, the client's parameters (or its update, encoded by an update codec) on the way
up.  The JSON header carries what is not an array: the task id, the round, the strategy's
config on the way down; the number of examples and the metrics on the way up.  Bytes up and
down are ``len()`` of these bodies.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from edgekit.errors import CorruptDataError, FormatVersionError

_MAGIC = b"EKFN"
_VERSION = 1
_PREFIX = struct.Struct("<4sBI")
_MAX_HEADER = 1 << 16  # bytes; a header is a few hundred

API = "/edgekit/fl/v1"
"""The URL prefix of the coordinator's endpoints."""

# task kinds in a task header
FIT = "fit"
SECAGG = "secagg"  # a secure-aggregation message after the fit task
EVALUATE = "evaluate"  # evaluate the parameters on the client's data


def pack_message(header: dict[str, Any], payload: bytes = b"") -> bytes:
    """``header`` (JSON-able: str/int/float/bool values, nested dicts) and ``payload``."""
    text = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False)
    raw = text.encode("utf-8")
    return _PREFIX.pack(_MAGIC, _VERSION, len(raw)) + raw + bytes(payload)


def unpack_message(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and payload of a message; :class:`~edgekit.errors.CorruptDataError` for
    anything else (wrong magic, truncated, a header that is not a JSON object)."""
    data = bytes(data)
    if len(data) < _PREFIX.size:
        raise CorruptDataError("federated message shorter than its prefix", reason="length")
    magic, version, length = _PREFIX.unpack_from(data)
    if magic != _MAGIC:
        raise CorruptDataError("not an edgekit federated message", reason="magic")
    if version != _VERSION:
        raise FormatVersionError(f"federated message version {version}, this edgekit reads "
                                 f"{_VERSION}", version=version, supported=(_VERSION,))
    if length > _MAX_HEADER or _PREFIX.size + length > len(data):
        raise CorruptDataError("federated message header runs past the message",
                               reason="length")
    try:
        header = json.loads(data[_PREFIX.size:_PREFIX.size + length].decode("utf-8"),
                            parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorruptDataError(f"federated message header is not JSON: {exc}",
                               reason="header") from None
    if not isinstance(header, dict):
        raise CorruptDataError("federated message header is not a JSON object",
                               reason="header")
    return header, data[_PREFIX.size + length:]


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number this protocol carries")


def header_int(header: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    """``header[key]`` as an int >= ``minimum``, or CorruptDataError."""
    value = header.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise CorruptDataError(f"message header field {key!r} must be an integer >= "
                               f"{minimum}, got {value!r}", reason="header")
    return value


def header_metrics(header: dict[str, Any], key: str = "metrics") -> dict[str, float]:
    """``header[key]``: a dict of name -> finite number, or CorruptDataError."""
    value = header.get(key, {})
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) for k, v in value.items()):
        raise CorruptDataError(f"message header field {key!r} must map names to finite "
                               "numbers", reason="header")
    return {k: float(v) for k, v in value.items()}


def header_config(header: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The strategy's config in a task header (values bool/int/float/str)."""
    value = header.get("config", {})
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, (bool, int, float, str))
            for k, v in value.items()):
        raise CorruptDataError("task config must map names to bool/int/float/str",
                               reason="header")
    return value
