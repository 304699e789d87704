"""A recurrent stack with a dense head, all parameters in one flat buffer.

This is the network the estimators train: ``x [B, T, D]`` through the
recurrent layers, then a linear head on the final state ("last",
many-to-one), on every step's output ("sequence", many-to-many), or on the
mean or maximum of the outputs over each sequence's steps ("mean", "max").
"""

import numpy as np

from fastrnn import _validation as val
from fastrnn._cells import CELLS, ESTIMATOR_CELLS
from fastrnn._kernels import matmul
from fastrnn.nn._embedding import Embedding
from fastrnn.nn._params import PicklesFlatBuffers
from fastrnn.nn._rnn import GRU, LSTM, RNN

_CLASSES = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
_LAYERS = {name: (_CLASSES[CELLS[name].layer], CELLS[name].layer_args) for name in ESTIMATOR_CELLS}


class SequenceNetwork(PicklesFlatBuffers):
    """Recurrent layers + linear head over one flat parameter buffer.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}
    input_size, hidden_size, n_outputs : int
    num_layers : int
    bidirectional : bool
    dropout : float
        Between recurrent layers, in training only.
    output : {"last", "sequence", "mean", "max"}
        "last" feeds the head the final state of the top layer (for a
        bidirectional stack both directions' final states, as PyTorch's
        ``h_n``); "sequence" feeds it every step's output; "mean" and "max"
        pool the top layer's outputs over each sequence's valid steps.
    dtype, backend, random_state
        As for :class:`fastrnn.nn.LSTM`.
    vocab_size : int, optional
        Put an :class:`~fastrnn.nn.Embedding` of ``vocab_size`` tokens and
        ``input_size`` dimensions in front: ``x`` is then token ids ``[B, T]``.
    freeze_embedding : bool, default=False
        The embedding gets no gradient and no weight decay (its slice of
        :attr:`flat_grad` stays zero, so no optimizer moves it).
    padding_idx : int, optional
        The embedding's padding token (a zero row that never trains).
    head_dropout : float, default=0.0
        Dropout on what the head reads, in training only (Keras'
        ``LSTM -> Dropout -> Dense``).
    forget_bias : float, optional
        For LSTM: the forget gates' starting bias (Keras' ``unit_forget_bias``).
    reset_after : bool, default=True
        For GRU: False applies the reset gate before the recurrent matmul
        (see :class:`fastrnn.nn.GRU`).

    Attributes
    ----------
    flat_params, flat_grad : ndarray
        Every parameter, and its gradient, in one buffer each.
    decay_mask : ndarray of bool
        Where L2 regularisation applies (weights, not biases).
    weight, bias : ndarray [n_outputs, head_in_features], [n_outputs]
        The linear head, views into :attr:`flat_params`.
    head_in_features : int
        What the head reads per prediction: ``hidden_size`` times the directions.
    """

    def __init__(
        self,
        cell,
        input_size,
        hidden_size,
        n_outputs,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        output="last",
        dtype="float32",
        backend="auto",
        random_state=None,
        vocab_size=None,
        freeze_embedding=False,
        padding_idx=None,
        head_dropout=0.0,
        forget_bias=None,
        reset_after=True,
    ):
        cls, extra = _LAYERS[cell]
        if forget_bias is not None:
            if cell != "lstm":
                raise ValueError(f"forget_bias is for LSTM cells, not {cell!r}")
            extra = {**extra, "forget_bias": forget_bias}
        if not reset_after:
            if cell != "gru":
                raise ValueError(f"reset_after=False is for GRU cells, not {cell!r}")
            extra = {**extra, "reset_after": False}
        rng = np.random.default_rng(random_state)
        self.output = output
        if not 0.0 <= float(head_dropout) < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {head_dropout}")
        self.head_dropout = float(head_dropout)
        self._rng = rng
        self.embedding = None
        if vocab_size is not None:
            self.embedding = Embedding(
                vocab_size, input_size, padding_idx=padding_idx, dtype=dtype, random_state=rng
            )
        self.rnn = cls(
            input_size,
            hidden_size,
            num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            dtype=dtype,
            backend=backend,
            random_state=rng,
            **extra,
        )
        self.n_outputs = n_outputs
        n_body = self._n_embedding + self.rnn.flat_params.size
        n_head = n_outputs * (self.head_in_features + 1)
        self.flat_params = np.empty(n_body + n_head, self.rnn.dtype)
        self.flat_grad = np.zeros_like(self.flat_params)
        self._bind()
        bound = 1.0 / np.sqrt(self.head_in_features)  # torch.nn.Linear's default
        self.flat_params[n_body:] = rng.uniform(-bound, bound, n_head)
        self.decay_mask = np.zeros(self.flat_params.size, bool)
        self.set_embedding_frozen(freeze_embedding)
        for name, p in self.rnn.params.items():
            if name.startswith("weight"):
                start = (p.ctypes.data - self.flat_params.ctypes.data) // p.itemsize
                self.decay_mask[start : start + p.size] = True
        self.decay_mask[n_body : n_body + self.weight.size] = True

    @property
    def head_in_features(self):
        """Width of what the head sees: hidden size times directions.

        (``in_features`` of the head, as ``torch.nn.Linear`` names it; not the
        estimators' ``n_features``, the features of each input step.)
        """
        return self.rnn.hidden_size * self.rnn.num_directions

    def set_embedding_frozen(self, frozen):
        """Freeze the embedding (no gradient, no weight decay) or let it train."""
        self.freeze_embedding = bool(frozen) and self.embedding is not None
        self.decay_mask[: self._n_embedding] = not self.freeze_embedding

    @property
    def _n_embedding(self):
        return 0 if self.embedding is None else self.embedding.flat_params.size

    def _bind(self):
        """Make the embedding, the recurrent layers and the head views of the flat buffers."""
        e = self._n_embedding
        if self.embedding is not None:
            self.embedding.bind_buffers(self.flat_params[:e], self.flat_grad[:e])
        n_rnn = e + self.rnn.flat_params.size
        self.rnn.bind_buffers(self.flat_params[e:n_rnn], self.flat_grad[e:n_rnn])
        split = n_rnn + self.n_outputs * self.head_in_features
        shape = (self.n_outputs, self.head_in_features)
        self.weight, self.bias = (
            self.flat_params[n_rnn:split].reshape(shape),
            self.flat_params[split:],
        )
        self.grad_weight = self.flat_grad[n_rnn:split].reshape(shape)
        self.grad_bias = self.flat_grad[split:]
        self._features = None

    _TRANSIENT = ("weight", "bias", "grad_weight", "grad_bias", "_features")

    def _rebuild(self):
        self._bind()

    def zero_grad(self):
        """Set every accumulated gradient to zero."""
        self.flat_grad[:] = 0

    def forward(
        self, x, lengths=None, training=False, hx=None, return_state=False, check_input=True
    ):
        """Predict ``[B, n_outputs]`` ("last") or ``[B, T, n_outputs]`` ("sequence").

        ``hx`` is the recurrent layers' initial state (zeros by default); with
        ``return_state`` the final state comes back too, as ``(pred, h_n)``
        (for truncated backpropagation through time, which carries it on).
        ``check_input=False`` skips the pass over the values of ``x`` (see
        :meth:`RNNBase.forward`): the training loops check their data once,
        not once per minibatch.
        """
        if self.embedding is not None and not training and self._fusion_pays(x, lengths):
            out, state = self._forward_fused(x, hx, lengths)
        else:
            if self.embedding is not None:
                x = self.embedding.forward(x, training=training, check_input=check_input)
            out, state = self.rnn.forward(
                x, hx=hx, lengths=lengths, training=training, check_input=check_input
            )
        pooled = None
        if self.output == "sequence":
            features = out
        elif self.output == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            top = h_n[-self.rnn.num_directions :]  # [directions, B, H]
            features = np.concatenate(list(top), axis=1)
        else:
            features, pooled = _pool(out, lengths, self.output, self.rnn.batch_first)
        head_mask = None
        if training and self.head_dropout:
            keep = 1.0 - self.head_dropout
            head_mask = (self._rng.random(features.shape) < keep).astype(features.dtype) / keep
            features = features * head_mask
        if training:  # inference writes nothing to the network: threads may share it
            self._features, self._out_shape, self._pooled = features, out.shape, pooled
            self._head_mask = head_mask
        # Row by row independent of the batch: a prediction never depends on
        # the rows predicted with it (scikit-learn checks this).
        flat = matmul(features.reshape(-1, features.shape[-1]), self.weight.T)
        pred = (flat + self.bias).reshape(features.shape[:-1] + (self.n_outputs,))
        return (pred, state) if return_state else pred

    def _fusion_pays(self, ids, lengths):
        """Whether to gather projected embedding rows instead of embedding, then multiplying.

        The table ``E @ W_ih^T`` costs one product per vocabulary row and its
        rows are G*H wide; the usual path costs one product per token, on
        rows E wide. Hence: many tokens per vocabulary row, and wide
        embeddings (the thresholds' measurements: ``bench/THRESHOLDS.md``).
        Inference on the compiled backend only.
        """
        if not self.rnn.takes_projected_input or self.embedding.embedding_dim < 64:
            return False
        n_tokens = np.size(ids) if lengths is None else int(np.sum(lengths))
        return n_tokens >= 4 * self.embedding.num_embeddings

    def _forward_fused(self, ids, hx, lengths):
        """Inference with the embedding fused into the first layer's input product."""
        ids = self.embedding.check_ids(ids)
        if ids.ndim != 2:
            raise ValueError(f"token ids must be [B, T], got shape {ids.shape}")
        ids_tm = ids.T if self.rnn.batch_first else ids  # time-major [T, B]
        E, rnn = self.embedding.weight, self.rnn
        # Row-invariant products: each table row is bitwise the product the
        # per-token path would compute for that token.
        xw = [
            np.take(matmul(E, np.ascontiguousarray(rnn._weights(0, d)[0].T)), ids_tm, axis=0)
            for d in range(rnn.num_directions)
        ]
        return rnn.forward_projected(xw, hx=hx, lengths=lengths)

    def backward(self, grad_pred, check_input=True):
        """Accumulate every parameter's gradient from ``dL/dprediction``.

        ``check_input`` checks that ``grad_pred`` is finite (the gradients
        made from it inside are not checked again); the training loops,
        whose losses are checked, pass False.
        """
        features = self._features
        if features is None:
            raise RuntimeError("backward() needs a preceding forward(..., training=True)")
        if check_input:
            val.check_finite(grad_pred, "grad_pred")
        self._features = None
        flat_pred = grad_pred.reshape(-1, grad_pred.shape[-1])
        self.grad_weight += flat_pred.T @ features.reshape(-1, features.shape[-1])
        self.grad_bias += flat_pred.sum(axis=0)
        grad_features = grad_pred @ self.weight
        if getattr(self, "_head_mask", None) is not None:
            grad_features = grad_features * self._head_mask
            self._head_mask = None
        rnn = self.rnn
        if self.output == "sequence":
            grad_x = rnn.backward(grad_features, check_input=False)
        elif self.output in ("mean", "max"):
            grad_out = _unpool(grad_features, self._pooled, self._out_shape)
            grad_x = rnn.backward(grad_out, check_input=False)
        else:
            B, H, nd = grad_features.shape[0], rnn.hidden_size, rnn.num_directions
            dh = np.zeros((rnn.num_layers * nd, B, H), rnn.dtype)
            dh[-nd:] = grad_features.reshape(B, nd, H).transpose(1, 0, 2)
            grad_out = np.zeros(self._out_shape, rnn.dtype)  # the head saw no step outputs
            grad_hx = (dh, np.zeros_like(dh)) if rnn.cell == "lstm" else dh
            grad_x = rnn.backward(grad_out, grad_hx, check_input=False)
        if self.embedding is not None and not self.freeze_embedding:
            self.embedding.backward(grad_x)


