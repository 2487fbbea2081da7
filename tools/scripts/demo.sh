#!/usr/bin/env bash
# demo.sh BUILD_DIR - the newcomer's first look (`make demo`): a fleet of
# trader processes (isosim) cycles through every fault scenario on a fresh
# segment of its own while isotop shows accounts degrade, trip and recover
# as the others keep trading. Quit isotop with q; then the fleet is
# stopped, its isolation report printed, and the segment removed.
#
# The demo never touches a segment it did not make: it ignores
# $ISOREG_SEGMENT, names its segment /isoreg-demo-<uid>-<pid>, refuses to
# start if that name exists, and isosim creates it exclusively and removes
# it when it stops (it removes only what it created).
#
# It builds nothing (make already did). Environment:
#   ISOSIM_ARGS     extra isosim options, e.g. "--speed 2 --accounts 24"
#                   (not --segment, --attach-existing or --keep: the demo
#                   owns its segment)
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

case " ${ISOSIM_ARGS:-} " in
  *" --segment"*|*" --attach-existing"*|*" --keep"*)
    echo "demo.sh: ISOSIM_ARGS may not choose or keep the segment" \
      "(--segment, --attach-existing, --keep): the demo makes its own" >&2
    exit 2 ;;
esac
seg=/isoreg-demo-$(id -u)-$$
shm=/dev/shm/${seg#/}
if [ -e "$shm" ]; then
  echo "demo.sh: $seg already exists; not touching it" >&2
  exit 1
fi
# mktemp with no template: a fresh file under $TMPDIR (or /tmp).
log=$(mktemp) || exit 1
sim=""
sim_rc=1
done_cleanup=0

# isosim removes the segment it created when it stops. Only if it was
# killed before it could, and its own log says it created this segment,
# is the segment removed here.
remove_leftover() {
  [ -e "$shm" ] || return 0
  grep -q "segment $seg (created)" "$log" || return 0
  if [ -x "$bin/isoctl" ]; then
    "$bin/isoctl" --segment "$seg" unlink >/dev/null 2>&1
  fi
}

# Stops the fleet (SIGTERM: it finishes its operations, reports and removes
# its segment) and shows the report. Runs once, also on ^C or an error.
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
    if [ "$sim_rc" -gt 128 ]; then
      remove_leftover
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A fresh segment: isosim creates it (exclusively) with its demo config.
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
