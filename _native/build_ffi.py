"""cffi build script for edgekit's C kernels (API mode, out of line).

Every ``_native/*.c`` file is compiled into one extension module, ``edgekit._edgekit_native``.
Each ``_native/*.h`` header declares its kernels between the markers ``/* cdef: begin */`` and
``/* cdef: end */``; that block (plain declarations and integer ``#define`` s, which cffi's
parser accepts) is what cffi binds.  Adding a kernel is therefore adding a ``.c``/``.h`` pair:
this script and ``setup.py`` need no change.

Run directly (``python _native/build_ffi.py``) to build the module in place for development;
``setup.py`` uses :data:`ffibuilder` to build it as an optional extension.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODULE = "edgekit._edgekit_native"
_CDEF = re.compile(r"/\* cdef: begin \*/(.*?)/\* cdef: end \*/", re.S)


def _headers() -> list[Path]:
    return sorted(HERE.glob("*.h"))


def _sources() -> list[str]:
    # setuptools wants paths relative to setup.py (the project root), with forward slashes.
    return [p.relative_to(ROOT).as_posix() for p in sorted(HERE.glob("*.c"))]


def _cdef() -> str:
    blocks = []
    for header in _headers():
        found = _CDEF.findall(header.read_text(encoding="utf-8"))
        if not found:
            raise RuntimeError(f"{header.name} has no '/* cdef: begin */...' block")
        blocks.extend(found)
    return "\n".join(blocks)


def _compile_args() -> list[str]:
    if sys.platform == "win32":
        return ["/O2"]
    # no fused multiply-add: the kernels must round as the numpy references do (ARM has FMA)
    return ["-O3", "-std=c99", "-Wall", "-Wextra", "-ffp-contract=off"]


def _builder(root: Path | None) -> FFI:
    """A builder with the sources relative to the project root for setuptools
    (``root=None``), or under ``root`` for a direct build (cffi compiles in its tmpdir)."""
    base = HERE if root is None else root / "_native"
    ffi = FFI()
    ffi.cdef(_cdef())
    ffi.set_source(
        MODULE,
        "\n".join(f'#include "{h.name}"' for h in _headers()),
        sources=_sources() if root is None else [str(p) for p in sorted(base.glob("*.c"))],
        include_dirs=[HERE.relative_to(ROOT).as_posix() if root is None else str(base)],
        extra_compile_args=_compile_args(),
    )
    return ffi


def build_in_place(ffi: FFI) -> None:
    """Compile ``ffi`` under build/cffi and copy the module into ``edgekit/`` (development)."""
    import shutil

    built = Path(ffi.compile(tmpdir=str(ROOT / "build" / "cffi"), verbose=True))
    shutil.copy2(built, ROOT / "edgekit" / built.name)
    print(f"installed {built.name} into edgekit/")


ffibuilder = _builder(None)

if __name__ == "__main__":
    build_in_place(_builder(ROOT))
