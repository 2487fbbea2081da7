"""ctypes mirror of include/isoreg.h and the loader that finds libisoreg.so.

This module owns the binary interface: every structure here must have the
size and field offsets of its C twin (python/tests/test_abi.py compiles a
probe against the header to check), and every function gets argtypes and
restype so a wrong call is a TypeError rather than a corrupted stack.

It must never hold Python-level state about accounts: that lives in the
segment, which is the point of the library.

Where the library comes from, first match wins:
  1. ISOREG_LIB: a path to libisoreg.so, or to a directory holding it;
     if set and unusable, importing fails (no silent fallback).
  2. isoreg/_lib/libisoreg.so beside this file (`make python` copies it).
  3. The system: ctypes.util.find_library("isoreg"), libisoreg.so.0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import List, Optional

# ------------------------------------------------------------ constants

ISO_OK = 0
ISO_EINVAL = -1
ISO_ENOENT = -2
ISO_EEXIST = -3
ISO_EFULL = -4
ISO_ECORRUPT = -5
ISO_EVERSION = -6
ISO_ESTALE = -7
ISO_EOPEN = -8
ISO_ERDONLY = -9
ISO_ESYS = -10
ISO_ENOMEM = -11
ISO_EPERM = -12
ISO_EBUSY = -13

ERROR_NAMES = {
    ISO_EINVAL: "ISO_EINVAL",
    ISO_ENOENT: "ISO_ENOENT",
    ISO_EEXIST: "ISO_EEXIST",
    ISO_EFULL: "ISO_EFULL",
    ISO_ECORRUPT: "ISO_ECORRUPT",
    ISO_EVERSION: "ISO_EVERSION",
    ISO_ESTALE: "ISO_ESTALE",
    ISO_EOPEN: "ISO_EOPEN",
    ISO_ERDONLY: "ISO_ERDONLY",
    ISO_ESYS: "ISO_ESYS",
    ISO_ENOMEM: "ISO_ENOMEM",
    ISO_EPERM: "ISO_EPERM",
    ISO_EBUSY: "ISO_EBUSY",
}

ISO_FAIL__COUNT = 8
ISO_HEALTH__COUNT = 5
ISO_HIST_BUCKETS = 18
ISO_REPORT_MAX_BROKERS = 64

ISO_TYPE_MAX = 15
ISO_ID_MAX = 63
ISO_BROKER_MAX = 15
ISO_KEY_STR_MAX = ISO_TYPE_MAX + ISO_ID_MAX + ISO_BROKER_MAX + 2

# enum iso_health, in the C order (by severity).
ISO_HEALTHY, ISO_DEGRADED, ISO_RECOVERING, ISO_QUARANTINED, ISO_FAILING = range(5)

# enum iso_breaker_state.
(ISO_BREAKER_CLOSED, ISO_BREAKER_OPEN, ISO_BREAKER_HALF_OPEN,
 ISO_BREAKER_FORCED_OPEN) = range(4)

# enum iso_reason.
(ISO_REASON_HEALTHY, ISO_REASON_DEGRADED, ISO_REASON_PROBE, ISO_REASON_OPEN,
 ISO_REASON_HALF_OPEN_LIMIT, ISO_REASON_FORCED_OPEN,
 ISO_REASON_OBSERVED, ISO_REASON_RECOVERY) = range(8)

ISO_NOT_A_FAILURE = -1
ISO_CALL_FAILED = 1

ISO_CFG_OBSERVE_ONLY = 0x1

ISO_ATTACH_CREATE = 0x1
ISO_ATTACH_EXCL = 0x2
ISO_ATTACH_RDONLY = 0x4

ISO_PERMIT_PROBE = 0x1
ISO_PERMIT_OBSERVED = 0x2

# ----------------------------------------------------------- structures


class IsoKey(Structure):
    _fields_ = [
        ("type", c_char * (ISO_TYPE_MAX + 1)),
        ("id", c_char * (ISO_ID_MAX + 1)),
        ("broker", c_char * (ISO_BROKER_MAX + 1)),
    ]

    def text(self) -> str:
        """The key as "type/id/BROKER" (the reference's account key)."""
        return "%s/%s/%s" % (self.type.decode(), self.id.decode(),
                             self.broker.decode())


class IsoConfig(Structure):
    _fields_ = [
        ("failure_threshold", c_uint32),
        ("success_threshold", c_uint32),
        ("half_open_max_calls", c_uint32),
        ("degrade_after", c_uint32),
        ("open_timeout_ms", c_uint32),
        ("max_open_timeout_ms", c_uint32),
        ("probe_timeout_ms", c_uint32),
        ("trip_on", c_uint32),
        ("ignore", c_uint32),
        ("flags", c_uint32),
    ]

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, f) for f, _ in self._fields_)


