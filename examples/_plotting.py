"""What the recipes share for their pictures: matplotlib is optional."""


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
