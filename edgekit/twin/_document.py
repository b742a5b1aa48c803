"""Shadow-document semantics without storage or transport: parse and validate an update
request, merge it into desired/reported, stamp per-leaf metadata, compute the delta.

Everything here is a pure function of its arguments; :mod:`edgekit.twin.shadows` adds the
store, the version check and the lock.  docs/twin.md lists each rule and where it comes from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edgekit.errors import InputTypeError, ShadowError

__all__ = ["ShadowLimits"]

_THING_RE = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_SHADOW_RE = re.compile(r"[$a-zA-Z0-9:_-]{1,64}")
_SECTIONS = ("desired", "reported")

# the service's messages, as the AWS "Device Shadow error messages" page words them
_MSG_JSON = "Invalid JSON"
_MSG_NO_STATE = "Missing required node: state"
_MSG_STATE_OBJ = "State node must be an object"
_MSG_SECTION_OBJ = {"desired": "Desired node must be an object",
                    "reported": "Reported node must be an object"}
_MSG_VERSION = "Invalid version"
MSG_TOKEN = "Invalid clientToken"
_MSG_INVALID_NODE = "State contains an invalid node"
MSG_TOO_LARGE = "The payload exceeds the maximum size allowed"
_MSG_ENCODING = "Unsupported documented encoding; supported encoding is UTF-8"
_MSG_CONFLICT = "Version conflict"

#: compact UTF-8 JSON text (``json.dumps(v, separators=(",", ":"), ensure_ascii=False)``), with
#: the encoder built once: ``json.dumps`` with arguments builds a new one per call
compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class ShadowLimits:
    """The service's limits, AWS IoT's by default.

    Attributes:
        state_bytes: largest ``desired`` + ``reported`` state of a stored document, in bytes of
            compact UTF-8 JSON (metadata does not count), 8 KiB.
        depth: most levels of nesting inside ``desired`` or ``reported`` (``{"a": 1}`` is one
            level, each object or array inside adds one), 6.
        request_bytes: largest update request, in bytes (AWS IoT's MQTT payload limit), 128 KiB.
        client_token_bytes: longest ``clientToken``, in UTF-8 bytes, 64.
    """

    state_bytes: int = 8192
    depth: int = 6
    request_bytes: int = 128 * 1024
    client_token_bytes: int = 64

    def __post_init__(self) -> None:
        for field in ("state_bytes", "depth", "request_bytes", "client_token_bytes"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputTypeError(f"ShadowLimits.{field} must be a positive int, got {value!r}",
                                     name=field, expected="int >= 1", got=value)


@dataclass(frozen=True)
class Request:
    """A validated update request."""

    state: dict[str, Any] | None  # None: "state": null (clear both sections)
    version: int | None
    client_token: str | None


def check_names(thing: object, name: object) -> str:
    """Validate a thing name and an optional shadow name; return the store's shadow key
    (``""`` for the classic shadow)."""
    if not isinstance(thing, str) or not _THING_RE.fullmatch(thing):
        raise ShadowError(400, f"Invalid thing name {thing!r}: 1-128 characters of "
                               "[a-zA-Z0-9:_-]")
    if name is None:
        return ""
    if not isinstance(name, str) or not _SHADOW_RE.fullmatch(name):
        raise ShadowError(400, f"Invalid shadow name {name!r}: 1-64 characters of "
                               "[$a-zA-Z0-9:_-]")
    return name


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in an object")
    return out


def _decode(request: object, limits: ShadowLimits) -> tuple[Any, bool]:
    if isinstance(request, (bytes, bytearray, memoryview)):
        raw = bytes(request)
        if len(raw) > limits.request_bytes:
            raise ShadowError(413, MSG_TOO_LARGE)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ShadowError(415, _MSG_ENCODING) from None
    elif isinstance(request, str):
        try:
            size = len(request.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: not UTF-8
            raise ShadowError(415, _MSG_ENCODING) from None
        if size > limits.request_bytes:
            raise ShadowError(413, MSG_TOO_LARGE)
        text = request
    else:
        raise InputTypeError(f"an update request is JSON text or bytes, got "
                             f"{type(request).__name__}", name="request",
                             expected="str or bytes", got=type(request).__name__)
    try:
        doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_object)
    except RecursionError:
        raise ShadowError(400, nesting_message(limits)) from None
    except ValueError:
        raise ShadowError(400, _MSG_JSON) from None
    return doc, "\\u" in text


def _check_text(doc: Any, token: str | None) -> None:
    """415 when the document holds a lone surrogate (an escape such as ``"\\ud800"``: valid
    JSON, but no UTF-8 text, so it could be neither stored nor published)."""
    try:
        compact_json(doc).encode("utf-8")
    except UnicodeEncodeError:
        raise ShadowError(415, _MSG_ENCODING, client_token=token) from None
    except RecursionError:  # deeper than any limit allows
        raise ShadowError(400, _MSG_JSON, client_token=token) from None


def nesting_message(limits: ShadowLimits) -> str:
    return f"JSON contains too many levels of nesting; maximum is {limits.depth}"


def _depth(value: Any) -> int:
    """Levels of nesting of a JSON value: 0 for a scalar, 1 + the deepest member for an object
    or array.  Iterative, so that no input can exhaust the stack."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            members: Any = item.values()
        elif isinstance(item, list):
            members = item
        else:
            continue
        deepest = max(deepest, level + 1)
        stack.extend((member, level + 1) for member in members)
    return deepest


def parse_request(request: object, limits: ShadowLimits) -> Request:
    """Parse and validate an update request (JSON text or bytes); raise :class:`ShadowError`
    with the service's code and message when it is refused."""
    doc, escaped = _decode(request, limits)
    if not isinstance(doc, dict):
        raise ShadowError(400, _MSG_JSON + ": an update is a JSON object")
    token = doc.get("clientToken")
    if token is not None:
        if not isinstance(token, str):
            raise ShadowError(400, MSG_TOKEN)
        try:
            size = len(token.encode("utf-8"))
        except UnicodeEncodeError:
            raise ShadowError(415, _MSG_ENCODING) from None
        if size > limits.client_token_bytes:
            raise ShadowError(400, MSG_TOKEN)
    if escaped:  # only an escape can put a lone surrogate in text decoded from UTF-8
        _check_text(doc, token)
    if "state" not in doc:
        raise ShadowError(400, _MSG_NO_STATE, client_token=token)
    state = doc["state"]
    if state is not None:
        if not isinstance(state, dict):
            raise ShadowError(400, _MSG_STATE_OBJ, client_token=token)
        for key, section in state.items():
            if key not in _SECTIONS:
                raise ShadowError(400, _MSG_INVALID_NODE, client_token=token)
            if section is not None and not isinstance(section, dict):
                raise ShadowError(400, _MSG_SECTION_OBJ[key], client_token=token)
            if section is not None and _depth(section) > limits.depth:
                raise ShadowError(400, nesting_message(limits), client_token=token)
    version = doc.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 0):
        raise ShadowError(400, _MSG_VERSION, client_token=token)
    return Request(state=state, version=version, client_token=token)