class IsoAttachOpts(Structure):
    _fields_ = [
        ("flags", c_uint32),
        ("capacity", c_uint32),
        ("mode", c_uint32),  # mode_t is unsigned int on Linux
        ("retire_cooldown_ms", c_uint32),
        ("defaults", POINTER(IsoConfig)),
        ("attach_timeout_ms", c_uint32),
        ("owner", c_uint32),  # uid_t
        ("events", c_uint32),
    ]


class IsoSegmentInfo(Structure):
    _fields_ = [
        ("name", c_char * 256),
        ("capacity", c_uint32),
        ("used", c_uint32),
        ("live", c_uint32),
        ("dir_capacity", c_uint32),
        ("dir_tombstones", c_uint32),
        ("ring_capacity", c_uint32),
        ("slot_size", c_uint32),
        ("segment_size", c_uint64),
        ("bytes_per_account", c_uint64),
        ("generation", c_uint64),
        ("retire_cooldown_ms", c_uint32),
        ("layout_version", c_uint32),
        ("read_only", c_bool),
        ("defaults", IsoConfig),
    ]


class IsoAccount(Structure):
    _fields_ = [
        ("reg", c_void_p),
        ("slot", c_uint32),
        ("gen", c_uint32),
    ]


class IsoPermit(Structure):
    _fields_ = [
        ("slot", c_uint32),
        ("gen", c_uint32),
        ("episode", c_uint32),
        ("flags", c_uint16),
        ("reason", c_uint8),
        ("health", c_uint8),
        ("retry_in_ms", c_uint64),
    ]


class IsoStatus(Structure):
    _fields_ = [
        ("key", IsoKey),
        ("slot", c_uint32),
        ("gen", c_uint32),
        ("health", c_int),
        ("breaker", c_int),
        ("operations", c_uint64),
        ("successes", c_uint64),
        ("failures", c_uint64),
        ("failures_by_type", c_uint64 * ISO_FAIL__COUNT),
        ("consecutive_failures", c_uint32),
        ("consecutive_successes", c_uint32),
        ("probes_in_flight", c_uint32),
        ("backoff_step", c_uint32),
        ("episode", c_uint32),
        ("quarantines", c_uint64),
        ("last_success_ms", c_int64),
        ("last_failure_ms", c_int64),
        ("last_transition_ms", c_int64),
        ("last_cause", c_int),
        ("last_failure_type", c_int),
        ("retry_in_ms", c_uint64),
        ("avg_op_ms", c_double),
        ("ema_op_ms", c_double),
        ("p50_op_ns", c_uint64),
        ("p99_op_ns", c_uint64),
        ("timed_operations", c_uint64),
        ("hist", c_uint64 * ISO_HIST_BUCKETS),
        ("config", IsoConfig),
        ("config_override", c_bool),
        ("broker_halted", c_bool),
    ]


class IsoBrokerSummary(Structure):
    _fields_ = [
        ("broker", c_char * (ISO_BROKER_MAX + 1)),
        ("accounts", c_uint32),
        ("unhealthy", c_uint32),
        ("degraded", c_uint32),
    ]


