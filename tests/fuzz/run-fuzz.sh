#!/bin/sh
# Builds a fuzzer with clang's libFuzzer and runs it for a while over a
# copy of its seed corpus: run-fuzz.sh [SECONDS [TARGET]] (default 30
# seconds; TARGET http1, the HTTP/1.x parser, tls_hello, the
# ClientHello peek, trace_ctx, the trace context headers, or inject, the
# Kubernetes webhook's injection). The source and build trees come from WEFT_SRCDIR and
# WEFT_BUILDDIR (default: the tree this script is in; the build tree
# holds config.h). The fuzzer binary and any crash input are left in the
# build tree under tests/fuzz/; rerun a crash with:
# tests/fuzz/fuzz_TARGET CRASH-FILE
# Exit status: 0 no finding, 77 skipped (no clang with libFuzzer), 1 a
# crash or a build failure.

set -eu

seconds=${1:-30}
target=${2:-http1}
case $seconds in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS [http1|tls_hello|trace_ctx|inject]]" >&2
	exit 2
	;;
esac
libs=""
case $target in
http1) sources="src/lib/http1.c src/lib/log.c" dict=http1.dict ;;
tls_hello) sources="src/lib/tls_hello.c" dict="" ;;
trace_ctx) sources="src/lib/trace_ctx.c" dict="" ;;
inject)
	sources="src/lib/inject.c src/lib/base64.c src/lib/xmalloc.c src/lib/log.c"
	dict="" libs="-ljansson -lcrypto"
	;;
*)
	echo "usage: $0 [SECONDS [http1|tls_hello|trace_ctx|inject]]" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
: "${WEFT_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${WEFT_BUILDDIR:=$WEFT_SRCDIR}"
: "${FUZZ_CC:=clang}"

if [ ! -f "$WEFT_BUILDDIR/config.h" ]; then
	echo "run-fuzz.sh: no config.h in $WEFT_BUILDDIR: run configure" \
	    "first, or set WEFT_BUILDDIR to the build tree" >&2
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/weft-fuzz.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

# libFuzzer ships with clang but not with every packaging of it.
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
    '{ (void)d; (void)n; return 0; }' >"$T/probe.c"
if ! "$FUZZ_CC" -fsanitize=fuzzer -o "$T/probe" "$T/probe.c" \
    >"$T/probe.log" 2>&1; then
	echo "SKIP: run-fuzz.sh: $FUZZ_CC cannot build a libFuzzer target" \
	    "(install clang)"
	exit 77
fi

out="$WEFT_BUILDDIR/tests/fuzz"
mkdir -p "$out"
echo "building $out/fuzz_$target"
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined -Wall -Wextra -Wshadow -Wpointer-arith
    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter -Wformat=2"
for src in $sources "tests/fuzz/fuzz_$target.c"; do
	obj="$T/$(basename "$src" .c).o"
	# The harness must be warning-free; library warnings are the
	# regular build's business (gcc, -Werror), so only shown here.
	werror=""
	[ "$src" = "tests/fuzz/fuzz_$target.c" ] && werror=-Werror
	# shellcheck disable=SC2086 # cflags is a list of words
	"$FUZZ_CC" $cflags $werror -I "$WEFT_SRCDIR/src/lib" \
	    -I "$WEFT_BUILDDIR" -c -o "$obj" "$WEFT_SRCDIR/$src"
done
# shellcheck disable=SC2086
"$FUZZ_CC" $cflags -o "$out/fuzz_$target" "$T"/*.o $libs

mkdir "$T/corpus"
cp "$WEFT_SRCDIR/tests/fuzz/corpus/$target"/* "$T/corpus/"
dictopt=""
[ -n "$dict" ] && dictopt="-dict=$WEFT_SRCDIR/tests/fuzz/$dict"

echo "fuzzing for $seconds seconds"
rc=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_$target" -max_total_time="$seconds" -timeout=10 \
    -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 \
    $dictopt -artifact_prefix="$out/fuzz-$target-" "$T/corpus" || rc=$?
if [ "$rc" -ne 0 ]; then
	echo "FAIL: run-fuzz.sh: the fuzzer found a problem (exit $rc);" \
	    "inputs:" >&2
	ls "$out/fuzz-$target-"* >&2 2>/dev/null || true
	exit 1
fi
echo "PASS: run-fuzz.sh: $target: no finding in $seconds seconds"
