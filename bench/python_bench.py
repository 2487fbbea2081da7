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

Each variant runs --batches batches of --ops operations; a row gives the
median and p99 over batches of ns per operation, and the ratio of the median
to dict+lock's.

  PYTHONPATH=python python3 bench/python_bench.py [--ops N] [--batches N]
                                                  [--json]
(ISOREG_LIB=build-bench/libisoreg.so picks a build's library.)
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


def measure(batch, ops, batches):
    batch(min(ops, 1000))  # warm caches, register the account
    per_op = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(batches):
            per_op.append(batch(ops) / ops)
    finally:
        if gc_was:
            gc.enable()
    per_op.sort()
    p99 = per_op[min(len(per_op) - 1, int(round(0.99 * (len(per_op) - 1))))]
    return statistics.median(per_op), p99


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--ops", type=int, default=20000,
                    help="operations per batch (default 20000)")
    ap.add_argument("--batches", type=int, default=30,
                    help="batches per variant (default 30)")
    ap.add_argument("--json", action="store_true", help="JSON on stdout")
    args = ap.parse_args(argv)
    if args.ops < 1 or args.batches < 1:
        ap.error("--ops and --batches must be at least 1")

    with AccountIsolationManager(CircuitBreakerConfig()) as m:
        variants = [
            ("floor", _by_key(_Nop())),
            ("dict+lock", _by_key(DictLockManager())),
            ("isoreg by key", _by_key(m)),
            ("isoreg guard", _guard(m)),
        ]
        rows = []
        for name, batch in variants:
            med, p99 = measure(batch, args.ops, args.batches)
            rows.append({"variant": name, "median_ns": med, "p99_ns": p99})
        ops_seen = m.get_account_status("user", "user1", "KRAKEN")[1]
    base = next(r["median_ns"] for r in rows if r["variant"] == "dict+lock")
    for r in rows:
        r["ratio_to_dict_lock"] = r["median_ns"] / base

    if args.json:
        json.dump({"bench": "python", "ops_per_batch": args.ops,
                   "batches": args.batches,
                   "python": sys.version.split()[0],
                   "library": isoreg.LIB_PATH,
                   "isoreg_operations_recorded":
                       ops_seen["total_operations"],
                   "rows": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print("%-16s %12s %12s %8s" % ("variant", "ns/op med", "p99", "ratio"))
    for r in rows:
        print("%-16s %12.0f %12.0f %8.2f" % (r["variant"], r["median_ns"],
                                            r["p99_ns"],
                                            r["ratio_to_dict_lock"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
