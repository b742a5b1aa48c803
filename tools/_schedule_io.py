"""What the schedule tools share: their JSON-lines MILP caches and where a table goes."""

from __future__ import annotations

import json
import os


def load_cache(path: str | None, key: tuple[str, ...]) -> dict[tuple, dict]:
    """The records of the JSON-lines file ``path`` (none when it is missing), by the values
    of the fields ``key``."""
    out: dict[tuple, dict] = {}
    if path and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                out[tuple(r[k] for k in key)] = r
    return out


def emit(text: str, out: str) -> None:
    """Print ``text`` when ``out`` is ``-``, else write it to that file."""
    if out == "-":
        print(text)
    else:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
