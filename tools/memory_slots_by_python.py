"""The article's __slots__ claim across Python versions, with the standard library only.

Runs under any CPython >= 3.6 (no numpy, no edgekit): 100,000 readings (ns timestamp int,
float value, small int quality) as dicts, a plain class and the article's __slots__ class,
each in a list, measured with tracemalloc.

    for v in 3.10 3.11 3.12 3.13; do python$v tools/memory_slots_by_python.py; done
"""

import gc
import sys
import tracemalloc

N = 100_000


class Plain:
    def __init__(self, timestamp, value, quality):
        self.timestamp = timestamp
        self.value = value
        self.quality = quality


class Slots:
    __slots__ = ["timestamp", "value", "quality"]

    def __init__(self, timestamp, value, quality):
        self.timestamp = timestamp
        self.value = value
        self.quality = quality


def build(kind):
    t0 = 1_464_739_200 * 10**9
    if kind == "dict":
        return [{"timestamp": t0 + i * 60 * 10**9, "value": 20.0 + (i % 97) / 10,
                 "quality": 0} for i in range(N)]
    cls = Plain if kind == "plain" else Slots
    return [cls(t0 + i * 60 * 10**9, 20.0 + (i % 97) / 10, 0) for i in range(N)]


def held(kind):
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    obj = build(kind)
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del obj
    return size


def main():
    sizes = {k: held(k) for k in ("dict", "plain", "slots")}
    saving = 1 - sizes["slots"] / sizes["plain"]
    print(f"| {sys.version.split()[0]} | " + " | ".join(
        f"{sizes[k] / N:.0f} B ({sizes[k] / 1e6:.1f} MB)" for k in ("dict", "plain", "slots"))
        + f" | {100 * saving:.0f}% |")


if __name__ == "__main__":
    main()
