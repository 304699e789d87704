"""The benchmark harness behind ``fastrnn bench`` and the scripts of ``bench/``.

Tooling, kept apart from the library: nothing in fastrnn imports it but the
command line. ``compare`` runs fastrnn's backends, PyTorch and ONNX Runtime
side by side (``main``); ``engines`` wraps each engine behind one interface
(a new engine goes there), ``onnx`` builds ONNX Runtime's graphs, ``timing``
samples and summarises, ``memory`` measures peak memory in fresh processes,
``machine`` describes the CPU and thread pools, ``report`` writes the tables
and charts, and ``e2e`` times whole fits against a plain PyTorch loop.
"""

from fastrnn._bench.compare import main

__all__ = ["main"]
