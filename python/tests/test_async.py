"""asyncio: `async with manager.guard(...)` and async @guarded (issue 17).

Traders built on asyncio exchange clients run many operations at once on
one event loop. Each guard holds its own permit, so concurrent tasks never
mix their outcomes, and a task cancelled inside the guard (wait_for timing
out, a shutdown) gives its probe permit back at once.
"""

import asyncio
import inspect
import unittest

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import (AccountBlockedError, AccountHealthStatus,
                    AccountIsolationManager, CircuitBreakerConfig,
                    FailureType, guarded)
from isoreg.testing import ManualClock

ACCT = ("user", "async1", "KRAKEN")


class RateLimitExceeded(Exception):
    """Named like ccxt's: classified by class name."""


class AsyncGuardTests(unittest.TestCase):
    def setUp(self):
        self.m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=2, success_threshold=2, timeout_seconds=5,
            half_open_max_calls=1))
        self.addCleanup(self.m.close)

    def metrics(self, acct=ACCT):
        return self.m.get_account_status(*acct)[1]

    def trip(self, clock):
        for _ in range(2):
            self.m.record_failure(*ACCT, None, FailureType.API_ERROR)
        clock.advance(6)  # past the open time: the next guard is a probe

    def test_concurrent_tasks_each_record_their_own_outcome(self):
        async def op(i):
            async with self.m.guard(*ACCT):
                await asyncio.sleep(0.001 * (i % 3))
                if i % 5 == 0:
                    raise ConnectionResetError("peer reset")
            return i

        async def main():
            return await asyncio.gather(*(op(i) for i in range(40)),
                                        return_exceptions=True)

        m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=255))
        self.addCleanup(m.close)
        self.m = m
        results = asyncio.run(main())
        self.assertEqual(sum(isinstance(r, ConnectionResetError)
                             for r in results), 8)
        md = self.metrics()
        self.assertEqual(md["total_successes"], 32)
        self.assertEqual(md["failure_breakdown"], {"network_error": 8})

    def test_a_refusal_raises_before_the_body(self):
        self.m.register_account(*ACCT)
        self.m.halt_account(*ACCT)
        ran = []

        async def main():
            async with self.m.guard(*ACCT):
                ran.append(1)

        with self.assertRaises(AccountBlockedError) as cm:
            asyncio.run(main())
        self.assertEqual(ran, [])
        self.assertIs(cm.exception.status, AccountHealthStatus.QUARANTINED)
        self.assertEqual(self.metrics()["total_operations"], 0)

    def test_a_cancelled_probe_gives_its_permit_back(self):
        # One probe permit (half_open_max_calls=1). A task holding it is
        # cancelled by wait_for: the guard records an UNKNOWN failure with
        # the permit, which frees it; without that the next probe would be
        # refused ("probe permits all in use") until probe_timeout.
        with ManualClock() as clock:
            self.trip(clock)

            async def slow():
                async with self.m.guard(*ACCT) as g:
                    self.assertEqual(g.reason, "Recovery attempt")
                    await asyncio.sleep(10)

            async def main():
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(slow(), 0.01)

            asyncio.run(main())
            md = self.metrics()
            self.assertEqual(md["failure_breakdown"],
                             {"api_error": 2, "unknown_error": 1})
            self.assertEqual(md["probes_in_flight"], 0)
            # The failed probe reopened the breaker (FAILING); after the
            # backed-off open time a probe is allowed again at once.
            self.assertIs(self.m.get_account_status(*ACCT)[0],
                          AccountHealthStatus.FAILING)
            clock.advance(11)
            ok, reason = self.m.can_execute_operation(*ACCT)
            self.assertTrue(ok, reason)

    def test_two_tasks_probe_with_their_own_permits(self):
        m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=2, success_threshold=2, timeout_seconds=5,
            half_open_max_calls=2))
        self.addCleanup(m.close)
        with ManualClock() as clock:
            for _ in range(2):
                m.record_failure(*ACCT, None, FailureType.API_ERROR)
            clock.advance(6)
            both_in = asyncio.Event()
            inside = []

            async def probe():
                async with m.guard(*ACCT) as g:
                    inside.append(g.reason)
                    if len(inside) == 2:
                        both_in.set()
                    await both_in.wait()

            async def main():
                await asyncio.gather(probe(), probe())

            asyncio.run(main())
            self.assertEqual(len(inside), 2)
            _, md = m.get_account_status(*ACCT)
            self.assertEqual(md["probes_in_flight"], 0)
            self.assertIs(m.get_account_status(*ACCT)[0],
                          AccountHealthStatus.HEALTHY)

    def test_async_decorator(self):
        calls = []

        @guarded(*ACCT, manager=self.m)
        async def fetch_balance(fail):
            calls.append(fail)
            await asyncio.sleep(0)
            if fail:
                raise RateLimitExceeded("kraken: slow down")
            return 1250.0

        self.assertTrue(inspect.iscoroutinefunction(fetch_balance))
        self.assertEqual(fetch_balance.__name__, "fetch_balance")
        self.assertEqual(asyncio.run(fetch_balance(False)), 1250.0)
        for _ in range(2):
            with self.assertRaises(RateLimitExceeded):
                asyncio.run(fetch_balance(True))
        with self.assertRaises(AccountBlockedError) as cm:
            asyncio.run(fetch_balance(False))
        self.assertEqual(calls, [False, True, True])
        self.assertEqual(cm.exception.account, "user/async1/KRAKEN")
        md = self.metrics()
        self.assertEqual(md["total_successes"], 1)
        self.assertEqual(md["failure_breakdown"], {"rate_limit_error": 2})

    def test_the_decorator_makes_a_guard_per_call(self):
        # Two overlapping calls of one decorated coroutine: both outcomes
        # are recorded (one guard object per call, not per function).
        gate = asyncio.Event

        @self.m.guarded(*ACCT)
        async def op(ev, fail):
            await ev.wait()
            if fail:
                raise TimeoutError("read timed out")

        async def main():
            ev = gate()
            t1 = asyncio.create_task(op(ev, False))
            t2 = asyncio.create_task(op(ev, True))
            await asyncio.sleep(0)
            ev.set()
            return await asyncio.gather(t1, t2, return_exceptions=True)

        r = asyncio.run(main())
        self.assertIsNone(r[0])
        self.assertIsInstance(r[1], TimeoutError)
        md = self.metrics()
        self.assertEqual(md["total_successes"], 1)
        self.assertEqual(md["failure_breakdown"], {"network_error": 1})


if __name__ == "__main__":
    unittest.main()
