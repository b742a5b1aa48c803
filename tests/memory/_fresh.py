"""Memory figures measured in a fresh interpreter.

tracemalloc counts what a call leaves allocated, and a long pytest session leaves traces of
its own in that window: an enabled telemetry sink, hypothesis' and numpy's context variables
(``errstate``), caches other tests filled.  The same store measured 352 B alone and 560 B late
in the whole suite.  The fixed-cost and bound tests therefore measure in a child process that
imports only edgekit, as ``tools/memory_table.py`` does for every cell of its tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from edgekit import _backend
from tests._env import child_env

ROOT = Path(__file__).resolve().parents[2]


def fresh(expr: str, *, setup: str = "", backend: str | None = _backend.REQUESTED) -> object:
    """The JSON value of ``expr``, evaluated in a new interpreter after ``setup`` (both Python
    source; the warm-up of ``edgekit.memory._layouts`` runs first); ``backend``: the child's
    EDGEKIT_BACKEND (this process's by default; None: the install's default, ``auto``)."""
    code = ("import json\nfrom edgekit.memory._layouts import warm_up\nwarm_up()\n"
            f"{setup}\nprint(json.dumps({expr}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=child_env(backend),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