class IsoReport(Structure):
    _fields_ = [
        ("total_accounts", c_uint32),
        ("by_health", c_uint32 * ISO_HEALTH__COUNT),
        ("total_operations", c_uint64),
        ("total_failures", c_uint64),
        ("total_quarantines", c_uint64),
        ("cross_account_errors", c_uint64),
        ("isolation_active", c_bool),
        ("capacity", c_uint32),
        ("brokers_count", c_uint32),
        ("brokers", IsoBrokerSummary * ISO_REPORT_MAX_BROKERS),
        ("brokers_dropped", c_uint32),
    ]


# Every structure the ABI test compares against the C header.
STRUCTS = {
    "iso_key": IsoKey,
    "iso_config": IsoConfig,
    "iso_attach_opts": IsoAttachOpts,
    "iso_segment_info": IsoSegmentInfo,
    "iso_account": IsoAccount,
    "iso_permit": IsoPermit,
    "iso_status": IsoStatus,
    "iso_broker_summary": IsoBrokerSummary,
    "iso_report": IsoReport,
}

FOREACH_FN = CFUNCTYPE(c_int, POINTER(IsoStatus), c_void_p)
CLOCK_FN = CFUNCTYPE(c_uint64, c_void_p)

# --------------------------------------------------------------- loading

_HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED_LIB = os.path.join(_HERE, "_lib", "libisoreg.so")


def _candidates() -> List[str]:
    env = os.environ.get("ISOREG_LIB")
    if env:
        if os.path.isdir(env):
            env = os.path.join(env, "libisoreg.so")
        return [env]
    names = []
    if os.path.exists(BUNDLED_LIB):
        names.append(BUNDLED_LIB)
    found = ctypes.util.find_library("isoreg")
    if found:
        names.append(found)
    names += ["libisoreg.so.0", "libisoreg.so"]
    return names


def _load():
    tried = []
    for name in _candidates():
        try:
            # Two views of one dlopen()ed object: CDLL releases the GIL
            # around calls that may wait (attach waits for a creator, foreach
            # walks the whole segment); PyDLL keeps it for the hot path,
            # whose calls take no lock and make no system call, so dropping
            # and retaking the GIL would cost more than the call itself.
            return ctypes.CDLL(name), ctypes.PyDLL(name), name
        except OSError as exc:
            tried.append("%s (%s)" % (name, exc))
    hint = ("set ISOREG_LIB to the path of libisoreg.so, run `make python`, "
            "or install the library (`make install`)")
    raise ImportError("isoreg: cannot load libisoreg.so; tried: %s; %s"
                      % ("; ".join(tried), hint))


lib, hot, LIB_PATH = _load()


