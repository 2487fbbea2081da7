"""Exchange clients' exceptions, by class name (issue 17), and what the
library decides that Python no longer re-decides (C retry-after, defaults,
state names).

The classes below mimic ccxt's hierarchy (ccxt.base.errors) by name only:
the classifier walks the MRO's class names and imports nothing.
"""

import os
import re
import time
import unittest
import urllib.error

import _support
from isoreg import (EXCEPTION_CLASSES, AccountIsolationManager,
                    CircuitBreakerConfig, FailureType, add_exception_class,
                    classify_exception)
from isoreg import _native as N
from isoreg.testing import ManualClock

FT = FailureType


# ccxt's hierarchy, names only.
class BaseError(Exception): pass                         # noqa: E701
class ExchangeError(BaseError): pass                     # noqa: E701
class AuthenticationError(ExchangeError): pass           # noqa: E701
class PermissionDenied(AuthenticationError): pass        # noqa: E701
class AccountSuspended(AuthenticationError): pass        # noqa: E701
class BadRequest(ExchangeError): pass                    # noqa: E701
class BadSymbol(BadRequest): pass                        # noqa: E701
class InsufficientFunds(ExchangeError): pass             # noqa: E701
class InvalidOrder(ExchangeError): pass                  # noqa: E701
class OrderNotFound(InvalidOrder): pass                  # noqa: E701
class OperationFailed(BaseError): pass                   # noqa: E701
class NetworkError(OperationFailed): pass                # noqa: E701
class DDoSProtection(NetworkError): pass                 # noqa: E701
class RateLimitExceeded(DDoSProtection): pass            # noqa: E701
class RequestTimeout(NetworkError): pass                 # noqa: E701
class ExchangeNotAvailable(NetworkError): pass           # noqa: E701


def http_error(code, headers=None):
    return urllib.error.HTTPError("https://api.example/x", code, "err",
                                  headers or {}, None)


class ExchangeExceptionTests(unittest.TestCase):
    def test_ccxt_hierarchy(self):
        cases = [
            (NetworkError, FT.NETWORK_ERROR),
            (RequestTimeout, FT.NETWORK_ERROR),
            (ExchangeNotAvailable, FT.NETWORK_ERROR),   # via NetworkError
            (AuthenticationError, FT.AUTHENTICATION_ERROR),
            (PermissionDenied, FT.AUTHENTICATION_ERROR),
            (AccountSuspended, FT.AUTHENTICATION_ERROR),
            (RateLimitExceeded, FT.RATE_LIMIT_ERROR),   # before NetworkError
            (DDoSProtection, FT.RATE_LIMIT_ERROR),
            (InsufficientFunds, FT.BALANCE_ERROR),
            (InvalidOrder, FT.EXECUTION_ERROR),
            (OrderNotFound, FT.EXECUTION_ERROR),
            (ExchangeError, FT.API_ERROR),
            (BadRequest, FT.API_ERROR),                 # via ExchangeError
        ]
        for cls, ft in cases:
            with self.subTest(cls=cls.__name__):
                # A message that names another problem: the class wins.
                self.assertEqual(classify_exception(
                    cls("kraken {\"error\":[\"EGeneral:Unknown\"]}")),
                    (ft, None))

    def test_the_class_beats_the_message(self):
        e = InsufficientFunds('kraken {"error":["EAPI:Invalid key"]}')
        self.assertIs(classify_exception(e)[0], FT.BALANCE_ERROR)

    def test_a_retry_after_on_the_exception_is_kept(self):
        e = RateLimitExceeded("binance 429")
        e.retry_after = 7
        self.assertEqual(classify_exception(e), (FT.RATE_LIMIT_ERROR, 7.0))

    def test_the_table_is_extensible(self):
        self.addCleanup(EXCEPTION_CLASSES.pop, "BadSymbol", None)
        self.assertIs(classify_exception(BadSymbol("x"))[0], FT.API_ERROR)
        add_exception_class("BadSymbol", FT.EXECUTION_ERROR)
        self.assertIs(classify_exception(BadSymbol("x"))[0],
                      FT.EXECUTION_ERROR)
        add_exception_class("BadSymbol", "position_error")
        self.assertIs(classify_exception(BadSymbol("x"))[0],
                      FT.POSITION_ERROR)
        for bad in ("", "ccxt.BadSymbol", "Bad Symbol", None):
            with self.assertRaises(ValueError):
                add_exception_class(bad, FT.API_ERROR)
        with self.assertRaises(ValueError):
            add_exception_class("Other", "meteor")

    def test_record_failure_classifies_by_class(self):
        with AccountIsolationManager() as m:
            m.record_failure("user", "u", "KRAKEN",
                             InsufficientFunds("not enough USD"), None)
            m.record_failure("user", "u", "KRAKEN",
                             PermissionDenied("key lacks trade rights"),
                             None)
            self.assertEqual(m.get_account_status("user", "u", "KRAKEN")[1]
                             ["failure_breakdown"],
                             {"balance_error": 1, "authentication_error": 1})

    def test_the_documented_table_is_the_table(self):
        # docs/python.md lists every row; README must stay true.
        with open(os.path.join(_support.REPO, "docs", "python.md")) as f:
            doc = f.read()
        rows = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", doc, re.M))
        self.assertEqual(rows, {k: v.name for k, v in
                                EXCEPTION_CLASSES.items()})


class LibraryDecidesTests(unittest.TestCase):
    def test_http_retry_after_is_the_librarys_for_any_failure(self):
        # A 503 with Retry-After: the library's classifier gives the wait
        # (iso_classify_http), not only for 429.
        self.assertEqual(classify_exception(
            http_error(503, {"Retry-After": "60"})), (FT.API_ERROR, 60.0))
        self.assertEqual(classify_exception(http_error(503)),
                         (FT.API_ERROR, None))

    def test_a_503_with_retry_after_holds_the_breaker(self):
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=2, timeout_seconds=5)) as m, \
                ManualClock() as clock:
            acct = ("user", "u", "COINBASE")
            for _ in range(2):
                with self.assertRaises(urllib.error.HTTPError):
                    with m.guard(*acct):
                        raise http_error(503, {"Retry-After": "60"})
            clock.advance(30)
            self.assertFalse(m.can_execute_operation(*acct)[0])
            clock.advance(31)
            self.assertTrue(m.can_execute_operation(*acct)[0])

    def test_config_defaults_are_the_librarys(self):
        d = N.config_default()
        c = CircuitBreakerConfig()
        self.assertEqual(c.to_c(), d)
        self.assertEqual((c.failure_threshold, c.success_threshold,
                          c.half_open_max_calls, c.degrade_after),
                         d[:4])
        self.assertEqual(c.timeout_seconds * 1000, d[4])
        self.assertEqual(c.probe_timeout_seconds * 1000, d[6])

    def test_state_names_are_the_librarys(self):
        with AccountIsolationManager(CircuitBreakerConfig(
                failure_threshold=1)) as m:
            m.record_failure("user", "u", "KRAKEN", None, FT.API_ERROR)
            status, md = m.get_account_status("user", "u", "KRAKEN")
            self.assertEqual(md["breaker_state"],
                             N.breaker_state_name(N.ISO_BREAKER_OPEN))
            self.assertEqual(status.value,
                             N.health_name(N.ISO_QUARANTINED).lower())
            self.assertGreater(md["retry_in_seconds"], 0)
            self.assertLess(md["last_failure_time"], time.time() + 1)


if __name__ == "__main__":
    unittest.main()
