"""fastrnn: fast recurrent neural networks (RNN, LSTM, GRU) on the CPU."""

from fastrnn import nn
from fastrnn._kernels import backends

__version__ = "0.1.0.dev0"

__all__ = ["nn", "backends", "__version__"]
