"""The Python examples of the documentation run, and say what they claim.

Every fenced ``python``/``pycon`` block of ``README.md``, ``docs/**/*.md`` and
``examples/README.md`` is run, one test per page, the blocks of a page in order in one
namespace (later blocks use what earlier ones made), in a temporary working directory:

* a block with ``>>>`` prompts is a doctest (:mod:`doctest`, ELLIPSIS and
  NORMALIZE_WHITESPACE): its outputs must match;
* any other block is run as a script and must not raise.

Names an example takes as given (``"photo.jpg"``, a fleet key, a model file) are made by the
page's entry in :data:`SETUP` before its first block; :data:`CHECK` asserts what a page's
plain examples claim in comments.  Blocks that cannot run offline or
alone are listed in :data:`SKIP` with the reason; an entry that no longer matches a block
fails (so the list cannot go stale).  Also here: the committed notebooks are what
``tools/make_notebooks.py`` writes, without outputs.
"""

from __future__ import annotations

import doctest
import io
import re
import sys
import textwrap
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md"),
                *(ROOT / "examples").glob("*.md")])
PAGES = [p for p in PAGES if p.is_file()]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)^"
                    r"(?P=indent)```[ \t]*$", re.M | re.S)
_PYTHON = {"python", "py", "pycon", "python3"}

_IMAGE = "from importlib import resources; import shutil as _sh\n" \
    "_img = resources.files('edgekit.data') / 'images' / 'astronaut.png'\n" \
    "with resources.as_file(_img) as _p: _sh.copy(_p, 'photo.jpg')\n"
_MODEL = "from edgekit.infer import FACE_MODEL as _FM\nimport shutil as _sh\n"
# two versions of a file: 64 KiB of a real shared library (numpy's) and a rebuild of it with
# bytes inserted and a few words rewritten, as bytes and as v1/ v2/ files
_PAIR = textwrap.dedent("""\
    import glob as _glob, os as _os
    import numpy as _np
    _so = max(_glob.glob(_os.path.join(_os.path.dirname(_np.__file__), '**', '*.so'),
                         recursive=True), key=_os.path.getsize)
    with open(_so, 'rb') as _f:
        old = old_bytes = _f.read(65536)
    _b = bytearray(old)
    _b[1000:1000] = b'inserted code'
    for _i in range(0, len(_b), 4096):
        _b[_i:_i + 4] = b'\\x00\\x01\\x02\\x03'
    new = new_bytes = bytes(_b)
    for _d, _data in (('v1', old), ('v2', new)):
        _os.makedirs(_d, exist_ok=True)
        with open(_os.path.join(_d, 'model.so'), 'wb') as _f:
            _f.write(_data)
    """)
# urls: three devices answering JSON on 127.0.0.1; the server answers three connections
# (or waits 10 s for each at most) and closes itself
_DEVICES = textwrap.dedent("""\
    import http.server as _hs, json as _json, threading as _th

    class _Device(_hs.BaseHTTPRequestHandler):
        def do_GET(self):
            body = _json.dumps({"path": self.path, "temp_C": 21.5}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    _srv = _hs.ThreadingHTTPServer(("127.0.0.1", 0), _Device)
    _srv.timeout = 10
    urls = [f"http://127.0.0.1:{_srv.server_port}/reading/{i}" for i in range(3)]

    def _serve():
        for _ in urls:
            _srv.handle_request()
        _srv.server_close()

    _th.Thread(target=_serve, daemon=True).start()
    """)

