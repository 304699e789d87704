"""Forecasting against the classical baselines: ``python bench/forecast.py --help``.

A thin front: the evaluation itself is :mod:`fastrnn._bench.forecast`, so the
installed package can run it as ``fastrnn bench --forecast``.
"""

import os
import sys

try:
    from fastrnn._bench.forecast import main
except ImportError:
    # Run from a source checkout without installing: use the fastrnn next to bench/.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from fastrnn._bench.forecast import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
