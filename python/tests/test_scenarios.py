"""The reference's two example scenarios, step by step, through Python.

Each step checks the failing account and every bystander the reference
names ("Impact: ... all continue normally"): healthy, allowed, and with no
failure counted. Time moves by ManualClock.
"""

import unittest

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import (AccountHealthStatus, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType)
from isoreg.testing import ManualClock


class ScenarioTests(unittest.TestCase):
    def assert_unaffected(self, m, accounts):
        for acct in accounts:
            status, metrics = m.get_account_status(*acct)
            self.assertIs(status, AccountHealthStatus.HEALTHY, acct)
            self.assertEqual(metrics["total_failures"], 0, acct)
            ok, reason = m.can_execute_operation(*acct)
            self.assertTrue(ok, acct)
            m.record_success(*acct, operation_time_ms=20.0)

    def test_scenario_1_user_fails_platform_continues(self):
        # "2 more failures (total 3)" quarantines: threshold 3; "followed by
        # 2 more successes" closes after the probe: 3 successes.
        cfg = CircuitBreakerConfig(failure_threshold=3, success_threshold=3,
                                   timeout_seconds=300, half_open_max_calls=1)
        others = [("platform", "platform", "KRAKEN"),
                  ("user", "user2", "KRAKEN"),
                  ("user", "user1", "COINBASE")]
        u1 = ("user", "user1", "KRAKEN")
        with AccountIsolationManager(cfg) as m, ManualClock() as clock:
            for a in others + [u1]:
                m.register_account(*a)
            # Time 0: one API error -> DEGRADED.
            m.record_failure(*u1, Exception("EGeneral:Internal error"),
                             FailureType.API_ERROR)
            self.assertIs(m.get_account_status(*u1)[0],
                          AccountHealthStatus.DEGRADED)
            self.assert_unaffected(m, others)
            # Time 1: two more -> QUARANTINED, breaker open.
            for _ in range(2):
                m.record_failure(*u1, Exception("EGeneral:Internal error"),
                                 FailureType.API_ERROR)
            status, metrics = m.get_account_status(*u1)
            self.assertIs(status, AccountHealthStatus.QUARANTINED)
            self.assertTrue(metrics["circuit_open"])
            self.assertFalse(m.can_execute_operation(*u1)[0])
            self.assert_unaffected(m, others)
            # Time 2: five minutes later one test operation is allowed.
            clock.advance(300)
            ok, reason = m.can_execute_operation(*u1)
            self.assertTrue(ok)
            self.assertEqual(reason, "Recovery attempt")
            self.assertFalse(m.can_execute_operation(*u1)[0])
            self.assert_unaffected(m, others)
            # Time 3: the test succeeds, then two more -> HEALTHY.
            m.record_success(*u1, operation_time_ms=80.0)
            for _ in range(2):
                self.assertTrue(m.can_execute_operation(*u1)[0])
                m.record_success(*u1, operation_time_ms=80.0)
            status, metrics = m.get_account_status(*u1)
            self.assertIs(status, AccountHealthStatus.HEALTHY)
            self.assertFalse(metrics["circuit_open"])
            self.assertEqual(metrics["quarantine_count"], 1)
            self.assert_unaffected(m, others)
            report = m.get_isolation_report()
            self.assertEqual(report["healthy_accounts"], 4)
            self.assertEqual(report["total_failures_across_all_accounts"], 3)
            self.assertEqual(report["isolation_guarantee"], "ACTIVE")

    def test_scenario_2_platform_fails_users_continue(self):
        cfg = CircuitBreakerConfig()  # the reference's defaults: 5 / 3 / 300
        others = [("user", "user1", "COINBASE"),
                  ("user", "user2", "COINBASE"),
                  ("platform", "platform", "KRAKEN")]
        pf = ("platform", "platform", "COINBASE")
        with AccountIsolationManager(cfg) as m, ManualClock() as clock:
            for a in others + [pf]:
                m.register_account(*a)
            # Time 0: a network timeout -> DEGRADED.
            m.record_failure(*pf, TimeoutError("read timed out"), None)
            self.assertIs(m.get_account_status(*pf)[0],
                          AccountHealthStatus.DEGRADED)
            self.assert_unaffected(m, others)
            # Time 1: five consecutive failures -> QUARANTINED.
            for _ in range(4):
                m.record_failure(*pf, TimeoutError("read timed out"), None)
            status, metrics = m.get_account_status(*pf)
            self.assertIs(status, AccountHealthStatus.QUARANTINED)
            self.assertEqual(metrics["failure_breakdown"],
                             {"network_error": 5})
            self.assertFalse(m.can_execute_operation(*pf)[0])
            self.assert_unaffected(m, others)
            # Time 2: after the timeout it recovers and resumes trading.
            clock.advance(301)
            for _ in range(3):
                self.assertTrue(m.can_execute_operation(*pf)[0])
                m.record_success(*pf)
            self.assertIs(m.get_account_status(*pf)[0],
                          AccountHealthStatus.HEALTHY)
            # No user account was affected during the entire incident.
            for a in others:
                _, metrics = m.get_account_status(*a)
                self.assertEqual(metrics["total_failures"], 0)
                self.assertEqual(metrics["quarantine_count"], 0)
            rep = m.get_isolation_report()
            self.assertEqual(rep["brokers"]["COINBASE"]["unhealthy"], 0)
            self.assertEqual(rep["cross_account_errors_detected"], 0)


if __name__ == "__main__":
    unittest.main()
