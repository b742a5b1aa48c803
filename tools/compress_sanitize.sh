#!/usr/bin/env bash
# The compress decoder under AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   tools/compress_sanitize.sh [--portable] [--count N] [--data DIR] [--keep] [--reuse] [DEST]
#
# Copies this checkout's tracked files (as they are in the work tree) to DEST (default: a new
# temporary directory), builds the C kernels there with -fsanitize=address,undefined (every
# UBSan finding aborts), and runs, with the sanitizer runtimes preloaded into Python:
#
#   1. python -m pytest -q tests/compress
#   2. tools/compress_paths_exact.py   (every corpus series on every decode path; needs the
#                                       corpus: --data DIR, default ../shared/data/sensors)
#   3. tools/compress_fuzz_v3.py      --count N  (v3 frames: damaged, truncated, random)
#   4. tools/compress_fuzz_nonpred.py --count N  (the non-predictor decode paths)
#   5. tools/compress_fuzz.py         --count N  (v1/v2 frames, every public decoder)
#
# DEST's parent gets shared/data/sensors -> the corpus, where the tools look for it.
# --portable builds without any SIMD or assembly path (-DEKZ_NO_AVX512 -DEKZ_NO_CLMUL
# -DEKZ_NO_ASM -DEKZ_NO_CLONES -DEKZ_NO_AVX2 -DEKZ_NO_FUSED).  Without it the build has every
# path and the tools run each decode on the AVX-512 (where the CPU has it), AVX2 and scalar
# kernels themselves.  N defaults to 20000.  The numpy reference share of the fuzzers is
# off (pure Python: nothing for a sanitizer to see).  Exits non-zero on the first finding;
# the sanitizer's report is on stderr.  --keep keeps the temporary copy; --reuse skips the
# copy and build when DEST already holds a sanitized build (repeat runs).  Needs gcc with
# libasan and libubsan (GCC 12 tested).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
portable=0
count=20000
data=""
keep=0
reuse=0
dest=""
while [ $# -gt 0 ]; do
    case "$1" in
        --portable) portable=1 ;;
        --count) count="$2"; shift ;;
        --data) data="$2"; shift ;;
        --keep) keep=1 ;;
        --reuse) reuse=1 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) dest="$1" ;;
    esac
    shift
done
[ -n "$data" ] || data="$(cd "$here/.." && pwd)/shared/data/sensors"
if [ -z "$dest" ]; then
    top="$(mktemp -d "${TMPDIR:-/tmp}/edgekit-sanitize.XXXXXX")"
    [ "$keep" = 1 ] || trap 'rm -rf "$top"' EXIT
    dest="$top/edgekit"
fi
# the tools look for the corpus at ../shared/data/sensors beside the checkout
mkdir -p "$dest"
beside="$(cd "$dest/.." && pwd)/shared/data/sensors"
if [ -d "$data" ] && [ ! -e "$beside" ]; then
    mkdir -p "$(dirname "$beside")"
    ln -sn "$(cd "$data" && pwd)" "$beside" 2>/dev/null || true  # (-n: never inside the corpus)
fi

if [ "$reuse" = 1 ] && ls "$dest"/edgekit/_edgekit_native*.so >/dev/null 2>&1; then
    echo "== reusing the sanitized build in $dest"
else
echo "== copy of $here -> $dest"
mkdir -p "$dest"
(cd "$here" && git ls-files -z | xargs -0 cp --parents -t "$dest")

flags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
if [ "$portable" = 1 ]; then
    flags="$flags -DEKZ_NO_AVX512 -DEKZ_NO_CLMUL -DEKZ_NO_ASM -DEKZ_NO_CLONES -DEKZ_NO_AVX2 -DEKZ_NO_FUSED"
fi
echo "== build: CFLAGS=\"$flags\""
(cd "$dest" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
    python setup.py -q build_ext --inplace >"$dest/build.log" 2>&1) \
    || { tail -30 "$dest/build.log"; exit 1; }
ls "$dest"/edgekit/_edgekit_native*.so >/dev/null
fi

export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# every Python object from malloc (not pymalloc's pools): a read past the end of a bytes
# object of a frame then lands in ASan's redzone instead of the pool's next object
export PYTHONMALLOC=malloc
export PYTHONDONTWRITEBYTECODE=1
cd "$dest"
python -c "import edgekit.compress._kernels as K, sys; sys.exit(0 if K.native() else 1)" \
    || { echo "the sanitized kernels did not load"; exit 1; }

step() { echo "== $*"; "$@"; }
step python -m pytest -q -x -p no:cacheprovider tests/compress
if [ -d "$data" ]; then
    step python tools/compress_paths_exact.py --data "$data"
else
    echo "== (no corpus at $data: compress_paths_exact.py skipped)"
fi
step python tools/compress_fuzz_v3.py --count "$count" --ref-share 0 --out "$dest/fuzz-v3"
step python tools/compress_fuzz_nonpred.py --count "$count" --ref-share 0 --out "$dest/fuzz-np"
step python tools/compress_fuzz.py --count "$count" --out "$dest/fuzz-v1"
echo "== sanitizers: clean"
