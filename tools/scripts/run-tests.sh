#!/usr/bin/env bash
# run-tests.sh - the whole suite, as `make test` and CI run it:
#   0. the sources: no atomic spelled outside src/atomic.h
#      (tools/scripts/atomics.py)
#   1. plain build (-O2): every Criterion test, the kill-and-stall harness
#      (tests/killpoints/), the library's layers (tools/scripts/layers.py),
#      then the Python tests
#   2. ASan+UBSan build: every Criterion test and the harness
#   3. TSan build: the threaded stress programs (tests/threads/)
#   4. Valgrind over the breaker, key, registry and bad-input suites
#   5. a 10-second libFuzzer run of every fuzz target
#   6. aarch64: the breaker, registry and multiproc suites cross-built and run
#      under qemu-user (tools/scripts/test-aarch64.sh; about 20 s)
#   7. the Debian packages (tools/scripts/deb-test.sh, make deb-test; about
#      40 s): built from a clean clone, lintian, installed, units checked,
#      purged. Only as root (it runs dpkg) and only when no isoreg package
#      is installed (it would remove it); otherwise it says why it did not
#      run.
# It ends with one line "N passed, N failed" summing every stage.
set -uo pipefail
cd "$(dirname "$0")/../.."
jobs=$(nproc 2>/dev/null || echo 2)
# Logs of this run, apart from any other run on the machine (worktrees).
logs=$(mktemp -d)
# Readable by the second uid the hostile-neighbours tests run as: its
# creations read the state directory below, as on a real host.
chmod 0755 "$logs"
# Operators' durable state written by tests stays in the run's directory,
# never the machine's /var/lib/isoreg.
export ISOREG_STATE_DIR="$logs/state"
pass=0; fail=0
declare -a stages_failed=()

