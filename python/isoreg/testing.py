"""Test helpers: a clock the test moves by hand.

The library reads a monotonic clock for every time-based transition
(open -> half-open after timeout_seconds, lost probes, back-off). A test
that installs ManualClock moves that time with advance() instead of
sleeping, so a five-minute quarantine takes no time and no test depends on
the machine's speed.

The clock is process-wide and iso_clock_set is not thread-safe with respect
to other iso_ calls: install it before the threads start, uninstall it after
they end. Timestamps reported as wall time (last_failure_time, ...) are not
necessarily moved by it.
"""

from __future__ import annotations

import threading
from typing import Optional

from . import _native as N

_installed: Optional["ManualClock"] = None
_U64 = 1 << 64


class ManualClock:
    """A monotonic clock in nanoseconds that only advance() moves.

    Use as a context manager (install on entry, restore the real clock on
    exit), or call install()/uninstall(). The library reads the value from
    C (isoreg._isoreg.clock_manual): no call back into Python, any thread.
    """

    def __init__(self, start_ns: Optional[int] = None):
        # Start where the real clock is, so no time the library already
        # stored (the moment a breaker opened) lies in the future.
        now = N.now_ns() if start_ns is None else int(start_ns)
        if not 0 <= now < _U64:
            raise OverflowError("ManualClock: start_ns %r is out of range "
                                "0..2**64-1" % start_ns)
        self._now = now
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by @seconds (>= 0)."""
        if seconds < 0:
            raise ValueError("ManualClock.advance: %r is negative" % seconds)
        with self._lock:
            now = self._now + int(round(seconds * 1e9))
            if now >= _U64:
                raise OverflowError("ManualClock.advance: %r s would pass "
                                    "2**64 ns" % seconds)
            self._now = now
            if _installed is self:
                N.X.clock_manual(now, False)

    def install(self) -> "ManualClock":
        global _installed
        N.X.clock_manual(self._now, True)
        _installed = self
        return self

    def uninstall(self) -> None:
        global _installed
        if _installed is self:
            N.X.clock_real()
            _installed = None

    def __enter__(self) -> "ManualClock":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()
