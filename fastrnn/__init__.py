"""fastrnn: fast recurrent neural networks (RNN, LSTM, GRU) on the CPU."""

from fastrnn import nn, optim
from fastrnn._kernels import backends
from fastrnn._version import __version__

__all__ = [
    "nn",
    "optim",
    "backends",
    "RNNRegressor",
    "RNNClassifier",
    "RNNLanguageModel",
    "RNNForecaster",
    "TextTokenizer",
    "make_windows",
    "cross_validate_forecast",
    "save",
    "load",
    "__version__",
]

_LAZY = {
    "RNNRegressor": "fastrnn._estimators",
    "RNNClassifier": "fastrnn._estimators",
    "RNNLanguageModel": "fastrnn._language_model",
    "RNNForecaster": "fastrnn._forecasting",
    "TextTokenizer": "fastrnn.text",
    "make_windows": "fastrnn._forecasting",
    "cross_validate_forecast": "fastrnn._forecasting",
    "save": "fastrnn._persistence",
    "load": "fastrnn._persistence",
}


def __getattr__(name):
    # The estimators import scikit-learn; load them on first use so that
    # `import fastrnn` stays fast for the layer API and inference servers.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastrnn' has no attribute {name!r}")
