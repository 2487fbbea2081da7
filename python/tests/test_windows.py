"""Rolling windows [B7] (issue 15) from Python.

CircuitBreakerConfig carries window_ms, min_calls, failure_rate_threshold,
slow_call_ms and slow_call_rate_threshold (the library's names and
defaults); a manager that creates its segment gives it the window region
when the config has a window (or windows=True); status dicts carry the
window and the cause of the last transition.
"""

import unittest

import _support
from isoreg import (AccountIsolationManager, CircuitBreakerConfig,
                    FailureType, unlink_segment)
from isoreg import _native as N

ACCT = ("user", "win1", "KRAKEN")
API = FailureType.API_ERROR


class WindowTests(unittest.TestCase):
    def manager(self, **cfg):
        m = AccountIsolationManager(CircuitBreakerConfig(**cfg))
        self.addCleanup(m.close)
        m.register_account(*ACCT)
        return m

    def status(self, m):
        return m.get_account_status(*ACCT)[1]

    def test_failing_every_other_call_trips_at_50_percent(self):
        # failure_threshold 5 is never reached: no two failures in a row.
        m = self.manager(window_ms=60000, min_calls=10,
                         failure_rate_threshold=50)
        self.assertTrue(m.segment_info().windows)
        for i in range(4):
            m.record_success(*ACCT)
            m.record_failure(*ACCT, API)
        st = self.status(m)
        self.assertEqual(st["window"]["calls"], 8)
        self.assertEqual(st["window"]["failures"], 4)
        self.assertIsNone(st["window"]["failure_rate"], "judged before min_calls")
        self.assertEqual(st["status"], "degraded")
        m.record_success(*ACCT)
        m.record_failure(*ACCT, API)   # the 10th outcome: 5 of 10
        st = self.status(m)
        self.assertEqual(st["status"], "quarantined")
        self.assertEqual(st["breaker_state"], "OPEN")
        self.assertEqual(st["last_transition_cause"], "failure_rate")
        self.assertEqual(st["window"]["failure_rate"], 50.0)
        self.assertEqual(st["window"]["calls"], 10)
        self.assertEqual(st["consecutive_failures"], 1)
        ok, why = m.can_execute_operation(*ACCT)
        self.assertFalse(ok, why)

    def test_a_slow_call_rate_trips_with_its_own_cause(self):
        m = self.manager(window_ms=60000, min_calls=4, slow_call_ms=100,
                         slow_call_rate_threshold=75)
        m.record_success(*ACCT, operation_time_ms=5)
        for _ in range(2):
            m.record_success(*ACCT, operation_time_ms=250)
        st = self.status(m)
        self.assertEqual(st["window"]["slow_calls"], 2)
        self.assertEqual(st["status"], "healthy")
        m.record_success(*ACCT, operation_time_ms=100)  # 3 of 4: 75 %
        st = self.status(m)
        self.assertEqual(st["status"], "quarantined")
        self.assertEqual(st["last_transition_cause"], "slow_call_rate")
        self.assertEqual(st["window"]["slow_call_rate"], 75.0)
        self.assertEqual(st["window"]["failure_rate"], 0.0)

    def test_a_plain_account_has_an_empty_window(self):
        m = self.manager()
        m.record_failure(*ACCT, API)
        st = self.status(m)
        self.assertIsNone(st["window"], "no window, no window dict")
        self.assertEqual(st["last_transition_cause"], "failure")
        self.assertFalse(m.segment_info().windows)

    def test_bad_window_values_name_the_field(self):
        for kw, field in ((dict(window_ms=50), "window_ms"),
                          (dict(window_ms=3600001), "window_ms"),
                          (dict(window_ms="1s"), "window_ms"),
                          (dict(min_calls=0), "min_calls"),
                          (dict(min_calls=2000000), "min_calls"),
                          (dict(failure_rate_threshold=101),
                           "failure_rate_threshold"),
                          (dict(failure_rate_threshold=-1),
                           "failure_rate_threshold"),
                          (dict(slow_call_ms=1.5), "slow_call_ms"),
                          (dict(slow_call_rate_threshold=200),
                           "slow_call_rate_threshold")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    CircuitBreakerConfig(**kw).to_c()
                self.assertIn(field, str(cm.exception))

    def test_the_config_round_trips_with_the_librarys_defaults(self):
        c = CircuitBreakerConfig()
        self.assertEqual((c.window_ms, c.min_calls, c.failure_rate_threshold,
                          c.slow_call_ms, c.slow_call_rate_threshold),
                         N.config_default()[12:])
        t = CircuitBreakerConfig(window_ms=1000, min_calls=3,
                                 failure_rate_threshold=40, slow_call_ms=7,
                                 slow_call_rate_threshold=60).to_c()
        self.assertEqual(t[12:], (1000, 3, 40, 7, 60))
        m = AccountIsolationManager(CircuitBreakerConfig(window_ms=1000,
                                                         min_calls=3))
        self.addCleanup(m.close)
        self.assertEqual(m.segment_info().defaults[12:14], (1000, 3))

    def test_windows_on_a_segment_without_the_region_is_a_clear_error(self):
        name = _support.unique_segment("nowin")
        self.addCleanup(unlink_segment, name)
        with AccountIsolationManager(segment=name) as plain:
            plain.register_account(*ACCT)
            self.assertFalse(plain.segment_info().windows)
            with self.assertRaises(ValueError) as cm:
                plain.configure_account(*ACCT, CircuitBreakerConfig(
                    window_ms=1000, failure_rate_threshold=50))
            self.assertIn("window region", str(cm.exception))
            self.assertIsNone(self.status(plain)["window"])
            # A manager wanting a window on that segment says so at once,
            # rather than at its first registration.
            for kw in (dict(config=CircuitBreakerConfig(window_ms=1000)),
                       dict(windows=True)):
                with self.subTest(**{k: repr(v) for k, v in kw.items()}):
                    with self.assertRaises(ValueError) as cm:
                        AccountIsolationManager(segment=name, **kw)
                    self.assertIn("window region", str(cm.exception))
                    self.assertIn(name, str(cm.exception))

    def test_windows_true_makes_the_region_for_later_configs(self):
        name = _support.unique_segment("win")
        self.addCleanup(unlink_segment, name)
        with AccountIsolationManager(segment=name, windows=True) as m:
            self.assertTrue(m.segment_info().windows)
            self.assertEqual(m.segment_info().defaults[12], 0)
            m.register_account(*ACCT)
            m.configure_account(*ACCT, CircuitBreakerConfig(
                window_ms=60000, min_calls=2, failure_rate_threshold=100))
            m.record_failure(*ACCT, API)
            m.record_failure(*ACCT, API)
            st = self.status(m)
            self.assertEqual(st["last_transition_cause"], "failure_rate")
            self.assertEqual(st["window"]["failure_rate"], 100.0)


if __name__ == "__main__":
    unittest.main()
