"""The C half of the binding (isoreg._isoreg) and the loader of libisoreg.so.

isoreg._isoreg is a CPython extension module compiled against
include/isoreg.h; it resolves the library's functions from the
libisoreg.so chosen here, at import, with dlopen. Structures never cross
into Python: the extension turns them into the reference's dicts and
tuples itself (python/tests/test_abi.py checks that its compiled view of
every structure matches the header in the tree).

This module must never hold Python-level state about accounts: that lives
in the segment, which is the point of the library.

Where the library comes from, first match wins:
  1. ISOREG_LIB: a path to libisoreg.so, or to a directory holding it;
     if set and unusable, importing fails (no silent fallback).
  2. isoreg/_lib/libisoreg.so beside this file (`make python` copies it).
  3. The system: ctypes.util.find_library("isoreg"), libisoreg.so.0.
"""

from __future__ import annotations

import os
from typing import List, Optional

try:
    from . import _isoreg as X
except ImportError as exc:  # pragma: no cover - a tree without the build
    raise ImportError(
        "isoreg: the extension module isoreg._isoreg is not built (%s); "
        "run `make python` in the repository, or "
        "`pip install --no-build-isolation ./python`" % exc) from None

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
    import ctypes.util  # only for the system search
    found = ctypes.util.find_library("isoreg")
    if found:
        names.append(found)
    names += ["libisoreg.so.0", "libisoreg.so"]
    return names


def _load() -> str:
    tried = []
    for name in _candidates():
        try:
            X.load(name)
            return name
        except OSError as exc:
            tried.append("%s (%s)" % (name, exc))
    hint = ("set ISOREG_LIB to the path of libisoreg.so, run `make python`, "
            "or install the library (`make install`)")
    raise ImportError("isoreg: cannot load libisoreg.so; tried: %s; %s"
                      % ("; ".join(tried), hint))


LIB_PATH = _load()

# Every ISO_ constant of the header, as the extension was compiled.
globals().update({k: v for k, v in vars(X).items() if k.startswith("ISO_")})

ERROR_NAMES = {getattr(X, n): n for n in dir(X)
               if n.startswith("ISO_E") and getattr(X, n) < 0}

Registry = X.Registry

strerror = X.strerror
last_error = X.last_error
health_name = X.health_name
breaker_state_name = X.breaker_state_name
failure_type_name = X.failure_type_name
failure_type_parse = X.failure_type_parse
config_default = X.config_default
config_validate = X.config_validate
segment_name = X.segment_name
unlink = X.unlink
classify_errno = X.classify_errno
classify_http = X.classify_http
classify_message = X.classify_message
retry_after_parse = X.retry_after_parse
classify_add_message = X.classify_add_message
now_ns = X.now_ns


def text(s: Optional[str]) -> str:
    """A string the library returned, or "" for none."""
    return s or ""
