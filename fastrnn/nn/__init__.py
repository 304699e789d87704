"""Recurrent layers with a PyTorch-like API on NumPy arrays."""

from fastrnn.nn._cell import GRUCell, LSTMCell, RNNCell, RNNCellBase
from fastrnn.nn._embedding import Embedding
from fastrnn.nn._network import SequenceNetwork
from fastrnn.nn._rnn import GRU, LSTM, RNN, RNNBase
from fastrnn.nn._stack import LayerStack
from fastrnn.nn._stream import StackStream, Stream

__all__ = [
    "RNN",
    "LSTM",
    "GRU",
    "RNNBase",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNNCellBase",
    "Embedding",
    "SequenceNetwork",
    "LayerStack",
    "Stream",
    "StackStream",
]
