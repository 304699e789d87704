"""A token embedding with PyTorch's name and layout: ``weight [num_embeddings, dim]``."""

import numpy as np

from fastrnn import _validation as val
from fastrnn._kernels import embedding_backward
from fastrnn.nn._params import PicklesFlatBuffers


class Embedding(PicklesFlatBuffers):
    """Look up a learned vector for each token id, as ``torch.nn.Embedding``.

    Parameters
    ----------
    num_embeddings : int
        Vocabulary size V; ids lie in ``[0, V)``.
    embedding_dim : int
        Width E of each vector.
    padding_idx : int, optional
        This row starts at zero and never receives a gradient.
    dtype : {"float32", "float64"}, default="float32"
        The dtype of the vectors.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights, drawn from N(0, 1) as PyTorch's.

    Attributes
    ----------
    weight, grad : ndarray [V, E]
        The parameters and their accumulated gradient (views of
        :attr:`flat_params` and :attr:`flat_grad`).
    """

    def __init__(
        self, num_embeddings, embedding_dim, padding_idx=None, dtype="float32", random_state=None
    ):
        self.num_embeddings = val.check_positive_int(num_embeddings, "num_embeddings")
        self.embedding_dim = val.check_positive_int(embedding_dim, "embedding_dim")
        if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
            raise ValueError(f"padding_idx must be in [0, {num_embeddings}), got {padding_idx}")
        self.padding_idx = padding_idx
        self.dtype = val.check_dtype(dtype)
        size = self.num_embeddings * self.embedding_dim
        rng = np.random.default_rng(random_state)
        self.bind_buffers(rng.standard_normal(size).astype(self.dtype), np.zeros(size, self.dtype))
        if padding_idx is not None:
            self.weight[padding_idx] = 0
        self._ids = None

    def bind_buffers(self, flat_params, flat_grad):
        """Make :attr:`weight` and :attr:`grad` views of ``flat_params`` / ``flat_grad``.

        The current values are copied in (as ``RNNBase.bind_buffers``), so a
        network keeps all its parameters in one buffer.

        Parameters
        ----------
        flat_params : ndarray of shape (num_embeddings * embedding_dim,)
            The new buffer of the vectors, row after row.
        flat_grad : ndarray of shape (num_embeddings * embedding_dim,)
            The new buffer of their gradient.

        Raises
        ------
        ValueError
            If a buffer does not hold ``num_embeddings * embedding_dim`` values.
        """
        shape = (self.num_embeddings, self.embedding_dim)
        if flat_params.shape != (shape[0] * shape[1],) or flat_grad.shape != flat_params.shape:
            raise ValueError(f"buffers must have {shape[0] * shape[1]} values")
        if hasattr(self, "flat_params"):
            flat_params[...] = self.flat_params
            flat_grad[...] = self.flat_grad
        self.flat_params, self.flat_grad = flat_params, flat_grad
        self.weight, self.grad = flat_params.reshape(shape), flat_grad.reshape(shape)

    def check_ids(self, ids, name="ids"):
        """Check token ids and return them as an intp array.

        Parameters
        ----------
        ids : array-like of int
            Token ids, of any shape; each must lie in ``[0, num_embeddings)``.
        name : str, default="ids"
            What the error messages call ``ids``.

        Returns
        -------
        ndarray of intp
            The ids, of ``ids``' shape.

        Raises
        ------
        ValueError
            For values that are not integers, or ids out of range.
        """
        return val.check_token_ids(ids, name, upper=self.num_embeddings)

    def forward(self, ids, training=False, check_input=True):
        """Look up the vector of each id: ``weight[ids]``.

        Parameters
        ----------
        ids : array-like of int
            Token ids in ``[0, num_embeddings)``, of any shape.
        training : bool, default=False
            Keep the ids for :meth:`backward`.
        check_input : bool, default=True
            False takes ``ids`` as an intp array of ids in range, unchecked
            (a minibatch of data checked once).

        Returns
        -------
        ndarray
            The vectors, of shape ``ids.shape + (embedding_dim,)``.
        """
        if check_input:
            ids = self.check_ids(ids)
        if training:
            self._ids = ids
        return np.take(self.weight, ids, axis=0)

    __call__ = forward

    def backward(self, grad_output):
        """Add the gradient of the last training forward's lookups to :attr:`grad`.

        The padding row gets none.

        Parameters
        ----------
        grad_output : array-like
            Gradient of the loss with respect to the looked-up vectors, of
            shape ``ids.shape + (embedding_dim,)``.

        Raises
        ------
        RuntimeError
            Without a preceding ``forward(..., training=True)``.
        """
        if self._ids is None:
            raise RuntimeError("backward() needs a preceding forward(..., training=True)")
        ids, self._ids = self._ids, None
        grad_output = np.asarray(grad_output, self.dtype)
        if grad_output.shape != ids.shape + (self.embedding_dim,):
            raise ValueError(
                f"grad_output has shape {grad_output.shape}, the lookup gave "
                f"{ids.shape + (self.embedding_dim,)}"
            )
        if self.padding_idx is not None:
            grad_output = np.where((ids == self.padding_idx)[..., None], 0, grad_output)
        embedding_backward(ids, grad_output, self.grad)

    def state_dict(self):
        """Return a copy of the vectors under PyTorch's name.

        Returns
        -------
        dict of str to ndarray
            ``{"weight": [num_embeddings, embedding_dim]}``, a copy.
        """
        return {"weight": self.weight.copy()}

    def load_state_dict(self, state_dict):
        """Load the vectors, checked before anything is written.

        Parameters
        ----------
        state_dict : dict of str to array-like
            ``{"weight": [V, E]}``, as :meth:`state_dict` or
            ``torch.nn.Embedding.state_dict()`` give it (NumPy arrays or torch
            tensors, finite values).

        Raises
        ------
        KeyError
            If the keys are not exactly ``"weight"``.
        ValueError
            If the shape differs or a value is not finite.
        """
        if set(state_dict) != {"weight"}:
            raise KeyError(
                f"an Embedding's state_dict has one key, 'weight'; got {list(state_dict)}"
            )
        w = val.as_float_array(state_dict["weight"], self.dtype, "weight")
        if w.shape != self.weight.shape:
            raise ValueError(f"weight has shape {w.shape}, the embedding has {self.weight.shape}")
        val.check_finite(w, "weight")
        self.weight[...] = w

    _TRANSIENT = ("weight", "grad", "_ids")

    def _rebuild(self):
        shape = (self.num_embeddings, self.embedding_dim)
        self.weight, self.grad = self.flat_params.reshape(shape), self.flat_grad.reshape(shape)
        self._ids = None

    def __repr__(self):
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{extra})"
