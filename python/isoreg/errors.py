"""Exceptions of the isoreg binding and the mapping from ISO_E* codes.

A bad argument (ISO_EINVAL: a key field, a config value) is the caller's
mistake, so it becomes the ValueError Python code expects, carrying the
library's message that names the field. Everything else is an environment
problem (segment missing, full, corrupt, permissions) and becomes an
IsoregError, an OSError, with the code's name. An operator's call on an
account nobody registered is an UnknownAccountError, a KeyError.
"""

from __future__ import annotations

from typing import Optional

from . import _native as N


class IsoregError(OSError):
    """A libisoreg call failed for a reason other than a bad argument.

    Attributes:
        code: the negative ISO_E* value the library returned.
        code_name: its name, e.g. "ISO_EFULL".
        detail: the library's message for the calling thread (iso_last_error).
    """

    def __init__(self, code: int, detail: str = "", call: str = ""):
        self.code = code
        self.code_name = N.ERROR_NAMES.get(code, "ISO_E%d" % code)
        self.detail = detail or N.text(N.strerror(code))
        self.call = call
        where = "%s: " % call if call else ""
        super().__init__("%s%s: %s" % (where, self.code_name, self.detail))


class UnknownAccountError(KeyError):
    """An operator's call (halt_account, configure_account, release_account)
    named an account nobody registered. Nothing was changed and nothing
    registered: a mistyped key must not create and halt an empty account
    while the real one keeps trading."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; this message is
        # meant to be read.
        return str(self.args[0]) if self.args else ""


class AccountBlockedError(Exception):
    """The account's breaker refused the operation (raised by guard()).

    Attributes:
        reason: the refusal in the reference's words, e.g.
            "Circuit breaker open - retry in 12s".
        account: the account key, "type/id/BROKER".
        status: the AccountHealthStatus at the time of the refusal.
        retry_in: seconds until the breaker lets a probe through, or None
            when the library gave no time (a halt, probes in use).
    """

    def __init__(self, reason: str, account: str = "", status=None,
                 retry_in: Optional[float] = None):
        super().__init__(reason)
        self.reason = reason
        self.account = account
        self.status = status
        self.retry_in = retry_in

    def __str__(self) -> str:
        if self.account:
            return "%s: %s" % (self.account, self.reason)
        return self.reason


def raise_for(rc: int, call: str = "") -> None:
    """Raise the exception for a negative return code @rc of @call."""
    detail = N.text(N.last_error())
    if rc == N.ISO_EINVAL:
        raise ValueError(detail or N.text(N.strerror(rc)))
    raise IsoregError(rc, detail, call)


def check(rc: int, call: str = "") -> int:
    """Return @rc when it is not an error, raise otherwise."""
    if rc < 0:
        raise_for(rc, call)
    return rc
