#!/usr/bin/env bash
# test-aarch64.sh - isoreg off x86 (make test-aarch64, and a stage of
# run-tests.sh): cross-build the library and a Criterion binary of the
# breaker, registry, multiproc and protocol suites and the kill-and-stall
# harness for aarch64, then run those suites
# under qemu-user. It ends with one line "N passed, N failed".
#
#   tools/scripts/test-aarch64.sh [DIR]      (default build-aarch64)
#
# Criterion runs every test in a re-executed copy of its binary, and
# qemu-user cannot follow an execve of an aarch64 program by itself: the
# kernel must hand it to qemu through binfmt_misc. The suites therefore run
# in a user namespace of their own (Linux >= 6.7 gives each its own
# binfmt_misc), where qemu-aarch64 is registered for aarch64 ELF files. The
# host's binfmt_misc is never touched.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

SUITES=(breaker registry multiproc protocol killpoints)
TEST_FILES="tests/test_breaker.c tests/test_registry.c tests/test_multiproc.c tests/test_protocol.c"
# The magic and mask of an aarch64 ELF executable or shared object.
MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

# Inside the namespace: register qemu, then run each suite under a timeout.
if [ "${1:-}" = --in-namespace ]; then
  dir=$2 qemu=$3
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || exit 3
  # F: the kernel opens qemu now; P: argv[0] reaches the guest unchanged.
  # %s: binfmt_misc decodes the \x escapes itself (a raw NUL would end it).
  printf ':isoreg-aarch64:M::%s:%s:%s:FP' "$MAGIC" "$MASK" "$qemu" \
    >/proc/sys/fs/binfmt_misc/register || exit 3
  rc=0
  for s in "${SUITES[@]}"; do
    echo "== aarch64: $s"
    bin=isoreg_tests
    # The kill-and-stall harness is its own binary (failpoints built in).
    [ "$s" = killpoints ] && bin=isoreg_killpoints
    timeout -k 10 600 "$dir/tests/$bin" --jobs="$(nproc)" --filter="$s/*" 2>&1 || rc=1
  done
  exit $rc
fi

dir=${1:-build-aarch64}
sr=$PWD/$dir/sysroot
qemu=$PWD/$dir/qemu/qemu-aarch64
log=$(mktemp)
trap 'rm -f "$log"' EXIT
die() { echo "test-aarch64: $*" >&2; echo; echo "0 passed, 1 failed"; exit 1; }

tools/scripts/deps.sh aarch64 "$dir" ||
  die "the aarch64 cross toolchain, arm64 sysroot or qemu could not be set up (above)"

echo "== build $dir (aarch64-linux-gnu-gcc, sysroot $dir/sysroot)"
make --no-print-directory -j"$(nproc)" BUILD="$dir" \
  CC="aarch64-linux-gnu-gcc --sysroot=$sr" AR=aarch64-linux-gnu-ar \
  TESTS="$TEST_FILES" lib tests >"$log" 2>&1 || { cat "$log"; die "the aarch64 build failed"; }
for f in "$dir/libisoreg.so" "$dir/tests/isoreg_tests" "$dir/tests/isoreg_killpoints"; do
  aarch64-linux-gnu-readelf -h "$f" | grep -q 'Machine:.*AArch64' || die "$f is not an aarch64 ELF"
done
# The breaker word and the directory entries change by a double-width CAS:
# on aarch64, ck's LDXP/STXP loop (no LSE needed).
n=$(aarch64-linux-gnu-objdump -d "$dir/libisoreg.a" | grep -cw stxp)
[ "$n" -gt 0 ] || die "no LDXP/STXP double-width CAS in $dir/libisoreg.a"
echo "   $n double-width CAS sites (LDXP/STXP) in libisoreg.a"

echo "== run under $("$qemu" --version | head -n1)"
QEMU_LD_PREFIX=$sr timeout -k 10 1500 unshare --user --map-root-user --mount \
  "$PWD/tools/scripts/test-aarch64.sh" --in-namespace "$dir" "$qemu" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 3 ] && die "could not register qemu with binfmt_misc in a user namespace" \
  "(needs Linux >= 6.7 and unprivileged user namespaces)"
# Unshare failing: no line of output from the suites at all.
grep -q '^== aarch64:' "$log" || die "could not start the suites in a user namespace (unshare, above)"

pass=0; fail=0
while read -r line; do
  p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
  f=$(sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1+\2/p' <<<"$line")
  pass=$((pass + p)); fail=$((fail + f))
done < <(grep -a 'Synthesis: Tested:' "$log")
n=$(grep -ac 'Synthesis: Tested:' "$log")
# A suite that died before its synthesis counts as one failure.
[ "$n" -lt ${#SUITES[@]} ] && fail=$((fail + ${#SUITES[@]} - n))
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
echo
echo "$pass passed, $fail failed"
[ "$rc" -eq 0 ] && [ "$fail" -eq 0 ]
