"""Shared test helpers: import the package from this tree, unique segments.

The tests import isoreg the way a user does after `make python`: the
package directory python/ on sys.path, the library found by isoreg's own
search (ISOREG_LIB, set by tools/scripts/run-python-tests.sh to the build
under test, else python/isoreg/_lib/). ISOREG_TEST_INSTALLED=1 tests an
installed copy instead (pip install ./python).
"""

import os
import sys
import uuid

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
PY_DIR = os.path.dirname(TESTS_DIR)
REPO = os.path.dirname(PY_DIR)

if os.environ.get("ISOREG_TEST_INSTALLED") != "1" and PY_DIR not in sys.path:
    sys.path.insert(0, PY_DIR)


def unique_segment(suite: str) -> str:
    """A segment name no other test (or run) uses: /isoreg-test-py-..."""
    return "/isoreg-test-py-%s-%d-%s" % (suite, os.getpid(),
                                         uuid.uuid4().hex[:8])


def child_env() -> dict:
    """The environment for a child Python that must import this isoreg."""
    env = dict(os.environ)
    if os.environ.get("ISOREG_TEST_INSTALLED") != "1":
        env["PYTHONPATH"] = PY_DIR + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    return env
