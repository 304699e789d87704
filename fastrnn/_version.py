"""fastrnn's version (pyproject.toml holds the same string for the build)."""

__version__ = "0.1.0.dev0"
