"""One error hierarchy for all of edgekit.

Every exception edgekit raises on purpose derives from :class:`EdgekitError`.  Errors that
refine a builtin also subclass it (``CorruptDataError`` is a ``ValueError``), so code written
against the builtin keeps working.  Errors carry the facts as attributes (``offset``,
``expected``, ``got``, ``reason``) besides the message.

Security failures are deliberately terse: :class:`AuthenticationError` says *that* a message
failed to authenticate, never which byte or key, so that a peer cannot learn from it.

Subsystems add their errors in their own section below; the sections keep concurrent
changes apart.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BackendError",
    "CapacityError",
    "CertificateError",
    "ChecksumError",
    "CorruptDataError",
    "EdgekitError",
    "ExpiredError",
    "FetchError",
    "FormatVersionError",
    "HTTPStatusError",
    "InputError",
    "InputTypeError",
    "InvalidUpdateError",
    "ModelError",
    "OptionsError",
    "ReplayError",
    "RoundAbortedError",
    "RequestTimeoutError",
    "RollbackError",
    "RuntimeUnavailableError",
    "SecurityError",
    "ShadowError",
    "SignatureError",
    "UpdateDataError",
    "UpdateError",
    "WrongBaseError",
]


class EdgekitError(Exception):
    """Root of every error edgekit raises on purpose."""


# --- input validation (all subsystems) ------------------------------------------------------


class _ArgumentError(EdgekitError):
    """Facts shared by the argument errors (not raised itself).

    Attributes:
        name: the argument's name (``"x"``, ``"demands"``), or ``None``.
        expected: what was expected, in words (``"1-D"``), or ``None``.
        got: what was given, or ``None``.
    """

    def __init__(
        self, message: str, *, name: str | None = None, expected: Any = None, got: Any = None
    ) -> None:
        super().__init__(message)
        self.name = name
        self.expected = expected
        self.got = got


class InputError(_ArgumentError, ValueError):
    """An argument has a bad value or shape (attributes ``name``, ``expected``, ``got``)."""


class InputTypeError(_ArgumentError, TypeError):
    """An argument has the wrong type or dtype (attributes ``name``, ``expected``, ``got``)."""


class OptionsError(InputError):
    """An options object is invalid or self-contradictory (``name`` is the field)."""


# --- backends --------------------------------------------------------------------------------


class BackendError(EdgekitError, ImportError):
    """The requested backend cannot be loaded (e.g. ``EDGEKIT_BACKEND=native`` without the
    compiled extension)."""


class RuntimeUnavailableError(EdgekitError, ImportError):
    """An optional runtime (a TFLite interpreter, scipy, aiohttp...) is not installed.

    Attributes:
        feature: what needed it; extra: the pip extra that installs it.
    """

    def __init__(self, message: str, *, feature: str | None = None, extra: str | None = None):
        super().__init__(message)
        self.feature = feature
        self.extra = extra


# --- data formats (compress, memory, update) -------------------------------------------------


class CorruptDataError(EdgekitError, ValueError):
    """Encoded bytes are truncated, altered or not edgekit's format.

    Attributes:
        offset: byte offset where the problem was found, or ``None``.
        reason: a short machine-friendly reason (``"truncated"``, ``"bad magic"``...).
    """

    def __init__(
        self, message: str, *, offset: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.reason = reason


class ChecksumError(CorruptDataError):
    """A stored checksum does not match the data (``expected``/``got`` as integers)."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        expected: int | None = None,
        got: int | None = None,
    ) -> None:
        super().__init__(message, offset=offset, reason="checksum")
        self.expected = expected
        self.got = got


class FormatVersionError(CorruptDataError):
    """The data is in a format version this edgekit cannot read."""

    def __init__(
        self, message: str, *, version: int | None = None, supported: tuple[int, ...] = ()
    ) -> None:
        super().__init__(message, reason="version")
        self.version = version
        self.supported = supported


# --- compress ---------------------------------------------------------------------------------

# --- schedule ---------------------------------------------------------------------------------

# --- infer ------------------------------------------------------------------------------------


