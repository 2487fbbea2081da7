"""The extension's view of the structures is the header's in this tree.

isoreg._isoreg is compiled against include/isoreg.h, so its structures
match the header it was built from by construction. What can still go
wrong is an extension built from another header: `make python` not re-run
after the header changed, or an installed copy older than the tree. So a
C probe compiled against the tree's header prints sizeof and offsetof of
every field the extension reports (struct_layout()) and the value of every
ISO_ constant the module exports; any drift fails here rather than
misreading memory or a code at run time.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import _native as N

# Every constant the extension exports, from the header it was built with.
CONSTANTS = sorted(n for n in dir(N.X) if n.startswith("ISO_"))
LAYOUT = N.X.struct_layout()


def _ctype(name: str) -> str:
    return {"iso_account": "iso_account_t",
            "iso_permit": "iso_permit_t"}.get(name, "struct %s" % name)


def _probe_source() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>",
             "#include \"isoreg.h\"", "int main(void) {"]
    for name, (_, fields) in sorted(LAYOUT.items()):
        ct = _ctype(name)
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (name, ct))
        for field in fields:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));'
                         % (name, field, ct, field))
    for name in CONSTANTS:
        lines.append('printf("%s %%lld\\n", (long long)(%s));' % (name, name))
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


class AbiTest(unittest.TestCase):
    def test_the_extension_was_built_from_this_header(self):
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            self.skipTest("no C compiler to build the ABI probe")
        self.assertGreaterEqual(len(LAYOUT), 9)
        self.assertGreaterEqual(len(CONSTANTS), 50)
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "probe.c")
            exe = os.path.join(d, "probe")
            with open(src, "w") as f:
                f.write(_probe_source())
            subprocess.run([cc, "-std=c11", "-I",
                            os.path.join(_support.REPO, "include"),
                            "-o", exe, src], check=True)
            out = subprocess.run([exe], check=True, capture_output=True,
                                 text=True).stdout
        c = {}
        for line in out.splitlines():
            k, *rest = line.split()
            c[k] = int(rest[-1])
        for name in CONSTANTS:
            with self.subTest(constant=name):
                self.assertEqual(getattr(N.X, name), c[name], name)
        for name, (size, fields) in LAYOUT.items():
            with self.subTest(struct=name):
                self.assertEqual(size, c[name], "sizeof %s" % name)
                for field, off in fields.items():
                    self.assertEqual(off, c["%s.%s" % (name, field)],
                                     "offsetof %s.%s" % (name, field))

    def test_the_grown_structures_are_checked_field_by_field(self):
        # [B7] grew iso_config, iso_status and iso_segment_info: the probe
        # above compares only the fields struct_layout() names, so they
        # must be named there, and the config tuple must carry every
        # field of struct iso_config (to_c() is that struct, in order).
        cfg = LAYOUT["iso_config"][1]
        for f in ("window_ms", "min_calls", "failure_rate_threshold",
                  "slow_call_ms", "slow_call_rate_threshold"):
            self.assertIn(f, cfg)
        self.assertEqual(len(N.config_default()), len(cfg))
        self.assertEqual(list(cfg), sorted(cfg, key=cfg.get),
                         "struct_layout lists iso_config out of order")
        for f in ("window_calls", "window_failures", "window_slow_calls",
                  "failure_rate", "slow_call_rate", "last_cause"):
            self.assertIn(f, LAYOUT["iso_status"][1])
        self.assertIn("windows", LAYOUT["iso_segment_info"][1])
        for c in ("ISO_ATTACH_WINDOWS", "ISO_CAUSE_FAILURE_RATE",
                  "ISO_CAUSE_SLOW_CALL_RATE", "ISO_WINDOW_MS_MIN",
                  "ISO_WINDOW_MS_MAX", "ISO_MIN_CALLS_MAX"):
            self.assertIn(c, CONSTANTS)

    def test_the_library_loaded_has_every_function(self):
        # load() resolved every function the extension calls, or the import
        # would have failed; a second load of another path is refused
        # rather than mixing two libraries.
        with self.assertRaises(RuntimeError):
            N.X.load("/nonexistent/libisoreg.so")
        N.X.load(N.LIB_PATH)  # the same path again is a no-op


if __name__ == "__main__":
    unittest.main()
