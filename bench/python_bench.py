#!/usr/bin/env python3
"""python_bench - cost of one guarded operation from Python, per call.

Measures can_execute_operation + record_success (the reference's two calls
around every exchange operation) through the isoreg binding, against a
pure-Python manager of the same API that keeps its accounts in a dict under
per-account locks (the reference's design), in the same run, one thread.

Variants:
  floor            two calls of a Python method that does nothing
  dict+lock        pure-Python manager (the reference's design)
  isoreg by key    AccountIsolationManager.can_execute_operation +
                   record_success on a private segment
  isoreg guard     `with manager.guard(...): pass` (acquire, time, record)

Options as every bench harness (--json, --quick, --runs N), plus --ops and
--batches. A row gives, in ns per operation, the median of the runs'
medians, the p99 over all batches, the spread of the run medians, and the
ratio of the median to dict+lock's.

  ISOREG_LIB=build-bench/libisoreg.so python3 bench/python_bench.py [--json]
"""

import argparse
import datetime
import gc
import json
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "python"))

from isoreg import AccountIsolationManager, CircuitBreakerConfig  # noqa: E402
import isoreg  # noqa: E402


class _Account:
    __slots__ = ("lock", "consecutive_failures", "consecutive_successes",
                 "total_failures", "total_successes", "state", "opened_at",
                 "probes", "last_success", "avg_ms")

    def __init__(self):
        self.lock = threading.Lock()
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.total_failures = 0
        self.total_successes = 0
        self.state = "healthy"
        self.opened_at = None
        self.probes = 0
        self.last_success = None
        self.avg_ms = 0.0


class DictLockManager:
    """The reference's design in plain Python: a dict of accounts, one lock
    each, a manager lock for registration, wall-clock timestamps."""

    def __init__(self, failure_threshold=5, success_threshold=3,
                 timeout_seconds=300, half_open_max_calls=1):
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.timeout = timeout_seconds
        self.half_open_max_calls = half_open_max_calls
        self._accounts = {}
        self._lock = threading.Lock()

    def _get(self, t, i, b):
        key = (t.lower(), i.lower(), b.upper())
        a = self._accounts.get(key)
        if a is None:
            with self._lock:
                a = self._accounts.setdefault(key, _Account())
        return a

    def can_execute_operation(self, t, i, b):
        a = self._get(t, i, b)
        with a.lock:
            if a.state in ("quarantined", "failing"):
                waited = (datetime.datetime.now() - a.opened_at).total_seconds()
                if waited < self.timeout:
                    return False, ("Circuit breaker open - retry in %.0fs"
                                   % (self.timeout - waited))
                a.state, a.probes = "recovering", 0
            if a.state == "recovering":
                if a.probes >= self.half_open_max_calls:
                    return False, "Half-open limit reached"
                a.probes += 1
                return True, "Recovery attempt"
            if a.state == "degraded":
                return True, "Degraded but operational"
            return True, "Healthy"

    def record_success(self, t, i, b, operation_time_ms=0.0):
        a = self._get(t, i, b)
        with a.lock:
            a.total_successes += 1
            a.consecutive_successes += 1
            a.consecutive_failures = 0
            a.last_success = datetime.datetime.now()
            if operation_time_ms > 0:
                a.avg_ms = (operation_time_ms if a.avg_ms == 0
                            else 0.3 * operation_time_ms + 0.7 * a.avg_ms)
            if a.state == "recovering" and a.probes:
                a.probes -= 1
            if a.state in ("recovering", "degraded") and \
                    a.consecutive_successes >= self.success_threshold:
                a.state = "healthy"


class _Nop:
    def can_execute_operation(self, t, i, b):
        return True, "Healthy"

    def record_success(self, t, i, b, operation_time_ms=0.0):
        return None


def _by_key(m):
    def batch(n):
        ce = m.can_execute_operation
        rs = m.record_success
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ce("user", "user1", "KRAKEN")
            rs("user", "user1", "KRAKEN")
        return time.perf_counter_ns() - t0
    return batch


def _guard(m):
    def batch(n):
        g = m.guard
        t0 = time.perf_counter_ns()
        for _ in range(n):
            with g("user", "user1", "KRAKEN"):
                pass
        return time.perf_counter_ns() - t0
    return batch


