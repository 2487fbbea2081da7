#!/usr/bin/env python3
"""atomics.py - no atomic is spelled outside src/atomic.h (issue 14).

Every access to shared memory says its width and its ordering through the
one vocabulary in src/atomic.h (iso_load64_acquire, iso_faa32_acq_rel, ...),
so a reader can check every ordering by grepping for those names. This
reads every .c and .h under src/, tests/, bench/, tools/, include/ and
python/ and fails, naming file:line, where one spells what atomic.h's
header forbids elsewhere: a compiler builtin (__atomic_*, __sync_*) or a
ConcurrencyKit call (ck_pr_*, <ck_pr.h>). Comments count too: say
"the __atomic builtins", not a builtin's name.

    tools/scripts/atomics.py [ROOT]
It ends with "N passed, N failed": one check, the rule over the whole tree
(the lines above it name every file:line that breaks it).
"""
import re
import sys
from pathlib import Path

DIRS = ("src", "tests", "bench", "tools", "include", "python")
# The one file allowed to spell them: it defines the vocabulary.
ALLOWED = {Path("src/atomic.h")}
RAW = re.compile(r"(?<![A-Za-z0-9_])(__atomic_\w*|__sync_\w*|ck_pr_\w*|ck_pr\.h)")


def sources(root):
    """Every .c and .h under DIRS, build and hidden directories skipped."""
    for d in DIRS:
        for p in sorted((root / d).rglob("*")):
            rel = p.relative_to(root)
            if p.suffix not in (".c", ".h") or not p.is_file():
                continue
            if any(part.startswith(("build", ".")) for part in rel.parts[:-1]):
                continue
            yield rel


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    files = hits = 0
    bad_files = set()
    for rel in sources(root):
        files += 1
        if rel in ALLOWED:
            continue
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            for m in RAW.finditer(line):
                hits += 1
                bad_files.add(rel)
                print("%s:%d: %s outside src/atomic.h: use its iso_* "
                      "vocabulary (add the width or ordering there if it "
                      "is missing)" % (rel, n, m.group(1)))
    if files == 0:
        print("atomics: no .c or .h files under %s" % root)
        ok = False
    elif hits:
        print("atomics: %d raw atomics in %d of %d files"
              % (hits, len(bad_files), files))
        ok = False
    else:
        print("atomics: %d files, no atomic spelled outside src/atomic.h"
              % files)
        ok = True
    print("%d passed, %d failed" % (ok, not ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
