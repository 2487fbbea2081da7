#!/usr/bin/env bash
# chaos.sh - the long forms of the reliability suites (issue 5), as
# `make chaos` runs them: thousands of SIGKILLs in the kill storm, hundreds
# of creation races and killed creators, then the stale, bad-input and
# permission suites, plain and under ASan+UBSan; then each fuzz target for
# FUZZ_SECONDS (default 300).
#
#   tools/scripts/chaos.sh                  everything
#   CHAOS_FUZZ=0 tools/scripts/chaos.sh     skip fuzzing
#   ISOREG_CHAOS_SEED=N                     replay a run's random choices
#
# The figures the tests print (kills, in-flight kills, worst survivor
# latency, events missed, races won, leftovers) are collected into
# build-chaos/chaos-summary.txt for RELIABILITY.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
jobs=$(nproc 2>/dev/null || echo 2)
TESTS='tests/test_chaos.c tests/test_races.c tests/test_stale.c tests/test_badinput.c tests/test_perms.c'
summary=build-chaos/chaos-summary.txt
status=0

run() { # $1 = build dir, rest = make variables
  local dir=$1; shift
  echo "== build $dir $*"
  make --no-print-directory -j"$jobs" BUILD="$dir" TESTS="$TESTS" "$@" \
    "$dir/tests/isoreg_tests" >"/tmp/isoreg-chaos-$dir.build.log" 2>&1 || {
    cat "/tmp/isoreg-chaos-$dir.build.log"; echo "build $dir failed"; return 1; }
  echo "== long chaos: $dir"
  ISOREG_CHAOS_LONG=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    "$dir/tests/isoreg_tests" --jobs="$jobs" --filter='@(chaos|races|stale|badinput|perms)/*' \
    2>&1 | tee "$dir/chaos.log"
  local rc=${PIPESTATUS[0]}
  grep -aE '^(chaos|races|stale):' "$dir/chaos.log" | sed "s|^|[$dir] |" >>"$summary"
  return "$rc"
}

mkdir -p build-chaos
: >"$summary"
date -u '+%Y-%m-%d %H:%M UTC' >>"$summary"
run build-chaos || status=1
run build-chaos-asan SANITIZE=address,undefined OPT=-O1 || status=1

# The kill-and-stall harness, long form: every point stalled 1x, 10x and
# 100x past the cooldown [R6].
for dir in build-chaos build-chaos-asan; do
  echo "== kill and stall, long: $dir"
  make --no-print-directory -j"$jobs" BUILD="$dir" $( [ "$dir" = build-chaos-asan ] && echo SANITIZE=address,undefined OPT=-O1 ) \
    "$dir/tests/isoreg_killpoints" >/dev/null 2>&1 || { echo "build $dir killpoints failed"; status=1; continue; }
  ISOREG_CHAOS_LONG=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
    "$dir/tests/isoreg_killpoints" --jobs="$jobs" 2>&1 | tee "$dir/killpoints.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  grep -aE '^killpoints:' "$dir/killpoints.log" | sed "s|^|[$dir] |" >>"$summary"
done

if [ "${CHAOS_FUZZ:-1}" != 0 ]; then
  echo "== fuzz, ${FUZZ_SECONDS:-300} s per target"
  FUZZ_SECONDS=${FUZZ_SECONDS:-300} tools/scripts/fuzz.sh 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

echo
echo "== summary ($summary)"
cat "$summary"
[ $status -eq 0 ] && echo "chaos: all passed" || echo "chaos: FAILED"
exit $status
