#!/usr/bin/env bash
# demo.sh BUILD_DIR - the newcomer's first look (`make demo`): a fleet of
# trader processes (isosim) cycles through every fault scenario on a fresh
# segment while isotop shows accounts degrade, trip and recover as the
# others keep trading. Quit isotop with q; then the fleet is stopped, its
# isolation report printed, and the segment removed.
#
# It builds nothing (make already did). Environment:
#   ISOREG_SEGMENT  segment to use (default /isoreg-demo); it is recreated
#   ISOSIM_ARGS     extra isosim options, e.g. "--speed 2 --accounts 24"
# When stdout is not a terminal, isotop runs in batch mode (-b -n 5 -d 1)
# so the demo also works in scripts and CI.
# Exit status: isosim's (0: no account outside the faulted set was blocked).
set -uo pipefail

build=${1:-}
if [ -z "$build" ] || [ $# -ne 1 ]; then
  echo "usage: demo.sh BUILD_DIR" >&2
  exit 2
fi
bin=$build/bin
for tool in isosim isotop; do
  if [ ! -x "$bin/$tool" ]; then
    echo "demo.sh: $bin/$tool is missing; run 'make' first" >&2
    exit 1
  fi
done

seg=${ISOREG_SEGMENT:-/isoreg-demo}
case $seg in
  /*) ;;
  *) echo "demo.sh: ISOREG_SEGMENT '$seg' must start with '/'" >&2; exit 2 ;;
esac
shm=/dev/shm/${seg#/}
# mktemp with no template: a fresh file under $TMPDIR (or /tmp).
log=$(mktemp) || exit 1
sim=""
sim_rc=1
done_cleanup=0

remove_segment() {
  if [ -x "$bin/isoctl" ]; then
    "$bin/isoctl" --segment "$seg" unlink >/dev/null 2>&1
  fi
  # Fallback without isoctl; POSIX shm names live in /dev/shm on Linux.
  rm -f "$shm"
}

# Stops the fleet (SIGTERM: it finishes its operations and reports), shows
# the report and removes the segment. Runs once, also on ^C or an error.
cleanup() {
  [ "$done_cleanup" = 1 ] && return
  done_cleanup=1
  if [ -n "$sim" ]; then
    kill -TERM "$sim" 2>/dev/null
    wait "$sim"
    sim_rc=$?
    echo
    if grep -q '^== isosim:' "$log"; then
      sed -n '/^== isosim:/,$p' "$log"
    else
      echo "demo.sh: isosim ended without a report; its output:" >&2
      cat "$log" >&2
    fi
    echo "(isosim's whole log: $log)"
  fi
  remove_segment
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh segment: isosim creates it with its demo breaker config.
remove_segment
# shellcheck disable=SC2086 # ISOSIM_ARGS is a list of options
"$bin/isosim" --segment "$seg" --duration 0 --scenario all ${ISOSIM_ARGS:-} \
  >"$log" 2>&1 &
sim=$!

# Wait for the segment (creation links it into place complete).
for _ in $(seq 1 100); do
  [ -e "$shm" ] && break
  if ! kill -0 "$sim" 2>/dev/null; then
    break
  fi
  sleep 0.05
done
if [ ! -e "$shm" ]; then
  echo "demo.sh: isosim did not create $seg; its output:" >&2
  cat "$log" >&2
  exit 1
fi

if [ -t 1 ]; then
  "$bin/isotop" --segment "$seg"
else
  "$bin/isotop" --segment "$seg" -b -n 5 -d 1
fi
top_rc=$?

cleanup
trap - EXIT
if [ "$top_rc" -ne 0 ]; then
  echo "demo.sh: isotop exited with status $top_rc" >&2
fi
exit "$sim_rc"
