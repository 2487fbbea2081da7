"""isoreg: per-account circuit breakers in a shared-memory registry.

The reference design's API (AccountIsolationManager, CircuitBreakerConfig,
AccountHealthStatus, FailureType, get_isolation_manager) over libisoreg,
plus guard()/@guarded to wrap one account operation and
classify_exception() to turn an exception into a FailureType.

    from isoreg import AccountIsolationManager, FailureType

    with AccountIsolationManager() as m:          # a private segment
        ok, reason = m.can_execute_operation("user", "user1", "KRAKEN")

See docs/python.md.
"""

from ._native import LIB_PATH
from .errors import AccountBlockedError, IsoregError, UnknownAccountError
from .guard import (EXCEPTION_CLASSES, Guard, add_exception_class,
                    classify_exception, guarded, parse_retry_after)
from .manager import (
    AccountHealthStatus,
    AccountIsolationManager,
    CircuitBreakerConfig,
    FailureType,
    get_isolation_manager,
    segment_name,
    sweep_private_segments,
    unlink_segment,
)

__version__ = "0.1.0"

__all__ = [
    "AccountBlockedError",
    "AccountHealthStatus",
    "AccountIsolationManager",
    "CircuitBreakerConfig",
    "EXCEPTION_CLASSES",
    "FailureType",
    "Guard",
    "IsoregError",
    "LIB_PATH",
    "UnknownAccountError",
    "add_exception_class",
    "classify_exception",
    "get_isolation_manager",
    "guarded",
    "parse_retry_after",
    "segment_name",
    "sweep_private_segments",
    "unlink_segment",
]