# page -> code run in the page's namespace (in the temporary directory) before its blocks
SETUP: dict[str, str] = {
    "README.md": _IMAGE + _MODEL + "_sh.copy(_FM, 'model.tflite')\n" + _PAIR + _DEVICES,
    "docs/update.md": _PAIR,
    "docs/infer.md": _IMAGE + _MODEL + textwrap.dedent("""\
        from edgekit.secure import generate_key as _gk, sign_artifact as _sign
        _sh.copy(_FM, 'face.tflite')
        _fleet = _gk('ed25519')
        _sign('face.tflite', _fleet, name='face', version='3')
        fleet_key = _fleet.public_key()
        """),
    "docs/secure/identity.md": textwrap.dedent("""\
        from edgekit.secure import CertificateAuthority as _CA, create_csr as _csr
        from edgekit.secure import generate_key as _gk
        gw_key = _gk()
        _other = _CA.create_root('another fleet')
        compromised_cert = _other.issue_device(_csr(_gk(), 'dev-lost'))   # (its serial)
        """),
    "docs/secure/envelope.md": textwrap.dedent("""\
        from cryptography.hazmat.primitives.asymmetric import x25519 as _x
        from edgekit.secure.envelope import session as _session
        gateway_key = _x.X25519PrivateKey.generate()
        gateway_public = gateway_key.public_key()
        payload = b'{"temp_C": 21.5}'
        _sent = payload

        class _GatewayOpener:
            # the gateway's own session() half, made from the device's public key the
            # example has just generated (dev_key), with the same context
            def open(self, wire, associated_data=b''):
                _, opener = _session(gateway_key, dev_key.public_key(), context=b'dev-7|gw-1')
                got = opener.open(wire, associated_data=associated_data)
                assert got == _sent
                return got

        gw_opener = _GatewayOpener()
        """),
    "docs/secure/artifacts.md": _MODEL + textwrap.dedent("""\
        import os as _os
        _os.makedirs('models')
        _sh.copy(_FM, 'models/face.tflite')
        """),
}

# page -> assertions run after its blocks: what the examples say they produce
CHECK: dict[str, str] = {
    "README.md": textwrap.dedent("""\
        import numpy as _np
        from edgekit.compress import decode as _dec, decode_stream as _dstream
        from edgekit.schedule import utilization as _util
        from edgekit.update import patch_info as _pinfo
        assert x.nbytes / len(blob) > 25                        # "26:1"
        assert x.nbytes / len(lossy) > 70                       # "76:1"
        assert _np.abs(_dec(lossy) - x).max() <= 0.25           # "|error| <= 0.25"
        assert len(rec) < len(blob) + 100                       # "timestamps cost ~nothing"
        assert _np.array_equal(_dstream(b"".join(frames)), x[:5000])
        assert codes.dtype == _np.uint32 and codes.tolist() == [2000, 4, 1]
        assert abs(_util(a, d, EDGE_CLUSTER_10) - 0.96) < 0.02  # "~0.96"
        assert len(faces) == 1                                  # photo.jpg: the astronaut
        assert _pinfo(patch).method in ("delta", "prefix", "full")
        assert [r["temp_C"] for r in readings] == [21.5] * 3    # the aio example's fan-in
        """),
}

# (page, a snippet of the block) -> why it is not run; each snippet names exactly one block
SKIP: dict[tuple[str, str], str] = {
    ("docs/compress/fleet.md", 'FsspecStore.from_url("s3://my-bucket'):
        "needs a bucket and a cluster; tests/compress/test_fleet.py runs read_fleet on a "
        "LocalCluster of two worker processes",
    ("docs/secure/tls.md", 'socket.create_server(("0.0.0.0", 8883))'):
        "binds 0.0.0.0:8883 and connects to gw-1.local; tests/secure/test_tls.py runs the "
        "handshake on 127.0.0.1",
    ("README.md", 'spill_dir="/var/lib/gw/readings"'):
        "spills to /var/lib/gw/readings and names a gateway's arrays; docs/memory.md's "
        "examples (run here) build a store from scratch",
}


def _skipped(block: Block) -> bool:
    return any(page == block.page and snippet in block.source for page, snippet in SKIP)


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    source: str

    @property
    def is_doctest(self) -> bool:
        return any(s.lstrip().startswith(">>>") for s in self.source.splitlines())


