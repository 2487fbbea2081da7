"""guard() and @guarded: one account operation, asked for, timed and recorded.

The reference asks every caller to write the same four steps around each
exchange call: can_execute_operation, time the call, classify the exception,
record the outcome. These wrappers do them once, holding the permit the
breaker gave so the outcome lands in the episode it was taken in [B6].

classify_exception() turns an exception into a FailureType, and, for rate
limits, the Retry-After the exchange sent. It never raises: anything it
cannot read is UNKNOWN_ERROR.
"""

from __future__ import annotations

import functools
import inspect
import re
import socket
import ssl
import time
import urllib.error
from typing import Any, Callable, Optional, Tuple, TypeVar, Union

from . import _native as N
from .errors import AccountBlockedError, raise_for
from .manager import (AccountHealthStatus, AccountIsolationManager,
                      FailureType, _FT_CODE, _FT_LIST, _HEALTH, _reason,
                      _retry_ms, failure_type_code)

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
    out = N.c_uint64()
    base = int(time.time() if now is None else now)
    if N.iso_retry_after_parse(raw, base, out) != 0:
        return None
    return out.value / 1000.0


def _retry_after(exc: BaseException) -> Optional[float]:
    return parse_retry_after(_retry_after_value(exc))


def add_message_rule(substring: str, failure_type: FailureType) -> None:
    """Teach this process one more exchange error text: messages containing
    @substring (case-insensitive) are @failure_type, before the built-in
    rows. Shared with C code in the same process (iso_classify_add_message).
    """
    from .errors import check
    check(N.iso_classify_add_message(substring.encode("ascii"),
                                     failure_type_code(failure_type)),
          "classify_add_message")


def classify_message(text: str) -> FailureType:
    """The FailureType of an error message, from the library's table of
    exchange texts (Kraken, Coinbase, Binance, and add_message_rule's);
    UNKNOWN_ERROR for a text that names no known problem."""
    if not text:
        return FailureType.UNKNOWN_ERROR
    code = N.iso_classify_message(text.encode("ascii", "replace"))
    if code == _FT_CODE_API and not _API_WORDS.search(text.lower()):
        return FailureType.UNKNOWN_ERROR
    return _FT_LIST[code] if 0 <= code < len(_FT_LIST) \
        else FailureType.UNKNOWN_ERROR


