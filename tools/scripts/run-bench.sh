#!/usr/bin/env bash
# run-bench.sh - run every measurement harness of a build, as `make bench`
# does: the machine first (CPU, cores, kernel, date, load), then each
# bench/bench_* binary in turn, each printing its one table.
#
#   tools/scripts/run-bench.sh [BUILD_DIR] [--json] [--quick] [--runs N]
#
# BUILD_DIR defaults to build-bench. --json prints one JSON object
# {"machine": {...}, "benches": [...]} instead of the tables; --quick and
# --runs N are passed to every harness. A copy of the output is left in
# BUILD_DIR/bench-results.{txt,json}. Exits 1 if any harness failed.
set -uo pipefail
cd "$(dirname "$0")/../.."

build=build-bench
json=0
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --json) json=1 ;;
    --quick) pass+=(--quick) ;;
    --runs) [ $# -ge 2 ] || { echo "run-bench.sh: --runs needs a number" >&2; exit 2; }
            pass+=(--runs "$2"); shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run-bench.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) build=$1 ;;
  esac
  shift
done

dir="$build/bench"
[ -d "$dir" ] || { echo "run-bench.sh: no $dir; build first: make BUILD=$build benches" >&2; exit 1; }

# The harnesses of issue 4 in a fixed order, then any other bench_* binary.
order=(bench_hotpath bench_contention bench_isolation bench_crash bench_scale)
benches=()
for b in "${order[@]}"; do [ -x "$dir/$b" ] && benches+=("$b"); done
for f in "$dir"/bench_*; do
  b=$(basename "$f")
  [ -x "$f" ] && [ -f "$f" ] || continue
  [[ " ${benches[*]} " == *" $b "* ]] || benches+=("$b")
done
[ ${#benches[@]} -gt 0 ] || { echo "run-bench.sh: no harness in $dir" >&2; exit 1; }
# The Python binding's micro-benchmark (issue 7), against the same build.
if command -v python3 >/dev/null && [ -f bench/python_bench.py ] && [ -f "$build/libisoreg.so" ]; then
  benches+=(python_bench)
fi

run_bench() { # $1 = harness name, rest = its options
  local b=$1; shift
  if [ "$b" = python_bench ]; then
    ISOREG_LIB="$PWD/$build/libisoreg.so" python3 bench/python_bench.py "$@"
  else
    "$dir/$b" "$@"
  fi
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
[ -n "$cpu" ] || cpu=$(uname -m)
cores=$(nproc 2>/dev/null || echo 1)
kernel=$(uname -sr)
date=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

out_txt="$build/bench-results.txt"
out_json="$build/bench-results.json"
failed=()
start=$(date +%s)

jesc() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' <<<"$1"; }

if [ $json -eq 1 ]; then
  {
    printf '{"machine":{"cpu":"%s","cores":%s,"kernel":"%s","date":"%s","loadavg":"%s","commit":"%s"},\n"benches":[\n' \
      "$(jesc "$cpu")" "$cores" "$(jesc "$kernel")" "$date" "$load" "$rev"
    first=1
    for b in "${benches[@]}"; do
      res=$(run_bench "$b" --json "${pass[@]}")
      rc=$?
      if [ $rc -ne 0 ] || [ -z "$res" ]; then
        failed+=("$b"); echo "run-bench.sh: $b failed (exit $rc)" >&2; continue
      fi
      [ $first -eq 1 ] || printf ',\n'
      first=0
      printf '%s' "$res"
    done
    printf '\n],\n"failed":[%s],"seconds":%d}\n' \
      "$(for f in "${failed[@]}"; do printf '"%s",' "$f"; done | sed 's/,$//')" \
      $(( $(date +%s) - start ))
  } | tee "$out_json"
  # failed[] was filled in a subshell: read the verdict back from the file.
  grep -q '"failed":\[\]' "$out_json" || exit 1
  exit 0
else
  {
    echo "isoreg bench - $date - commit $rev"
    echo "machine: $cpu, $cores cores, $kernel, load average $load"
    for b in "${benches[@]}"; do
      echo
      run_bench "$b" "${pass[@]}"
      rc=$?
      [ $rc -eq 0 ] || { failed+=("$b"); echo "run-bench.sh: $b failed (exit $rc)"; }
    done
    echo
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(( $(date +%s) - start )) s in all"
    [ ${#failed[@]} -eq 0 ] || echo "FAILED: ${failed[*]}"
  } | tee "$out_txt"
  # failed[] was filled in a subshell: read the verdict back from the log.
  grep -q '^FAILED: ' "$out_txt" && exit 1
  exit 0
fi
