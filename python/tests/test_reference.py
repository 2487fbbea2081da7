"""The reference design's test list, through the Python binding.

Each test follows one of the eleven tests of the reference's
test_account_isolation.py, on a private segment of its own, with the
reference's test configuration (3 failures trip, 2 successes close, 5 s
open, 1 probe). Where the reference only checked "no error", these check
exact counts. Time moves by ManualClock, never by sleeping, except in the
one test that checks the real clock is wired up.
"""

import threading
import time
import unittest

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import (AccountHealthStatus, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType)
from isoreg.testing import ManualClock


def fail(m, t, i, b, n, ft=FailureType.API_ERROR):
    for k in range(n):
        m.record_failure(t, i, b, Exception("Test failure %d" % k), ft)


class ReferenceTests(unittest.TestCase):
    def setUp(self):
        self.config = CircuitBreakerConfig(failure_threshold=3,
                                           success_threshold=2,
                                           timeout_seconds=5,
                                           half_open_max_calls=1)
        self.manager = AccountIsolationManager(self.config)
        self.addCleanup(self.manager.close)

    # 1
    def test_account_registration(self):
        self.assertTrue(self.manager.register_account("user", "user1",
                                                      "KRAKEN"))
        # Registering again is not an error, as in the reference.
        self.assertTrue(self.manager.register_account("user", "user1",
                                                      "KRAKEN"))
        status, metrics = self.manager.get_account_status("user", "user1",
                                                          "KRAKEN")
        self.assertIs(status, AccountHealthStatus.HEALTHY)
        self.assertEqual(metrics["status"], "healthy")
        self.assertEqual(metrics["total_failures"], 0)
        self.assertEqual(metrics["failure_breakdown"], {})
        self.assertIsNone(metrics["last_failure_time"])
        self.assertEqual(self.manager.get_isolation_report()["total_accounts"],
                         1)

    def test_unknown_account_is_healthy_and_empty(self):
        self.assertEqual(self.manager.get_account_status("user", "ghost",
                                                         "KRAKEN"),
                         (AccountHealthStatus.HEALTHY, {}))
        # ... and asking did not register it.
        self.assertEqual(self.manager.get_isolation_report()["total_accounts"],
                         0)

    def test_keys_are_normalised_like_the_reference(self):
        self.manager.register_account("USER", "User1", "kraken")
        fail(self.manager, "user", "user1", "KRAKEN", 1)
        _, metrics = self.manager.get_account_status("User", "USER1", "Kraken")
        self.assertEqual(metrics["total_failures"], 1)
        self.assertEqual(list(self.manager.get_all_account_statuses()),
                         ["user/user1/KRAKEN"])

    # 2
    def test_isolated_failures(self):
        m = self.manager
        m.register_account("user", "user1", "KRAKEN")
        m.register_account("user", "user2", "KRAKEN")
        fail(m, "user", "user1", "KRAKEN", 5)
        self.assertIs(m.get_account_status("user", "user1", "KRAKEN")[0],
                      AccountHealthStatus.QUARANTINED)
        status2, metrics2 = m.get_account_status("user", "user2", "KRAKEN")
        self.assertIs(status2, AccountHealthStatus.HEALTHY)
        self.assertEqual(metrics2["total_failures"], 0)
        self.assertEqual(metrics2["consecutive_failures"], 0)
        self.assertEqual(m.can_execute_operation("user", "user2", "KRAKEN"),
                         (True, "Healthy"))

    # 3
    def test_circuit_breaker_opens_at_threshold(self):
        m = self.manager
        m.register_account("user", "testuser", "KRAKEN")
        fail(m, "user", "testuser", "KRAKEN", 2)
        self.assertTrue(m.can_execute_operation("user", "testuser",
                                                "KRAKEN")[0])
        fail(m, "user", "testuser", "KRAKEN", 1)
        status, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertIs(status, AccountHealthStatus.QUARANTINED)
        self.assertTrue(metrics["circuit_open"])
        self.assertFalse(metrics["circuit_half_open"])
        self.assertEqual(metrics["quarantine_count"], 1)
        ok, reason = m.can_execute_operation("user", "testuser", "KRAKEN")
        self.assertFalse(ok)
        self.assertIn("retry in", reason)

    # 4
    def test_circuit_breaker_recovers_after_timeout(self):
        m = self.manager
        with ManualClock() as clock:
            m.register_account("user", "testuser", "KRAKEN")
            fail(m, "user", "testuser", "KRAKEN", 3)
            self.assertFalse(m.can_execute_operation("user", "testuser",
                                                     "KRAKEN")[0])
            clock.advance(4.9)
            self.assertFalse(m.can_execute_operation("user", "testuser",
                                                     "KRAKEN")[0])
            clock.advance(1.1)
            ok, reason = m.can_execute_operation("user", "testuser", "KRAKEN")
            self.assertTrue(ok)
            self.assertEqual(reason, "Recovery attempt")
            status, metrics = m.get_account_status("user", "testuser",
                                                   "KRAKEN")
            self.assertIs(status, AccountHealthStatus.RECOVERING)
            self.assertTrue(metrics["circuit_half_open"])
            # One probe at a time (half_open_max_calls=1).
            self.assertFalse(m.can_execute_operation("user", "testuser",
                                                     "KRAKEN")[0])
            m.record_success("user", "testuser", "KRAKEN")
            m.record_success("user", "testuser", "KRAKEN")
            status, metrics = m.get_account_status("user", "testuser",
                                                   "KRAKEN")
            self.assertIs(status, AccountHealthStatus.HEALTHY)
            self.assertFalse(metrics["circuit_open"])
            self.assertEqual(metrics["quarantine_count"], 1)

    def test_failed_recovery_is_failing_then_recovers(self):
        m = self.manager
        with ManualClock() as clock:
            fail(m, "user", "testuser", "KRAKEN", 3)
            clock.advance(6)
            self.assertTrue(m.can_execute_operation("user", "testuser",
                                                    "KRAKEN")[0])
            fail(m, "user", "testuser", "KRAKEN", 1)
            self.assertIs(m.get_account_status("user", "testuser",
                                               "KRAKEN")[0],
                          AccountHealthStatus.FAILING)
            self.assertFalse(m.can_execute_operation("user", "testuser",
                                                     "KRAKEN")[0])
            # The open time doubles after a failed recovery: 10 s now.
            clock.advance(6)
            self.assertFalse(m.can_execute_operation("user", "testuser",
                                                     "KRAKEN")[0])
            clock.advance(5)
            self.assertTrue(m.can_execute_operation("user", "testuser",
                                                    "KRAKEN")[0])
            self.assertEqual(self.manager.get_isolation_report()
                             ["recovering_accounts"], 1)

    def test_recovery_on_the_real_clock(self):
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=1, success_threshold=1,
                timeout_seconds=0.05)) as m:
            fail(m, "user", "u", "KRAKEN", 1)
            self.assertFalse(m.can_execute_operation("user", "u",
                                                     "KRAKEN")[0])
            time.sleep(0.1)  # longer than the open time, whatever the load
            self.assertTrue(m.can_execute_operation("user", "u", "KRAKEN")[0])
            m.record_success("user", "u", "KRAKEN")
            self.assertIs(m.get_account_status("user", "u", "KRAKEN")[0],
                          AccountHealthStatus.HEALTHY)

    # 5
    def test_degraded_state(self):
        m = self.manager
        m.register_account("user", "testuser", "KRAKEN")
        fail(m, "user", "testuser", "KRAKEN", 2)
        status, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertIs(status, AccountHealthStatus.DEGRADED)
        self.assertEqual(metrics["consecutive_failures"], 2)
        ok, reason = m.can_execute_operation("user", "testuser", "KRAKEN")
        self.assertTrue(ok)
        self.assertEqual(reason, "Degraded but operational")

    # 6
    def test_success_tracking_restores_health(self):
        m = self.manager
        fail(m, "user", "testuser", "KRAKEN", 2)
        self.assertIs(m.get_account_status("user", "testuser", "KRAKEN")[0],
                      AccountHealthStatus.DEGRADED)
        before = time.time()
        m.record_success("user", "testuser", "KRAKEN", operation_time_ms=150)
        self.assertIs(m.get_account_status("user", "testuser", "KRAKEN")[0],
                      AccountHealthStatus.DEGRADED)
        m.record_success("user", "testuser", "KRAKEN", operation_time_ms=50)
        after = time.time()
        status, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertIs(status, AccountHealthStatus.HEALTHY)
        self.assertEqual(metrics["consecutive_successes"], 2)
        self.assertEqual(metrics["consecutive_failures"], 0)
        self.assertEqual(metrics["total_successes"], 2)
        self.assertEqual(metrics["total_operations"], 4)
        self.assertAlmostEqual(metrics["average_operation_time_ms"], 100.0,
                               places=3)
        # Seconds since the epoch, like time.time(). The library stamps
        # milliseconds from a cheap (coarse) clock, so allow a few ticks.
        self.assertGreaterEqual(metrics["last_success_time"], before - 0.05)
        self.assertLessEqual(metrics["last_success_time"], after + 0.05)
        self.assertLessEqual(metrics["last_failure_time"],
                             metrics["last_success_time"])

    # 7
    def test_failure_type_breakdown(self):
        m = self.manager
        m.record_failure("user", "testuser", "KRAKEN", Exception("API error"),
                         FailureType.API_ERROR)
        m.record_failure("user", "testuser", "KRAKEN",
                         Exception("Network error"), FailureType.NETWORK_ERROR)
        m.record_failure("user", "testuser", "KRAKEN", Exception("Rate limit"),
                         "rate_limit_error")
        _, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertEqual(metrics["failure_breakdown"],
                         {"api_error": 1, "network_error": 1,
                          "rate_limit_error": 1})
        self.assertEqual(metrics["total_failures"], 3)

    def test_the_reference_enums_own_values_are_accepted(self):
        # Code moving over keeps passing its own FailureType members.
        import enum
        Ref = enum.Enum("FailureType", {"BALANCE_ERROR": "balance_error"})
        self.manager.record_failure("user", "u", "KRAKEN", None,
                                    Ref.BALANCE_ERROR)
        self.manager.record_failure("user", "u", "KRAKEN", None, "network")
        _, metrics = self.manager.get_account_status("user", "u", "KRAKEN")
        self.assertEqual(metrics["failure_breakdown"],
                         {"balance_error": 1, "network_error": 1})

    def test_every_failure_type_lands_in_its_own_counter(self):
        m = self.manager
        for n, ft in enumerate(FailureType, start=1):
            for _ in range(n):
                m.record_failure("user", "u-%s" % ft.value[:8], "KRAKEN",
                                 None, ft)
        for n, ft in enumerate(FailureType, start=1):
            _, metrics = m.get_account_status("user", "u-%s" % ft.value[:8],
                                              "KRAKEN")
            self.assertEqual(metrics["failure_breakdown"], {ft.value: n})

    def test_record_failure_without_type_is_unknown_like_the_reference(self):
        self.manager.record_failure("user", "u", "KRAKEN",
                                    ConnectionError("reset"))
        _, metrics = self.manager.get_account_status("user", "u", "KRAKEN")
        self.assertEqual(metrics["failure_breakdown"], {"unknown_error": 1})
        # failure_type=None asks for classification instead.
        self.manager.record_failure("user", "u", "KRAKEN",
                                    ConnectionError("reset"), None)
        _, metrics = self.manager.get_account_status("user", "u", "KRAKEN")
        self.assertEqual(metrics["failure_breakdown"],
                         {"unknown_error": 1, "network_error": 1})

    # 8
    def test_thread_safety_same_account_exact_counts(self):
        m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=255))
        self.addCleanup(m.close)
        errors = []

        def worker(wid):
            try:
                for i in range(200):
                    if i % 2 == 0:
                        m.record_success("user", "testuser", "KRAKEN")
                    else:
                        m.record_failure("user", "testuser", "KRAKEN",
                                         Exception("w%d f%d" % (wid, i)),
                                         FailureType.API_ERROR)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        _, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertEqual(metrics["total_failures"], 8 * 100)
        self.assertEqual(metrics["total_successes"], 8 * 100)
        self.assertEqual(metrics["failure_breakdown"], {"api_error": 800})

    def test_thread_safety_threads_on_different_accounts(self):
        m = self.manager
        n_threads, n_ops = 8, 300
        barrier = threading.Barrier(n_threads)
        errors = []

        def worker(wid):
            try:
                acct = ("user", "user%d" % wid, "KRAKEN")
                barrier.wait()
                for i in range(n_ops):
                    ok, _ = m.can_execute_operation(*acct)
                    # Even workers fail every third call; odd ones never.
                    if wid % 2 == 0 and i % 3 == 0:
                        m.record_failure(*acct, None, FailureType.API_ERROR)
                    else:
                        m.record_success(*acct, operation_time_ms=1.0)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,))
                   for i in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for wid in range(n_threads):
            status, metrics = m.get_account_status("user", "user%d" % wid,
                                                   "KRAKEN")
            fails = n_ops // 3 if wid % 2 == 0 else 0
            self.assertEqual(metrics["total_failures"], fails, wid)
            self.assertEqual(metrics["total_successes"], n_ops - fails, wid)
            if wid % 2:
                # Failures elsewhere never reached the clean accounts.
                self.assertIs(status, AccountHealthStatus.HEALTHY)
                self.assertEqual(metrics["failure_breakdown"], {})

    # 9
    def test_isolation_report(self):
        m = self.manager
        m.register_account("platform", "platform", "KRAKEN")
        m.register_account("user", "user1", "KRAKEN")
        m.register_account("user", "user2", "COINBASE")
        fail(m, "user", "user1", "KRAKEN", 3)
        fail(m, "user", "user2", "COINBASE", 1)
        report = m.get_isolation_report()
        self.assertEqual(report["total_accounts"], 3)
        self.assertEqual(report["healthy_accounts"], 1)
        self.assertEqual(report["degraded_accounts"], 1)
        self.assertEqual(report["quarantined_accounts"], 1)
        self.assertEqual(report["failing_accounts"], 0)
        self.assertEqual(report["recovering_accounts"], 0)
        self.assertEqual(report["total_failures_across_all_accounts"], 4)
        self.assertEqual(report["total_quarantines"], 1)
        self.assertEqual(report["isolation_guarantee"], "ACTIVE")
        self.assertEqual(report["cross_account_errors_detected"], 0)
        self.assertEqual(report["brokers"],
                         {"KRAKEN": {"accounts": 2, "unhealthy": 1,
                                     "degraded": 0, "incident": False},
                          "COINBASE": {"accounts": 1, "unhealthy": 0,
                                       "degraded": 1, "incident": False}})

    def test_isolation_report_flags_a_broker_wide_incident(self):
        # The library decides it: at least 3 accounts, over half unhealthy.
        m = self.manager
        for i in range(3):
            m.register_account("user", "c%d" % i, "COINBASE")
        fail(m, "user", "c0", "COINBASE", 3)
        self.assertFalse(
            m.get_isolation_report()["brokers"]["COINBASE"]["incident"])
        fail(m, "user", "c1", "COINBASE", 3)
        self.assertTrue(
            m.get_isolation_report()["brokers"]["COINBASE"]["incident"])

    def test_all_account_statuses(self):
        m = self.manager
        m.register_account("platform", "platform", "KRAKEN")
        fail(m, "user", "user1", "KRAKEN", 3)
        statuses = m.get_all_account_statuses()
        self.assertEqual(set(statuses), {"platform/platform/KRAKEN",
                                         "user/user1/KRAKEN"})
        self.assertEqual(statuses["user/user1/KRAKEN"]["status"],
                         "quarantined")
        self.assertEqual(statuses["platform/platform/KRAKEN"]["status"],
                         "healthy")
        self.assertEqual(statuses["user/user1/KRAKEN"]["total_failures"], 3)
        self.assertEqual(statuses["user/user1/KRAKEN"]["account_id"], "user1")

    # 10
    def test_manual_reset(self):
        m = self.manager
        fail(m, "user", "testuser", "KRAKEN", 3)
        self.assertIs(m.get_account_status("user", "testuser", "KRAKEN")[0],
                      AccountHealthStatus.QUARANTINED)
        self.assertTrue(m.reset_account("user", "testuser", "KRAKEN"))
        status, metrics = m.get_account_status("user", "testuser", "KRAKEN")
        self.assertIs(status, AccountHealthStatus.HEALTHY)
        self.assertEqual(metrics["consecutive_failures"], 0)
        self.assertFalse(metrics["circuit_open"])
        # Statistics are kept.
        self.assertEqual(metrics["total_failures"], 3)
        self.assertEqual(m.can_execute_operation("user", "testuser",
                                                 "KRAKEN"), (True, "Healthy"))
        self.assertFalse(m.reset_account("user", "nobody", "KRAKEN"))

    # 11
    def test_multiple_brokers_per_user(self):
        m = self.manager
        m.register_account("user", "testuser", "KRAKEN")
        m.register_account("user", "testuser", "COINBASE")
        fail(m, "user", "testuser", "KRAKEN", 3)
        self.assertIs(m.get_account_status("user", "testuser", "KRAKEN")[0],
                      AccountHealthStatus.QUARANTINED)
        status, metrics = m.get_account_status("user", "testuser", "COINBASE")
        self.assertIs(status, AccountHealthStatus.HEALTHY)
        self.assertEqual(metrics["total_failures"], 0)
        self.assertTrue(m.can_execute_operation("user", "testuser",
                                                "COINBASE")[0])
        self.assertFalse(m.can_execute_operation("user", "testuser",
                                                 "KRAKEN")[0])


if __name__ == "__main__":
    unittest.main()
