#!/usr/bin/env bash
# run-python-tests.sh - the Python binding's tests (python/tests, unittest).
#
#   ISOREG_BUILD=/abs/build/dir tools/scripts/run-python-tests.sh
#
# The extension module isoreg._isoreg is built first for $PYTHON (default
# python3; `make python-ext`). With ISOREG_BUILD the package then loads that
# build's libisoreg.so (through ISOREG_LIB, the variable a user would set);
# without it the script runs `make python` and the package loads the copy
# in python/isoreg/_lib/.
# The output is unittest's own ("Ran N tests", "OK" / "FAILED (...)"),
# which run-tests.sh tallies.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-python3}

if [ -n "${ISOREG_BUILD:-}" ]; then
  lib="$ISOREG_BUILD/libisoreg.so"
  if [ ! -f "$lib" ]; then
    echo "run-python-tests: $lib not found (build it: make BUILD=... lib)" >&2
    exit 1
  fi
  make --no-print-directory PYTHON="$py" python-ext >&2
  export ISOREG_LIB="$lib"
else
  make --no-print-directory PYTHON="$py" python >&2
  unset ISOREG_LIB
fi

export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m unittest discover -s python/tests -t python/tests -v