def _pool(out, lengths, how, batch_first=True):
    """Mean or max of the layer's outputs over each row's valid steps.

    Returns the features ``[B, F]`` and what :func:`_unpool` needs: the
    lengths and, for "max", the step of each maximum.
    """
    if not batch_first:
        out = out.transpose(1, 0, 2)
    B, T, _ = out.shape
    lens = np.full(B, T, dtype=np.intp) if lengths is None else np.asarray(lengths)
    if how == "mean":  # steps past a length are zero in out: a plain sum
        return out.sum(axis=1) / lens.astype(out.dtype)[:, None], (how, lens, None, batch_first)
    valid = np.arange(T)[None, :, None] < lens[:, None, None]
    arg = np.where(valid, out, -np.inf).argmax(axis=1)  # [B, F]
    features = np.take_along_axis(out, arg[:, None, :], axis=1)[:, 0]
    return features, (how, lens, arg, batch_first)


def _unpool(grad, pooled, out_shape):
    """The gradient of the outputs (in the layer's layout) from that of the pooled features."""
    how, lens, arg, batch_first = pooled
    B, F = grad.shape
    T = out_shape[1] if batch_first else out_shape[0]
    g = np.zeros((B, T, F), grad.dtype)
    if how == "mean":
        valid = np.arange(T)[None, :, None] < lens[:, None, None]
        g[...] = (grad / lens.astype(grad.dtype)[:, None])[:, None, :] * valid
    else:
        np.put_along_axis(g, arg[:, None, :], grad[:, None, :], axis=1)
    return g if batch_first else np.ascontiguousarray(g.transpose(1, 0, 2))
