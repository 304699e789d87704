"""Build the Cython kernels (``fastrnn/_kernels/*.pyx``).

Optimisation is on (-O3); OpenMP is added when the compiler accepts it. Set
``FASTRNN_DEBUG=1`` to turn Cython's bounds and wraparound checks back on.
``-march=native`` and ``-ffast-math`` are deliberately absent: a build must
run on any x86-64 and keep IEEE semantics (NaN checks, summation order).
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTRNN_DEBUG", "0") == "1"


def _openmp_flags():
    """Compile and link flags for OpenMP, or empty lists if the compiler lacks it."""
    if sys.platform == "win32":
        return ["/openmp"], []
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return [], []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "omp.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        cmd = cc.split() + ["-fopenmp", src, "-o", os.path.join(tmp, "omp")]
        ok = subprocess.run(cmd, capture_output=True).returncode == 0
    return (["-fopenmp"], ["-fopenmp"]) if ok else ([], [])


omp_compile, omp_link = _openmp_flags()
# -fno-trapping-math lets gcc if-convert the branch-free activations of
# _fastmath.h into SIMD selects; results are unchanged (fastrnn never enables
# floating-point traps), unlike -ffast-math, which is deliberately absent.
compile_args = ["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]
if sys.platform == "win32":
    compile_args = ["/Od"] if DEBUG else ["/O2"]

extensions = [
    Extension(
        "fastrnn._kernels._driver",
        ["fastrnn/_kernels/_driver.pyx"],
        include_dirs=["fastrnn/_kernels", numpy.get_include()],
        depends=[
            "fastrnn/_kernels/_fastmath.h",
            "fastrnn/_kernels/_gemm.h",
            "fastrnn/_kernels/_pointwise.h",
            "fastrnn/_kernels/_threads.h",
            "fastrnn/_kernels/_cells.pxi",
        ],
        extra_compile_args=compile_args + omp_compile,
        extra_link_args=omp_link,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
]

setup(
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
