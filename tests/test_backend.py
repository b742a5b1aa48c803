"""Backend selection, the optional native build, and the command line."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import pytest

import edgekit
from edgekit import _backend
from edgekit._config import config
from tests._env import EDGEKIT_VARIABLES, child_env

ROOT = Path(__file__).resolve().parents[1]
BUILT = importlib.util.find_spec("edgekit._edgekit_native") is not None


def _python(code: str, backend: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env=child_env(backend),
    )


def test_reference_backend_can_be_forced():
    r = _python("from edgekit import _backend; print(_backend.NAME, _backend.lib)", "reference")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["reference", "None"]


def test_unknown_backend_is_refused():
    r = _python("import edgekit.compress", "gpu")
    assert r.returncode != 0 and "BackendError" in r.stderr and "EDGEKIT_BACKEND" in r.stderr


@pytest.mark.skipif(not BUILT, reason="needs the built extension")
@pytest.mark.parametrize("backend", ["native", "auto", None])
def test_native_backend_loads_when_built(backend):
    r = _python("from edgekit import _backend; print(_backend.NAME)", backend)
    assert r.stdout.strip() == "native", r.stderr


def test_children_get_the_backend_of_the_suite_not_the_callers_environment(monkeypatch):
    """What a test's child process runs on is set by the test: by default the backend this
    process asked for, whatever the caller's environment says now."""
    monkeypatch.setenv(_backend.ENV_VAR, "gpu")
    assert child_env()[_backend.ENV_VAR] == _backend.REQUESTED
    assert _backend.ENV_VAR not in child_env(None)
    assert child_env("reference", CC="false")[_backend.ENV_VAR] == "reference"


def _environment_reads() -> tuple[set[str], set[str]]:
    """The ``EDGEKIT_*`` names edgekit's sources spell as a whole string, and the files that
    touch the environment."""
    names: set[str] = set()
    files: set[str] = set()
    for path in sorted((ROOT / "edgekit").rglob("*.py")):
        text = path.read_text()
        if re.search(r"\b(environ|getenv)\b", text):  # not the word "environment"
            files.add(path.relative_to(ROOT / "edgekit").as_posix())
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.STRING:
                word = tok.string.strip("rbuRBU").strip("\"'")
                if word.startswith("EDGEKIT_") and word[8:].replace("_", "").isalnum():
                    names.add(word)
    return names, files


def test_child_env_controls_every_variable_edgekit_reads():
    """tests/_env.py must set or clear every variable edgekit reads: a new one (a string
    ``EDGEKIT_...`` in the sources, or a new file that reads the environment) fails here
    until it is added there."""
    names, files = _environment_reads()
    assert names == set(EDGEKIT_VARIABLES), names
    # _backend reads EDGEKIT_BACKEND; the loopback server passes it on to its child
    assert files == {"_backend.py", "aio/_loopback.py"}, files


def test_show_config_lists_backend_and_dependencies(capsys):
    edgekit.show_config()
    text = capsys.readouterr().out
    assert f"backend:  {_backend.NAME}" in text
    assert "numpy" in text and "ai-edge-litert" in text
    c = config()
    assert c["native_kernels"] == list(_backend.native_kernels())
    if _backend.is_native():
        assert "ek_delta_zigzag_encode_u64" in c["native_kernels"]


def test_cli_info_into_a_closed_pipe_is_quiet():
    """``edgekit info | head -1``: the reader leaves before the output is written; no
    traceback, exit status 0."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before edgekit writes a byte
    try:
        done = subprocess.run([sys.executable, "-m", "edgekit", "info"], stdout=write,
                              stderr=subprocess.PIPE, timeout=60, env=child_env())
    finally:
        os.close(write)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr.decode()


def test_cli_info_and_demo_run():
    info = subprocess.run([sys.executable, "-m", "edgekit", "info"], capture_output=True,
                          text=True, timeout=120, env=child_env())
    assert info.returncode == 0, info.stderr
    assert f"backend:  {_backend.NAME} (EDGEKIT_BACKEND={_backend.REQUESTED})" in info.stdout
    demo = subprocess.run([sys.executable, "-m", "edgekit", "demo", "compress"],
                          capture_output=True, text=True, timeout=300, env=child_env())
    assert demo.returncode == 0, demo.stderr
    assert "round trip exact: True" in demo.stdout and "summary" in demo.stdout


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_sources_compile_warning_free():
    for source in sorted((ROOT / "_native").rglob("*.c")):
        r = subprocess.run(
            ["cc", "-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c",
             str(source), "-o", os.devnull], capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 0, f"{source.name}:\n{r.stderr}"


@pytest.mark.slow
def test_install_without_a_compiler_gives_the_reference_backend(tmp_path):
    """``CC=false pip install .``: the build must succeed without the extension, and the
    installed edgekit must work on the numpy references."""
    if not (ROOT / "setup.py").exists():
        pytest.skip("not running from a source tree")
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        "*.so", "build", ".git", ".*venv*", "*.egg-info", "__pycache__", ".hypothesis"))
    wheels = tmp_path / "wheels"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(wheels), str(src)], capture_output=True, text=True, timeout=300,
        env=child_env(CC="false", CXX="false"),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    (wheel,) = wheels.glob("edgekit-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert not [n for n in zf.namelist() if n.endswith((".so", ".pyd"))]
        zf.extractall(tmp_path / "site")
    # -S: no site, so an editable install of edgekit (a .pth finder) cannot shadow the wheel;
    # numpy and cffi come from their own site-packages, after the unpacked wheel.
    import cffi
    import numpy

    path = os.pathsep.join([str(tmp_path / "site"), str(Path(numpy.__file__).parents[1]),
                            str(Path(cffi.__file__).parents[1])])
    code = ("import numpy as np, edgekit, edgekit.compress as c; from edgekit import _backend;"
            "x = np.arange(1000, dtype=np.int64) ** 2;"
            "assert (c.delta_zigzag_decode(c.delta_zigzag_encode(x, 2), np.int64, 2) == x).all();"
            "print(_backend.NAME)")
    # unset (auto) and reference: the numpy references; native: a BackendError saying why
    for backend in (None, "auto", "reference"):
        r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path, env=child_env(backend, PYTHONPATH=path))
        assert r.returncode == 0, (backend, r.stderr)
        assert r.stdout.strip() == "reference", backend
    r = subprocess.run([sys.executable, "-S", "-c", "import edgekit.compress"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=child_env("native", PYTHONPATH=path))
    assert r.returncode != 0 and "BackendError" in r.stderr and "C compiler" in r.stderr
