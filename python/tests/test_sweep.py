"""Private segments of killed processes are swept (issue 13, item 10).

AccountIsolationManager() names its private segment
/isoreg-py-<pid namespace>-<pid>-<start time>-<n>-<random>. A process
killed with SIGKILL never removes it; the next process that makes a
private segment (or sweep_private_segments()) removes it once its creator
is verifiably dead: no such pid, or the pid now runs a process with another
start time. Names of another pattern, another uid, another pid namespace,
or anything that is not a regular file are left alone [R7].
"""

import os
import signal
import subprocess
import sys
import textwrap
import unittest

import _support
from isoreg import AccountIsolationManager, sweep_private_segments
from isoreg import manager as M

SHM = "/dev/shm"


def child(test: unittest.TestCase, code: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)],
                         env=_support.child_env(), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    test.addCleanup(p.stdout.close)
    test.addCleanup(p.stdin.close)
    return p


MAKE_AND_DIE = """
    import os, signal
    from isoreg import AccountIsolationManager
    m = AccountIsolationManager()
    m.register_account("user", "u", "KRAKEN")
    print(m.segment, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""

MAKE_AND_WAIT = """
    import sys
    from isoreg import AccountIsolationManager
    m = AccountIsolationManager()
    print(m.segment, flush=True)
    sys.stdin.readline()
"""


def dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def plant(name: str) -> str:
    path = os.path.join(SHM, name)
    with open(path, "wb") as f:
        f.write(b"\0" * 64)
    return path


class SweepTests(unittest.TestCase):
    def setUp(self):
        if M._MY_NS is None:
            self.skipTest("no /proc/self/ns/pid: private segments cannot "
                          "be attributed, so nothing is swept")
        self.planted = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for p in self.planted:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def name(self, pid, start, ns=None, tail="0-0123abcd"):
        return "isoreg-py-%d-%d-%d-%s" % (M._MY_NS if ns is None else ns,
                                         pid, start, tail)

    def test_a_killed_processs_segment_is_swept(self):
        p = child(self, MAKE_AND_DIE)
        seg = p.stdout.readline().strip()
        self.assertEqual(p.wait(timeout=60), -signal.SIGKILL)
        self.planted.append(SHM + seg)
        self.assertRegex(seg, r"^/isoreg-py-\d+-%d-\d+-\d+-[0-9a-f]{8}$"
                         % p.pid)
        self.assertTrue(os.path.exists(SHM + seg))
        # (Another test run on the machine may sweep it first: what matters
        # is that it is gone.)
        sweep_private_segments()
        self.assertFalse(os.path.exists(SHM + seg))

    def test_the_next_private_manager_sweeps(self):
        p = child(self, MAKE_AND_DIE)
        seg = p.stdout.readline().strip()
        p.wait(timeout=60)
        self.planted.append(SHM + seg)
        self.assertTrue(os.path.exists(SHM + seg))
        r = subprocess.run([sys.executable, "-c",
                            "from isoreg import AccountIsolationManager\n"
                            "AccountIsolationManager().close()"],
                           env=_support.child_env(), timeout=60)
        self.assertEqual(r.returncode, 0)
        self.assertFalse(os.path.exists(SHM + seg))

    def test_a_live_processs_segment_is_kept(self):
        p = child(self, MAKE_AND_WAIT)
        seg = p.stdout.readline().strip()
        try:
            self.assertNotIn(seg, sweep_private_segments())
            self.assertTrue(os.path.exists(SHM + seg))
        finally:
            p.stdin.write("\n")
            p.stdin.flush()
            self.assertEqual(p.wait(timeout=60), 0)
        # It removed its own on the way out.
        self.assertFalse(os.path.exists(SHM + seg))

    def test_a_reused_pid_does_not_keep_a_segment(self):
        # This process is alive, but did not start at tick 1: the segment's
        # creator is gone and its pid reused.
        path = plant(self.name(os.getpid(), 1))
        self.planted.append(path)
        sweep_private_segments()
        self.assertFalse(os.path.exists(path))

    def test_only_our_own_kind_is_swept(self):
        pid = dead_pid()
        keep = [
            plant("isoreg-py-%d-0-0123abcd" % pid),          # old pattern
            plant(self.name(pid, 5, ns=M._MY_NS + 1)),       # other pid ns
            plant(self.name(pid, 5, tail="0-nothex!!")),     # not ours
            plant(self.name(pid, 5) + ".tmp"),               # not ours
        ]
        d = os.path.join(SHM, self.name(pid, 6))
        os.mkdir(d)                                          # not a file
        self.addCleanup(os.rmdir, d)
        link = os.path.join(SHM, self.name(pid, 7))
        os.symlink(keep[0], link)                            # not a file
        keep.append(link)
        if os.getuid() == 0:
            other = plant(self.name(pid, 8))                 # another uid
            os.chown(other, 4242, 4242)
            keep.append(other)
        self.planted += keep
        gone = plant(self.name(pid, 9))
        self.planted.append(gone)
        swept = sweep_private_segments()
        self.assertFalse(os.path.exists(gone))
        for path in keep:
            self.assertNotIn("/" + os.path.basename(path), swept)
            with self.subTest(path=path):
                self.assertTrue(os.path.lexists(path))
        self.assertTrue(os.path.isdir(d))

    def test_this_processs_own_private_segment_is_kept(self):
        with AccountIsolationManager() as m:
            self.assertNotIn(m.segment, sweep_private_segments())
            self.assertTrue(os.path.exists(SHM + m.segment))


if __name__ == "__main__":
    unittest.main()
