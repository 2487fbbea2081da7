"""docs/python.md's example runs as written and says what the doc says."""

import os
import subprocess
import sys
import unittest

import _support


class QuickstartTests(unittest.TestCase):
    def test_quickstart_example_runs(self):
        path = os.path.join(_support.PY_DIR, "examples", "quickstart.py")
        r = subprocess.run([sys.executable, path], env=_support.child_env(),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("user2 may trade: True - Healthy", out)
        self.assertIn("attempt 0: user/user1/KRAKEN failed: HTTP 403", out)
        self.assertIn("attempt 2: user/user1/KRAKEN blocked:", out)
        self.assertIn("user1: quarantined failures: 3 breakdown: "
                      "{'authentication_error': 3}", out)
        self.assertIn("user2: healthy failures: 0", out)
        self.assertIn("accounts: 2, quarantined: 1, isolation: ACTIVE", out)
        self.assertIn("user1 after reset: healthy", out)

    def test_doc_shows_the_example(self):
        doc = os.path.join(_support.REPO, "docs", "python.md")
        ex = os.path.join(_support.PY_DIR, "examples", "quickstart.py")
        with open(doc) as f:
            text = f.read()
        with open(ex) as f:
            body = f.read()
        # The doc quotes the example's main() verbatim.
        start = body.index("def main()")
        end = body.index('\n\nif __name__')
        self.assertIn(body[start:end], text)


if __name__ == "__main__":
    unittest.main()
