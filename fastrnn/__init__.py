"""fastrnn: fast recurrent neural networks (RNN, LSTM, GRU) on the CPU.

Cell steps and backpropagation through time run in compiled kernels over
contiguous buffers; around them:

- scikit-learn estimators: :class:`RNNRegressor`, :class:`RNNClassifier`
  (Pipelines, grid searches, pickle; ``callbacks=`` as Keras);
- :class:`RNNForecaster` (one series or many, intervals), :func:`make_windows`,
  :func:`cross_validate_forecast`;
- :class:`RNNLanguageModel` and :class:`TextTokenizer`;
- :mod:`fastrnn.nn`: PyTorch-like layers (``RNN``, ``LSTM``, ``GRU``, cells,
  streams) exact to ``torch.nn``'s numbers, and :mod:`fastrnn.optim`;
- :func:`save` / :func:`load`: a versioned model file without pickle;
- :mod:`fastrnn.callbacks`, :mod:`fastrnn.onnx` (export), :mod:`fastrnn.dask`
  (data-parallel training), :mod:`fastrnn.text`;
- the warnings it raises: :class:`TrainingDivergedWarning` (a fit whose
  loss became NaN or infinite), :class:`BackendFallbackWarning` (a slower
  backend serves because the compiled kernels are missing);
- the ``fastrnn`` command: ``fastrnn demo``, ``fit``, ``predict``,
  ``generate``, ``bench``, ``info``.

>>> import numpy as np, fastrnn
>>> X = np.random.default_rng(0).standard_normal((100, 8, 1))
>>> model = fastrnn.RNNRegressor(hidden_size=8, max_iter=5, tol=None).fit(X, X.sum(axis=(1, 2)))
>>> model.predict(X[:3]).shape
(3,)
"""

from fastrnn import nn, optim
from fastrnn._kernels import BackendFallbackWarning, backends
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
    "TrainingDivergedWarning",
    "BackendFallbackWarning",
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
    "TrainingDivergedWarning": "fastrnn._training",
}


def __getattr__(name):
    # The estimators import scikit-learn; load them on first use so that
    # `import fastrnn` stays fast for the layer API and inference servers.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastrnn' has no attribute {name!r}")