def _p99(sorted_values):
    return sorted_values[min(len(sorted_values) - 1,
                             int(round(0.99 * (len(sorted_values) - 1))))]


def run_once(batch, ops, batches):
    """One run of a variant: @batches batches of @ops operations; returns
    the ns per operation of each batch."""
    per_op = []
    gc_was = gc.isenabled()
    gc.disable()  # a collection inside a batch would be noise, not cost
    try:
        for _ in range(batches):
            per_op.append(batch(ops) / ops)
    finally:
        if gc_was:
            gc.enable()
    return per_op


def _runs_arg(v):
    try:
        n = int(v)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError("--runs wants 1..1000, got '%s'" % v)
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python_bench",
        description="can_execute_operation + record_success from Python: "
                    "the isoreg binding vs a dict-and-lock manager")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON object instead of the table")
    ap.add_argument("--quick", action="store_true",
                    help="a short smoke run (figures are not meaningful)")
    ap.add_argument("--runs", type=_runs_arg, default=5,
                    help="repeats of every measurement (default 5)")
    ap.add_argument("--ops", type=int, default=2000,
                    help="operations per batch (default 2000)")
    ap.add_argument("--batches", type=int, default=50,
                    help="batches per run (default 50)")
    args = ap.parse_args(argv)
    if args.ops < 1 or args.batches < 1:
        ap.error("--ops and --batches must be at least 1")
    if args.quick:
        args.runs = min(args.runs, 2)
        args.batches = min(args.batches, 10)
        args.ops = min(args.ops, 500)
    pinned = ""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = "pinned to CPU %d (sched_setaffinity)" % cpu
    except (AttributeError, OSError):
        pinned = "not pinned"

    with AccountIsolationManager(CircuitBreakerConfig()) as m:
        variants = [
            ("floor: two no-op method calls", _by_key(_Nop())),
            ("dict+lock (reference design)", _by_key(DictLockManager())),
            ("isoreg by key", _by_key(m)),
            ("isoreg guard", _guard(m)),
        ]
        for _, batch in variants:
            batch(min(args.ops, 1000))  # warm up, register the account
        # Runs interleave the variants, so a noisy moment of the machine
        # lands on all of them rather than on one.
        medians = {name: [] for name, _ in variants}
        alls = {name: [] for name, _ in variants}
        for _ in range(args.runs):
            for name, batch in variants:
                per_op = run_once(batch, args.ops, args.batches)
                medians[name].append(statistics.median(per_op))
                alls[name].extend(per_op)
        recorded = m.get_account_status("user", "user1",
                                        "KRAKEN")[1]["total_operations"]

    base_name = variants[1][0]
    base = statistics.median(medians[base_name])
    rows = []
    for name, _ in variants:
        med = statistics.median(medians[name])
        rows.append({"variant": name, "unit": "ns/op", "median": med,
                     "p99": _p99(sorted(alls[name])),
                     "min": min(medians[name]), "max": max(medians[name]),
                     "/dict+lock": med / base})
    notes = [
        "%d runs; a run = %d batches of %d operations; one operation = "
        "can_execute_operation + record_success (guard: one with-block)"
        % (args.runs, args.batches, args.ops),
        "median = median of run medians; min/max = spread of run medians; "
        "p99 = over all batches",
        "isoreg: %d operations recorded in the segment; library %s"
        % (recorded, isoreg.LIB_PATH),
        "python %s, %s" % (sys.version.split()[0], pinned),
    ]
    cols = ["median", "p99", "min", "max", "/dict+lock"]
    if args.json:
        json.dump({"bench": "python_bench", "columns": cols, "rows": rows,
                   "notes": notes}, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0
    cells = [[r["variant"], r["unit"]]
             + ["%.0f" % r[c] for c in cols[:-1]]
             + ["%.2fx" % r["/dict+lock"]] for r in rows]
    head = ["variant", "unit"] + cols
    w = [max(len(x[i]) for x in cells + [head]) for i in range(len(head))]
    print("== python_bench")
    for line in [head] + cells:
        print("  ".join(line[i].ljust(w[i]) if i < 2 else line[i].rjust(w[i])
                        for i in range(len(line))))
    for n in notes:
        print("#  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
