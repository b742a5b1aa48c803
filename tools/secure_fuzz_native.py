"""Build and run the differential fuzzer of edgekit.secure's C envelope code.

    python tools/secure_fuzz_native.py --seconds 300                 # ASan+UBSan, one process
    python tools/secure_fuzz_native.py --mode threads --seconds 240  # ThreadSanitizer
    python tools/secure_fuzz_native.py --iterations 200000 --seed 7  # reproduce one run

``tools/secure_fuzz_native.c`` (its header says what it checks) is compiled together with
``_native/crypto/envelope.c`` by the system C compiler against OpenSSL's libcrypto:
``-fsanitize=address,undefined`` for ``--mode single``, ``-fsanitize=thread`` for
``--mode threads`` (``--sanitize none`` for a plain -O2 build).  Several ``--seeds`` run one
after another and split the time; a failure prints the seed, epoch and operation, and
``--seed S --iterations N`` replays it.  Exit status: 0 when every run passed, 1 when one
failed, 2 when the harness could not be built here (no compiler or OpenSSL headers).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "tools" / "secure_fuzz_native.c"
CRYPTO = ROOT / "_native" / "crypto"
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE = {
    "address": ["-O1", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all"],
    "thread": ["-O1", "-fsanitize=thread"],
    "none": ["-O2"],
}


def _openssl_flags() -> tuple[list[str], list[str]]:
    """-I/-L/-l flags for libcrypto, as the extension's own build finds them."""
    sys.path.insert(0, str(ROOT / "_native"))
    try:
        from build_crypto import _flags
    finally:
        sys.path.pop(0)
    include, libdirs, libraries = _flags()
    return ([f"-I{d}" for d in include], [f"-L{d}" for d in libdirs] +
            [f"-l{name}" for name in libraries])


def compiler() -> str | None:
    """The C compiler to use ($CC, else cc/gcc/clang on PATH), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def build(sanitize: str, out_dir: Path, source: Path = CRYPTO) -> Path:
    """Compile the harness with the given sanitizer into out_dir, against the envelope code
    in ``source`` (a directory with envelope.c and envelope.h; tests pass a damaged copy);
    raises RuntimeError with the compiler's output when it cannot be built."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler")
    exe = out_dir / f"secure_fuzz_native_{sanitize}"
    cflags, libs = _openssl_flags()
    cmd = [cc, *WARNINGS, *SANITIZE[sanitize], "-g", f"-I{source}", *cflags, str(HARNESS),
           str(source / "envelope.c"), "-o", str(exe), *libs, "-lpthread"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}\n{done.stdout}{done.stderr}")
    return exe


def run(exe: Path, *, mode: str, seed: int, seconds: float | None, iterations: int | None,
        threads: int, nice: bool = True) -> subprocess.CompletedProcess:
    """One run of a built harness; returns the finished process (stdout/stderr as text)."""
    cmd = [str(exe), "--mode", mode, "--seed", str(seed), "--threads", str(threads)]
    if seconds:
        cmd += ["--seconds", str(seconds)]
    if iterations:
        cmd += ["--iterations", str(iterations)]
    if nice and shutil.which("nice"):
        cmd = ["nice", "-n", "10", *cmd]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    env.setdefault("TSAN_OPTIONS", "halt_on_error=1")
    limit = (seconds or 0) + 600 if not iterations else None
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=limit)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("single", "threads"), default="single")
    ap.add_argument("--sanitize", choices=tuple(SANITIZE), default=None,
                    help="default: address (ASan+UBSan) for single, thread (TSan) for threads")
    ap.add_argument("--seconds", type=float, default=None, help="total time, split over seeds")
    ap.add_argument("--iterations", type=int, default=None,
                    help="operations (single) or opens (threads) per seed")
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--seeds", type=int, default=1, help="how many seeds, one after another")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--build-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.seconds is None and args.iterations is None:
        args.seconds = 60.0
    sanitize = args.sanitize or ("address" if args.mode == "single" else "thread")
    with tempfile.TemporaryDirectory(prefix="secure_fuzz_") as tmp:
        out_dir = args.build_dir or Path(tmp)
        try:
            exe = build(sanitize, out_dir)
        except (RuntimeError, OSError, subprocess.SubprocessError) as err:
            print(f"cannot build the harness: {err}", file=sys.stderr)
            return 2
        per_seed = args.seconds / args.seeds if args.seconds else None
        for seed in range(args.seed, args.seed + args.seeds):
            done = run(exe, mode=args.mode, seed=seed, seconds=per_seed,
                       iterations=args.iterations, threads=args.threads)
            sys.stdout.write(done.stdout)
            if done.returncode != 0:
                sys.stderr.write(done.stderr)
                print(f"FAILED: {sanitize} {args.mode} seed {seed} (exit {done.returncode})",
                      file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
