"""Picks the kernel backend once, at import: the compiled cffi extension or the numpy
references.

``EDGEKIT_BACKEND`` chooses:

* ``auto`` (default): native when the extension is built, else reference;
* ``native``: the extension, or :class:`~edgekit.errors.BackendError` (an ``ImportError``)
  that says how to build it;
* ``reference``: the numpy references, even when the extension is built.

Wrappers ask :data:`lib` (``None`` on the reference backend) and never call C with an array
they have not checked.

The envelope opener is a second extension, ``edgekit._edgekit_crypto`` (:data:`crypto_lib`),
because it links OpenSSL's libcrypto and is only built where OpenSSL's headers are
installed.  ``auto`` uses it when it is there; ``native`` requires it too; ``reference``
uses neither.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

from edgekit.errors import BackendError

ENV_VAR = "EDGEKIT_BACKEND"
CHOICES = ("auto", "native", "reference")

_BUILD_HINT = (
    "the compiled extension edgekit._edgekit_native is not importable ({err}). It is built by "
    "`pip install .` when a C compiler is present (on Debian: apt-get install gcc "
    "python3-dev); reinstall with `pip install --force-reinstall --no-deps .`, or set "
    "EDGEKIT_BACKEND=auto or reference to use the numpy references."
)


def _load() -> tuple[str, str, Any, Any, str | None]:
    requested = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if requested not in CHOICES:
        raise BackendError(f"{ENV_VAR}={requested!r}; expected one of {', '.join(CHOICES)}")
    if requested == "reference":
        return requested, "reference", None, None, None
    try:
        native: ModuleType
        from edgekit import _edgekit_native as native  # type: ignore[attr-defined]
    except ImportError as err:
        if requested == "native":
            raise BackendError(_BUILD_HINT.format(err=err)) from err
        return requested, "reference", None, None, str(err)
    return requested, "native", native.ffi, native.lib, None


_CRYPTO_HINT = (
    "the compiled extension edgekit._edgekit_crypto (the envelope opener) is not importable "
    "({err}). It is built by `pip install .` when OpenSSL's headers are present (on Debian: "
    "apt-get install libssl-dev); reinstall with `pip install --force-reinstall --no-deps .`, "
    "or set EDGEKIT_BACKEND=auto to open envelopes in Python."
)


def _load_crypto(requested: str) -> tuple[Any, Any, str | None]:
    if requested == "reference":
        return None, None, None
    try:
        crypto: ModuleType
        from edgekit import _edgekit_crypto as crypto  # type: ignore[attr-defined]
    except ImportError as err:
        if requested == "native":
            raise BackendError(_CRYPTO_HINT.format(err=err)) from err
        return None, None, str(err)
    return crypto.ffi, crypto.lib, None


REQUESTED, NAME, ffi, lib, LOAD_ERROR = _load()
"""REQUESTED: what EDGEKIT_BACKEND asked for; NAME: ``"native"`` or ``"reference"``;
ffi/lib: the cffi objects, or ``None``; LOAD_ERROR: why the extension did not load."""
crypto_ffi, crypto_lib, CRYPTO_LOAD_ERROR = _load_crypto(REQUESTED)
"""The envelope opener's cffi objects (``None`` when not built or on the reference backend),
and why it did not load."""


def is_native() -> bool:
    """True when the compiled kernels are in use."""
    return lib is not None


def native_kernels() -> tuple[str, ...]:
    """Names of the C kernels in use (empty on the reference backend)."""
    libs = [m for m in (lib, crypto_lib) if m is not None]
    return tuple(sorted(n for m in libs for n in dir(m) if n.startswith("ek_")))
