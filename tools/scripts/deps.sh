#!/usr/bin/env bash
# deps.sh - make sure the Debian packages isoreg builds and tests with are
# installed. As root it installs what is missing with apt-get; otherwise it
# prints the exact command to run and fails.
#
#   tools/scripts/deps.sh [build|test|demo|bench]
set -euo pipefail

want=(make gcc pkg-config liburcu-dev libck-dev libcriterion-dev
      libncurses-dev libjson-c-dev libmicrohttpd-dev libxxhash-dev
      python3-dev python3-setuptools)
case "${1:-build}" in
  test) want+=(tmux clang libclang-rt-14-dev valgrind prometheus python3 python3-wheel
               util-linux procps) ;;
  demo) want+=(tmux) ;;
  # python_bench's peer (issue 17): Debian's circuit breaker for Python.
  bench) want+=(python3 python3-circuitbreaker) ;;
esac

missing=()
for p in "${want[@]}"; do
  s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$s" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "isoreg: missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "isoreg: run this, then try again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
