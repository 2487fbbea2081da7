"""guard() and @guarded: one account operation, asked for, timed and recorded.

The reference asks every caller to write the same four steps around each
exchange call: can_execute_operation, time the call, classify the exception,
record the outcome. These wrappers do them once, holding the permit the
breaker gave so the outcome lands in the episode it was taken in [B6].
`with` and `async with` both work, and @guarded wraps plain and async
functions alike.

classify_exception() turns an exception into a FailureType, and the
Retry-After the exchange sent. It never raises: anything it cannot read is
UNKNOWN_ERROR.
"""

from __future__ import annotations

import functools
import inspect
import re
import socket
import ssl
import time
import urllib.error
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from . import _native as N
from .errors import (AccountBlockedError, IsoregError, UnknownAccountError,
                     raise_for)
from .manager import (AccountHealthStatus, AccountIsolationManager,
                      FailureType, _FT_CODE, _FT_LIST, _HEALTH,
                      failure_type_code)

_FT_CODE_API = _FT_CODE[FailureType.API_ERROR]

Classification = Tuple[FailureType, Optional[float]]
Classifier = Callable[[BaseException],
                      Union[FailureType, Classification]]
F = TypeVar("F", bound=Callable[..., Any])

# What the library's message table cannot say: its answer for a text no
# row matches is API ("the exchange said no"), which is right for an
# exchange's error string but not for any Python exception. So an API
# answer is kept only when the text names an API problem; each word must
# start a word, so "api" does not match "capital".
_API_WORDS = re.compile(r"\b(?:api|eservice|service unavailable|"
                        r"bad gateway|internal server error|busy)")

_FT = FailureType

