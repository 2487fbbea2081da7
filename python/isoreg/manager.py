"""AccountIsolationManager: the reference design's API over libisoreg.

The reference keeps its accounts in a dict guarded by per-account locks,
inside one process. Here the accounts live in the shared segment, so every
process attached to it (C traders, isoctl, isotop, other Python processes)
sees and moves the same breakers. This module keeps only process-local
conveniences: the attachment and a cache of account handles, so the hot path
is two C calls without a key lookup.

What it must never do: keep account state of its own (it would disagree with
the segment), or unlink a segment it did not create.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import secrets
import threading
import time
import weakref
from ctypes import byref, c_void_p, create_string_buffer
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, Iterable, Optional, Tuple, Union

from . import _native as N
from .errors import IsoregError, check, raise_for


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
# order, so the index in the Python enum is the C value.
_FT_LIST = list(FailureType)
_FT_CODE = {ft: i for i, ft in enumerate(_FT_LIST)}
_FT_BY_VALUE = {ft.value: ft for ft in _FT_LIST}

# enum iso_health (ordered by severity) -> AccountHealthStatus.
_HEALTH = {
    N.ISO_HEALTHY: AccountHealthStatus.HEALTHY,
    N.ISO_DEGRADED: AccountHealthStatus.DEGRADED,
    N.ISO_RECOVERING: AccountHealthStatus.RECOVERING,
    N.ISO_QUARANTINED: AccountHealthStatus.QUARANTINED,
    N.ISO_FAILING: AccountHealthStatus.FAILING,
}

_BREAKER_NAMES = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN")

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
        code = N.iso_failure_type_parse(ft.encode("ascii", "replace"))
        if code >= 0:
            return code
    raise ValueError("failure_type: %r is not a FailureType (one of %s)"
                     % (ft, ", ".join(f.value for f in _FT_LIST)))


def _mask(types: Iterable[FailureTypeLike]) -> int:
    m = 0
    for t in types:
        m |= 1 << failure_type_code(t)
    return m


@dataclass
class CircuitBreakerConfig:
    """Breaker configuration; the first four fields are the reference's.

    Times are seconds (floats allowed: 0.05 is 50 ms); the library keeps
    milliseconds, so anything below 1 ms is refused by its validation.
    The extra fields are SPEC §3's; their defaults are the library's.

    Attributes:
        failure_threshold: consecutive failures that trip the breaker.
        success_threshold: consecutive successes that close it again (and
            bring a degraded account back to healthy).
        timeout_seconds: time open before a probe is allowed.
        half_open_max_calls: probes in flight at once while recovering.
        degrade_after: consecutive failures that make an account degraded.
        max_timeout_seconds: cap of the back-off after failed recoveries;
            None means max(3600, timeout_seconds).
        probe_timeout_seconds: a probe whose outcome is never recorded frees
            its permit after this.
        trip_on: failure types that trip at once (e.g. authentication).
        ignore: failure types counted but kept out of the breaker.
        observe_only: compute transitions but never refuse [B8].
    """

    failure_threshold: int = 5
    success_threshold: int = 3
    timeout_seconds: float = 300
    half_open_max_calls: int = 1
    degrade_after: int = 1
    max_timeout_seconds: Optional[float] = None
    probe_timeout_seconds: float = 30
    trip_on: Tuple[FailureTypeLike, ...] = field(default_factory=tuple)
    ignore: Tuple[FailureTypeLike, ...] = field(default_factory=tuple)
    observe_only: bool = False

    def to_c(self) -> N.IsoConfig:
        """The library's struct iso_config, validated by the library.

        Raises ValueError naming the field when a value is out of range.
        """
        def ms(name: str, seconds: float) -> int:
            try:
                v = round(float(seconds) * 1000)
            except (TypeError, ValueError):
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

        c = N.IsoConfig()
        c.failure_threshold = count("failure_threshold", self.failure_threshold)
        c.success_threshold = count("success_threshold", self.success_threshold)
        c.half_open_max_calls = count("half_open_max_calls",
                                      self.half_open_max_calls)
        c.degrade_after = count("degrade_after", self.degrade_after)
        c.open_timeout_ms = ms("timeout_seconds", self.timeout_seconds)
        if self.max_timeout_seconds is None:
            c.max_open_timeout_ms = max(3600000, c.open_timeout_ms)
        else:
            c.max_open_timeout_ms = ms("max_timeout_seconds",
                                       self.max_timeout_seconds)
        c.probe_timeout_ms = ms("probe_timeout_seconds",
                                self.probe_timeout_seconds)
        c.trip_on = _mask(self.trip_on)
        c.ignore = _mask(self.ignore)
        c.flags = N.ISO_CFG_OBSERVE_ONLY if self.observe_only else 0
        check(N.iso_config_validate(byref(c)), "config")
        return c


def _enc(name: str, v: Any) -> bytes:
    # The library validates the alphabet and lengths [K2]; here we only turn
    # the value into bytes, refusing what has no faithful ASCII form rather
    # than letting it be replaced or truncated on the way.
    if not isinstance(v, str):
        raise ValueError("%s: expected a string, got %r" % (name, v))
    try:
        return v.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("%s: %r is not printable ASCII" % (name, v)) from None


def _time_or_none(ms: int) -> Optional[float]:
    return ms / 1000.0 if ms else None


def status_dict(st: N.IsoStatus) -> Dict[str, Any]:
    """The reference's metrics dict (plus isoreg's extras) from a snapshot."""
    health = _HEALTH.get(st.health, AccountHealthStatus.HEALTHY)
    breaker = st.breaker
    return {
        "account_type": st.key.type.decode(),
        "account_id": st.key.id.decode(),
        "broker_type": st.key.broker.decode(),
        "status": health.value,
        "total_failures": st.failures,
        "consecutive_failures": st.consecutive_failures,
        "consecutive_successes": st.consecutive_successes,
        # As in the reference, the circuit counts as open while it is being
        # probed; circuit_half_open tells the two apart.
        "circuit_open": breaker != N.ISO_BREAKER_CLOSED,
        "circuit_half_open": breaker == N.ISO_BREAKER_HALF_OPEN,
        "quarantine_count": st.quarantines,
        "last_failure_time": _time_or_none(st.last_failure_ms),
        "last_success_time": _time_or_none(st.last_success_ms),
        "average_operation_time_ms": st.avg_op_ms,
        "failure_breakdown": {ft.value: st.failures_by_type[i]
                              for i, ft in enumerate(_FT_LIST)
                              if st.failures_by_type[i]},
        # isoreg's extras.
        "total_operations": st.operations,
        "total_successes": st.successes,
        "breaker_state": (_BREAKER_NAMES[breaker]
                          if 0 <= breaker < len(_BREAKER_NAMES) else "?"),
        "retry_in_seconds": (st.retry_in_ms / 1000.0
                             if breaker == N.ISO_BREAKER_OPEN else None),
        "ema_operation_time_ms": st.ema_op_ms,
        "p50_operation_time_ms": st.p50_op_ns / 1e6,
        "p99_operation_time_ms": st.p99_op_ns / 1e6,
        "probes_in_flight": st.probes_in_flight,
        "last_transition_time": _time_or_none(st.last_transition_ms),
    }


# The hot path's names, bound once: a module attribute lookup per call is
# a measurable share of a call that costs a few hundred nanoseconds.
_IsoPermit = N.IsoPermit
_acquire = N.iso_acquire
_record_success = N.iso_record_success
_ESTALE = N.ISO_ESTALE
_EOPEN = N.ISO_EOPEN


def _detach_and_unlink(reg: int, name: bytes, owner_pid: Optional[int]) -> None:
    # Runs from close() or from weakref.finalize (collection or interpreter
    # exit). A forked child inherits the object but must not remove the
    # parent's private segment, hence the owner pid.
    N.iso_detach(reg)
    if owner_pid is not None and owner_pid == os.getpid():
        N.iso_unlink(name)


_private_seq = itertools.count()


class AccountIsolationManager:
    """Per-account health and circuit breakers, kept in a shared segment.

    AccountIsolationManager() makes a private segment of its own, under a
    unique name, removed when the manager is closed (close(), a with block)
    or garbage-collected: it behaves like the reference's in-process manager.
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

    Every method may be called from any thread. close() must not race the
    other methods.
    """

    def __init__(self, config: Optional[CircuitBreakerConfig] = None,
                 segment: Optional[str] = None, capacity: int = 0,
                 read_only: bool = False):
        if read_only and segment is None:
            raise ValueError("read_only: needs a segment name (a private "
                             "segment nobody writes would stay empty)")
        self.read_only = read_only
        self.config = config or CircuitBreakerConfig()
        cfg = self.config.to_c()
        self._cfg = cfg
        self._override: Optional[N.IsoConfig] = None
        self._handles: Dict[Tuple[str, str, str], N.IsoAccount] = {}
        self._reg = None

        opts = N.IsoAttachOpts()
        # A viewer attaches read-only and never creates: it must not make
        # an empty segment that writers would then find instead of failing.
        opts.flags = N.ISO_ATTACH_RDONLY if read_only else N.ISO_ATTACH_CREATE
        opts.capacity = capacity
        opts.defaults = ctypes.pointer(cfg)
        reg = c_void_p()
        if segment is None:
            self.owns_segment = True
            opts.flags |= N.ISO_ATTACH_EXCL
            while True:
                name = "/isoreg-py-%d-%d-%s" % (os.getpid(), next(_private_seq),
                                                secrets.token_hex(4))
                rc = N.iso_attach(name.encode(), byref(opts), byref(reg))
                if rc != N.ISO_EEXIST:
                    break
        else:
            self.owns_segment = False
            name = segment
            bname = _enc("segment", name)
            for _ in range(50):
                rc = N.iso_attach(bname, byref(opts), byref(reg))
                if rc != N.ISO_EBUSY:
                    break
                time.sleep(0.01)
        check(rc, "attach %s" % name)
        self.segment = name
        self._reg = reg.value

        if not self.owns_segment and config is not None and not read_only:
            info = self.segment_info()
            if info.defaults.as_tuple() != cfg.as_tuple():
                self._override = cfg

        self._finalizer = weakref.finalize(
            self, _detach_and_unlink, self._reg, name.encode(),
            os.getpid() if self.owns_segment else None)

    # ---------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Detach; a private segment is also removed. Idempotent."""
        self._handles.clear()
        self._reg = None
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._reg is None

    def __enter__(self) -> "AccountIsolationManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<AccountIsolationManager segment=%r%s%s>" % (
            self.segment, " private" if self.owns_segment else "",
            " closed" if self.closed else "")

    def _regp(self) -> int:
        if self._reg is None:
            raise ValueError("AccountIsolationManager: operation on a closed "
                             "manager (segment %s)" % self.segment)
        return self._reg

    def segment_info(self) -> N.IsoSegmentInfo:
        """The library's facts about the attached segment."""
        info = N.IsoSegmentInfo()
        check(N.iso_segment_info(self._regp(), byref(info)), "segment_info")
        return info

    # ------------------------------------------------------------ handles

    def _handle(self, account_type: str, account_id: str,
                broker_type: str) -> N.IsoAccount:
        # The cache is keyed by the caller's spelling; several spellings of
        # one account map to handles of the same slot, which is harmless.
        k = (account_type, account_id, broker_type)
        h = self._handles.get(k)
        if h is not None:
            return h
        return self._register(k)

    def _register(self, k: Tuple[str, str, str]) -> N.IsoAccount:
        h = N.IsoAccount()
        rc = N.iso_register(self._regp(), _enc("account_type", k[0]),
                            _enc("account_id", k[1]),
                            _enc("broker_type", k[2]), byref(h))
        check(rc, "register %s/%s/%s" % k)
        if self._override is not None:
            check(N.iso_configure(byref(h), byref(self._override)),
                  "configure %s/%s/%s" % k)
        self._handles[k] = h
        return h

    def _refresh(self, k: Tuple[str, str, str]) -> N.IsoAccount:
        # ISO_ESTALE: someone retired the account (isoctl, another process).
        # The reference auto-registers, so we do too: a fresh registration.
        self._handles.pop(k, None)
        return self._register(k)

    def _lookup(self, account_type: str, account_id: str,
                broker_type: str) -> Optional[N.IsoAccount]:
        k = (account_type, account_id, broker_type)
        h = self._handles.get(k)
        if h is not None:
            return h
        h = N.IsoAccount()
        rc = N.iso_lookup(self._regp(), _enc("account_type", account_type),
                          _enc("account_id", account_id),
                          _enc("broker_type", broker_type), byref(h))
        if rc == N.ISO_ENOENT:
            return None
        check(rc, "lookup %s/%s/%s" % k)
        self._handles[k] = h
        return h

    # ------------------------------------------------- the reference's API

    def register_account(self, account_type: str, account_id: str,
                         broker_type: str) -> bool:
        """Register an account for health monitoring (idempotent).

        Returns True. Raises ValueError if a key part is invalid (the message
        names it), IsoregError if the segment is full.
        """
        self._register((account_type, account_id, broker_type))
        return True

    def can_execute_operation(self, account_type: str, account_id: str,
                              broker_type: str) -> Tuple[bool, str]:
        """May the account act now? Registers it if needed.

        Returns (allowed, reason), the reason in the reference's words. While
        recovering, an allowed answer holds a probe permit that the next
        record_success/record_failure of the account releases.
        """
        k = (account_type, account_id, broker_type)
        h = self._handles.get(k) or self._register(k)
        permit = _IsoPermit()
        rc = _acquire(h, permit)
        if rc == _ESTALE:
            rc = _acquire(self._refresh(k), permit)
        if rc == 0 or rc == _EOPEN:
            text = _reason_cache.get(permit.reason) or _reason(permit)
            return rc == 0, text
        raise_for(rc, "acquire %s/%s/%s" % k)
        raise AssertionError("unreachable")

    def record_success(self, account_type: str, account_id: str,
                       broker_type: str, operation_time_ms: float = 0.0) -> None:
        """Record a successful operation that took @operation_time_ms (0: not
        measured, kept out of the average)."""
        k = (account_type, account_id, broker_type)
        h = self._handles.get(k) or self._register(k)
        ns = int(operation_time_ms * 1e6) if operation_time_ms > 0 else 0
        rc = _record_success(h, None, ns)
        if rc == _ESTALE:
            rc = _record_success(self._refresh(k), None, ns)
        if rc:
            raise_for(rc, "record_success %s/%s/%s" % k)

    def record_failure(self, account_type: str, account_id: str,
                       broker_type: str, error: Any = None,
                       failure_type: Optional[FailureTypeLike] =
                       FailureType.UNKNOWN_ERROR,
                       operation_time_ms: float = 0.0,
                       retry_after_seconds: Optional[float] = None) -> None:
        """Record a failed operation.

        Args:
            error: the exception (or message); used only to classify it when
                @failure_type is None (see isoreg.classify_exception).
            failure_type: a FailureType (default UNKNOWN_ERROR, like the
                reference), its value string, or None to classify @error.
            operation_time_ms: how long the failed call took; 0 if unknown.
            retry_after_seconds: the exchange's Retry-After: if this failure
                opens the breaker it stays open at least that long [M2].
        """
        if failure_type is None:
            failure_type, retry = _guard.classify_exception(error)
            if retry_after_seconds is None:
                retry_after_seconds = retry
        code = failure_type_code(failure_type)
        k = (account_type, account_id, broker_type)
        h = self._handles.get(k) or self._register(k)
        ns = int(operation_time_ms * 1e6) if operation_time_ms > 0 else 0
        retry_ms = _retry_ms(retry_after_seconds)
        rc = N.iso_record_failure_retry(h, None, code, ns, retry_ms)
        if rc == N.ISO_ESTALE:
            rc = N.iso_record_failure_retry(self._refresh(k), None, code, ns,
                                            retry_ms)
        if rc:
            raise_for(rc, "record_failure %s/%s/%s" % k)

    def get_account_status(self, account_type: str, account_id: str,
                           broker_type: str
                           ) -> Tuple[AccountHealthStatus, Dict[str, Any]]:
        """Health and metrics of one account; never registers it.

        Returns (status, metrics), or (AccountHealthStatus.HEALTHY, {}) for an
        account nobody registered, as the reference does. Times are seconds
        since the epoch (like time.time()) or None.
        """
        st = N.IsoStatus()
        h = self._lookup(account_type, account_id, broker_type)
        if h is None:
            return AccountHealthStatus.HEALTHY, {}
        rc = N.iso_status(h, byref(st))
        if rc == N.ISO_ESTALE:
            self._handles.pop((account_type, account_id, broker_type), None)
            h = self._lookup(account_type, account_id, broker_type)
            if h is None:
                return AccountHealthStatus.HEALTHY, {}
            rc = N.iso_status(h, byref(st))
        check(rc, "status %s/%s/%s" % (account_type, account_id, broker_type))
        d = status_dict(st)
        return AccountHealthStatus(d["status"]), d

    def get_all_account_statuses(self) -> Dict[str, Dict[str, Any]]:
        """Metrics of every account in the segment, from every process.

        Keyed like the reference, "type/id/BROKER" (normalised: type and id
        lower-case, broker upper-case); each value has a 'status' field.
        """
        out: Dict[str, Dict[str, Any]] = {}
        failure: list = []

        def visit(stp, _ctx) -> int:
            try:
                st = stp.contents
                out[st.key.text()] = status_dict(st)
                return 0
            except BaseException as exc:  # never let it unwind through C
                failure.append(exc)
                return 1

        cb = N.FOREACH_FN(visit)
        rc = N.iso_foreach(self._regp(), cb, None)
        if failure:
            raise failure[0]
        check(rc, "foreach")
        return out

    def get_isolation_report(self) -> Dict[str, Any]:
        """The reference's isolation report over the whole segment.

        cross_account_errors_detected counts the violations the library
        detected (writes refused through stale handles, slots failing their
        integrity check); isolation_guarantee is "ACTIVE" while it is 0.
        'brokers' maps each broker to its accounts, unhealthy and degraded
        counts, so a broker-wide incident shows as one line.
        """
        rep = N.IsoReport()
        check(N.iso_report(self._regp(), byref(rep)), "report")
        h = rep.by_health
        brokers = {}
        for i in range(min(rep.brokers_count, N.ISO_REPORT_MAX_BROKERS)):
            b = rep.brokers[i]
            brokers[b.broker.decode()] = {"accounts": b.accounts,
                                          "unhealthy": b.unhealthy,
                                          "degraded": b.degraded}
        return {
            "total_accounts": rep.total_accounts,
            "healthy_accounts": h[N.ISO_HEALTHY],
            "degraded_accounts": h[N.ISO_DEGRADED],
            "quarantined_accounts": h[N.ISO_QUARANTINED],
            "failing_accounts": h[N.ISO_FAILING],
            "recovering_accounts": h[N.ISO_RECOVERING],
            "total_failures_across_all_accounts": rep.total_failures,
            "total_quarantines": rep.total_quarantines,
            "total_operations": rep.total_operations,
            "cross_account_errors_detected": rep.cross_account_errors,
            "isolation_guarantee": ("ACTIVE" if rep.isolation_active
                                    else "VIOLATED"),
            "brokers": brokers,
            "brokers_dropped": rep.brokers_dropped,
            "capacity": rep.capacity,
            "timestamp": time.time(),
        }

    def reset_account(self, account_type: str, account_id: str,
                      broker_type: str) -> bool:
        """Close the breaker and clear the streaks: the account is healthy.

        Statistics are kept. Returns False if nobody registered the account.
        """
        h = self._lookup(account_type, account_id, broker_type)
        if h is None:
            return False
        rc = N.iso_reset(h)
        if rc == N.ISO_ESTALE:
            self._handles.pop((account_type, account_id, broker_type), None)
            h = self._lookup(account_type, account_id, broker_type)
            if h is None:
                return False
            rc = N.iso_reset(h)
        check(rc, "reset %s/%s/%s" % (account_type, account_id, broker_type))
        return True

    # ------------------------------------------------------------ extras

    def halt_account(self, account_type: str, account_id: str,
                     broker_type: str) -> None:
        """Refuse every operation of the account until reset_account (an
        operator's halt; it never reopens by itself)."""
        k = (account_type, account_id, broker_type)
        rc = N.iso_force_open(self._handle(*k))
        if rc == N.ISO_ESTALE:
            rc = N.iso_force_open(self._refresh(k))
        check(rc, "halt %s/%s/%s" % k)

    def configure_account(self, account_type: str, account_id: str,
                          broker_type: str,
                          config: Optional[CircuitBreakerConfig]) -> None:
        """Give the account its own breaker config, or None to follow the
        segment's default again."""
        k = (account_type, account_id, broker_type)
        c = config.to_c() if config is not None else None
        p = byref(c) if c is not None else None
        rc = N.iso_configure(self._handle(*k), p)
        if rc == N.ISO_ESTALE:
            rc = N.iso_configure(self._refresh(k), p)
        check(rc, "configure %s/%s/%s" % k)

    def retire_account(self, account_type: str, account_id: str,
                       broker_type: str) -> bool:
        """The account is gone: free its slot (after the segment's cooldown).
        Returns False if it was not registered."""
        k = (account_type, account_id, broker_type)
        h = self._lookup(*k)
        if h is None:
            return False
        self._handles.pop(k, None)
        rc = N.iso_retire(h)
        if rc == N.ISO_ESTALE:
            return False
        check(rc, "retire %s/%s/%s" % k)
        return True

    def guard(self, account_type: str, account_id: str, broker_type: str,
              classify=None):
        """A context manager around one operation of the account; see
        isoreg.guard.Guard."""
        return _guard.Guard(self, account_type, account_id, broker_type,
                            classify)

    def guarded(self, account_type: str, account_id: str, broker_type: str,
                classify=None):
        """A decorator: every call of the function is one guarded operation
        of the account; see isoreg.guarded."""
        return _guard.guarded(account_type, account_id, broker_type,
                              manager=self, classify=classify)


