"""Build of the extension module isoreg._isoreg for pip.

    make python && pip install --no-build-isolation ./python

Only the C compiler and the interpreter's own headers are needed (Debian:
python3-dev); the library is not linked but dlopen()ed at import (the
copy `make python` put in isoreg/_lib/, else $ISOREG_LIB, else the
system's). The header include/isoreg.h is found in $ISOREG_INCLUDE, else
in the repository this directory belongs to, else where `make install`
puts it.
"""

import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _include_dir() -> str:
    env = os.environ.get("ISOREG_INCLUDE")
    candidates = ([env] if env else []) + [
        os.path.join(HERE, "..", "include"), "/usr/local/include",
        "/usr/include"]
    for d in candidates:
        if os.path.isfile(os.path.join(d, "isoreg.h")):
            return os.path.abspath(d)
    raise SystemExit("isoreg: isoreg.h not found in %s; set ISOREG_INCLUDE "
                     "to the directory holding it" % ", ".join(candidates))


setup(
    ext_modules=[Extension(
        "isoreg._isoreg",
        sources=sorted(os.path.relpath(p, HERE)
                       for p in glob.glob(os.path.join(HERE, "ext", "*.c"))),
        depends=[os.path.join("ext", "isoreg_ext.h")],
        include_dirs=[_include_dir()],
        define_macros=[("_GNU_SOURCE", None)],
        extra_compile_args=["-std=c11", "-fvisibility=hidden",
                            "-fno-strict-aliasing"],
        libraries=["dl"],
    )],
)
