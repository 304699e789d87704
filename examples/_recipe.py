"""What the recipes share: a timed fit, and pictures."""

import time
import warnings

from sklearn.exceptions import ConvergenceWarning


def timed_fit(model, *args, **kwargs):
    """``model.fit(*args, **kwargs)``; returns the seconds it took.

    The recipes give a number of epochs, as Keras' ``fit(epochs=N)`` does
    (``max_iter``; training stops sooner once the loss stops improving by
    ``tol``), so running out of epochs is expected, not a warning worth showing.
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(*args, **kwargs)
    return time.perf_counter() - start


def pyplot():
    """``matplotlib.pyplot`` on its file-only backend, or None (and a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return None
    return plt


def save(fig, png):
    """Write ``fig`` to ``png`` and say so."""
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"saved {png}")