class ModelError(EdgekitError, ValueError):
    """A model file is not usable: not a TFLite flatbuffer, truncated, or of an unsupported
    shape.  ``path`` is the file, when there is one."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


# --- secure -----------------------------------------------------------------------------------


class SecurityError(EdgekitError):
    """Base of the security failures."""


class AuthenticationError(SecurityError):
    """A message or artifact failed authentication.  Deliberately says no more."""


class ReplayError(AuthenticationError):
    """A message authenticated but was already seen or is older than the replay window."""


class CertificateError(SecurityError):
    """A certificate was refused.

    Attributes:
        reason: one of ``"untrusted"``, ``"expired"``, ``"not-yet-valid"``, ``"purpose"``,
            ``"revoked"``, ``"malformed"``, ``"signature"``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SignatureError(SecurityError):
    """A signature or signed manifest does not verify (wrong key, edited content).

    Attributes:
        reason: ``"signature"`` (no trusted key verifies it), ``"key"`` (unsupported key),
            ``"malformed"`` (not a manifest), ``"modified"``, ``"added"``, ``"removed"``
            (a file differs from the manifest), ``"kind"`` (file vs directory), or ``None``.
        path: the file concerned (relative to the artifact), when there is one.
    """

    def __init__(self, message: str, *, reason: str | None = None,
                 path: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.path = path


class RollbackError(SecurityError):
    """An artifact's version is not newer than the one installed."""

    def __init__(self, message: str, *, installed: Any = None, offered: Any = None) -> None:
        super().__init__(message)
        self.installed = installed
        self.offered = offered


class ExpiredError(SecurityError):
    """Signed metadata is past its expiry time (a freeze attack or a stale mirror)."""


# --- memory -----------------------------------------------------------------------------------


class CapacityError(EdgekitError):
    """A bounded structure is full and its policy is to refuse.

    Attributes: capacity and requested, in the structure's unit (bytes or items).
    """

    def __init__(self, message: str, *, capacity: int | None = None, requested: int | None = None):
        super().__init__(message)
        self.capacity = capacity
        self.requested = requested


# --- aio --------------------------------------------------------------------------------------


class FetchError(EdgekitError):
    """A request of :func:`edgekit.aio.fetch_all` failed (after its retries, if any).

    :func:`~edgekit.aio.fetch_all` returns this as the request's result instead of raising it,
    so one failure never costs the other results.  The underlying exception (an
    ``aiohttp.ClientError``, a JSON error...) is its ``__cause__``.

    Attributes:
        url: the request's URL; method: its HTTP method.
        attempts: how many times it was sent (0 when it never started, e.g. past a deadline).
        reason: ``"connection"``, ``"tls"``, ``"status"``, ``"timeout"``, ``"deadline"``,
            ``"body"`` (undecodable or too large), ``"client"`` (another aiohttp error),
            ``"cancelled"``.
    """

    def __init__(self, message: str, *, url: str | None = None, method: str | None = None,
                 attempts: int = 0, reason: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.method = method
        self.attempts = attempts
        self.reason = reason


class HTTPStatusError(FetchError):
    """The server answered with an error status (>= 400).  ``status`` is the code, ``body``
    the first KiB of the answer (bytes)."""

    def __init__(self, message: str, *, status: int, body: bytes = b"", url: str | None = None,
                 method: str | None = None, attempts: int = 0) -> None:
        super().__init__(message, url=url, method=method, attempts=attempts, reason="status")
        self.status = status
        self.body = body


class RequestTimeoutError(FetchError, TimeoutError):
    """A request took longer than its timeout (``reason="timeout"``, ``timeout_s`` the
    per-attempt limit) or did not finish before the overall deadline (``reason="deadline"``,
    ``timeout_s`` the overall limit).  Also a builtin ``TimeoutError``."""

    def __init__(self, message: str, *, timeout_s: float, url: str | None = None,
                 method: str | None = None, attempts: int = 0, reason: str = "timeout") -> None:
        super().__init__(message, url=url, method=method, attempts=attempts, reason=reason)
        self.timeout_s = timeout_s

# --- update -----------------------------------------------------------------------------------


class UpdateError(EdgekitError):
    """An update could not be applied; the installed version is left intact."""


class UpdateDataError(UpdateError, CorruptDataError):
    """A patch, tree patch or manifest is damaged, or what it produced does not match what it
    declared.  ``reason`` says which check failed: ``"truncated"``, ``"bad magic"``,
    ``"header"``, ``"stream"``, ``"size"``, ``"digest"``, ``"overrun"`` (the patch would write
    more than the declared size), ``"bounds"`` (it reads outside the old file)."""


class WrongBaseError(UpdateError):
    """A patch or manifest was made for another old version than the one given or installed.

    Attributes: expected (what the patch was made for) and got (what is there), as hex
    SHA-256 digests or version strings."""

    def __init__(self, message: str, *, expected: Any = None, got: Any = None) -> None:
        super().__init__(message)
        self.expected = expected
        self.got = got


# --- twin -------------------------------------------------------------------------------------


class ShadowError(EdgekitError, ValueError):
    """A device-shadow request was refused, as the AWS IoT Device Shadow service refuses it.

    Attributes:
        code: the service's numeric error code, an HTTP status: 400 (bad request: invalid JSON,
            missing or malformed node, bad version or clientToken, too deep), 404 (no such
            shadow), 409 (version conflict), 413 (document or request too large), 415 (not
            UTF-8).
        message: the service's message (also ``str(error)``).
        client_token: the request's ``clientToken`` when it had a valid one, else ``None``.
    """

    def __init__(self, code: int, message: str, *, client_token: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_token = client_token

    def to_document(self, timestamp: int) -> dict[str, Any]:
        """The error response document (``/rejected`` payload): ``code``, ``message``,
        ``timestamp`` (epoch seconds) and ``clientToken`` when the request had one."""
        doc: dict[str, Any] = {"code": self.code, "message": self.message,
                               "timestamp": timestamp}
        if self.client_token is not None:
            doc["clientToken"] = self.client_token
        return doc


# --- federated --------------------------------------------------------------------------------


class InvalidUpdateError(InputError):
    """A federated client's update was refused: arrays of the wrong count, shape or dtype,
    non-finite values, an undecodable payload, or a second answer in the same round.  The
    round goes on without it.

    Attributes (besides ``name``/``expected``/``got``): ``client`` (the client's id) and
    ``server_round``."""

    def __init__(self, message: str, *, client: str | None = None,
                 server_round: int | None = None, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.client = client
        self.server_round = server_round


class RoundAbortedError(EdgekitError):
    """A federated round could not complete: fewer clients than its threshold answered (secure
    aggregation cannot unmask the sum below its threshold, by design), or fewer than the
    strategy's minimum were available.

    Attributes: ``server_round``, ``needed`` and ``got`` (client counts)."""

    def __init__(self, message: str, *, server_round: int | None = None,
                 needed: int | None = None, got: int | None = None) -> None:
        super().__init__(message)
        self.server_round = server_round
        self.needed = needed
        self.got = got
