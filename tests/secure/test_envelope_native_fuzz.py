"""A short run of the differential fuzzer of the C envelope code (tools/secure_fuzz_native.c)
under the sanitizers: ASan+UBSan for the single-threaded driver (random seal/open sequences,
damaged envelopes, window sizes, counters near 2**64, all checked against a fresh OpenSSL
context and a model of the replay window) and ThreadSanitizer for the threaded one (each
envelope accepted exactly once).  And a check that the harness is not blind: a copy of
envelope.c with an off-by-one in the window must make it fail.

Long runs: ``python tools/secure_fuzz_native.py --seconds 300`` (see that script).
Skipped where there is no C compiler, no OpenSSL headers or no sanitizer runtime, and where
edgekit does not use the C envelope code (extension not built, EDGEKIT_BACKEND=reference)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.secure import envelope as E

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("secure_fuzz_native",
                                               ROOT / "tools" / "secure_fuzz_native.py")
fuzz = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("secure_fuzz_native", fuzz)
_spec.loader.exec_module(fuzz)

pytestmark = pytest.mark.skipif(not E._NATIVE, reason="edgekit does not use the C envelope "
                                "code here (not built, or EDGEKIT_BACKEND=reference)")

# build failures that mean "not possible here", not "the harness or envelope.c is broken"
_MISSING = ("openssl/evp.h", "cannot find -lcrypto", "cannot find -lasan", "cannot find -ltsan",
            "cannot find -lubsan", "libasan", "libtsan", "unrecognized", "unsupported option")


def _build(sanitize: str, tmp_path: Path, source: Path = fuzz.CRYPTO) -> Path:
    if sys.platform == "win32" or fuzz.compiler() is None:
        pytest.skip("no C compiler")
    try:
        return fuzz.build(sanitize, tmp_path, source)
    except RuntimeError as err:
        if any(m in str(err) for m in _MISSING):
            pytest.skip(f"cannot build with -fsanitize={sanitize} here: {str(err)[-300:]}")
        raise


def _run(exe: Path, **kw) -> subprocess.CompletedProcess:
    return fuzz.run(exe, nice=False, **kw)


def test_single_threaded_under_asan_ubsan(tmp_path):
    exe = _build("address", tmp_path)
    done = _run(exe, mode="single", seed=20261127, seconds=2.5, iterations=None, threads=1)
    assert done.returncode == 0, done.stdout + done.stderr
    counts = dict(kv.split("=") for kv in done.stdout.split() if "=" in kv)
    # the run went through every outcome, not only refusals
    for outcome in ("OK", "SHORT", "UNKNOWN_KEY", "AUTH", "REPLAY"):
        assert int(counts[outcome]) > 100, done.stdout


def test_threads_under_tsan(tmp_path):
    exe = _build("thread", tmp_path)
    done = _run(exe, mode="threads", seed=20261127, seconds=1.5, iterations=None, threads=4)
    if done.returncode != 0 and "unexpected memory mapping" in done.stderr:
        pytest.skip("ThreadSanitizer cannot run under this kernel's address-space layout")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "opens=" in done.stdout


def test_the_harness_finds_an_off_by_one_in_the_window(tmp_path):
    """The fuzzer is not blind: accepting a counter exactly one window below the top (``>``
    for ``>=``) is caught within a fraction of a second."""
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(fuzz.CRYPTO / "envelope.h", broken / "envelope.h")
    source = (fuzz.CRYPTO / "envelope.c").read_text(encoding="utf-8")
    assert source.count("k->top - n >= k->window") == 1
    (broken / "envelope.c").write_text(source.replace("k->top - n >= k->window",
                                                      "k->top - n > k->window"),
                                       encoding="utf-8")
    exe = _build("none", tmp_path, broken)
    done = _run(exe, mode="single", seed=1, seconds=None, iterations=200_000, threads=1)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expected REPLAY" in done.stderr
