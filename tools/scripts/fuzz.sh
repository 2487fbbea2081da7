#!/usr/bin/env bash
# fuzz.sh - build and run the libFuzzer targets tests/fuzz/fuzz_*.c (issue 5).
#
#   tools/scripts/fuzz.sh                 each target for FUZZ_SECONDS (default 60)
#   FUZZ_SECONDS=10 tools/scripts/fuzz.sh the short CI smoke form
#   tools/scripts/fuzz.sh fuzz_key        only the named targets
#
# Each target is linked with the library sources, all built with
# -fsanitize=fuzzer,address,undefined. Corpora live in build-fuzz/corpus/<target>
# and grow from run to run; a crash leaves build-fuzz/artifacts/<target>-crash-*
# (replay it with: build-fuzz/<target> <file>) and makes this script exit 1.
# Output: one line per target with executions and corpus size.
set -uo pipefail
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
CC_FUZZ=${CC_FUZZ:-clang}
CFLAGS_FUZZ="-std=c11 -g -O1 -mcx16 -Iinclude -Isrc -D_GNU_SOURCE -fno-omit-frame-pointer"
SAN=address,undefined
# liburcu's cds_lfht_for_each_entry takes container_of(NULL) when a walk
# ends, which clang's pointer-overflow check reports; it is the macro's
# idiom, not our code: every other UBSan check stays on.
NOSAN="-fno-sanitize=pointer-overflow"
LIBS="-lurcu-bp -lurcu-cds -lurcu-common -lpthread -lrt"

if ! command -v "$CC_FUZZ" >/dev/null; then
  echo "fuzz.sh: $CC_FUZZ not found (tools/scripts/deps.sh installs clang)" >&2
  exit 1
fi

targets=()
if [ $# -gt 0 ]; then
  targets=("$@")
else
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

mkdir -p "$OUT/obj" "$OUT/artifacts"
# The library once, instrumented for coverage and the sanitizers.
objs=()
for src in src/*.c; do
  obj="$OUT/obj/$(basename "$src" .c).o"
  if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find include src -name '*.h' -newer "$obj" -print -quit)" ]; then
    "$CC_FUZZ" $CFLAGS_FUZZ -fsanitize=fuzzer-no-link,$SAN $NOSAN -c "$src" -o "$obj" || exit 1
  fi
  objs+=("$obj")
done

status=0
for t in "${targets[@]}"; do
  src="tests/fuzz/$t.c"
  [ -f "$src" ] || { echo "fuzz.sh: no such target $src" >&2; exit 2; }
  "$CC_FUZZ" $CFLAGS_FUZZ -fsanitize=fuzzer,$SAN $NOSAN "$src" "${objs[@]}" $LIBS -o "$OUT/$t" || exit 1
  corpus="$OUT/corpus/$t"
  mkdir -p "$corpus"
  log="$OUT/$t.log"
  # LLVMFuzzerInitialize of fuzz_attach writes a real segment here as a seed.
  ISOREG_FUZZ_SEED_DIR="$corpus" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OUT/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$OUT/artifacts/$t-" "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  files=$(find "$corpus" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    status=1
    echo "$t: FAILED (exit $rc) after ${execs:-?} executions; corpus $files inputs; log $log"
    grep -E 'ERROR|fuzz_(api|key|attach):|SUMMARY|Test unit written' "$log" | head -n 20
  else
    echo "$t: ok, ${execs:-?} executions in ${FUZZ_SECONDS}s; corpus $files inputs"
  fi
done
# Nothing left in /dev/shm by a target that crashed: names carry the pid.
for f in /dev/shm/isoreg-fuzz-*; do
  [ -e "$f" ] || continue
  pid=$(basename "$f" | sed -n 's/^isoreg-fuzz-[a-z]*-\([0-9]*\).*/\1/p')
  [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && rm -f "$f"
done
exit $status
