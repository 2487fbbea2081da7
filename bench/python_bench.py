#!/usr/bin/env python3
"""python_bench - the Python binding's calls, beside its peers, in one run.

Four measurements, each beside the peers that offer the same thing:

  pair        can_execute_operation + record_success by key (the
              reference's two calls around every exchange operation)
  failure     record_failure by key, with a FailureType
  statuses    get_all_account_statuses over 10,000 accounts
  report      get_isolation_report over 10,000 accounts

Peers:
  floor           Python method calls that do nothing (two for the pair,
                  one for a failure): what any Python API costs at least
  reference       the reference's design in plain Python: a dict of
                  accounts under per-account locks (its manager, as its
                  architecture document describes it)
  circuitbreaker  Debian's python3-circuitbreaker (fabfuel's), one breaker
                  object, no keys: the check is `breaker.opened`, the record
                  is `breaker.__exit__(...)`, exactly what its decorator does
                  around a call (tools/scripts/deps.sh bench installs it)
  isoreg          the binding (the C extension isoreg._isoreg) on a private
                  segment

Each isoreg row has its issue-17 target and the ratio to every peer of its
group (x floor, x reference, x circuitbreaker). Per-call rows are ns per
operation: batches of --ops operations, GC off inside a batch, runs
interleaved across the variants so a noisy moment lands on all of them;
the median of the run medians, the p99 over all batches, the spread of the
run medians. Bulk rows are ms per call, one call per batch, the result
dropped outside the timing.

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

from isoreg import (AccountIsolationManager, CircuitBreakerConfig,  # noqa: E402
                    FailureType)
import isoreg  # noqa: E402


def _cb_version(mod):
    try:
        from importlib import metadata
        return metadata.version("circuitbreaker")
    except Exception:
        return getattr(mod, "__version__", "?")


def _import_circuitbreaker():
    """Debian's python3-circuitbreaker lives in /usr/lib/python3/dist-packages,
    which another python3 (a venv, pyenv) does not search: look there last."""
    try:
        import circuitbreaker
        circuitbreaker.version = _cb_version(circuitbreaker)
        return circuitbreaker
    except ImportError:
        pass
    deb = "/usr/lib/python3/dist-packages"
    if os.path.isfile(os.path.join(deb, "circuitbreaker.py")):
        sys.path.append(deb)
        try:
            import circuitbreaker
            circuitbreaker.version = _cb_version(circuitbreaker)
            return circuitbreaker
        finally:
            sys.path.remove(deb)
    return None


# ------------------------------------------------------- the reference


class _Account:
    __slots__ = ("lock", "account_type", "account_id", "broker_type",
                 "consecutive_failures", "consecutive_successes",
                 "total_failures", "total_successes", "state", "opened_at",
                 "probes", "last_success", "last_failure", "avg_ms",
                 "quarantines", "breakdown")

    def __init__(self, t, i, b):
        self.lock = threading.Lock()
        self.account_type, self.account_id, self.broker_type = t, i, b
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.total_failures = 0
        self.total_successes = 0
        self.state = "healthy"
        self.opened_at = None
        self.probes = 0
        self.last_success = None
        self.last_failure = None
        self.avg_ms = 0.0
        self.quarantines = 0
        self.breakdown = {}


class ReferenceManager:
    """The reference's design in plain Python: a dict of accounts, one lock
    each, a manager lock for registration, wall-clock timestamps, metrics
    dicts with ISO-8601 times, as its architecture document describes."""

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
                a = self._accounts.setdefault(key, _Account(*key))
        return a

    def register_account(self, t, i, b):
        self._get(t, i, b)
        return True

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

    def record_failure(self, t, i, b, error=None,
                       failure_type=FailureType.UNKNOWN_ERROR,
                       operation_time_ms=0.0):
        a = self._get(t, i, b)
        with a.lock:
            a.total_failures += 1
            a.consecutive_failures += 1
            a.consecutive_successes = 0
            a.last_failure = datetime.datetime.now()
            a.breakdown[failure_type] = a.breakdown.get(failure_type, 0) + 1
            if a.state == "recovering" and a.probes:
                a.probes -= 1
            if a.consecutive_failures >= self.failure_threshold and \
                    a.state not in ("quarantined", "failing"):
                a.state = "failing" if a.state == "recovering" \
                    else "quarantined"
                a.opened_at = a.last_failure
                a.quarantines += 1
            elif a.state == "healthy":
                a.state = "degraded"

    def _metrics(self, a):
        with a.lock:
            return {
                "account_type": a.account_type,
                "account_id": a.account_id,
                "broker_type": a.broker_type,
                "status": a.state,
                "total_failures": a.total_failures,
                "consecutive_failures": a.consecutive_failures,
                "consecutive_successes": a.consecutive_successes,
                "circuit_open": a.state in ("quarantined", "failing",
                                            "recovering"),
                "quarantine_count": a.quarantines,
                "last_failure_time": (a.last_failure.isoformat()
                                      if a.last_failure else None),
                "last_success_time": (a.last_success.isoformat()
                                      if a.last_success else None),
                "average_operation_time_ms": a.avg_ms,
                "failure_breakdown": {ft.value: n
                                      for ft, n in a.breakdown.items()},
            }

    def get_all_account_statuses(self):
        with self._lock:
            accounts = list(self._accounts.values())
        return {"%s/%s/%s" % (a.account_type, a.account_id, a.broker_type):
                self._metrics(a) for a in accounts}

    def get_isolation_report(self):
        with self._lock:
            accounts = list(self._accounts.values())
        counts = {"healthy": 0, "degraded": 0, "quarantined": 0,
                  "failing": 0, "recovering": 0}
        failures = 0
        for a in accounts:
            with a.lock:
                counts[a.state] += 1
                failures += a.total_failures
        return {
            "total_accounts": len(accounts),
            "healthy_accounts": counts["healthy"],
            "degraded_accounts": counts["degraded"],
            "quarantined_accounts": counts["quarantined"],
            "failing_accounts": counts["failing"],
            "recovering_accounts": counts["recovering"],
            "total_failures_across_all_accounts": failures,
            "cross_account_errors_detected": 0,
            "isolation_guarantee": "ACTIVE",
            "timestamp": datetime.datetime.now().isoformat(),
        }


class _Nop:
    def can_execute_operation(self, t, i, b):
        return True, "Healthy"

    def record_success(self, t, i, b, operation_time_ms=0.0):
        return None

    def record_failure(self, t, i, b, error=None, failure_type=None,
                       operation_time_ms=0.0):
        return None


# ------------------------------------------------------------ batches


def _pair(m):
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


def _cb_pair(cb):
    def batch(n):
        ex = cb.__exit__
        t0 = time.perf_counter_ns()
        for _ in range(n):
            if not cb.opened:
                ex(None, None, None)
        return time.perf_counter_ns() - t0
    return batch


def _failure(m):
    def batch(n):
        rf = m.record_failure
        err = Exception("EOrder:Insufficient funds")
        ft = FailureType.BALANCE_ERROR
        t0 = time.perf_counter_ns()
        for _ in range(n):
            rf("user", "user2", "KRAKEN", err, ft)
        return time.perf_counter_ns() - t0
    return batch


def _cb_failure(cb):
    def batch(n):
        ex = cb.__exit__
        err = Exception("EOrder:Insufficient funds")
        et = type(err)
        t0 = time.perf_counter_ns()
        for _ in range(n):
            ex(et, err, None)
        return time.perf_counter_ns() - t0
    return batch


def _bulk(fn):
    def batch(_n):
        t0 = time.perf_counter_ns()
        r = fn()
        dt = time.perf_counter_ns() - t0
        del r  # freed outside the timing, for every variant alike
        return dt
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
        gc.collect()
    return per_op


def _runs_arg(v):
    try:
        n = int(v)
    except ValueError:
        n = 0
    if not 1 <= n <= 1000:
        raise argparse.ArgumentTypeError("--runs wants 1..1000, got '%s'" % v)
    return n


BULK_ACCOUNTS = 10000


def _fill(m, n):
    """@n accounts of 20 brokers, every tenth with a failure (so failure
    breakdowns are not all empty), every hundredth quarantined."""
    for i in range(n):
        t, a, b = "user", "u%d" % i, "BROKER%d" % (i % 20)
        m.register_account(t, a, b)
        if i % 10 == 0:
            m.record_failure(t, a, b, None, FailureType.NETWORK_ERROR)
        if i % 100 == 0:
            for _ in range(5):
                m.record_failure(t, a, b, None, FailureType.API_ERROR)
        m.record_success(t, a, b, 12.5) if i % 10 else None


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="python_bench",
        description="the isoreg Python binding's calls beside the "
                    "reference design, python3-circuitbreaker and a floor")
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
    bulk_batches = 10
    if args.quick:
        args.runs = min(args.runs, 2)
        args.batches = min(args.batches, 10)
        args.ops = min(args.ops, 500)
        bulk_batches = 2
    pinned = ""
    try:
        cpu = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        pinned = "pinned to CPU %d (sched_setaffinity)" % cpu
    except (AttributeError, OSError):
        pinned = "not pinned"

    cbmod = _import_circuitbreaker()
    notes = []
    cfg = CircuitBreakerConfig()
    ref = ReferenceManager()
    ref_bulk = ReferenceManager()
    _fill(ref_bulk, BULK_ACCOUNTS)

    with AccountIsolationManager(cfg) as m, \
            AccountIsolationManager(cfg, capacity=2 * BULK_ACCOUNTS) as big:
        _fill(big, BULK_ACCOUNTS)
        # group, variant, peer kind, batch, ops per batch, batches, unit,
        # target (isoreg rows)
        plan = [
            ("pair", "floor: two no-op method calls", "floor",
             _pair(_Nop()), args.ops, args.batches, "ns", None),
            ("pair", "reference (dict + lock)", "reference",
             _pair(ref), args.ops, args.batches, "ns", None),
        ]
        if cbmod is not None:
            cb_ok = cbmod.CircuitBreaker(failure_threshold=5,
                                         recovery_timeout=300)
            plan.append(("pair", "circuitbreaker (opened + __exit__)",
                         "circuitbreaker", _cb_pair(cb_ok), args.ops,
                         args.batches, "ns", None))
        plan += [
            ("pair", "isoreg by key", "isoreg", _pair(m), args.ops,
             args.batches, "ns", 150.0),
            ("pair", "isoreg guard (with-block)", "isoreg", _guard(m),
             args.ops, args.batches, "ns", None),
            ("failure", "floor: one no-op method call", "floor",
             _failure(_Nop()), args.ops, args.batches, "ns", None),
            ("failure", "reference record_failure", "reference",
             _failure(ref), args.ops, args.batches, "ns", None),
        ]
        if cbmod is not None:
            cb_bad = cbmod.CircuitBreaker(failure_threshold=5,
                                          recovery_timeout=300)
            plan.append(("failure", "circuitbreaker __exit__(error)",
                         "circuitbreaker", _cb_failure(cb_bad), args.ops,
                         args.batches, "ns", None))
        plan += [
            ("failure", "isoreg record_failure", "isoreg", _failure(m),
             args.ops, args.batches, "ns", 250.0),
            ("statuses", "reference get_all_account_statuses", "reference",
             _bulk(ref_bulk.get_all_account_statuses), 1, bulk_batches,
             "ms", None),
            ("statuses", "isoreg get_all_account_statuses", "isoreg",
             _bulk(big.get_all_account_statuses), 1, bulk_batches, "ms",
             10.0),
            ("report", "reference get_isolation_report", "reference",
             _bulk(ref_bulk.get_isolation_report), 1, bulk_batches, "ms",
             None),
            ("report", "isoreg get_isolation_report", "isoreg",
             _bulk(big.get_isolation_report), 1, bulk_batches, "ms", 1.0),
        ]
        for p in plan:
            p[3](min(p[4], 1000))  # warm up, register the accounts
        medians = {p[1]: [] for p in plan}
        alls = {p[1]: [] for p in plan}
        for _ in range(args.runs):
            for p in plan:
                per_op = run_once(p[3], p[4], p[5])
                medians[p[1]].append(statistics.median(per_op))
                alls[p[1]].extend(per_op)
        recorded = m.get_account_status("user", "user1",
                                        "KRAKEN")[1]["total_operations"]
        n_big = len(big.get_all_account_statuses())

    scale = {"ns": 1.0, "ms": 1e-6}
    rows = []
    peers = {}
    for p in plan:
        group, name, kind, unit = p[0], p[1], p[2], p[6]
        k = scale[unit]
        med = statistics.median(medians[name]) * k
        row = {"group": group, "variant": name, "unit": unit + "/op"
               if unit == "ns" else "ms/call", "median": med,
               "p99": _p99(sorted(alls[name])) * k,
               "min": min(medians[name]) * k, "max": max(medians[name]) * k,
               "target": p[7]}
        if kind != "isoreg":
            peers.setdefault(group, []).append((kind, med))
        rows.append(row)
    for row in rows:
        if row["target"] is None and not row["variant"].startswith("isoreg"):
            continue
        for kind, med in peers.get(row["group"], []):
            row["x " + kind] = row["median"] / med if med else None
        if row["target"] is not None:
            row["met"] = row["median"] <= row["target"]

    notes += [
        "%d runs; per-call rows: a run = %d batches of %d operations; bulk "
        "rows: a run = %d calls over %d accounts"
        % (args.runs, args.batches, args.ops, bulk_batches, n_big),
        "median = median of run medians; min/max = spread of run medians; "
        "p99 = over all batches; x PEER = isoreg median / the peer's",
        "circuitbreaker: %s" % (
            "python3-circuitbreaker %s, one breaker, no key lookup"
            % cbmod.version if cbmod is not None else
            "not installed (tools/scripts/deps.sh bench), rows left out"),
        "isoreg: %d operations recorded on the pair's account; library %s"
        % (recorded, isoreg.LIB_PATH),
        "python %s, %s" % (sys.version.split()[0], pinned),
    ]
    ratio_cols = ["x floor", "x reference", "x circuitbreaker"]
    cols = ["median", "p99", "min", "max", "target"] + ratio_cols
    if args.json:
        json.dump({"bench": "python_bench", "columns": cols, "rows": rows,
                   "notes": notes}, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return 0

    def num(v, unit):
        if v is None:
            return ""
        return "%.0f" % v if unit.startswith("ns") else "%.2f" % v

    cells = []
    for r in rows:
        target = ""
        if r["target"] is not None:
            target = "%s %s" % ("<=" + num(r["target"], r["unit"]),
                                "met" if r["met"] else "MISSED")
        cells.append([r["group"], r["variant"], r["unit"]]
                     + [num(r[c], r["unit"]) for c in cols[:4]] + [target]
                     + ["%.2fx" % r[c] if r.get(c) else ""
                        for c in ratio_cols])
    head = ["group", "variant", "unit"] + cols
    w = [max(len(x[i]) for x in cells + [head]) for i in range(len(head))]
    print("== python_bench")
    for line in [head] + cells:
        print("  ".join(line[i].ljust(w[i]) if i < 3 else line[i].rjust(w[i])
                        for i in range(len(line))))
    for n in notes:
        print("#  " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
