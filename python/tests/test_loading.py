"""How the package finds libisoreg.so: ISOREG_LIB first, and only it."""

import os
import subprocess
import sys
import unittest

import _support
import isoreg


def import_with(lib):
    env = _support.child_env()
    env["ISOREG_LIB"] = lib
    return subprocess.run([sys.executable, "-c",
                           "import isoreg; print(isoreg.LIB_PATH)"],
                          env=env, capture_output=True, text=True, timeout=60)


class LoadingTests(unittest.TestCase):
    def test_isoreg_lib_may_name_the_directory(self):
        d = os.path.dirname(isoreg.LIB_PATH)
        r = import_with(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), os.path.join(d, "libisoreg.so"))

    def test_a_bad_isoreg_lib_fails_without_falling_back(self):
        r = import_with("/nonexistent/libisoreg.so")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("ImportError: isoreg: cannot load libisoreg.so", r.stderr)
        self.assertIn("/nonexistent/libisoreg.so", r.stderr)
        self.assertIn("ISOREG_LIB", r.stderr)


if __name__ == "__main__":
    unittest.main()
