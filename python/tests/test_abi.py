"""The ctypes structures have the sizes and offsets of include/isoreg.h.

A C probe compiled against the real header prints sizeof and offsetof of
every field of every structure the binding mirrors, and the value of every
ISO_ constant it copies; any drift (a field added to the header, a type
changed, an enum renumbered) fails here rather than corrupting memory or
misreading a code at run time.
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import _native as N


# Every constant the binding copies from the header.
CONSTANTS = [n for n in dir(N) if n.startswith("ISO_")
             and isinstance(getattr(N, n), int)]


def _probe_source() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>",
             "#include \"isoreg.h\"", "int main(void) {"]
    for cname, cls in N.STRUCTS.items():
        ctype = ("iso_account_t" if cname == "iso_account"
                 else "iso_permit_t" if cname == "iso_permit"
                 else "struct %s" % cname)
        lines.append('printf("%s size %%zu\\n", sizeof(%s));' % (cname, ctype))
        for field, _ in cls._fields_:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));'
                         % (cname, field, ctype, field))
    for name in CONSTANTS:
        lines.append('printf("%s %%lld\\n", (long long)(%s));' % (name, name))
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


class AbiTest(unittest.TestCase):
    def test_structs_match_the_c_header(self):
        cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if cc is None:
            self.skipTest("no C compiler to build the ABI probe")
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
                self.assertEqual(getattr(N, name), c[name], name)
        for cname, cls in N.STRUCTS.items():
            with self.subTest(struct=cname):
                self.assertEqual(N.ctypes.sizeof(cls), c[cname],
                                 "sizeof %s" % cname)
                for field, _ in cls._fields_:
                    self.assertEqual(getattr(cls, field).offset,
                                     c["%s.%s" % (cname, field)],
                                     "offsetof %s.%s" % (cname, field))


if __name__ == "__main__":
    unittest.main()
