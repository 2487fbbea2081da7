"""AccountIsolationManager: the reference design's API over libisoreg.

The reference keeps its accounts in a dict guarded by per-account locks,
inside one process. Here the accounts live in the shared segment, so every
process attached to it (C traders, isoctl, isotop, other Python processes)
sees and moves the same breakers. This module keeps only process-local
conveniences: the attachment and, in its C base (isoreg._isoreg.Registry),
a cache of account handles keyed by the caller's strings, so the hot path is
a probe of that table and one library call.

What it must never do: keep account state of its own (it would disagree with
the segment), or unlink a segment it did not create.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import stat
import threading
import time
import types
import weakref
from dataclasses import dataclass, field
from enum import Enum
from typing import List, Any, Dict, Iterable, Optional, Tuple, Union

from . import _native as N
from .errors import IsoregError, UnknownAccountError, check


class AccountHealthStatus(Enum):
    """Account health, with the reference's values."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"
    QUARANTINED = "quarantined"
    RECOVERING = "recovering"


class FailureType(Enum):
    """Failure types, with the reference's values, in the library's order."""

    API_ERROR = "api_error"
    NETWORK_ERROR = "network_error"
    AUTHENTICATION_ERROR = "authentication_error"
    RATE_LIMIT_ERROR = "rate_limit_error"
    BALANCE_ERROR = "balance_error"
    POSITION_ERROR = "position_error"
    EXECUTION_ERROR = "execution_error"
    UNKNOWN_ERROR = "unknown_error"


# enum iso_failure_type <-> FailureType: the C enum follows the reference's
# order, so the index in the Python enum is the C value. Checked against
# the library's own names at import, so a renumbered enum cannot pass.
_FT_LIST = list(FailureType)
_FT_CODE = {ft: i for i, ft in enumerate(_FT_LIST)}
_FT_BY_VALUE = {ft.value: ft for ft in _FT_LIST}
for _i, _ft in enumerate(_FT_LIST):
    if N.failure_type_name(_i) + "_ERROR" != _ft.name:
        raise ImportError("isoreg: the library's failure type %d is %s, "
                          "FailureType has %s" % (_i, N.failure_type_name(_i),
                                                  _ft.name))

# enum iso_health -> AccountHealthStatus, by the library's names
# (iso_health_name), whose lower-case forms are the reference's values.
_HEALTH = {h: AccountHealthStatus(N.health_name(h).lower())
           for h in range(N.ISO_HEALTH__COUNT)}

FailureTypeLike = Union[FailureType, str]


def failure_type_code(ft: FailureTypeLike) -> int:
    """The C value of @ft: a FailureType (ours or any enum with the same
    values, like the reference's), its value ("api_error") or the library's
    name in any case ("API", "rate_limit")."""
    if isinstance(ft, FailureType):
        return _FT_CODE[ft]
    if isinstance(ft, Enum):
        # The reference's own FailureType (code moving over from it): the
        # same values, another class.
        ft = ft.value
    if isinstance(ft, str):
        hit = _FT_BY_VALUE.get(ft.lower())
        if hit is not None:
            return _FT_CODE[hit]
        code = N.failure_type_parse(ft.encode("ascii", "replace")
                                    .replace(b"\0", b"?"))
        if code >= 0:
            return code
    raise ValueError("failure_type: %r is not a FailureType (one of %s)"
                     % (ft, ", ".join(f.value for f in _FT_LIST)))


def _mask(types: Iterable[FailureTypeLike]) -> int:
    m = 0
    for t in types:
        m |= 1 << failure_type_code(t)
    return m


# The library's defaults (iso_config_default), SPEC §3: the dataclass's
# defaults are read from it, never written down a second time here.
(_D_FAILURES, _D_SUCCESSES, _D_HALF_OPEN, _D_DEGRADE, _D_OPEN_MS,
 _D_MAX_OPEN_MS, _D_PROBE_MS, _D_TRIP_ON, _D_IGNORE, _D_FLAGS,
 _D_RATE, _D_BURST, _D_WINDOW_MS, _D_MIN_CALLS, _D_FAILURE_RATE,
 _D_SLOW_CALL_MS, _D_SLOW_RATE) = \
    N.config_default()


