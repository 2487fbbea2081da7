"""Nothing truncated, nothing wrapped on the way into C (issue 12).

An embedded NUL in a key or a segment name would end the C string early
("user1\\0evil" acting on user1); an integer beyond the C type's range
would wrap (a capacity of 2**32 + 2 becoming 2). Each is refused with
ValueError or OverflowError naming what was wrong, and nothing is created.
"""

import os
import unittest

import _support
from isoreg import (AccountHealthStatus, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType, unlink_segment)
from isoreg.guard import add_message_rule, parse_retry_after
from isoreg.testing import ManualClock


class NulTests(unittest.TestCase):
    def setUp(self):
        self.m = AccountIsolationManager()
        self.addCleanup(self.m.close)

    def test_a_nul_in_a_key_is_refused_not_cut(self):
        calls = [lambda k: self.m.register_account(*k),
                 lambda k: self.m.can_execute_operation(*k),
                 lambda k: self.m.record_success(*k),
                 lambda k: self.m.record_failure(*k, None,
                                                 FailureType.API_ERROR),
                 lambda k: self.m.get_account_status(*k),
                 lambda k: self.m.reset_account(*k),
                 lambda k: self.m.halt_account(*k)]
        keys = [(("user\0x", "user1", "KRAKEN"), "account_type"),
                (("user", "user1\0evil", "KRAKEN"), "account_id"),
                (("user", "user1", "KRAKEN\0"), "broker_type")]
        for key, field in keys:
            for i, call in enumerate(calls):
                with self.subTest(key=key, call=i):
                    with self.assertRaises(ValueError) as cm:
                        call(key)
                    self.assertIn(field, str(cm.exception))
                    self.assertIn("NUL", str(cm.exception))
        # Cut at the NUL these would have been user/user1/KRAKEN.
        self.assertEqual(self.m.get_all_account_statuses(), {})

    def test_a_nul_in_a_segment_name_is_refused(self):
        name = _support.unique_segment("nul")
        with self.assertRaises(ValueError) as cm:
            AccountIsolationManager(segment=name + "\0tail")
        self.assertIn("NUL", str(cm.exception))
        self.assertFalse(os.path.exists("/dev/shm" + name))
        with self.assertRaises(ValueError):
            unlink_segment(name + "\0tail")

    def test_a_nul_in_a_message_rule_is_refused(self):
        with self.assertRaises(ValueError):
            add_message_rule("margin\0call", FailureType.BALANCE_ERROR)
        self.assertIsNone(parse_retry_after("12\0 junk"))


class RangeTests(unittest.TestCase):
    def test_capacity_out_of_range(self):
        for cap in (2 ** 32 + 2, 2 ** 64, -1):
            with self.subTest(capacity=cap):
                with self.assertRaises(OverflowError) as cm:
                    AccountIsolationManager(capacity=cap)
                self.assertIn("capacity", str(cm.exception))
        with AccountIsolationManager(capacity=2) as m:
            self.assertEqual(m.segment_info().capacity, 2)

    def test_thresholds_and_times_out_of_range(self):
        cases = [({"failure_threshold": 2 ** 32 + 5}, "failure_threshold"),
                 ({"success_threshold": -1}, "success_threshold"),
                 ({"half_open_max_calls": 2 ** 64}, "half_open_max_calls"),
                 ({"degrade_after": 256}, "degrade_after"),
                 ({"timeout_seconds": 2 ** 32}, "timeout_seconds"),
                 ({"timeout_seconds": float("inf")}, "timeout_seconds"),
                 ({"timeout_seconds": float("nan")}, "timeout_seconds"),
                 ({"max_timeout_seconds": 1e300}, "max_timeout_seconds"),
                 ({"probe_timeout_seconds": -5}, "probe_timeout")]
        for kw, field in cases:
            with self.subTest(**kw):
                with self.assertRaises((ValueError, OverflowError)) as cm:
                    CircuitBreakerConfig(**kw).to_c()
                self.assertIn(field, str(cm.exception))

    def test_operation_and_retry_times_out_of_range(self):
        with AccountIsolationManager() as m:
            k = ("user", "u", "KRAKEN")
            with self.assertRaises(OverflowError) as cm:
                m.record_success(*k, operation_time_ms=1e30)
            self.assertIn("operation_time_ms", str(cm.exception))
            with self.assertRaises(OverflowError):
                m.record_failure(*k, None, FailureType.API_ERROR,
                                 operation_time_ms=2.0 ** 70)
            with self.assertRaises(OverflowError) as cm:
                m.record_failure(*k, None, FailureType.API_ERROR,
                                 retry_after_seconds=1e20)
            self.assertIn("retry_after_seconds", str(cm.exception))
            with self.assertRaises(ValueError):
                m.record_success(*k, operation_time_ms=float("nan"))
            # Refused before anything was registered or recorded; the
            # largest time that fits is recorded.
            self.assertEqual(m.get_account_status(*k),
                             (AccountHealthStatus.HEALTHY, {}))
            m.record_success(*k, operation_time_ms=1.8e13)
            m.record_success(*k, operation_time_ms=-3)  # not measured
            self.assertEqual(m.get_account_status(*k)[1]
                             ["total_operations"], 2)

    def test_the_manual_clock_does_not_wrap(self):
        with self.assertRaises(OverflowError):
            ManualClock(start_ns=2 ** 64)
        with self.assertRaises(OverflowError):
            ManualClock(start_ns=-1)
        clock = ManualClock(start_ns=2 ** 64 - 10 ** 9)
        with self.assertRaises(OverflowError):
            clock.advance(2)
        self.assertEqual(clock.now_ns(), 2 ** 64 - 10 ** 9)


if __name__ == "__main__":
    unittest.main()