def conflict(client_token: str | None) -> ShadowError:
    return ShadowError(409, _MSG_CONFLICT, client_token=client_token)


def leaf_metadata(value: Any, timestamp: int) -> Any:
    """Metadata mirroring a value: ``{"timestamp": t}`` per leaf, objects recursed, arrays as an
    array of their elements' metadata."""
    if isinstance(value, dict):
        return {key: leaf_metadata(member, timestamp) for key, member in value.items()}
    if isinstance(value, list):
        return [leaf_metadata(member, timestamp) for member in value]
    return {"timestamp": timestamp}


def merge(state: dict[str, Any], metadata: dict[str, Any], patch: dict[str, Any],
          timestamp: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge ``patch`` into one section: objects merge key by key, ``null`` deletes a key and
    its subtree, scalars and arrays replace whole; the metadata of every leaf the patch sets is
    stamped with ``timestamp``, the others keep theirs.  Returns new (state, metadata)."""
    new_state, new_meta = dict(state), dict(metadata)
    for key, value in patch.items():
        if value is None:
            new_state.pop(key, None)
            new_meta.pop(key, None)
        elif isinstance(value, dict):
            old = state.get(key)
            if isinstance(old, dict):
                old_meta = metadata.get(key)
                new_state[key], new_meta[key] = merge(
                    old, old_meta if isinstance(old_meta, dict) else {}, value, timestamp)
            else:
                new_state[key], new_meta[key] = merge({}, {}, value, timestamp)
        else:
            new_state[key] = value
            new_meta[key] = leaf_metadata(value, timestamp)
    return new_state, new_meta


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: booleans differ from numbers (``true != 1``), numbers compare
    by value (``1 == 1.0``), objects and arrays member by member."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    """The members of ``desired`` that ``reported`` lacks or holds differently; objects on both
    sides are compared member by member (an object whose members all match is left out), any
    other value (scalars, arrays) whole."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        if key not in reported:
            out[key] = want
            continue
        have = reported[key]
        if isinstance(want, dict) and isinstance(have, dict):
            sub = delta(want, have)
            if sub:
                out[key] = sub
        elif not json_equal(want, have):
            out[key] = want
    return out


def delta_metadata(delta_state: dict[str, Any], desired_meta: dict[str, Any]) -> dict[str, Any]:
    """The desired metadata of the members present in a delta."""
    out: dict[str, Any] = {}
    for key, value in delta_state.items():
        meta = desired_meta.get(key, {})
        if isinstance(value, dict) and isinstance(meta, dict):
            out[key] = delta_metadata(value, meta)
        else:
            out[key] = meta
    return out


def state_size(desired: dict[str, Any], reported: dict[str, Any]) -> int:
    """Bytes of the state that count against the size limit: compact UTF-8 JSON of the
    non-empty sections (metadata excluded)."""
    state = {k: v for k, v in (("desired", desired), ("reported", reported)) if v}
    if not state:
        return 0
    return len(compact_json(state).encode("utf-8"))