# Exchange-client exception classes, by class name: the classifier walks
# type(exc).__mro__ (most derived first) and the first name found here
# decides, so nothing is imported and a subclass the table does not name
# (ccxt's AccountSuspended under AuthenticationError) is found through its
# parent. docs/python.md has this table; add_exception_class() extends it.
EXCEPTION_CLASSES: Dict[str, FailureType] = {
    # ccxt (ccxt.base.errors). RateLimitExceeded and DDoSProtection are
    # NetworkError's subclasses there, RequestTimeout too: the walk meets
    # them first.
    "RateLimitExceeded": _FT.RATE_LIMIT_ERROR,
    "DDoSProtection": _FT.RATE_LIMIT_ERROR,
    "RequestTimeout": _FT.NETWORK_ERROR,
    "NetworkError": _FT.NETWORK_ERROR,          # also httpx.NetworkError
    "AuthenticationError": _FT.AUTHENTICATION_ERROR,
    "PermissionDenied": _FT.AUTHENTICATION_ERROR,
    "InsufficientFunds": _FT.BALANCE_ERROR,
    "InvalidOrder": _FT.EXECUTION_ERROR,
    "OrderNotFound": _FT.EXECUTION_ERROR,
    "ExchangeError": _FT.API_ERROR,
    # HTTP clients whose transport errors are not OSErrors.
    "TimeoutException": _FT.NETWORK_ERROR,      # httpx
    "TransportError": _FT.NETWORK_ERROR,        # httpx
    "ClientConnectionError": _FT.NETWORK_ERROR,  # aiohttp
    "Timeout": _FT.NETWORK_ERROR,               # requests
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def add_exception_class(name: str, failure_type: FailureType) -> None:
    """Classify exceptions whose class, or any base class, is named @name
    (the bare class name, e.g. "BadSymbol") as @failure_type. A later call
    for the same name replaces the earlier row. Process-local."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ValueError("add_exception_class: %r is not a class name" % name)
    EXCEPTION_CLASSES[name] = _FT_LIST[failure_type_code(failure_type)]


def _by_class_name(exc: BaseException) -> Optional[FailureType]:
    table = EXCEPTION_CLASSES
    for cls in type(exc).__mro__:
        ft = table.get(cls.__name__)
        if ft is not None:
            return ft
    return None


def _http_status(exc: BaseException) -> Optional[int]:
    # urllib's HTTPError has .code (and .status); requests/httpx errors carry
    # .response.status_code; many exchange SDKs put .status or .status_code
    # on the exception itself.
    for obj in (exc, getattr(exc, "response", None)):
        if obj is None:
            continue
        for attr in ("status_code", "status", "code"):
            v = getattr(obj, attr, None)
            if isinstance(v, int) and not isinstance(v, bool) \
                    and 100 <= v <= 599:
                return v
    return None


def _retry_after_value(exc: BaseException) -> Any:
    v = getattr(exc, "retry_after", None)
    if v is not None:
        return v
    for obj in (exc, getattr(exc, "response", None)):
        h = getattr(obj, "headers", None) if obj is not None else None
        if h is None:
            continue
        try:
            v = h.get("Retry-After")
            if v is None:
                v = h.get("retry-after")
        except Exception:
            return None
        return v
    return None


def parse_retry_after(value: Any, now: Optional[float] = None
                      ) -> Optional[float]:
    """Seconds to wait from a Retry-After value, read by the library's
    parser: delay-seconds ("120", or a number) or an IMF-fixdate
    ("Wed, 25 Nov 2026 10:00:00 GMT", relative to @now, default
    time.time()). None if absent or unreadable; 0 for a date already past.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(float(value), 0.0)
    if isinstance(value, bytes):
        raw = value
    else:
        raw = str(value).encode("ascii", "replace")
    if b"\0" in raw:
        return None  # a C string would end early: unreadable, not shorter
    base = int(time.time() if now is None else now)
    ms = N.retry_after_parse(raw, base)
    return None if ms is None else ms / 1000.0


def _retry_after(exc: BaseException) -> Optional[float]:
    return parse_retry_after(_retry_after_value(exc))


def add_message_rule(substring: str, failure_type: FailureType) -> None:
    """Teach this process one more exchange error text: messages containing
    @substring (case-insensitive) are @failure_type, before the built-in
    rows. Shared with C code in the same process (iso_classify_add_message).
    """
    if not isinstance(substring, str):
        raise ValueError("add_message_rule: %r is not a string" % substring)
    raw = substring.encode("ascii")
    if b"\0" in raw:
        raise ValueError("add_message_rule: %r contains a NUL character"
                         % substring)
    N.classify_add_message(raw, failure_type_code(failure_type))


def _c_text(text: str) -> bytes:
    # Bytes for the library's matcher: non-ASCII and NUL (which would end
    # the C string early) become '?'.
    return text.encode("ascii", "replace").replace(b"\0", b"?")


def classify_message(text: str) -> FailureType:
    """The FailureType of an error message, from the library's table of
    exchange texts (Kraken, Coinbase, Binance, and add_message_rule's);
    UNKNOWN_ERROR for a text that names no known problem."""
    if not text:
        return FailureType.UNKNOWN_ERROR
    code = N.classify_message(_c_text(text))
    if code == _FT_CODE_API and not _API_WORDS.search(text.lower()):
        return FailureType.UNKNOWN_ERROR
    return _FT_LIST[code] if 0 <= code < len(_FT_LIST) \
        else FailureType.UNKNOWN_ERROR


def classify_exception(exc: Any) -> Classification:
    """The FailureType of @exc and the Retry-After seconds it carries.

    In order: an explicit `failure_type` attribute on the exception (and its
    `retry_after`); an HTTP status on it or on its `.response` (the
    library's table: 401/403/407 authentication, 429 rate limit, 408/504
    network, 404/409/422 execution, other 4xx/5xx API; the wait is the
    library's reading of the Retry-After header or attribute, for any
    failing status: a 503 with Retry-After holds the breaker as in C);
    an exchange client's exception class by name (EXCEPTION_CLASSES: ccxt's
    hierarchy and a few HTTP clients', walking the MRO, nothing imported);
    a TLS certificate the peer failed to prove (ssl.SSLCertVerificationError,
    also inside urllib's URLError): authentication; network exception
    classes (ConnectionError, TimeoutError, socket and SSL errors, urllib's
    URLError); an OSError's errno (the library's errno table); then the
    message (the library's table of exchange texts: "insufficient funds"
    balance, "rate limit", "invalid api key", "timeout", "position", ...);
    else UNKNOWN_ERROR. Apart from HTTP, the wait is the exception's own
    `retry_after` or Retry-After header, when it has one. Never raises.
    """
    try:
        return _classify(exc)
    except Exception:  # an exception object whose attributes raise
        return FailureType.UNKNOWN_ERROR, None


def _classify(exc: Any) -> Classification:
    if exc is None:
        return FailureType.UNKNOWN_ERROR, None
    is_exc = isinstance(exc, BaseException)
    explicit = getattr(exc, "failure_type", None)
    if isinstance(explicit, FailureType):
        return explicit, _retry_after(exc) if is_exc else None
    if not is_exc:
        return classify_message(str(exc)), None
    status = _http_status(exc)
    if status is not None and status >= 400:
        ra = _retry_after_value(exc)
        raw = None if ra is None else _c_text(str(ra))
        code, ms = N.classify_http(status, raw, int(time.time()))
        if 0 <= code < len(_FT_LIST):
            return _FT_LIST[code], (ms / 1000.0 if ms else None)
    ft = _by_class_name(exc)
    if ft is not None:
        return ft, _retry_after(exc)
    if isinstance(exc, urllib.error.URLError) and \
            not isinstance(exc, urllib.error.HTTPError):
        # urlopen wraps what went wrong in .reason; look inside once.
        inner = exc.reason
        if isinstance(inner, ssl.SSLCertVerificationError):
            return FailureType.AUTHENTICATION_ERROR, None
        return FailureType.NETWORK_ERROR, None
    if isinstance(exc, ssl.SSLCertVerificationError):
        # The peer is not who it claims (as the library's curl table
        # says of TLS identity failures): retrying cannot help.
        return FailureType.AUTHENTICATION_ERROR, None
    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror,
                        socket.herror, ssl.SSLError)):
        return FailureType.NETWORK_ERROR, None
    if isinstance(exc, OSError) and exc.errno:
        code = N.classify_errno(exc.errno)
        if 0 <= code < len(_FT_LIST) and \
                _FT_LIST[code] is not FailureType.UNKNOWN_ERROR:
            return _FT_LIST[code], None
    try:
        msg = str(exc)
    except Exception:
        return FailureType.UNKNOWN_ERROR, None
    ft = classify_message(msg)
    return ft, (_retry_after(exc) if ft is not FailureType.UNKNOWN_ERROR
                else None)


