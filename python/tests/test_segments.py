"""Segments from Python: private ones go away, shared ones are shared.

The two-process tests start a second Python interpreter (subprocess, so
nothing is inherited by fork) that imports the same isoreg and attaches the
same named segment.
"""

import gc
import os
import subprocess
import sys
import textwrap
import unittest

import _support
from isoreg import (AccountHealthStatus, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType, IsoregError,
                    get_isolation_manager, unlink_segment)
import isoreg.manager


def shm_exists(name: str) -> bool:
    return os.path.exists("/dev/shm" + name)


def run_child(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)]
                          + list(args), env=_support.child_env(),
                          capture_output=True, text=True, timeout=60)


class PrivateSegmentTests(unittest.TestCase):
    def test_private_segment_is_removed_on_close(self):
        m = AccountIsolationManager()
        name = m.segment
        self.assertTrue(m.owns_segment)
        self.assertTrue(shm_exists(name))
        m.register_account("user", "u", "KRAKEN")
        m.close()
        self.assertFalse(shm_exists(name))
        m.close()  # idempotent
        with self.assertRaises(ValueError):
            m.register_account("user", "u", "KRAKEN")

    def test_private_segment_is_removed_when_collected(self):
        m = AccountIsolationManager()
        name = m.segment
        del m
        gc.collect()
        self.assertFalse(shm_exists(name))

    def test_context_manager_and_private_segments_are_apart(self):
        with AccountIsolationManager() as a, AccountIsolationManager() as b:
            self.assertNotEqual(a.segment, b.segment)
            a.record_failure("user", "u", "KRAKEN", None,
                             FailureType.API_ERROR)
            self.assertEqual(b.get_account_status("user", "u", "KRAKEN"),
                             (AccountHealthStatus.HEALTHY, {}))
            name = a.segment
        self.assertFalse(shm_exists(name))


def _forked_child(m, n):
    # Runs in a multiprocessing child made by fork: it uses the manager it
    # inherited, then closes it, which must not remove the parent's
    # private segment.
    for i in range(n):
        m.record_failure("user", "u%d" % (i % 2), "KRAKEN", None,
                         FailureType.POSITION_ERROR)
    m.register_account("user", "from-child", "KRAKEN")
    m.close()


