"""Operator calls act only on accounts that exist (issue 13, item 5).

halt_account, configure_account and release_account on a key nobody
registered raise UnknownAccountError (a KeyError) and register nothing: a
mistyped key must not create and halt an empty account while the real one
keeps trading. reset_account keeps the reference's answer, False.
"""

import os
import subprocess
import unittest

import _support
from isoreg import (AccountHealthStatus, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType, UnknownAccountError,
                    unlink_segment)
from isoreg import _native as N

ACCT = ("user", "user1", "KRAKEN")


class UnknownAccountTests(unittest.TestCase):
    def setUp(self):
        self.m = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=2))
        self.addCleanup(self.m.close)

    def total(self):
        return self.m.get_isolation_report()["total_accounts"]

    def test_operator_calls_refuse_an_unknown_account(self):
        calls = [("halt_account", lambda k: self.m.halt_account(*k)),
                 ("configure_account", lambda k: self.m.configure_account(
                     *k, CircuitBreakerConfig(failure_threshold=1))),
                 ("configure_account", lambda k: self.m.configure_account(
                     *k, None)),
                 ("release_account", lambda k: self.m.release_account(*k))]
        for name, call in calls:
            with self.subTest(call=name):
                with self.assertRaises(UnknownAccountError) as cm:
                    call(("User", "Ghost", "kraken"))
                e = cm.exception
                self.assertIsInstance(e, KeyError)
                text = str(e)
                self.assertIn(name, text)
                # The key as the library spells it, and the segment.
                self.assertIn("user/ghost/KRAKEN", text)
                self.assertIn(self.m.segment, text)
                self.assertIn("nothing registered", text)
        self.assertEqual(self.total(), 0)
        self.assertEqual(self.m.get_all_account_statuses(), {})

    def test_a_mistyped_halt_leaves_the_real_account_trading(self):
        self.m.register_account(*ACCT)
        with self.assertRaises(KeyError):
            self.m.halt_account("user", "usr1", "KRAKEN")
        self.assertEqual(self.m.can_execute_operation(*ACCT),
                         (True, "Healthy"))
        self.assertEqual(self.total(), 1)

    def test_known_accounts_are_halted_configured_and_released(self):
        self.m.register_account(*ACCT)
        self.m.halt_account("USER", "User1", "kraken")  # any spelling
        ok, reason = self.m.can_execute_operation(*ACCT)
        self.assertFalse(ok)
        self.assertEqual(self.m.get_account_status(*ACCT)[1]
                         ["breaker_state"],
                         N.breaker_state_name(N.ISO_BREAKER_FORCED_OPEN))
        self.assertTrue(self.m.release_account(*ACCT))
        self.assertEqual(self.m.can_execute_operation(*ACCT),
                         (True, "Healthy"))
        # Releasing what is not halted changes nothing.
        self.assertFalse(self.m.release_account(*ACCT))
        self.m.configure_account(*ACCT, CircuitBreakerConfig(
            failure_threshold=1))
        self.m.record_failure(*ACCT, None, FailureType.API_ERROR)
        self.assertIs(self.m.get_account_status(*ACCT)[0],
                      AccountHealthStatus.QUARANTINED)

    def test_release_lifts_a_halt_only(self):
        # An account its own failures tripped stays quarantined: release is
        # for an operator's halt; reset_account forces a breaker closed.
        for _ in range(2):
            self.m.record_failure(*ACCT, None, FailureType.API_ERROR)
        self.assertFalse(self.m.release_account(*ACCT))
        self.assertIs(self.m.get_account_status(*ACCT)[0],
                      AccountHealthStatus.QUARANTINED)
        self.assertTrue(self.m.reset_account(*ACCT))
        self.assertIs(self.m.get_account_status(*ACCT)[0],
                      AccountHealthStatus.HEALTHY)

    def test_operator_reasons_are_checked(self):
        self.m.register_account(*ACCT)
        with self.assertRaises(ValueError) as cm:
            self.m.halt_account(*ACCT, reason="x" * 201)
        self.assertIn("reason", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            self.m.halt_account(*ACCT, reason="rotating\0 keys")
        self.assertIn("NUL", str(cm.exception))
        with self.assertRaises(TypeError):
            self.m.release_account(*ACCT, reason=42)
        self.assertTrue(self.m.can_execute_operation(*ACCT)[0])
        self.m.halt_account(*ACCT, reason="key leaked")
        self.m.halt_account(*ACCT)  # halting a halted account: no error
        self.assertFalse(self.m.can_execute_operation(*ACCT)[0])
        self.assertTrue(self.m.release_account(*ACCT, reason="rotated"))

    def test_operator_actions_are_attributed_events(self):
        # [R8]: halt and release from Python are events of their own with
        # this process's pid and the reason, as isoctl's are.
        isoctl = os.path.join(os.path.dirname(N.LIB_PATH), "bin", "isoctl")
        if not os.access(isoctl, os.X_OK):
            self.skipTest("no isoctl beside %s (make tools)" % N.LIB_PATH)
        name = _support.unique_segment("events")
        self.addCleanup(unlink_segment, name)
        with AccountIsolationManager(segment=name) as m:
            m.register_account(*ACCT)
            m.halt_account(*ACCT, reason="key leaked")
            m.release_account(*ACCT, reason="rotated")
            out = subprocess.run([isoctl, "events", "--segment", name],
                                 capture_output=True, text=True,
                                 timeout=60).stdout
        lines = [ln for ln in out.splitlines() if "user/user1/KRAKEN" in ln]
        self.assertEqual(len(lines), 2, out)
        pid = "pid %d" % os.getpid()
        self.assertIn("force_open", lines[0])
        self.assertIn('"key leaked"', lines[0])
        self.assertIn(pid, lines[0])
        self.assertIn("release", lines[1])
        self.assertIn('"rotated"', lines[1])
        self.assertIn(pid, lines[1])

    def test_reset_of_an_unknown_account_is_false_and_registers_nothing(self):
        self.assertFalse(self.m.reset_account("user", "ghost", "KRAKEN"))
        self.assertFalse(self.m.retire_account("user", "ghost", "KRAKEN"))
        self.assertEqual(self.total(), 0)

    def test_an_account_retired_elsewhere_is_unknown_not_reregistered(self):
        name = _support.unique_segment("operators")
        self.addCleanup(unlink_segment, name)
        with AccountIsolationManager(segment=name) as a, \
                AccountIsolationManager(segment=name) as b:
            a.register_account(*ACCT)
            a.record_success(*ACCT)  # a's handle is cached now
            self.assertTrue(b.retire_account(*ACCT))
            # a's cached handle is stale: the halt must not register the
            # account again to have something to halt.
            with self.assertRaises(UnknownAccountError):
                a.halt_account(*ACCT)
            self.assertEqual(a.get_isolation_report()["total_accounts"], 0)
            # The reference's calls still register, as the reference does.
            self.assertEqual(a.can_execute_operation(*ACCT),
                             (True, "Healthy"))
            self.assertEqual(b.get_isolation_report()["total_accounts"], 1)


if __name__ == "__main__":
    unittest.main()


class BrokerAndBulkTests(unittest.TestCase):
    """Broker-wide and bulk halts from Python (issue 13, item 8)."""

    def setUp(self):
        self.m = AccountIsolationManager()
        self.addCleanup(self.m.close)

    def test_broker_halt_covers_later_accounts_and_releases(self):
        self.m.register_account("user", "k1", "KRAKEN")
        self.m.register_account("user", "c1", "COINBASE")
        self.assertTrue(self.m.halt_broker("kraken", reason="outage"))
        self.assertFalse(self.m.halt_broker("KRAKEN"), "already halted")
        self.assertEqual(self.m.halted_brokers(), ["KRAKEN"])
        ok, why = self.m.can_execute_operation("user", "k1", "KRAKEN")
        self.assertFalse(ok)
        self.assertIn("Halted", why)
        self.m.register_account("user", "k2", "KRAKEN")
        self.assertFalse(self.m.can_execute_operation("user", "k2", "KRAKEN")[0],
                         "an account registered during the halt trades")
        self.assertTrue(self.m.can_execute_operation("user", "c1", "COINBASE")[0])
        status, d = self.m.get_account_status("user", "k2", "KRAKEN")
        self.assertTrue(d["broker_halted"])
        self.assertEqual(status, AccountHealthStatus.QUARANTINED)
        self.assertTrue(self.m.release_broker("KRAKEN"))
        self.assertFalse(self.m.release_broker("KRAKEN"), "not halted")
        self.assertEqual(self.m.halted_brokers(), [])
        self.assertTrue(self.m.can_execute_operation("user", "k1", "KRAKEN")[0])

    def test_bulk_halt_is_all_or_nothing(self):
        keys = [("user", "a", "KRAKEN"), ("user", "b", "KRAKEN")]
        for k in keys:
            self.m.register_account(*k)
        with self.assertRaises(UnknownAccountError):
            self.m.halt_accounts(keys + [("user", "ghost", "KRAKEN")])
        for k in keys:
            self.assertTrue(self.m.can_execute_operation(*k)[0],
                            "halted although the batch was refused")
        self.m.halt_accounts(keys, reason="maintenance")
        for k in keys:
            self.assertFalse(self.m.can_execute_operation(*k)[0])

    def test_a_replaced_segment_is_followed(self):
        name = "/isoreg-pyt-follow-%d" % os.getpid()
        unlink_segment(name) if os.path.exists("/dev/shm" + name) else None
        m = AccountIsolationManager(segment=name, capacity=64)
        self.addCleanup(lambda: unlink_segment(name)
                        if os.path.exists("/dev/shm" + name) else None)
        self.addCleanup(m.close)
        m.register_account("user", "u1", "KRAKEN")
        self.assertFalse(m.check_segment())
        # An operator replaces it (the old one is kept mapped here).
        unlink_segment(name)
        other = AccountIsolationManager(segment=name, capacity=64)
        other.register_account("user", "fresh", "KRAKEN")
        self.assertTrue(m.check_segment(), "the replacement went unnoticed")
        m.record_success("user", "u1", "KRAKEN")
        names = {s["account_id"] for s in
                 other.get_all_account_statuses().values()}
        self.assertIn("u1", names, "the manager still writes to the orphan")
        other.close()
