"""classify_exception: from an exception to a FailureType (and Retry-After).

The HTTP, errno and message tables are the library's, so C and Python
traders classify the same failure the same way.
"""

import errno
import socket
import ssl
import time
import unittest
import urllib.error
from email.utils import formatdate

import _support  # noqa: F401  (puts the package on sys.path)
from isoreg import FailureType, classify_exception, parse_retry_after
from isoreg.guard import add_message_rule, classify_message

FT = FailureType


def http_error(code, headers=None):
    return urllib.error.HTTPError("https://api.example/x", code, "err",
                                  headers or {}, None)


class Response:
    def __init__(self, status_code, headers=None):
        self.status_code = status_code
        self.headers = headers or {}


class ClientError(Exception):
    """Shaped like requests.HTTPError: the status is on .response."""

    def __init__(self, msg, response):
        super().__init__(msg)
        self.response = response


class ClassifyTests(unittest.TestCase):
    def check(self, exc, ft, retry=None):
        got = classify_exception(exc)
        self.assertIs(got[0], ft, repr(exc))
        if retry is None:
            self.assertIsNone(got[1], repr(exc))
        else:
            self.assertAlmostEqual(got[1], retry, delta=2, msg=repr(exc))

    def test_http_statuses(self):
        self.check(http_error(401), FT.AUTHENTICATION_ERROR)
        self.check(http_error(403), FT.AUTHENTICATION_ERROR)
        self.check(http_error(429), FT.RATE_LIMIT_ERROR)
        self.check(http_error(429, {"Retry-After": "7"}), FT.RATE_LIMIT_ERROR,
                   7)
        self.check(http_error(500), FT.API_ERROR)
        self.check(http_error(502), FT.API_ERROR)
        self.check(http_error(408), FT.NETWORK_ERROR)

    def test_status_attributes_of_other_clients(self):
        self.check(ClientError("x", Response(403)), FT.AUTHENTICATION_ERROR)
        self.check(ClientError("x", Response(429, {"retry-after": "3"})),
                   FT.RATE_LIMIT_ERROR, 3)
        e = Exception("server said no")
        e.status = 503
        self.check(e, FT.API_ERROR)
        e = Exception("slow down")
        e.status_code = 429
        e.retry_after = 12
        self.check(e, FT.RATE_LIMIT_ERROR, 12)

    def test_retry_after_http_date(self):
        when = formatdate(time.time() + 90, usegmt=True)
        self.check(http_error(429, {"Retry-After": when}),
                   FT.RATE_LIMIT_ERROR, 90)
        self.assertEqual(parse_retry_after(formatdate(0, usegmt=True)), 0.0)
        self.assertEqual(parse_retry_after("120"), 120.0)
        self.assertEqual(parse_retry_after(2.5), 2.5)
        self.assertIsNone(parse_retry_after("soon"))
        self.assertIsNone(parse_retry_after(None))

    def test_network_exception_classes(self):
        for exc in (ConnectionError("x"), ConnectionResetError("x"),
                    ConnectionRefusedError("x"), TimeoutError("x"),
                    socket.timeout("x"), socket.gaierror(-2, "x"),
                    ssl.SSLError("x"),
                    urllib.error.URLError("no route to host")):
            with self.subTest(exc=exc):
                self.check(exc, FT.NETWORK_ERROR)

    def test_tls_identity_failures_are_authentication(self):
        bad_cert = ssl.SSLCertVerificationError(1, "certificate verify "
                                                "failed: self-signed")
        self.check(bad_cert, FT.AUTHENTICATION_ERROR)
        self.check(urllib.error.URLError(bad_cert), FT.AUTHENTICATION_ERROR)
        self.check(urllib.error.URLError(ConnectionRefusedError(111, "x")),
                   FT.NETWORK_ERROR)

    def test_os_errors_go_through_the_errno_table(self):
        self.check(OSError(errno.ECONNRESET, "reset"), FT.NETWORK_ERROR)
        self.check(OSError(errno.EHOSTUNREACH, "unreachable"),
                   FT.NETWORK_ERROR)

    def test_messages(self):
        self.check(Exception("EOrder:Insufficient funds"), FT.BALANCE_ERROR)
        self.check(RuntimeError("insufficient funds for order"),
                   FT.BALANCE_ERROR)
        self.check(Exception("EAPI:Invalid key"), FT.AUTHENTICATION_ERROR)
        self.check(Exception("EAPI:Rate limit exceeded"), FT.RATE_LIMIT_ERROR)
        self.check(Exception("read timed out"), FT.NETWORK_ERROR)
        self.check(Exception("EOrder:Positions limit exceeded"),
                   FT.POSITION_ERROR)
        self.check(Exception("EOrder:Unknown order"), FT.EXECUTION_ERROR)
        self.check(Exception("EService:Unavailable"), FT.API_ERROR)
        self.assertIs(classify_message("EService:Busy"), FT.API_ERROR)

    def test_unknown(self):
        self.check(ValueError("something odd"), FT.UNKNOWN_ERROR)
        self.check(KeyError("capital"), FT.UNKNOWN_ERROR)
        self.check(None, FT.UNKNOWN_ERROR)
        self.check(Exception(), FT.UNKNOWN_ERROR)

    def test_explicit_failure_type_attribute_wins(self):
        e = ConnectionError("would be network")
        e.failure_type = FT.POSITION_ERROR
        self.check(e, FT.POSITION_ERROR)

    def test_an_exception_whose_attributes_raise_is_unknown(self):
        class Hostile(Exception):
            @property
            def status_code(self):
                raise RuntimeError("no")

            def __str__(self):
                raise RuntimeError("no")
        self.check(Hostile(), FT.UNKNOWN_ERROR)

    def test_plain_strings(self):
        self.check("insufficient balance", FT.BALANCE_ERROR)

    def test_taught_messages(self):
        text = "py-test-%d: margin call" % time.monotonic_ns()
        self.assertIs(classify_message(text), FT.UNKNOWN_ERROR)
        add_message_rule(text[:20], FT.BALANCE_ERROR)
        self.assertIs(classify_message(text.upper()), FT.BALANCE_ERROR)
        with self.assertRaises(ValueError):
            add_message_rule("", FT.BALANCE_ERROR)


if __name__ == "__main__":
    unittest.main()