tally() { # $1 = stage name, $2 = log file, $3 = exit code
  local line p f
  line=$(grep -a 'Synthesis: Tested:' "$2" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
    f=$(sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1+\2/p' <<<"$line")
    pass=$((pass + p)); fail=$((fail + f))
  fi
  if [ "$3" -ne 0 ]; then stages_failed+=("$1"); [ -z "$line" ] && fail=$((fail + 1)); fi
}

build() { # $1 = build dir, rest = make variables; TARGET= picks what
  local dir=$1; shift
  echo "== build $dir $*"
  make --no-print-directory -j"$jobs" BUILD="$dir" "$@" "${TARGET:-all}" >"$logs/$dir.build.log" 2>&1 || {
    cat "$logs/$dir.build.log"; echo "build $dir failed"; return 1; }
}

run_criterion() { # $1 = stage, $2 = build dir, rest = criterion args
  local stage=$1 dir=$2; shift 2
  local log="$logs/$stage.log"
  echo "== tests: $stage"
  # A hung stage fails in bounded time, with its name, rather than
  # spending CI's whole budget.
  ISOREG_BIN="$PWD/$dir/bin" ISOREG_BUILD="$PWD/$dir" \
    timeout -k 10 1800 "$dir/tests/${TESTBIN:-isoreg_tests}" --jobs="$jobs" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  tally "$stage" "$log" "$rc"
}

run_counted() { # $1 = stage, rest = a command that ends with "N passed, N failed"
  local stage=$1 log="$logs/$1.log" rc line; shift
  timeout -k 10 120 "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    pass=$((pass + $(awk '{print $1}' <<<"$line"))); fail=$((fail + $(awk '{print $3}' <<<"$line")))
  fi
  [ "$rc" -ne 0 ] && { stages_failed+=("$stage"); [ -z "$line" ] && fail=$((fail + 1)); }
}

# Every atomic says its width and ordering through src/atomic.h, nothing
# raw elsewhere (issue 14). Reads the sources only: no build needed.
echo "== atomics (sources)"
run_counted atomics python3 tools/scripts/atomics.py .

if build build; then
  run_criterion plain build
  # Every step of every protocol killed and stalled [R6]: RELIABILITY.md.
  TESTBIN=isoreg_killpoints run_criterion killpoints build
  # The library's files call only downward, with no cycle (issue 14).
  echo "== layers (nm)"
  run_counted layers python3 tools/scripts/layers.py build
  if [ -x tools/scripts/run-python-tests.sh ]; then
    echo "== tests: python"
    log=$logs/python.log
    ISOREG_BUILD="$PWD/build" timeout -k 10 600 tools/scripts/run-python-tests.sh 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    r=$(grep -aE '^Ran [0-9]+ tests?' "$log" | tail -n1 | awk '{print $2}')
    fl=$(grep -aE '^FAILED \(' "$log" | tail -n1 | grep -oE '(failures|errors)=[0-9]+' | cut -d= -f2 | awk '{s+=$1} END {print s+0}')
    fl=${fl:-0}
    [ -n "$r" ] && { pass=$((pass + r - fl)); fail=$((fail + fl)); }
    [ "$rc" -ne 0 ] && { stages_failed+=(python); [ -z "$r" ] && fail=$((fail + 1)); }
  fi
else
  stages_failed+=(build); fail=$((fail + 1))
fi

if build build-asan SANITIZE=address,undefined OPT=-O1; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" \
    run_criterion asan build-asan
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp" TESTBIN=isoreg_killpoints \
    run_criterion killpoints-asan build-asan
else
  stages_failed+=(build-asan); fail=$((fail + 1))
fi

# Criterion cannot start under TSan (Snaipe/Criterion#274): the threaded
# scenarios are plain programs in tests/threads/, run here and in stage 1.
run_threads() { # $1 = stage, $2 = build dir
  local stage=$1 dir=$2 log="$logs/$1.log" rc=0 p f
  echo "== tests: $stage"
  for prog in "$dir"/threads/*; do
    [ -x "$prog" ] || continue
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/threads/tsan.supp" \
      timeout -k 10 600 "$prog" 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  done
  p=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
  f=$(grep -aE '^[0-9]+ passed, [0-9]+ failed' "$log" | awk '{s+=$3} END {print s+0}')
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ]; then stages_failed+=("$stage"); [ "$f" -eq 0 ] && fail=$((fail + 1)); fi
}

rm -f "$logs/threads.log" "$logs/tsan.log"
[ -d build/threads ] && run_threads threads build

if TARGET=threads build build-tsan SANITIZE=thread OPT=-O1; then
  run_threads tsan build-tsan
else
  stages_failed+=(build-tsan); fail=$((fail + 1))
fi

if command -v valgrind >/dev/null; then
  # Criterion runs each test in a re-executed worker: follow it.
  for suite in breaker key registry badinput; do
    echo "== valgrind: $suite"
    log="$logs/valgrind-$suite.log"
    timeout -k 10 900 valgrind -q --error-exitcode=1 --trace-children=yes --vgdb=no \
      build/tests/isoreg_tests --jobs=1 --filter="$suite/*" 2>&1 | tee "$log"
    tally "valgrind-$suite" "$log" "${PIPESTATUS[0]}"
  done
fi

# A short libFuzzer run of every target (make fuzz runs them longer).
if command -v clang >/dev/null; then
  echo "== fuzz smoke (10 s per target)"
  log=$logs/fuzz.log
  FUZZ_SECONDS=10 tools/scripts/fuzz.sh 2>&1 | tee "$log"
  if [ "${PIPESTATUS[0]}" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); stages_failed+=(fuzz); fi
fi

# Off x86 (make test-aarch64). A machine that cannot get the arm64 packages
# or run qemu fails this stage with the reason; it is never skipped.
echo "== tests: aarch64 (cross-built, under qemu-user)"
log=$logs/aarch64.log
timeout -k 10 1800 tools/scripts/test-aarch64.sh build-aarch64 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
if [ -n "$line" ]; then
  pass=$((pass + $(awk '{print $1}' <<<"$line"))); fail=$((fail + $(awk '{print $3}' <<<"$line")))
fi
if [ "$rc" -ne 0 ]; then
  stages_failed+=(aarch64)
  { [ -z "$line" ] || [ "$(awk '{print $3}' <<<"$line")" -eq 0 ]; } && fail=$((fail + 1))
fi

# The Debian packages, installed on this machine and removed again.
echo "== tests: Debian packages (make deb-test)"
if [ "$(id -u)" -ne 0 ]; then
  echo "deb-test not run: it installs packages with dpkg and needs root (make deb-test as root)"
elif dpkg-query -W -f='${Status}\n' libisoreg0 libisoreg-dev isoreg-tools python3-isoreg 2>/dev/null | grep -q ' installed$'; then
  echo "deb-test not run: isoreg packages are installed on this machine and it would remove them"
else
  log=$logs/deb.log
  { tools/scripts/deps.sh deb && timeout -k 10 900 tools/scripts/deb-test.sh; } 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    pass=$((pass + $(awk '{print $1}' <<<"$line"))); fail=$((fail + $(awk '{print $3}' <<<"$line")))
  fi
  if [ "$rc" -ne 0 ]; then
    stages_failed+=(deb)
    { [ -z "$line" ] || [ "$(awk '{print $3}' <<<"$line")" -eq 0 ]; } && fail=$((fail + 1))
  fi
fi

echo
if [ ${#stages_failed[@]} -gt 0 ]; then
  echo "FAILED stages: ${stages_failed[*]}"
fi
echo "$pass passed, $fail failed"
[ ${#stages_failed[@]} -eq 0 ] && [ "$fail" -eq 0 ]