def _seconds(ms: int) -> Union[int, float]:
    # 300000 ms is shown as 300, as the reference writes it; 50 ms as 0.05.
    return ms // 1000 if ms % 1000 == 0 else ms / 1000.0


@dataclass
class CircuitBreakerConfig:
    """Breaker configuration; the first four fields are the reference's.

    Times are seconds (floats allowed: 0.05 is 50 ms); the library keeps
    milliseconds, so anything below 1 ms is refused by its validation.
    The extra fields are SPEC §3's; every default is the library's
    (iso_config_default).

    Attributes:
        failure_threshold: consecutive failures that trip the breaker.
        success_threshold: consecutive successes that close it again (and
            bring a degraded account back to healthy).
        timeout_seconds: time open before a probe is allowed.
        half_open_max_calls: probes in flight at once while recovering.
        degrade_after: consecutive failures that make an account degraded.
        max_timeout_seconds: cap of the back-off after failed recoveries;
            None means the library's default cap (3600 s), or
            timeout_seconds if that is longer.
        probe_timeout_seconds: a probe whose outcome is never recorded frees
            its permit after this.
        trip_on: failure types that trip at once (e.g. authentication).
        ignore: failure types counted but kept out of the breaker.
        observe_only: compute transitions but never refuse [B8].
        rate_per_s: the account's request budget [B9], calls per second
            shared by every process (fractions allowed; 0 = no budget).
            When it is spent, can_execute_operation returns
            (False, "Rate limited - retry in N ms").
        burst: calls the budget allows at once (0 with a rate means 1).
        window_ms: the rolling window [B7], in milliseconds (100 to
            3600000; 0 = no window). A CLOSED breaker also trips when,
            over the last window_ms with at least min_calls outcomes, the
            failure rate or the slow-call rate reaches its threshold.
            Needs a segment with the window region: a manager that creates
            its segment adds it when window_ms is set (or windows=True).
        min_calls: outcomes the window must hold before a rate is judged.
        failure_rate_threshold: percent of failures (ignored types left
            out) at which it trips, 1 to 100; 0 = never.
        slow_call_ms: an outcome whose operation_time_ms is this or more
            is slow (0 = none is).
        slow_call_rate_threshold: percent of slow outcomes at which it
            trips, 1 to 100; 0 = never.
    """

    failure_threshold: int = _D_FAILURES
    success_threshold: int = _D_SUCCESSES
    timeout_seconds: float = _seconds(_D_OPEN_MS)
    half_open_max_calls: int = _D_HALF_OPEN
    degrade_after: int = _D_DEGRADE
    max_timeout_seconds: Optional[float] = None
    probe_timeout_seconds: float = _seconds(_D_PROBE_MS)
    trip_on: Tuple[FailureTypeLike, ...] = field(default_factory=tuple)
    ignore: Tuple[FailureTypeLike, ...] = field(default_factory=tuple)
    observe_only: bool = False
    rate_per_s: float = _D_RATE
    burst: int = _D_BURST
    window_ms: int = _D_WINDOW_MS
    min_calls: int = _D_MIN_CALLS
    failure_rate_threshold: int = _D_FAILURE_RATE
    slow_call_ms: int = _D_SLOW_CALL_MS
    slow_call_rate_threshold: int = _D_SLOW_RATE

    def to_c(self) -> Tuple[int, ...]:
        """The library's struct iso_config as a tuple in its field order,
        validated by the library.

        Raises ValueError naming the field when a value is out of range.
        """
        def ms(name: str, seconds: float) -> int:
            try:
                v = round(float(seconds) * 1000)
            except (TypeError, ValueError, OverflowError):
                raise ValueError("%s: %r is not a number of seconds"
                                 % (name, seconds)) from None
            if not 0 <= v <= 0xFFFFFFFF:
                raise ValueError("%s: %r seconds is out of range"
                                 % (name, seconds))
            return v

        def count(name: str, v: Any) -> int:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError("%s: %r is not an integer" % (name, v))
            if not 0 <= v <= 0xFFFFFFFF:
                raise ValueError("%s: %r is out of range" % (name, v))
            return v

        def rate(name: str, v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError("%s: %r is not a number" % (name, v))
            return float(v)

        open_ms = ms("timeout_seconds", self.timeout_seconds)
        if self.max_timeout_seconds is None:
            max_ms = max(_D_MAX_OPEN_MS, open_ms)
        else:
            max_ms = ms("max_timeout_seconds", self.max_timeout_seconds)
        c = (count("failure_threshold", self.failure_threshold),
             count("success_threshold", self.success_threshold),
             count("half_open_max_calls", self.half_open_max_calls),
             count("degrade_after", self.degrade_after),
             open_ms, max_ms,
             ms("probe_timeout_seconds", self.probe_timeout_seconds),
             _mask(self.trip_on), _mask(self.ignore),
             N.ISO_CFG_OBSERVE_ONLY if self.observe_only else 0,
             rate("rate_per_s", self.rate_per_s),
             count("burst", self.burst),
             count("window_ms", self.window_ms),
             count("min_calls", self.min_calls),
             count("failure_rate_threshold", self.failure_rate_threshold),
             count("slow_call_ms", self.slow_call_ms),
             count("slow_call_rate_threshold",
                   self.slow_call_rate_threshold))
        N.config_validate(c)
        return c


def _enc(name: str, v: Any) -> bytes:
    # The library validates the alphabet and lengths [K2]; here we only turn
    # the value into bytes, refusing what has no faithful ASCII form rather
    # than letting it be replaced or truncated on the way (a NUL would end
    # the C string early).
    if not isinstance(v, str):
        raise ValueError("%s: expected a string, got %r" % (name, v))
    try:
        b = v.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("%s: %r is not printable ASCII" % (name, v)) from None
    if b"\0" in b:
        raise ValueError("%s: %r contains a NUL character" % (name, v))
    return b


# ------------------------------------------------------ private segments

# A private segment's name says who made it: the pid namespace, the pid
# and that process's start time (pid reuse), so a later process can tell
# for certain that its creator is dead and remove it [R7]. Killed
# processes (SIGKILL, OOM) never run their finalizers.
_PRIVATE_PREFIX = "isoreg-py-"
_PRIVATE_RE = re.compile(r"^isoreg-py-(\d+)-(\d+)-(\d+)-\d+-[0-9a-f]{8}$")
_SHM_DIR = "/dev/shm"
_private_seq = itertools.count()
_swept = False
_sweep_lock = threading.Lock()


def _pid_ns() -> Optional[int]:
    try:
        link = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
        return int(link[link.index("[") + 1:link.index("]")])
    except (OSError, ValueError):
        return None


def _start_time(pid: Union[int, str]) -> Optional[int]:
    """Start time of @pid in clock ticks since boot (/proc/PID/stat field
    22), None if there is no such process; raises OSError if it cannot
    tell (e.g. /proc mounted with hidepid)."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: fields follow the last ')'.
    fields = raw[raw.rindex(b")") + 2:].split()
    return int(fields[19])


_MY_NS = _pid_ns()


def _private_name() -> Optional[str]:
    try:
        start = _start_time("self")
    except (OSError, ValueError, IndexError):
        start = None
    if _MY_NS is None or start is None:
        return None
    return "/%s%d-%d-%d-%d-%s" % (_PRIVATE_PREFIX, _MY_NS, os.getpid(),
                                  start, next(_private_seq),
                                  secrets.token_hex(4))


def sweep_private_segments() -> list:
    """Remove the private segments (AccountIsolationManager() with no
    segment name) that dead processes left behind; return their names.

    Only names of the private pattern, in this process's pid namespace,
    owned by this uid, regular files, whose creating process is
    verifiably gone (no such pid, or a pid now running another process
    with another start time) are removed; anything it cannot be sure of is
    left. A new private manager runs it once per process.
    """
    removed = []
    if _MY_NS is None:
        return removed
    try:
        names = os.listdir(_SHM_DIR)
    except OSError:
        return removed
    uid = os.getuid()
    for name in names:
        m = _PRIVATE_RE.match(name)
        if not m or int(m.group(1)) != _MY_NS:
            continue
        pid, start = int(m.group(2)), int(m.group(3))
        try:
            st = os.lstat(os.path.join(_SHM_DIR, name))
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            continue
        try:
            now = _start_time(pid)
        except (OSError, ValueError, IndexError):
            continue  # cannot tell: leave it
        if now is not None and now == start:
            continue  # its creator is alive
        if N.unlink("/" + name) == 0:
            removed.append("/" + name)
    return removed


def _sweep_once() -> None:
    global _swept
    if _swept:
        return
    with _sweep_lock:
        if not _swept:
            _swept = True
            sweep_private_segments()


def _unlink_private(name: str, owner_pid: int) -> None:
    # Runs from close() or from weakref.finalize (collection or interpreter
    # exit). A forked child inherits the object but must not remove the
    # parent's private segment, hence the owner pid. The C object detaches
    # itself when it is freed (or in close()).
    if owner_pid == os.getpid():
        N.unlink(name)


class AccountIsolationManager(N.Registry):
    """Per-account health and circuit breakers, kept in a shared segment.

    AccountIsolationManager() makes a private segment of its own, under a
    unique name, removed when the manager is closed (close(), a with block)
    or garbage-collected: it behaves like the reference's in-process manager.
    A private segment left by a killed process is removed by the next
    process that makes one (sweep_private_segments).
    AccountIsolationManager(segment="/name") attaches the named segment,
    creating it if missing, so that every process using that name shares
    the accounts; closing it detaches and leaves the segment in place.

    Args:
        config: breaker configuration. For a segment this manager creates it
            becomes the segment's default. For a segment that already exists
            with other defaults, it is applied as a per-account override to
            each account this manager registers (the segment's default for
            other processes' accounts is left alone).
        segment: a POSIX shm name ("/isoreg-prod"), or None for a private one.
        capacity: accounts the segment holds, when this manager creates it
            (0: the library's default, 4096).
        read_only: attach an existing segment with a read-only mapping, as
            a viewer (statuses and reports; every write raises IsoregError
            ISO_ERDONLY, and an unknown account cannot be registered).
        windows: give a segment this manager creates the rolling-window
            region [B7] (256 bytes per account), so that accounts can be
            given a window_ms later. None (the default): only if
            config.window_ms is set. An existing segment keeps what it
            was created with: if it has no region and this manager's
            config (or windows=True) wants one, ValueError says so.

    The hot calls (can_execute_operation, record_success, record_failure),
    get_all_account_statuses and get_isolation_report are implemented in C
    (isoreg._isoreg.Registry). Every method may be called from any thread.
    close() must not race the other methods.
    """

    def __init__(self, config: Optional[CircuitBreakerConfig] = None,
                 segment: Optional[str] = None, capacity: int = 0,
                 read_only: bool = False, windows: Optional[bool] = None):
        if read_only and segment is None:
            raise ValueError("read_only: needs a segment name (a private "
                             "segment nobody writes would stay empty)")
        self._finalizer = None
        self.read_only = read_only
        self.config = config or CircuitBreakerConfig()
        cfg = self.config.to_c()
        self._cfg = cfg
        self.segment = segment

        # A viewer attaches read-only and never creates: it must not make
        # an empty segment that writers would then find instead of failing.
        flags = N.ISO_ATTACH_RDONLY if read_only else N.ISO_ATTACH_CREATE
        # [B7] the region is sized at creation; the library also adds it
        # for a window_ms in the defaults, windows=True without one.
        want_windows = bool(windows) or (windows is None and
                                         self.config.window_ms != 0)
        if want_windows and not read_only:
            flags |= N.ISO_ATTACH_WINDOWS
        self._flags = flags  # check_segment attaches again the same way
        if segment is None:
            self.owns_segment = True
            _sweep_once()
            while True:
                name = _private_name()
                if name is None:
                    raise IsoregError(N.ISO_ESYS, "cannot read this "
                                      "process's start time from /proc",
                                      "private segment")
                rc = self._attach(name, flags | N.ISO_ATTACH_EXCL, capacity,
                                  cfg)
                if rc != N.ISO_EEXIST:
                    break
        else:
            self.owns_segment = False
            name = segment
            _enc("segment", name)
            for _ in range(50):
                rc = self._attach(name, flags, capacity, cfg)
                if rc != N.ISO_EBUSY:
                    break
                time.sleep(0.01)
        check(rc, "attach %s" % name)
        self.segment = name

        if (want_windows and not read_only and
                not self._segment_info()["windows"]):
            self._detach()
            if self.owns_segment:
                N.unlink(name)
            raise ValueError(
                "window_ms: segment %s has no window region (it was created "
                "without windows); create it with windows (windows=True, "
                "`isoctl create --windows`, or window_ms in its defaults)"
                % name)

        if not self.owns_segment and config is not None and not read_only:
            if self._segment_info()["defaults"] != cfg:
                self._set_override(cfg)

        self._finalizer = (weakref.finalize(self, _unlink_private, name,
                                            os.getpid())
                           if self.owns_segment else None)

    # ---------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Detach; a private segment is also removed. Idempotent."""
        self._detach()
        if self._finalizer is not None:
            self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._attached

    def __enter__(self) -> "AccountIsolationManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<AccountIsolationManager segment=%r%s%s>" % (
            self.segment, " private" if self.owns_segment else "",
            " closed" if self.closed else "")

    def segment_info(self) -> types.SimpleNamespace:
        """The library's facts about the attached segment (struct
        iso_segment_info's fields; defaults as CircuitBreakerConfig.to_c()
        gives them)."""
        return types.SimpleNamespace(**self._segment_info())

    # ------------------------------------------------- the reference's API
    #
    # can_execute_operation, record_success, record_failure,
    # get_all_account_statuses and get_isolation_report are the C base's.

    def register_account(self, account_type: str, account_id: str,
                         broker_type: str) -> bool:
        """Register an account for health monitoring (idempotent).

        Returns True. Raises ValueError if a key part is invalid (the message
        names it), IsoregError if the segment is full.
        """
        return self._register(account_type, account_id, broker_type)

    def get_account_status(self, account_type: str, account_id: str,
                           broker_type: str
                           ) -> Tuple[AccountHealthStatus, Dict[str, Any]]:
        """Health and metrics of one account; never registers it.

        Returns (status, metrics), or (AccountHealthStatus.HEALTHY, {}) for an
        account nobody registered, as the reference does. Times are seconds
        since the epoch (like time.time()) or None.
        """
        d = self._status(account_type, account_id, broker_type)
        if d is None:
            return AccountHealthStatus.HEALTHY, {}
        return AccountHealthStatus(d["status"]), d

    def reset_account(self, account_type: str, account_id: str,
                      broker_type: str) -> bool:
        """Close the breaker and clear the streaks: the account is healthy.

        Statistics are kept. Returns False if nobody registered the account.
        """
        return self._reset(account_type, account_id, broker_type)

    # ------------------------------------------------------------ extras

    def halt_account(self, account_type: str, account_id: str,
                     broker_type: str, reason: Optional[str] = None) -> None:
        """Refuse every operation of the account until release_account (an
        operator's halt; it never reopens by itself). The library records
        it as an event with this process's uid and pid and @reason (at most
        200 printable bytes), as `isoctl halt --reason` does. Halting a
        halted account changes nothing.

        Raises UnknownAccountError (a KeyError) for an account nobody
        registered: nothing is registered, so a mistyped key is noticed.
        Halts from Python live in the segment only: `isoctl halt` is what
        also records one in the segment's state file.
        """
        self._halt(account_type, account_id, broker_type, reason)

    def release_account(self, account_type: str, account_id: str,
                        broker_type: str, reason: Optional[str] = None
                        ) -> bool:
        """Lift an operator's halt: the account is healthy again (one
        compare-and-swap in the library, an event with @reason).

        Returns True if it was halted, False if it was not (then nothing is
        changed: a breaker the account tripped itself recovers on its own,
        or by reset_account). Raises UnknownAccountError for an account
        nobody registered.
        """
        return self._release(account_type, account_id, broker_type, reason)

    def configure_account(self, account_type: str, account_id: str,
                          broker_type: str,
                          config: Optional[CircuitBreakerConfig],
                          reason: Optional[str] = None) -> None:
        """Give the account its own breaker config, or None to follow the
        segment's default again (an event with @reason). Raises
        UnknownAccountError for an account nobody registered."""
        c = config.to_c() if config is not None else None
        self._configure(account_type, account_id, broker_type, c, reason)

    def halt_accounts(self, keys, reason: Optional[str] = None) -> None:
        """Halt several accounts at once: @keys is an iterable of
        (account_type, account_id, broker_type). Every key is checked
        first: if one is unknown, UnknownAccountError is raised and none is
        halted."""
        keys = [tuple(k) for k in keys]
        for k in keys:
            if len(k) != 3:
                raise ValueError("halt_accounts: %r is not (account_type, "
                                 "account_id, broker_type)" % (k,))
            if self._status(*k) is None:
                raise UnknownAccountError(
                    "halt_accounts: no account %s/%s/%s (nothing was "
                    "halted)" % k)
        for k in keys:
            self._halt(k[0], k[1], k[2], reason)

    def halt_broker(self, broker_type: str,
                    reason: Optional[str] = None) -> bool:
        """Refuse every operation of every account of @broker_type,
        accounts registered later too, until release_broker; the accounts'
        own breakers are kept and come back as they were. An event with
        this process's uid, pid and the broker. Returns True if the broker
        is halted now, False if it already was."""
        _enc("broker", broker_type)
        return self._broker(True, broker_type, reason) == 0

    def release_broker(self, broker_type: str,
                       reason: Optional[str] = None) -> bool:
        """Lift a broker halt. Returns False if the broker was not halted."""
        _enc("broker", broker_type)
        return self._broker(False, broker_type, reason) == 0

    def halted_brokers(self) -> List[str]:
        """The brokers halted now (by anyone, from any process)."""
        return self._halted_brokers()

    def check_segment(self) -> bool:
        """Is this manager still on the segment its name points at? If an
        operator unlinked it (and maybe created it anew), trading on would
        go on in an orphan no tool can see or halt: attach again to what
        the name points at now, and return True. Cheap (an fstat and a
        stat), but not for every call: once a second is plenty. A private
        segment is never replaced; False then."""
        if self.owns_segment or self.read_only is None:
            return False
        if self._segment_check() != N.ISO_ESTALE:
            return False
        self._detach()
        check(self._attach(self.segment, self._flags, 0, self._cfg),
              "attach %s again" % self.segment)
        return True

    def retire_account(self, account_type: str, account_id: str,
                       broker_type: str) -> bool:
        """The account is gone: free its slot (after the segment's cooldown).
        Returns False if it was not registered."""
        return self._retire(account_type, account_id, broker_type)

    # guard(account_type, account_id, broker_type, classify=None) is the C
    # base's: it makes an isoreg.guard.Guard without a Python frame.

    def guarded(self, account_type: str, account_id: str, broker_type: str,
                classify=None):
        """A decorator: every call of the function (plain or async) is one
        guarded operation of the account; see isoreg.guarded."""
        return _guard.guarded(account_type, account_id, broker_type,
                              manager=self, classify=classify)


def unlink_segment(name: str) -> bool:
    """Remove the segment @name (attached processes keep their mapping).
    Returns False if there was none."""
    _enc("segment", name)
    rc = N.unlink(name)
    if rc == N.ISO_ENOENT:
        return False
    check(rc, "unlink %s" % name)
    return True


def segment_name() -> str:
    """The default segment: $ISOREG_SEGMENT, else "/isoreg"."""
    return N.segment_name()


_singleton: Optional[AccountIsolationManager] = None
_singleton_lock = threading.Lock()


def get_isolation_manager() -> AccountIsolationManager:
    """The process-wide manager on the default segment (segment_name()),
    attached, and created if missing, on first use."""
    global _singleton
    m = _singleton
    if m is not None and not m.closed:
        return m
    with _singleton_lock:
        if _singleton is None or _singleton.closed:
            _singleton = AccountIsolationManager(segment=segment_name())
        return _singleton


# guard.py builds on this module; it is imported last so that either module
# may be imported first, and used only at call time. (Importing it inside
# guard() instead would cost a trip through the import system per call.)
from . import guard as _guard  # noqa: E402

__all__ = [
    "AccountHealthStatus",
    "AccountIsolationManager",
    "CircuitBreakerConfig",
    "FailureType",
    "IsoregError",
    "UnknownAccountError",
    "get_isolation_manager",
    "segment_name",
    "sweep_private_segments",
    "unlink_segment",
]
