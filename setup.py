"""Builds edgekit's C kernels as an *optional* extension.

Metadata lives in pyproject.toml; this file exists only because ``cffi_modules=`` cannot mark
an extension optional.  When the compiler is missing or fails (try ``CC=false pip install .``),
setuptools warns and installs edgekit without the extension, and the numpy references do the
work (``edgekit info`` then reports the ``reference`` backend).
"""

import sys
from pathlib import Path

from setuptools import setup

sys.path.insert(0, str(Path(__file__).resolve().parent / "_native"))
from build_ffi import ffibuilder  # noqa: E402

extension = ffibuilder.distutils_extension(tmpdir="build/cffi")
extension.optional = True

setup(ext_modules=[extension])