def classify_exception(exc: Any) -> Classification:
    """The FailureType of @exc and, for rate limits, the Retry-After seconds.

    In order: an explicit `failure_type` attribute on the exception (and its
    `retry_after`); an HTTP status on it or on its `.response` (the
    library's table: 401/403/407 authentication, 429 rate limit with the
    Retry-After header, 408/504 network, 404/409/422 execution, other
    4xx/5xx API); a TLS certificate the peer failed to prove
    (ssl.SSLCertVerificationError, also inside urllib's URLError):
    authentication; network exception classes (ConnectionError,
    TimeoutError, socket and SSL errors, urllib's URLError); an OSError's
    errno (the library's errno table); then the message (the library's
    table of exchange texts: "insufficient funds" balance, "rate limit",
    "invalid api key", "timeout", "position", ...); else UNKNOWN_ERROR.
    Never raises.
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
    if is_exc:
        status = _http_status(exc)
        if status is not None and status >= 400:
            ra = _retry_after_value(exc)
            raw = None if ra is None else str(ra).encode("ascii", "replace")
            out = N.c_uint64()
            code = N.iso_classify_http(status, raw, int(time.time()), out)
            if 0 <= code < len(_FT_LIST):
                ft = _FT_LIST[code]
                retry = None
                if ft is FailureType.RATE_LIMIT_ERROR and ra is not None:
                    retry = parse_retry_after(ra)
                return ft, retry
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
            code = N.iso_classify_errno(exc.errno)
            if 0 <= code < len(_FT_LIST) and \
                    _FT_LIST[code] is not FailureType.UNKNOWN_ERROR:
                return _FT_LIST[code], None
    try:
        msg = str(exc)
    except Exception:
        return FailureType.UNKNOWN_ERROR, None
    ft = classify_message(msg)
    retry = None
    if ft is FailureType.RATE_LIMIT_ERROR and is_exc:
        retry = _retry_after(exc)
    return ft, retry


def _run_classifier(classify: Optional[Classifier],
                    exc: BaseException) -> Classification:
    if classify is None:
        return classify_exception(exc)
    r = classify(exc)
    if isinstance(r, tuple):
        return r[0], r[1]
    return r, None


class Guard:
    """One guarded operation of an account (`with manager.guard(...)`).

    On entry it asks the breaker (and registers the account if needed); a
    refusal raises AccountBlockedError with the reason. The body is timed
    with time.perf_counter_ns. On exit a normal end records a success; an
    Exception is classified (classify_exception, or @classify) and recorded
    as a failure with its Retry-After, then propagates. A BaseException that
    is not an Exception (asyncio.CancelledError when a wait_for timed out,
    KeyboardInterrupt) is recorded as an UNKNOWN failure, as the C guard
    records an operation that left without an outcome: never a success
    nobody claimed, and a probe permit is given back at once.

    Inside the block, `g.reason` is the breaker's answer ("Healthy",
    "Degraded but operational", ...), `g.status` the account's health at
    entry, and `g.fail(...)` records a failure without raising.

    Usable with `async with` as well; one Guard object serves one operation.
    """

    __slots__ = ("manager", "key", "classify", "_acct", "_permit", "_t0",
                 "_done")

    def __init__(self, manager: AccountIsolationManager, account_type: str,
                 account_id: str, broker_type: str,
                 classify: Optional[Classifier] = None):
        self.manager = manager
        self.key = (account_type, account_id, broker_type)
        self.classify = classify
        self._acct: Optional[N.IsoAccount] = None
        self._permit = N.IsoPermit()
        self._t0 = 0
        self._done = False

    @property
    def reason(self) -> str:
        return _reason(self._permit)

    @property
    def status(self) -> AccountHealthStatus:
        return _HEALTH.get(self._permit.health, AccountHealthStatus.HEALTHY)

    @property
    def account(self) -> str:
        return "%s/%s/%s" % self.key

    def __enter__(self) -> "Guard":
        m = self.manager
        k = self.key
        acct = m._handles.get(k) or m._register(k)
        rc = N.iso_acquire(acct, self._permit)
        if rc == N.ISO_ESTALE:
            acct = m._refresh(k)
            rc = N.iso_acquire(acct, self._permit)
        if rc == N.ISO_EOPEN:
            p = self._permit
            retry = p.retry_in_ms / 1000.0 if p.reason == N.ISO_REASON_OPEN \
                else None
            raise AccountBlockedError(_reason(p), self._key_text(acct),
                                      self.status, retry)
        if rc:
            raise_for(rc, "acquire %s/%s/%s" % k)
        self._acct = acct
        self._done = False
        self._t0 = time.perf_counter_ns()
        return self

    def _key_text(self, acct: N.IsoAccount) -> str:
        key = N.IsoKey()
        if N.iso_account_key(acct, key) == 0:
            return key.text()
        return self.account

    def fail(self, failure_type: Union[FailureType, str, None] = None,
             error: Any = None,
             retry_after_seconds: Optional[float] = None) -> None:
        """Record this operation as failed now (the block then ends without
        recording anything more). With @failure_type None, @error is
        classified."""
        if self._acct is None or self._done:
            raise RuntimeError("Guard.fail: no operation in progress")
        dt = time.perf_counter_ns() - self._t0
        if failure_type is None:
            failure_type, retry = classify_exception(error)
            if retry_after_seconds is None:
                retry_after_seconds = retry
        self._record_failure(failure_type_code(failure_type), dt,
                             retry_after_seconds)

    def _record_failure(self, code: int, dt: int,
                        retry: Optional[float]) -> None:
        self._done = True
        rc = N.iso_record_failure_retry(self._acct, self._permit, code, dt,
                                        _retry_ms(retry))
        # ISO_ESTALE: the account was retired while we worked; the outcome
        # belongs to nobody now, and retrying on a new registration would
        # credit work to an account that did not do it.
        if rc and rc != N.ISO_ESTALE:
            raise_for(rc, "record_failure %s/%s/%s" % self.key)

    def __exit__(self, et, ev, tb) -> bool:
        if self._acct is None or self._done:
            return False
        dt = time.perf_counter_ns() - self._t0
        if et is None:
            self._done = True
            rc = N.iso_record_success(self._acct, self._permit, dt)
            if rc and rc != N.ISO_ESTALE:
                raise_for(rc, "record_success %s/%s/%s" % self.key)
            return False
        code, retry = _FT_CODE[FailureType.UNKNOWN_ERROR], None
        if issubclass(et, Exception):
            try:
                ft, retry = _run_classifier(self.classify, ev)
                code = failure_type_code(ft)
            except Exception:
                code, retry = _FT_CODE[FailureType.UNKNOWN_ERROR], None
        self._record_failure(code, dt, retry)
        return False

    async def __aenter__(self) -> "Guard":
        return self.__enter__()

    async def __aexit__(self, et, ev, tb) -> bool:
        return self.__exit__(et, ev, tb)


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
