"""Child process of the SIGKILL test: applies updates to random things of a file store without
end, and after each commit writes ``thing version clientToken`` to stdout (one unbuffered
write), which is its acknowledgement.  Run as ``python -m tests.twin._kill_child DB SEED``."""

from __future__ import annotations

import json
import os
import random
import sys

from edgekit.twin import Shadows, SQLiteShadowStore

THINGS = 10_000


def main() -> None:
    path, seed, synchronous = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    shadows = Shadows(SQLiteShadowStore(path, synchronous=synchronous))
    n = 0
    while True:
        n += 1
        # half the updates go to 20 hot things, so that histories grow long
        thing = f"dev-{rng.randrange(20 if rng.random() < 0.5 else THINGS):05d}"
        token = f"{seed}-{n}"
        state = {"reported": {"seq": n, "temp": rng.randint(-40, 85),
                              "cfg": {"k": rng.choice([None, rng.random()])}}}
        if rng.random() < 0.2:
            state["desired"] = {"temp": rng.randint(-40, 85)}
        accepted = shadows.update(thing, json.dumps({"state": state, "clientToken": token}))
        os.write(1, f"{thing} {accepted['version']} {token}\n".encode())


if __name__ == "__main__":
    main()
