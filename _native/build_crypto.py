"""cffi build script for edgekit's one kernel that links a library: the envelope opener
(``_native/crypto/envelope.c``, OpenSSL's libcrypto), as the module
``edgekit._edgekit_crypto``.

It is apart from ``build_ffi.py``'s module so that a machine without OpenSSL's headers
(Debian: ``libssl-dev``) still gets every other kernel; ``setup.py`` marks both optional.
The compiler and linker flags come from ``pkg-config libcrypto`` when it answers, else the
defaults (``-lcrypto``).  Run directly (``python _native/build_crypto.py``) to build in place.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from cffi import FFI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_ffi import _CDEF, _compile_args, build_in_place  # noqa: E402  (one copy of each)

HERE = Path(__file__).resolve().parent / "crypto"
ROOT = HERE.parent.parent
MODULE = "edgekit._edgekit_crypto"
HEADER = HERE / "envelope.h"


def _pkg_config(flag: str) -> list[str]:
    try:
        out = subprocess.run(["pkg-config", flag, "libcrypto"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return shlex.split(out)


def _flags() -> tuple[list[str], list[str], list[str]]:
    """(include dirs, library dirs, libraries) for libcrypto."""
    cflags, libs = _pkg_config("--cflags"), _pkg_config("--libs")
    include = [f[2:] for f in cflags if f.startswith("-I")]
    libdirs = [f[2:] for f in libs if f.startswith("-L")]
    names = [f[2:] for f in libs if f.startswith("-l")] or ["crypto"]
    return include, libdirs, names


def _builder(absolute: bool) -> FFI:
    """A builder with the sources relative to the project root for setuptools, or
    absolute for a direct build (cffi compiles in its tmpdir)."""
    include, libdirs, libraries = _flags()
    here = str(HERE) if absolute else HERE.relative_to(ROOT).as_posix()
    ffi = FFI()
    ffi.cdef(_CDEF.search(HEADER.read_text(encoding="utf-8")).group(1))
    ffi.set_source(
        MODULE,
        '#include "envelope.h"',
        sources=[f"{here}/envelope.c"],
        include_dirs=[here, *include],
        library_dirs=libdirs,
        libraries=libraries,
        extra_compile_args=_compile_args(),
    )
    return ffi


ffibuilder = _builder(False)

if __name__ == "__main__":
    build_in_place(_builder(True))
