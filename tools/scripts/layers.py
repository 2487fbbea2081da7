#!/usr/bin/env python3
"""layers.py - the library's files call only downward (issue 14).

Reads each object of the library with `nm`, links every undefined symbol
to the object that defines it, and fails if the file-level call graph has
a cycle, or if a file of a lower room calls one of a higher room (the
order HOUSE.md draws: slot below the directory and the event ring, those
below the files that take handles, register, act and read).

    tools/scripts/layers.py BUILD_DIR
It ends with "N passed, N failed" (one check per object, plus the cycle
check).
"""
import subprocess
import sys
from pathlib import Path

# Lower number = lower room. Files not listed are leaves or tops that only
# the cycle check constrains.
ROOMS = {
    "slot": 1,
    "directory": 2, "events": 2,
    "handle": 3, "broker": 3, "transition": 3,
    "register": 4, "account": 4, "status": 4, "doctor": 4,
}


def symbols(obj):
    out = subprocess.run(["nm", "--defined-only", "-g", str(obj)],
                         capture_output=True, text=True, check=True).stdout
    defined = {l.split()[-1] for l in out.splitlines() if l.strip()}
    out = subprocess.run(["nm", "-u", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    undef = {l.split()[-1] for l in out.splitlines() if l.strip()}
    return defined, undef


def main():
    build = Path(sys.argv[1] if len(sys.argv) > 1 else "build")
    objs = sorted((build / "src").glob("*.o"))
    if not objs:
        print("layers: no objects in %s/src" % build)
        print("0 passed, 1 failed")
        return 1
    defs, uses = {}, {}
    for o in objs:
        d, u = symbols(o)
        defs[o.stem], uses[o.stem] = d, u
    owner = {s: f for f, ds in defs.items() for s in ds}
    calls = {f: sorted({owner[s] for s in u if s in owner and owner[s] != f})
             for f, u in uses.items()}
    passed = failed = 0
    for f in sorted(calls):
        bad = [g for g in calls[f] if f in ROOMS and g in ROOMS
               and ROOMS[g] > ROOMS[f]]
        if bad:
            failed += 1
            print("layers: %s.c (room %d) calls up into %s" %
                  (f, ROOMS[f], ", ".join("%s.c (room %d)" % (g, ROOMS[g])
                                         for g in bad)))
        else:
            passed += 1
    # A cycle anywhere: depth-first search for a back edge.
    state, stack, cycle = {}, [], None

    def visit(f):
        nonlocal cycle
        state[f] = 1
        stack.append(f)
        for g in calls.get(f, []):
            if cycle:
                return
            if state.get(g) == 1:
                cycle = stack[stack.index(g):] + [g]
                return
            if not state.get(g):
                visit(g)
        stack.pop()
        state[f] = 2

    for f in sorted(calls):
        if not state.get(f) and not cycle:
            visit(f)
    if cycle:
        failed += 1
        print("layers: a cycle: " + " -> ".join(c + ".c" for c in cycle))
    else:
        passed += 1
        print("layers: %d files, no cycle; slot < directory, events < "
              "handle, broker < register, account, status, doctor" % len(calls))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
