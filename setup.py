"""Build the Cython kernels (``fastrnn/_kernels/*.pyx``).

Optimisation is on (-O3); threads come from the kernels' own pool
(``_threads.h``: POSIX threads, or Windows threads), so no OpenMP is needed. Set
``FASTRNN_DEBUG=1`` to turn Cython's bounds and wraparound checks back on.
``-march=native`` and ``-ffast-math`` are deliberately absent: a build must
run on any x86-64 and keep IEEE semantics (NaN checks, summation order).

The extension is optional: where it cannot be compiled (no C compiler), the
install goes on without it, says so, and fastrnn runs on its Numba backend
(``pip install "fastrnn[numba]"``) or its NumPy reference (``fastrnn info``
says which). ``FASTRNN_REQUIRE_EXTENSION=1`` makes a failed build an error
instead: wheels and CI set it.
"""

import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

REQUIRED = os.environ.get("FASTRNN_REQUIRE_EXTENSION", "0") == "1"


class OptionalBuildExt(build_ext):
    """``build_ext`` that warns and goes on where the kernels cannot be compiled.

    An extension that fails is dropped from the build's list, so the steps
    after it (the in-place copy, the wheel's file list) do not look for it.
    """

    _ERRORS = (CCompilerError, ExecError, PlatformError, OSError)

    def run(self):
        try:
            super().run()
        except self._ERRORS as exc:  # no compiler at all: fails before any extension
            self.extensions = []
            self._skipped(exc)

    def build_extensions(self):
        self.check_extensions_list(self.extensions)
        built = []
        for ext in self.extensions:
            try:
                self.build_extension(ext)
                built.append(ext)
            except self._ERRORS as exc:
                self._skipped(exc)
        self.extensions = built

    def _skipped(self, exc):
        if REQUIRED:
            raise exc
        print(
            f"WARNING: fastrnn's compiled kernels were not built ({exc}). fastrnn will "
            "run on Numba (pip install 'fastrnn[numba]') or NumPy, several times slower; "
            "install a C compiler and reinstall for the fast kernels.",
            file=sys.stderr,
        )


DEBUG = os.environ.get("FASTRNN_DEBUG", "0") == "1"


# -fno-trapping-math lets gcc if-convert the branch-free activations of
# _fastmath.h into SIMD selects; results are unchanged (fastrnn never enables
# floating-point traps), unlike -ffast-math, which is deliberately absent.
compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]
thread_flags = ["-pthread"]
link_args = []
# FASTRNN_SANITIZE=address (or undefined, or address,undefined): a build that
# checks every memory access of the kernels, for the tests (docs/contributing.rst).
SANITIZE = os.environ.get("FASTRNN_SANITIZE", "")
if SANITIZE:
    compile_args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-g"]
    link_args += [f"-fsanitize={SANITIZE}"]
elif not DEBUG and sys.platform != "win32":
    link_args += ["-Wl,-S"]  # no debug information in the shipped library (3.8 MB -> 0.7)
if sys.platform == "win32":
    compile_args = ["/Od"] if DEBUG else ["/O2"]
    thread_flags = link_args = []

extensions = [
    Extension(
        "fastrnn._kernels._driver",
        ["fastrnn/_kernels/_driver.pyx"],
        include_dirs=["fastrnn/_kernels", numpy.get_include()],
        depends=[
            "fastrnn/_kernels/_fastmath.h",
            "fastrnn/_kernels/_gemm.h",
            "fastrnn/_kernels/_pointwise.h",
            "fastrnn/_kernels/_split.h",
            "fastrnn/_kernels/_threads.h",
            "fastrnn/_kernels/_cells.pxi",
        ],
        extra_compile_args=compile_args + thread_flags,
        extra_link_args=thread_flags + link_args,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
    cmdclass={"build_ext": OptionalBuildExt},
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "initializedcheck": DEBUG,
            "cdivision": True,
        },
    ),
)
