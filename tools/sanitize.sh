#!/bin/sh
# Build the kernels with AddressSanitizer + UndefinedBehaviorSanitizer in a separate tree
# (build/sanitize: its own copy of src/ and tests/, its own .so files, nothing in .venv or
# src/ is touched) and run the test suite against that build.
#
# Usage: tools/sanitize.sh [PYTHON] [pytest args...]   (make sanitize does this with .venv)
#
# Python itself is not instrumented, so the gcc ASan/UBSan runtimes are preloaded.
# detect_leaks=0: CPython keeps interned objects and arenas until exit, which LeakSanitizer
# would report; leaks of ours are caught by tests/test_memory.py instead.
# Any ASan error or UB report aborts the run (halt_on_error / -fno-sanitize-recover).
set -eu

PYTHON=${1:-.venv/bin/python}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=$(cd "$ROOT" && cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
TREE="$ROOT/build/sanitize"
CC=${CC:-gcc}

ASAN_LIB=$($CC -print-file-name=libasan.so)
UBSAN_LIB=$($CC -print-file-name=libubsan.so)
for lib in "$ASAN_LIB" "$UBSAN_LIB"; do
    if [ ! -e "$lib" ]; then
        echo "sanitize: $CC has no $(basename "$lib") runtime" >&2
        exit 1
    fi
done

echo "sanitize: copying the sources to $TREE"
# Keep the sanitized .c/.so of an earlier run (rebuilt only when a source changed: tar keeps
# the sources' times); never take the normal build's .so.
mkdir -p "$TREE/src"
find "$TREE/src" "$TREE/tests" -type f ! -name '*.so' ! -name '*.c' -delete 2>/dev/null || true
(cd "$ROOT" && git ls-files -co --exclude-standard src tests setup.py pyproject.toml README.md LICENSE \
    | tar -cf - -T -) | tar -C "$TREE" -xf -

echo "sanitize: building the kernels with -fsanitize=address,undefined"
# -O1 -g: readable reports; -fno-sanitize-recover: the first UB report fails the run.
cd "$TREE"
CYCONV_EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g" \
CYCONV_EXTRA_LDFLAGS="-fsanitize=address,undefined" \
    "$PYTHON" setup.py --quiet build_ext --inplace -j 2

export PYTHONPATH="$TREE/src"
export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB"
# allocator_may_return_null: a huge allocation fails as in a normal run (NumPy raises
# MemoryError, which the tests expect) instead of aborting.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

"$PYTHON" -c "
import sys, cyconv
from cyconv._kernels import _info
assert cyconv.__file__.startswith('$TREE'), cyconv.__file__
assert 'sanitize=address' in _info.compile_flags(), _info.compile_flags()
print('sanitize: testing', cyconv.__file__, 'built with', _info.compile_flags())
"
# torch (the oracle of some tests) loads and runs fine under the preloaded runtime.
# --capture=sys: the sanitizers write their reports to file descriptor 2, which pytest's
# default capture would swallow along with the process that aborts.
"$PYTHON" -m pytest -q -p no:cacheprovider --capture=sys "$TREE/tests" "$@"
echo "sanitize: passed, no ASan/UBSan report"
