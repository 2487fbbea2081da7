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
from ctypes import c_void_p, cast
from typing import Optional

from . import _native as N

_installed: Optional["ManualClock"] = None


class ManualClock:
    """A monotonic clock in nanoseconds that only advance() moves.

    Use as a context manager (install on entry, restore the real clock on
    exit), or call install()/uninstall().
    """

    def __init__(self, start_ns: Optional[int] = None):
        # Start where the real clock is, so no time the library already
        # stored (the moment a breaker opened) lies in the future.
        self._now = N.iso_now_ns() if start_ns is None else int(start_ns)
        self._lock = threading.Lock()
        # The CFUNCTYPE object must outlive every call the library makes
        # through it: it is kept here and in the module's _installed.
        self._fn = N.CLOCK_FN(self._read)

    def _read(self, _ctx) -> int:
        return self._now

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by @seconds (>= 0)."""
        if seconds < 0:
            raise ValueError("ManualClock.advance: %r is negative" % seconds)
        with self._lock:
            self._now += int(round(seconds * 1e9))

    def install(self) -> "ManualClock":
        global _installed
        N.iso_clock_set(cast(self._fn, c_void_p), None)
        _installed = self
        return self

    def uninstall(self) -> None:
        global _installed
        if _installed is self:
            N.iso_clock_set(None, None)
            _installed = None

    def __enter__(self) -> "ManualClock":
        return self.install()

    def __exit__(self, *exc) -> None:
        self.uninstall()
