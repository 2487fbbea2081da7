"""A request budget per account, shared by every process [B9] (issue 16).

CircuitBreakerConfig takes rate_per_s (fractions allowed) and burst; a
spent budget answers can_execute_operation with (False, "Rate limited -
retry in N ms"), counts the refusal in the status, and never feeds the
breaker.
"""

import re
import unittest

import _support  # noqa: F401 (sets up the import path and the library)
from isoreg import AccountIsolationManager, CircuitBreakerConfig

ACCT = ("user", "budget1", "BINANCE")


class BudgetTests(unittest.TestCase):
    def setUp(self):
        # 0.5 calls a second: a unit every 2 s, so the test's own pace
        # cannot refill it between the calls below.
        self.m = AccountIsolationManager(CircuitBreakerConfig(
            rate_per_s=0.5, burst=2))
        self.addCleanup(self.m.close)
        self.m.register_account(*ACCT)

    def test_spent_budget_refuses_with_the_reason_and_a_retry_time(self):
        self.assertEqual(self.m.can_execute_operation(*ACCT),
                         (True, "Healthy"))
        self.assertEqual(self.m.can_execute_operation(*ACCT),
                         (True, "Healthy"))
        ok, why = self.m.can_execute_operation(*ACCT)
        self.assertFalse(ok)
        m = re.fullmatch(r"Rate limited - retry in (\d+) ms", why)
        self.assertIsNotNone(m, why)
        self.assertTrue(0 < int(m.group(1)) <= 2000, why)
        _, st = self.m.get_account_status(*ACCT)
        self.assertEqual(st["budget_refusals"], 1)
        self.assertEqual(st["total_failures"], 0)
        self.assertEqual(st["status"], "healthy")
        self.assertLess(st["budget_available"], 1.0)

    def test_accounts_without_a_budget_say_none(self):
        m = AccountIsolationManager(CircuitBreakerConfig())
        self.addCleanup(m.close)
        m.register_account(*ACCT)
        _, st = m.get_account_status(*ACCT)
        self.assertIsNone(st["budget_available"])
        self.assertEqual(st["budget_refusals"], 0)

    def test_bad_budget_values_name_the_field(self):
        for kw, field in ((dict(rate_per_s=-1), "rate_per_s"),
                          (dict(rate_per_s="fast"), "rate_per_s"),
                          (dict(rate_per_s=1, burst=10**7), "burst"),
                          (dict(burst=3), "burst")):
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    CircuitBreakerConfig(**kw).to_c()
                self.assertIn(field, str(cm.exception))

    def test_config_round_trips_through_the_library(self):
        c = CircuitBreakerConfig(rate_per_s=0.33, burst=15).to_c()
        self.assertAlmostEqual(c[10], 0.33)
        self.assertEqual(c[11], 15)


if __name__ == "__main__":
    unittest.main()
