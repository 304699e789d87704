"""Compare fastrnn's backends with PyTorch and ONNX Runtime: ``python bench/compare.py --help``.

A thin front: the benchmark itself is :mod:`fastrnn._bench`, so that the
installed package (which ships no ``bench/``) can run it as ``fastrnn bench``.
On machines that set ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, a fair run is::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py

Useful forms: ``--quick`` (about a minute), ``--threads 1,2``,
``--shape lstm:100,32,16,64``, ``--json run.json`` and later
``--from-json run.json --markdown run.md --plot run.png``. The kernels alone,
per backend, are timed by ``pytest bench/`` (pytest-benchmark).
"""

import os
import sys

try:
    from fastrnn._bench import main
except ImportError:
    # Run from a source checkout without installing: use the fastrnn next to bench/.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from fastrnn._bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