class ForkTests(unittest.TestCase):
    def test_forked_children_share_and_keep_the_private_segment(self):
        import multiprocessing
        ctx = multiprocessing.get_context("fork")
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=255)) as m:
            m.register_account("user", "u0", "KRAKEN")
            procs = [ctx.Process(target=_forked_child, args=(m, 40))
                     for _ in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join(60)
                self.assertEqual(p.exitcode, 0)
            self.assertTrue(shm_exists(m.segment))
            self.assertEqual(sorted(m.get_all_account_statuses()),
                             ["user/from-child/KRAKEN", "user/u0/KRAKEN",
                              "user/u1/KRAKEN"])
            for u in ("u0", "u1"):
                _, metrics = m.get_account_status("user", u, "KRAKEN")
                self.assertEqual(metrics["failure_breakdown"],
                                 {"position_error": 40})
            name = m.segment
        self.assertFalse(shm_exists(name))


class SharedSegmentTests(unittest.TestCase):
    def setUp(self):
        self.name = _support.unique_segment("shared")
        self.addCleanup(unlink_segment, self.name)

    def test_two_managers_share_a_named_segment(self):
        cfg = CircuitBreakerConfig(failure_threshold=2)
        a = AccountIsolationManager(cfg, segment=self.name)
        b = AccountIsolationManager(segment=self.name)
        self.assertFalse(a.owns_segment)
        a.record_failure("user", "u", "KRAKEN", None, FailureType.API_ERROR)
        a.record_failure("user", "u", "KRAKEN", None, FailureType.API_ERROR)
        self.assertIs(b.get_account_status("user", "u", "KRAKEN")[0],
                      AccountHealthStatus.QUARANTINED)
        self.assertFalse(b.can_execute_operation("user", "u", "KRAKEN")[0])
        a.close()
        # Closing a shared manager detaches only.
        self.assertTrue(shm_exists(self.name))
        self.assertEqual(b.get_isolation_report()["total_accounts"], 1)
        b.close()

    def test_read_only_viewer(self):
        with self.assertRaises(IsoregError) as cm:
            AccountIsolationManager(segment=self.name, read_only=True)
        self.assertEqual(cm.exception.code_name, "ISO_ENOENT")
        self.assertFalse(shm_exists(self.name))  # a viewer creates nothing
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=1), segment=self.name) as w, \
                AccountIsolationManager(segment=self.name,
                                        read_only=True) as r:
            w.record_failure("user", "u", "KRAKEN", None,
                             FailureType.API_ERROR)
            self.assertIs(r.get_account_status("user", "u", "KRAKEN")[0],
                          AccountHealthStatus.QUARANTINED)
            self.assertEqual(r.get_isolation_report()["quarantined_accounts"],
                             1)
            self.assertEqual(list(r.get_all_account_statuses()),
                             ["user/u/KRAKEN"])
            for write in (lambda: r.reset_account("user", "u", "KRAKEN"),
                          lambda: r.record_success("user", "u", "KRAKEN"),
                          lambda: r.register_account("user", "v", "KRAKEN")):
                with self.assertRaises(IsoregError) as cm:
                    write()
                self.assertEqual(cm.exception.code_name, "ISO_ERDONLY")
            self.assertIs(w.get_account_status("user", "u", "KRAKEN")[0],
                          AccountHealthStatus.QUARANTINED)
        with self.assertRaises(ValueError):
            AccountIsolationManager(read_only=True)

    def test_config_on_an_existing_segment_overrides_its_accounts(self):
        first = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=5), segment=self.name)
        self.addCleanup(first.close)
        strict = AccountIsolationManager(CircuitBreakerConfig(
            failure_threshold=1), segment=self.name)
        self.addCleanup(strict.close)
        strict.record_failure("user", "strict", "KRAKEN", None,
                              FailureType.API_ERROR)
        first.record_failure("user", "lenient", "KRAKEN", None,
                             FailureType.API_ERROR)
        self.assertIs(first.get_account_status("user", "strict", "KRAKEN")[0],
                      AccountHealthStatus.QUARANTINED)
        self.assertIs(first.get_account_status("user", "lenient",
                                               "KRAKEN")[0],
                      AccountHealthStatus.DEGRADED)

    def test_another_process_sees_the_quarantine(self):
        # The parent creates the segment with threshold 3; the child trips
        # an account through the Python API; the parent sees it quarantined
        # and the child's other account untouched.
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=3), segment=self.name) as m:
            m.register_account("user", "bystander", "KRAKEN")
            r = run_child("""
                import sys
                from isoreg import AccountIsolationManager, FailureType
                m = AccountIsolationManager(segment=sys.argv[1])
                for i in range(3):
                    m.record_failure("user", "user1", "KRAKEN",
                                     Exception("boom %d" % i),
                                     FailureType.EXECUTION_ERROR)
                m.record_success("user", "bystander", "KRAKEN", 5.0)
                ok, reason = m.can_execute_operation("user", "user1", "KRAKEN")
                print(ok, reason)
                m.close()
            """, self.name)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.startswith("False "), r.stdout)
            status, metrics = m.get_account_status("user", "user1", "KRAKEN")
            self.assertIs(status, AccountHealthStatus.QUARANTINED)
            self.assertEqual(metrics["failure_breakdown"],
                             {"execution_error": 3})
            ok, reason = m.can_execute_operation("user", "user1", "KRAKEN")
            self.assertFalse(ok)
            self.assertEqual(r.stdout.split(" ", 1)[1].split(" - ")[0],
                             reason.split(" - ")[0])
            status, metrics = m.get_account_status("user", "bystander",
                                                   "KRAKEN")
            self.assertIs(status, AccountHealthStatus.HEALTHY)
            self.assertEqual(metrics["total_successes"], 1)

            # And back: the parent resets, a new child sees it healthy.
            self.assertTrue(m.reset_account("user", "user1", "KRAKEN"))
            r = run_child("""
                import sys
                from isoreg import AccountIsolationManager
                m = AccountIsolationManager(segment=sys.argv[1])
                s, d = m.get_account_status("user", "user1", "KRAKEN")
                print(s.value, d["total_failures"],
                      m.can_execute_operation("user", "user1", "KRAKEN")[0])
            """, self.name)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["healthy", "3", "True"])

    def test_two_processes_count_exactly(self):
        # [R5] through Python: two processes, 500 outcomes each, one account.
        code = """
            import sys
            from isoreg import AccountIsolationManager, FailureType
            m = AccountIsolationManager(segment=sys.argv[1])
            for i in range(500):
                if i % 5 == 0:
                    m.record_failure("user", "shared", "KRAKEN", None,
                                     FailureType.NETWORK_ERROR)
                else:
                    m.record_success("user", "shared", "KRAKEN")
        """
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=255), segment=self.name) as m:
            procs = [subprocess.Popen([sys.executable, "-c",
                                       textwrap.dedent(code), self.name],
                                      env=_support.child_env())
                     for _ in range(2)]
            for p in procs:
                self.assertEqual(p.wait(timeout=60), 0)
            _, metrics = m.get_account_status("user", "shared", "KRAKEN")
            self.assertEqual(metrics["total_operations"], 1000)
            self.assertEqual(metrics["failure_breakdown"],
                             {"network_error": 200})


