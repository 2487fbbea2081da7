"""guard() and @guarded: asked, timed, classified, recorded, re-raised."""

import asyncio
import time
import unittest
import urllib.error
from email.utils import formatdate

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import (AccountBlockedError, AccountHealthStatus,
                    AccountIsolationManager, CircuitBreakerConfig,
                    FailureType, guarded)
from isoreg.testing import ManualClock

ACCT = ("user", "user1", "KRAKEN")


def http_error(code, headers=None):
    return urllib.error.HTTPError("https://api.example/x", code, "err",
                                  headers or {}, None)


class GuardTests(unittest.TestCase):
    def setUp(self):
        self.m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=2, success_threshold=1, timeout_seconds=5))
        self.addCleanup(self.m.close)

    def metrics(self, acct=ACCT):
        return self.m.get_account_status(*acct)[1]

    def test_success_is_recorded_and_timed(self):
        with self.m.guard(*ACCT) as g:
            self.assertEqual(g.reason, "Healthy")
            self.assertIs(g.status, AccountHealthStatus.HEALTHY)
            time.sleep(0.002)
        md = self.metrics()
        self.assertEqual(md["total_successes"], 1)
        self.assertEqual(md["total_failures"], 0)
        # perf_counter_ns measured at least the sleep.
        self.assertGreaterEqual(md["average_operation_time_ms"], 2.0)

    def test_exception_is_classified_recorded_and_reraised(self):
        with self.assertRaises(ConnectionResetError):
            with self.m.guard(*ACCT):
                raise ConnectionResetError("peer reset")
        md = self.metrics()
        self.assertEqual(md["failure_breakdown"], {"network_error": 1})
        self.assertEqual(md["total_successes"], 0)

    def test_refusal_raises_account_blocked_error(self):
        for _ in range(2):
            with self.assertRaises(http_error(401).__class__):
                with self.m.guard(*ACCT):
                    raise http_error(401)
        self.assertEqual(self.metrics()["failure_breakdown"],
                         {"authentication_error": 2})
        ran = []
        with self.assertRaises(AccountBlockedError) as cm:
            with self.m.guard(*ACCT):
                ran.append(1)
        self.assertEqual(ran, [])
        e = cm.exception
        self.assertEqual(e.account, "user/user1/KRAKEN")
        self.assertIs(e.status, AccountHealthStatus.QUARANTINED)
        ok, reason = self.m.can_execute_operation(*ACCT)
        self.assertFalse(ok)
        self.assertEqual(e.reason.split(" - ")[0], reason.split(" - ")[0])
        self.assertGreater(e.retry_in, 0)
        self.assertLessEqual(e.retry_in, 5)
        # Refusals are not outcomes.
        self.assertEqual(self.metrics()["total_operations"], 2)

    def test_other_accounts_run_while_one_is_blocked(self):
        # An operator halts only a known account (issue 13): register first.
        self.m.register_account(*ACCT)
        self.m.halt_account(*ACCT)
        with self.assertRaises(AccountBlockedError):
            with self.m.guard(*ACCT):
                pass
        with self.m.guard("user", "user2", "KRAKEN"):
            pass
        self.assertEqual(self.metrics(("user", "user2", "KRAKEN"))
                         ["total_successes"], 1)

    def test_rate_limit_retry_after_keeps_the_breaker_open(self):
        # [M2]: a 429 with Retry-After: 60 trips the breaker (threshold 2)
        # and holds it open 60 s, past the 5 s open time.
        with ManualClock() as clock:
            for _ in range(2):
                with self.assertRaises(urllib.error.HTTPError):
                    with self.m.guard(*ACCT):
                        raise http_error(429, {"Retry-After": "60"})
            self.assertEqual(self.metrics()["failure_breakdown"],
                             {"rate_limit_error": 2})
            clock.advance(30)
            self.assertFalse(self.m.can_execute_operation(*ACCT)[0])
            clock.advance(31)
            self.assertTrue(self.m.can_execute_operation(*ACCT)[0])

    def test_rate_limit_retry_after_as_http_date(self):
        with ManualClock() as clock:
            when = formatdate(time.time() + 120, usegmt=True)
            for _ in range(2):
                with self.assertRaises(urllib.error.HTTPError):
                    with self.m.guard(*ACCT):
                        raise http_error(429, {"Retry-After": when})
            clock.advance(60)
            self.assertFalse(self.m.can_execute_operation(*ACCT)[0])
            clock.advance(70)
            self.assertTrue(self.m.can_execute_operation(*ACCT)[0])

    def test_probe_permit_is_returned_by_the_guard(self):
        # With half_open_max_calls=1 a probe that failed must free its slot:
        # the guard records with the permit it took.
        with ManualClock() as clock:
            for _ in range(2):
                self.m.record_failure(*ACCT, None, FailureType.API_ERROR)
            clock.advance(6)
            with self.m.guard(*ACCT) as g:
                self.assertEqual(g.reason, "Recovery attempt")
                self.assertIs(g.status, AccountHealthStatus.RECOVERING)
            self.assertIs(self.m.get_account_status(*ACCT)[0],
                          AccountHealthStatus.HEALTHY)

    def test_base_exception_records_an_unknown_failure(self):
        with self.assertRaises(KeyboardInterrupt):
            with self.m.guard(*ACCT):
                raise KeyboardInterrupt
        self.assertEqual(self.metrics()["failure_breakdown"],
                         {"unknown_error": 1})

    def test_fail_records_without_raising(self):
        with self.m.guard(*ACCT) as g:
            g.fail(FailureType.BALANCE_ERROR)
        with self.m.guard(*ACCT) as g:
            g.fail(error=Exception("EOrder:Insufficient funds"))
        md = self.metrics()
        self.assertEqual(md["failure_breakdown"], {"balance_error": 2})
        self.assertEqual(md["total_successes"], 0)

    def test_custom_classifier(self):
        class OrderRejected(Exception):
            pass

        def classify(exc):
            if isinstance(exc, OrderRejected):
                return FailureType.EXECUTION_ERROR
            return FailureType.UNKNOWN_ERROR, None

        with self.assertRaises(OrderRejected):
            with self.m.guard(*ACCT, classify=classify):
                raise OrderRejected("post-only would cross")
        self.assertEqual(self.metrics()["failure_breakdown"],
                         {"execution_error": 1})

    def test_guarded_decorator(self):
        calls = []

        @guarded(*ACCT, manager=self.m)
        def place_order(size):
            calls.append(size)
            if size > 10:
                raise RuntimeError("EOrder:Insufficient funds")
            return "ok-%d" % size

        self.assertEqual(place_order(1), "ok-1")
        self.assertEqual(place_order.__name__, "place_order")
        for _ in range(2):
            with self.assertRaises(RuntimeError):
                place_order(99)
        with self.assertRaises(AccountBlockedError):
            place_order(2)
        self.assertEqual(calls, [1, 99, 99])
        md = self.metrics()
        self.assertEqual(md["total_successes"], 1)
        self.assertEqual(md["failure_breakdown"], {"balance_error": 2})

    def test_manager_guarded_and_async_functions(self):
        @self.m.guarded(*ACCT)
        async def fetch(fail):
            await asyncio.sleep(0)
            if fail:
                raise asyncio.TimeoutError()
            return 42

        self.assertEqual(asyncio.run(fetch(False)), 42)
        with self.assertRaises(asyncio.TimeoutError):
            asyncio.run(fetch(True))
        md = self.metrics()
        self.assertEqual(md["total_successes"], 1)
        self.assertEqual(md["failure_breakdown"], {"network_error": 1})

    def test_async_with(self):
        async def main():
            async with self.m.guard(*ACCT):
                await asyncio.sleep(0)
        asyncio.run(main())
        self.assertEqual(self.metrics()["total_successes"], 1)


if __name__ == "__main__":
    unittest.main()