# Reason texts come from the library (the reference's wording). The ones
# with no number in them (everything but "retry in Ns") are the same every
# time, so they are fetched once per reason code: formatting a string on
# every call would double the cost of can_execute_operation.
_reason_cache: Dict[int, str] = {}


def _reason(permit: N.IsoPermit) -> str:
    r = permit.reason
    s = _reason_cache.get(r)
    if s is not None:
        return s
    buf = create_string_buffer(N.ISO_KEY_STR_MAX + 128)
    n = N.iso_permit_reason(permit, buf, len(buf))
    s = buf.value[:max(n, 0)].decode("ascii", "replace")
    if r != N.ISO_REASON_OPEN and not any(ch.isdigit() for ch in s):
        _reason_cache[r] = s
    return s


def permit_reason(permit: N.IsoPermit) -> str:
    """The reference's wording for a permit's decision."""
    return _reason(permit)


def _retry_ms(seconds: Optional[float]) -> int:
    if seconds is None or seconds <= 0:
        return 0
    return min(int(seconds * 1000), N.c_uint64(-1).value)


def unlink_segment(name: str) -> bool:
    """Remove the segment @name (attached processes keep their mapping).
    Returns False if there was none."""
    rc = N.iso_unlink(_enc("segment", name))
    if rc == N.ISO_ENOENT:
        return False
    check(rc, "unlink %s" % name)
    return True


def segment_name() -> str:
    """The default segment: $ISOREG_SEGMENT, else "/isoreg"."""
    return N.text(N.iso_segment_name())


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
    "get_isolation_manager",
    "permit_reason",
    "segment_name",
    "status_dict",
    "unlink_segment",
]
