"""Fit and predict times of each backend on two model sizes (best of 3).

Behind the decision that numba is an extra (docs/user_guide/backends.rst):
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/probes/backend_fit.py``
"""

import time
import warnings

import numpy as np

from fastrnn import RNNRegressor

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
for N, T, H in [(512, 24, 32), (512, 50, 128)]:
    X = rng.standard_normal((N, T, 4))
    y = X.sum(axis=(1, 2))
    for b in ("cython", "numba", "numpy"):
        m = RNNRegressor(hidden_size=H, max_iter=1, tol=None, backend=b, random_state=0)
        m.fit(X[:16], y[:16])  # compile / warm
        fits, preds = [], []
        for _ in range(3):
            t = time.perf_counter()
            m.set_params(max_iter=5).fit(X, y)
            fits.append(time.perf_counter() - t)
            t = time.perf_counter()
            m.predict(X)
            preds.append(time.perf_counter() - t)
        fit, predict = min(fits), min(preds) * 1e3
        print(f"N={N} T={T} H={H} {b:7s} fit 5 epochs {fit:6.2f} s  predict {predict:7.1f} ms")