class SingletonTests(unittest.TestCase):
    def test_get_isolation_manager_is_one_per_process_on_the_default(self):
        name = _support.unique_segment("default")
        old_env = os.environ.get("ISOREG_SEGMENT")
        old_singleton = isoreg.manager._singleton
        os.environ["ISOREG_SEGMENT"] = name
        isoreg.manager._singleton = None
        try:
            m = get_isolation_manager()
            self.assertIs(get_isolation_manager(), m)
            self.assertEqual(m.segment, name)
            self.assertFalse(m.owns_segment)
            m.register_account("platform", "platform", "KRAKEN")
            self.assertTrue(shm_exists(name))
            m.close()
            # A closed singleton is replaced, on the same segment.
            m2 = get_isolation_manager()
            self.assertIsNot(m2, m)
            self.assertEqual(m2.get_isolation_report()["total_accounts"], 1)
            m2.close()
        finally:
            isoreg.manager._singleton = old_singleton
            if old_env is None:
                del os.environ["ISOREG_SEGMENT"]
            else:
                os.environ["ISOREG_SEGMENT"] = old_env
            unlink_segment(name)


class ErrorTests(unittest.TestCase):
    def setUp(self):
        self.m = AccountIsolationManager()
        self.addCleanup(self.m.close)

    def test_bad_keys_are_value_errors_naming_the_field(self):
        cases = [(("", "u", "KRAKEN"), "type"),
                 (("user", "a/b", "KRAKEN"), "id"),
                 (("user", "u", "K" * 16), "broker"),
                 (("user", "x" * 64, "KRAKEN"), "id"),
                 (("user", "with space", "KRAKEN"), "id"),
                 (("user", "caf\u00e9", "KRAKEN"), "id")]
        for key, field in cases:
            with self.subTest(key=key):
                with self.assertRaises(ValueError) as cm:
                    self.m.register_account(*key)
                self.assertIn(field, str(cm.exception))
        with self.assertRaises(ValueError):
            self.m.can_execute_operation("user", "", "KRAKEN")
        self.assertEqual(self.m.get_isolation_report()["total_accounts"], 0)

    def test_bad_config_is_a_value_error_naming_the_field(self):
        for kw, field in [({"failure_threshold": 0}, "failure_threshold"),
                          ({"success_threshold": 256}, "success_threshold"),
                          ({"half_open_max_calls": 0}, "half_open_max_calls"),
                          ({"timeout_seconds": 0}, "timeout"),
                          ({"timeout_seconds": "soon"}, "timeout_seconds")]:
            with self.subTest(**kw):
                with self.assertRaises(ValueError) as cm:
                    AccountIsolationManager(CircuitBreakerConfig(**kw))
                self.assertIn(field, str(cm.exception))

    def test_bad_failure_type_is_a_value_error(self):
        with self.assertRaises(ValueError) as cm:
            self.m.record_failure("user", "u", "KRAKEN", None, "meteor")
        self.assertIn("meteor", str(cm.exception))

    def test_full_segment_is_an_isoreg_error(self):
        with AccountIsolationManager(capacity=2) as small:
            small.register_account("user", "a", "KRAKEN")
            small.register_account("user", "b", "KRAKEN")
            with self.assertRaises(IsoregError) as cm:
                small.register_account("user", "c", "KRAKEN")
            self.assertEqual(cm.exception.code_name, "ISO_EFULL")
            self.assertIsInstance(cm.exception, OSError)
            # Nothing else disturbed [R4].
            small.record_success("user", "a", "KRAKEN")
            self.assertEqual(small.get_isolation_report()["total_accounts"],
                             2)


if __name__ == "__main__":
    unittest.main()
