"""The ``edgekit`` command (also ``python -m edgekit``).

``edgekit info``   what this installation has (version, backend, kernels, optional deps)
``edgekit demo``   the main job on data shipped in the package: no network, no files needed
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `edgekit info | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error
        return 0                                                          # at exit's flush


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="edgekit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print version, kernel backend and optional dependencies")
    demo = sub.add_parser("demo", help="run every subsystem on shipped data and summarise")
    demo.add_argument("sections", nargs="*", help="only these sections (default: all)")
    args = parser.parse_args(argv)

    if args.command == "info":
        from edgekit._config import show_config

        show_config()
        return 0
    from edgekit import _demo

    unknown = [s for s in args.sections if s not in _demo.SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {list(_demo.SECTIONS)}")
    return _demo.run(sections=tuple(args.sections) or None)


if __name__ == "__main__":
    sys.exit(main())
