"""Builds edgekit's C kernels as *optional* extensions.

Metadata lives in pyproject.toml; this file exists only because ``cffi_modules=`` cannot mark
an extension optional.  When the compiler is missing or fails (try ``CC=false pip install .``),
setuptools warns and installs edgekit without the extension, and the numpy references do the
work (``edgekit info`` then reports the ``reference`` backend).  The envelope opener, which
links OpenSSL's libcrypto, is a second extension (``_native/build_crypto.py``), so that a
machine without OpenSSL's headers still gets every other kernel.
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent / "_native"))
import build_crypto  # noqa: E402
import build_ffi  # noqa: E402

extensions = [b.ffibuilder.distutils_extension(tmpdir="build/cffi")
              for b in (build_ffi, build_crypto)]
for extension in extensions:
    extension.optional = True

setup(ext_modules=extensions)