def _proto(dll, name, restype, *argtypes):
    fn = getattr(dll, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


_P = POINTER
_ACCT = _P(IsoAccount)
_PERMIT = _P(IsoPermit)

# Errors and names.
iso_strerror = _proto(lib, "iso_strerror", c_char_p, c_int)
iso_last_error = _proto(lib, "iso_last_error", c_char_p)
iso_failure_type_name = _proto(lib, "iso_failure_type_name", c_char_p, c_int)
iso_health_name = _proto(lib, "iso_health_name", c_char_p, c_int)
iso_breaker_state_name = _proto(lib, "iso_breaker_state_name", c_char_p, c_int)
iso_reason_name = _proto(lib, "iso_reason_name", c_char_p, c_int)
iso_failure_type_parse = _proto(lib, "iso_failure_type_parse", c_int, c_char_p)
iso_cause_name = _proto(lib, "iso_cause_name", c_char_p, c_int)

# Keys and configuration.
iso_key_make = _proto(lib, "iso_key_make", c_int,
                      c_char_p, c_char_p, c_char_p, _P(IsoKey))
iso_key_format = _proto(lib, "iso_key_format", c_int,
                        _P(IsoKey), c_char_p, c_size_t)
iso_config_default = _proto(lib, "iso_config_default", None, _P(IsoConfig))
iso_config_validate = _proto(lib, "iso_config_validate", c_int, _P(IsoConfig))

# Segment.
iso_segment_name = _proto(lib, "iso_segment_name", c_char_p)
iso_attach = _proto(lib, "iso_attach", c_int,
                    c_char_p, _P(IsoAttachOpts), _P(c_void_p))
iso_detach = _proto(lib, "iso_detach", c_int, c_void_p)
iso_unlink = _proto(lib, "iso_unlink", c_int, c_char_p)
iso_segment_info = _proto(lib, "iso_segment_info", c_int,
                          c_void_p, _P(IsoSegmentInfo))
iso_configure_default = _proto(lib, "iso_configure_default", c_int,
                               c_void_p, _P(IsoConfig))

# Accounts.
iso_register = _proto(lib, "iso_register", c_int,
                      c_void_p, c_char_p, c_char_p, c_char_p, _ACCT)
iso_lookup = _proto(lib, "iso_lookup", c_int,
                    c_void_p, c_char_p, c_char_p, c_char_p, _ACCT)
iso_account_key = _proto(lib, "iso_account_key", c_int, _ACCT, _P(IsoKey))

# The hot path: GIL kept (see _load).
iso_acquire = _proto(hot, "iso_acquire", c_int, _ACCT, _PERMIT)
iso_record_success = _proto(hot, "iso_record_success", c_int,
                            _ACCT, _PERMIT, c_uint64)
iso_record_failure = _proto(hot, "iso_record_failure", c_int,
                            _ACCT, _PERMIT, c_int, c_uint64)
iso_record_failure_retry = _proto(hot, "iso_record_failure_retry", c_int,
                                  _ACCT, _PERMIT, c_int, c_uint64, c_uint64)
iso_permit_reason = _proto(hot, "iso_permit_reason", c_int,
                           _PERMIT, c_char_p, c_size_t)

# Status and reports.
iso_status = _proto(lib, "iso_status", c_int, _ACCT, _P(IsoStatus))
iso_status_by_key = _proto(lib, "iso_status_by_key", c_int,
                           c_void_p, c_char_p, c_char_p, c_char_p,
                           _P(IsoStatus))
iso_foreach = _proto(lib, "iso_foreach", c_int, c_void_p, FOREACH_FN, c_void_p)
iso_report = _proto(lib, "iso_report", c_int, c_void_p, _P(IsoReport))

# Operators.
iso_reset = _proto(lib, "iso_reset", c_int, _ACCT)
iso_force_open = _proto(lib, "iso_force_open", c_int, _ACCT)
iso_configure = _proto(lib, "iso_configure", c_int, _ACCT, _P(IsoConfig))
iso_retire = _proto(lib, "iso_retire", c_int, _ACCT)

# Classification (pure, process-local tables): GIL kept like the hot path.
iso_classify_errno = _proto(hot, "iso_classify_errno", c_int, c_int)
iso_classify_http = _proto(hot, "iso_classify_http", c_int,
                           c_int, c_char_p, c_int64, _P(c_uint64))
iso_classify_message = _proto(hot, "iso_classify_message", c_int, c_char_p)
iso_retry_after_parse = _proto(hot, "iso_retry_after_parse", c_int,
                               c_char_p, c_int64, _P(c_uint64))
iso_classify_add_message = _proto(lib, "iso_classify_add_message", c_int,
                                  c_char_p, c_int)

# Clock (tests).
# The function is passed as c_void_p so that None (restore the real clock)
# needs no special case; callers keep the CLOCK_FN object alive.
iso_clock_set = _proto(lib, "iso_clock_set", None, c_void_p, c_void_p)
iso_now_ns = _proto(lib, "iso_now_ns", c_uint64)


def text(b: Optional[bytes]) -> str:
    """Decode a C string the library returned (ASCII by construction)."""
    return b.decode("ascii", "replace") if b else ""
