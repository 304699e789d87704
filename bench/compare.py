"""Compare fastrnn's backends with PyTorch: ``python bench/compare.py --help``.

A thin front: the benchmark itself is :mod:`fastrnn._bench`, so that the
installed package (which ships no ``bench/``) can run it as ``fastrnn bench``.
On machines that set ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``, a fair run is::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/compare.py
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