def _run_classifier(classify: Optional[Classifier],
                    exc: BaseException) -> Classification:
    if classify is None:
        return classify_exception(exc)
    r = classify(exc)
    if isinstance(r, tuple):
        return r[0], r[1]
    return r, None


class Guard(N.X.GuardBase):
    """One guarded operation of an account (`with manager.guard(...)` or
    `async with manager.guard(...)`).

    On entry it asks the breaker (and registers the account if needed); a
    refusal raises AccountBlockedError with the reason. The body is timed
    with the monotonic clock time.perf_counter_ns reads. On exit a normal
    end records a success; an Exception is classified (classify_exception,
    or @classify) and recorded as a failure with its Retry-After, then
    propagates. A BaseException that is not an Exception
    (asyncio.CancelledError when a wait_for timed out or a task was
    cancelled, KeyboardInterrupt) is recorded as an UNKNOWN failure, as the
    C guard records an operation that left without an outcome: never a
    success nobody claimed, and a probe permit is given back at once.

    Inside the block, `g.reason` is the breaker's answer ("Healthy",
    "Degraded but operational", ...), `g.status` the account's health at
    entry, and `g.fail(...)` records a failure without raising.

    One Guard object serves one operation; every task of an asyncio program
    takes its own (manager.guard(...) makes a new one), so the permits of
    concurrent operations never mix. Entering, recording and the refusal
    are C (isoreg._isoreg.GuardBase); classifying an exception is Python.
    """

    __slots__ = ()

    def fail(self, failure_type: Union[FailureType, str, None] = None,
             error: Any = None,
             retry_after_seconds: Optional[float] = None) -> None:
        """Record this operation as failed now (the block then ends without
        recording anything more). With @failure_type None, @error is
        classified."""
        if not self._active:
            raise RuntimeError("Guard.fail: no operation in progress")
        if failure_type is None:
            failure_type, retry = classify_exception(error)
            if retry_after_seconds is None:
                retry_after_seconds = retry
        self._fail(failure_type_code(failure_type),
                   _retry_ms(retry_after_seconds))

    async def __aenter__(self) -> "Guard":
        return self.__enter__()

    async def __aexit__(self, et, ev, tb) -> bool:
        return self.__exit__(et, ev, tb)


_UNKNOWN_CODE = _FT_CODE[FailureType.UNKNOWN_ERROR]


def _guard_outcome(classify: Optional[Classifier],
                   exc: BaseException) -> Tuple[int, int]:
    """(failure type code, retry-after ms) of an exception that left a
    guard; UNKNOWN with no wait when the classifier fails or answers
    nonsense. Never raises (the C guard calls it from __exit__)."""
    try:
        ft, retry = _run_classifier(classify, exc)
        return failure_type_code(ft), _retry_ms(retry)
    except Exception:
        return _UNKNOWN_CODE, 0


def _retry_ms(seconds: Optional[float]) -> int:
    """Seconds as the library's milliseconds: 0 for none, OverflowError
    beyond 64 bits (never wrapped, never silently capped)."""
    if seconds is None or seconds != seconds or seconds <= 0:
        return 0
    ms = int(seconds * 1000)
    if ms > 0xFFFFFFFFFFFFFFFF:
        raise OverflowError("retry_after_seconds: %r is out of range"
                            % seconds)
    return ms


def guarded(account_type: str, account_id: str, broker_type: str, *,
            manager: Optional[AccountIsolationManager] = None,
            classify: Optional[Classifier] = None) -> Callable[[F], F]:
    """Decorator: each call of the function is one guarded operation of the
    account (see Guard). Works on plain and async functions.

    With @manager None the process-wide get_isolation_manager() is used,
    looked up at call time, so decorating attaches nothing.
    """
    def decorate(fn: F) -> F:
        def mgr() -> AccountIsolationManager:
            if manager is not None:
                return manager
            from .manager import get_isolation_manager
            return get_isolation_manager()

        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                with Guard(mgr(), account_type, account_id, broker_type,
                           classify):
                    return await fn(*args, **kwargs)
            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Guard(mgr(), account_type, account_id, broker_type,
                       classify):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorate


# What the C half raises and calls back: only on its slow paths (a failure
# type given as a string, or classified from an exception). Here, not in
# manager.py, because the classifier must exist first (manager imports this
# module last).
N.X._bind(IsoregError, UnknownAccountError, tuple(_FT_LIST),
          failure_type_code, classify_exception)
N.X._bind_guard(AccountBlockedError,
                tuple(_HEALTH[h] for h in range(N.ISO_HEALTH__COUNT)),
                _guard_outcome, Guard)