def blocks(page: Path, root: Path = ROOT) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    rel = page.relative_to(root).as_posix()
    out = []
    for m in _FENCE.finditer(text):
        if m.group("lang").lower() not in _PYTHON:
            continue
        line = text.count("\n", 0, m.start("body")) + 1
        out.append(Block(rel, line, textwrap.dedent(m.group("body"))))
    return out


def _run_block(block: Block, ns: dict) -> str | None:
    """Run one block in ``ns``; return a failure report, or None."""
    if block.is_doctest:
        test = doctest.DocTestParser().get_doctest(block.source, ns, block.page, block.page,
                                                  block.line - 1)
        report = io.StringIO()
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, out=report.write, clear_globs=False)
        ns.update(test.globs)  # DocTest works on a copy: later blocks see what this made
        return report.getvalue() if runner.failures else None
    code = compile("\n" * (block.line - 1) + block.source, block.page, "exec")
    try:
        with redirect_stdout(io.StringIO()):
            exec(code, ns)
    except Exception as err:  # the report names the page and line
        import traceback

        return "".join(traceback.format_exception(err))
    return None


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = blocks(page)
    rel = page.relative_to(ROOT).as_posix()
    if not found:
        pytest.skip("no Python examples on this page")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ns: dict = {"__name__": f"docs_{re.sub(r'[^A-Za-z0-9]', '_', rel)}"}
    if rel in SETUP:
        exec(compile(SETUP[rel], f"SETUP[{rel!r}]", "exec"), ns)
    ran = 0
    for block in found:
        if _skipped(block):
            continue
        failure = _run_block(block, ns)
        assert failure is None, f"{rel}:{block.line}: the example fails\n{failure}"
        ran += 1
    if ran == 0:
        pytest.skip("every example on this page is listed in SKIP")
    if rel in CHECK:
        exec(compile(CHECK[rel], f"CHECK[{rel!r}]", "exec"), ns)


def test_skip_and_setup_entries_match_the_docs() -> None:
    every = [b for p in PAGES for b in blocks(p)]
    for page, snippet in SKIP:
        hits = [b.line for b in every if b.page == page and snippet in b.source]
        assert len(hits) == 1, f"SKIP entry {(page, snippet)} matches {len(hits)} examples"
    missing = [p for p in (*SETUP, *CHECK) if not (ROOT / p).is_file()]
    assert not missing, f"SETUP/CHECK for pages that do not exist: {missing}"


def test_the_runner_itself(tmp_path: Path) -> None:
    """The extraction and the two kinds of block, on a page made here: a wrong doctest
    output and a raising script are failures that name the page and line."""
    page = tmp_path / "p.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n\n"
                    "  ```pycon\n  >>> x + 1\n  2\n  ```\n", encoding="utf-8")
    found = blocks(page, tmp_path)
    assert [(b.line, b.source, b.is_doctest) for b in found] == [
        (4, "x = 1\n", False), (12, ">>> x + 1\n2\n", True)]
    ns: dict = {}
    assert _run_block(found[0], ns) is None and ns["x"] == 1
    assert _run_block(found[1], ns) is None
    assert _run_block(Block("p.md", 20, ">>> z = x + 2\n"), ns) is None
    assert _run_block(Block("p.md", 22, "assert z == 3\n"), ns) is None
    wrong = _run_block(Block("p.md", 12, ">>> x + 1\n3\n"), ns)
    assert wrong is not None and "Expected" in wrong and "p.md" in wrong
    boom = _run_block(Block("p.md", 4, "y = 2\n1 / 0\n"), ns)
    assert boom is not None and "ZeroDivisionError" in boom and 'p.md", line 5' in boom


def test_notebooks_match_their_generator() -> None:
    nbformat = pytest.importorskip("nbformat")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_notebooks
    finally:
        sys.path.remove(str(ROOT / "tools"))
    assert make_notebooks.main(["--check"]) == 0, \
        "examples/*.ipynb differ from tools/make_notebooks.py: run python tools/make_notebooks.py"
    for path in sorted((ROOT / "examples").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, \
                    f"{path.name} is committed with outputs"
