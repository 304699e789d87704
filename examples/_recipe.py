"""What the recipes share: a timed fit, and pictures."""

import time


def timed_fit(model, *args, **kwargs):
    """``model.fit(*args, **kwargs)``; returns the seconds it took.

    The recipes give a number of epochs, as Keras' ``fit(epochs=N)`` does:
    ``max_iter=N, tol=None`` runs every one of them.
    """
    start = time.perf_counter()
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
