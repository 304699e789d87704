"""A recurrent stack with a dense head, all parameters in one flat buffer.

This is the network the estimators train: ``x [B, T, D]`` through the
recurrent layers, then a linear head on the final state ("last",
many-to-one), on every step's output ("sequence", many-to-many), or on the
mean or maximum of the outputs over each sequence's steps ("mean", "max").
"""

import re

import numpy as np

from fastrnn import _validation as val
from fastrnn._cells import CELLS, ESTIMATOR_CELLS
from fastrnn._kernels import matmul
from fastrnn.nn._embedding import Embedding
from fastrnn.nn._params import PicklesFlatBuffers
from fastrnn.nn._rnn import GRU, LSTM, RNN
from fastrnn.nn._stack import LayerStack

_CLASSES = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}

# The hidden head layers' activations (scikit-learn's MLP names): the
# function and its derivative from its output.
ACTIVATIONS = {
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
    "logistic": (lambda z: 0.5 * (1 + np.tanh(0.5 * z)), lambda a: a * (1 - a)),
    "identity": (lambda z: z, lambda a: np.ones_like(a)),
}


def dense_head(features, hidden_layers, activation, weight, bias):
    """The dense head on ``features [..., in_features]``: its hidden layers, then the output layer.

    Returns ``(activations, pred)``: each hidden layer's input and, last, the
    top one's output (what backpropagation reads), and ``pred [..., n_out]``.
    Row by row independent of the other rows (the network's forward and the
    streams of fitted estimators compute it so).
    """
    act, activations = ACTIVATIONS[activation][0], [features.reshape(-1, features.shape[-1])]
    for w, b in hidden_layers:
        activations.append(act(matmul(activations[-1], w.T) + b))
    pred = (matmul(activations[-1], weight.T) + bias).reshape(features.shape[:-1] + (len(bias),))
    return activations, pred


_LAYERS = {name: (_CLASSES[CELLS[name].layer], CELLS[name].layer_args) for name in ESTIMATOR_CELLS}


class SequenceNetwork(PicklesFlatBuffers):
    """Recurrent layers + linear head over one flat parameter buffer.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn_tanh", "rnn_relu"}
        The recurrent cell.
    input_size : int
        Features per time step of ``x`` (with ``vocab_size``, the
        embedding's width).
    hidden_size : int or sequence of int
        The recurrent layers' width; a sequence stacks layers of those
        widths (a :class:`~fastrnn.nn.LayerStack`).
    n_outputs : int
        Outputs of the head per prediction.
    num_layers : int, default=1
        Stacked recurrent layers of width ``hidden_size`` (1, or the length
        of a ``hidden_size`` sequence).
    bidirectional : bool, default=False
        Also run each layer backwards in time.
    dropout : float, default=0.0
        Between recurrent layers, in training only.
    output : {"last", "sequence", "mean", "max"}, default="last"
        "last" feeds the head the final state of the top layer (for a
        bidirectional stack both directions' final states, as PyTorch's
        ``h_n``); "sequence" feeds it every step's output; "mean" and "max"
        pool the top layer's outputs over each sequence's valid steps.
    dtype : {"float32", "float64"}, default="float32"
        The dtype of the parameters and the computation.
    backend : {"auto", "cython", "numba", "numpy"}, default="auto"
        The recurrent layers' kernel backend.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the initial weights and the dropout masks.
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
    head_hidden_sizes : sequence of int, default=()
        Dense layers between the recurrent stack and the output layer
        (Keras' ``Dense(32, activation="relu")`` before ``Dense(1)``), each
        initialised as ``torch.nn.Linear``.
    head_activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Their activation.

    Attributes
    ----------
    flat_params, flat_grad : ndarray
        Every parameter, and its gradient, in one buffer each.
    decay_mask : ndarray of bool
        Where L2 regularisation applies (weights, not biases).
    weight, bias : ndarray [n_outputs, last width], [n_outputs]
        The output layer, views into :attr:`flat_params`.
    hidden_layers : list of (weight, bias)
        The hidden head layers' views, first to last (empty by default).
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
        head_hidden_sizes=(),
        head_activation="relu",
    ):
        cls, extra = _LAYERS[cell]
        self.head_hidden_sizes = tuple(int(n) for n in head_hidden_sizes)
        if any(n < 1 for n in self.head_hidden_sizes):
            raise ValueError(f"head_hidden_sizes must be positive, got {head_hidden_sizes}")
        if head_activation not in ACTIVATIONS:
            raise ValueError(
                f"head_activation must be one of {sorted(ACTIVATIONS)}, got {head_activation!r}"
            )
        self.head_activation = head_activation
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
        sizes = np.atleast_1d(hidden_size)
        if sizes.size == 1:
            self.rnn = cls(
                input_size,
                int(sizes[0]),
                num_layers,
                dropout=dropout,
                bidirectional=bidirectional,
                dtype=dtype,
                backend=backend,
                random_state=rng,
                **extra,
            )
        else:  # layers of different widths (Keras' LSTM(64) then LSTM(32))
            if num_layers not in (1, sizes.size):
                raise ValueError(
                    f"hidden_size lists {sizes.size} layers; num_layers={num_layers} says otherwise"
                )
            layers, width = [], input_size
            for size in sizes:
                layers.append(
                    cls(
                        width,
                        int(size),
                        1,
                        bidirectional=bidirectional,
                        dtype=dtype,
                        backend=backend,
                        random_state=rng,
                        **extra,
                    )
                )
                width = int(size) * layers[-1].num_directions
            self.rnn = LayerStack(layers, dropout, rng)
        self.n_outputs = n_outputs
        n_body = self._n_embedding + self.rnn.flat_params.size
        widths = self._head_widths
        sizes = [n_out * (n_in + 1) for n_in, n_out in zip(widths, widths[1:])]
        self.flat_params = np.empty(n_body + sum(sizes), self.rnn.dtype)
        self.flat_grad = np.zeros_like(self.flat_params)
        self._bind()
        # Each dense layer as torch.nn.Linear starts (the output layer's draw
        # first: a network without hidden layers draws as it always did).
        order = [len(sizes) - 1, *range(len(sizes) - 1)]
        starts = n_body + np.concatenate([[0], np.cumsum(sizes)])
        for k in order:
            bound = 1.0 / np.sqrt(widths[k])
            self.flat_params[starts[k] : starts[k + 1]] = rng.uniform(-bound, bound, sizes[k])
        self.decay_mask = np.zeros(self.flat_params.size, bool)
        self.set_embedding_frozen(freeze_embedding)
        for name, p in self.rnn.params.items():
            if name.startswith("weight"):
                start = (p.ctypes.data - self.flat_params.ctypes.data) // p.itemsize
                self.decay_mask[start : start + p.size] = True
        for weight, _ in [*self.hidden_layers, (self.weight, None)]:
            start = (weight.ctypes.data - self.flat_params.ctypes.data) // weight.itemsize
            self.decay_mask[start : start + weight.size] = True

    @property
    def _head_widths(self):
        """The dense layers' widths, from what the head reads to the outputs."""
        return [self.head_in_features, *self.head_hidden_sizes, self.n_outputs]

    @property
    def head_in_features(self):
        """Width of what the head reads: the top layer's hidden size times directions.

        (``in_features`` of the head, as ``torch.nn.Linear`` names it; not the
        estimators' ``n_features``, the features of each input step.)
        """
        return self.rnn.hidden_size * self.rnn.num_directions

    def summary_rows(self):
        """Describe the layers, input to output, as :meth:`summary` prints them.

        Returns
        -------
        list of tuple
            ``(layer name, output shape, parameter count)`` per layer, shapes
            as Keras prints them: ``None`` for the batch and the steps.
        """
        rnn, rows = self.rnn, []
        if self.embedding is not None:
            e = self.embedding
            rows.append(("Embedding", (None, None, e.embedding_dim), e.flat_params.size))
        nd = rnn.num_directions
        kind = type(getattr(rnn, "layers", [rnn])[0]).__name__
        name = kind + ("" if getattr(rnn, "reset_after", True) else ", reset before")
        if nd == 2:
            name = f"Bidirectional({name})"
        widths = getattr(rnn, "hidden_sizes", (rnn.hidden_size,) * rnn.num_layers)
        for layer, size in enumerate(widths):
            count = sum(p.size for k, p in rnn.params.items() if re.search(rf"_l{layer}(_|$)", k))
            rows.append((f"{name} {layer}", (None, None, size * nd), count))
            if layer < rnn.num_layers - 1 and rnn.dropout:
                rows.append((f"Dropout({rnn.dropout:g})", (None, None, size * nd), 0))
        width = rnn.hidden_size * nd
        steps = (None, None) if self.output == "sequence" else (None,)
        if self.output != "sequence":
            how = {"last": "last state", "mean": "mean over steps", "max": "max over steps"}
            rows.append((how[self.output], steps + (width,), 0))
        if self.head_dropout:
            rows.append((f"Dropout({self.head_dropout:g})", steps + (width,), 0))
        for weight, bias in self.hidden_layers:
            rows.append(
                (f"Dense, {self.head_activation}", steps + (len(bias),), weight.size + bias.size)
            )
        rows.append(("Dense", steps + (self.n_outputs,), self.weight.size + self.bias.size))
        return rows

    def summary(self, print_fn=print):
        """Print the layers, their output shapes and parameter counts (Keras' ``summary``).

        Parameters
        ----------
        print_fn : callable, default=print
            Called once with the whole table as one string.
        """
        rows = [(name, str(shape), f"{count:,}") for name, shape, count in self.summary_rows()]
        header = ("Layer", "Output shape", "Param #")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        total = self.flat_params.size
        frozen = self._n_embedding if self.freeze_embedding else 0
        text = [line.format(*header), "-" * (sum(widths) + 4)]
        text += [line.format(*r) for r in rows]
        text += [
            "-" * (sum(widths) + 4),
            f"Total params: {total:,}",
            f"Trainable params: {total - frozen:,}",
        ]
        print_fn("\n".join(text))

    def set_embedding_frozen(self, frozen):
        """Freeze the embedding (no gradient, no weight decay) or let it train.

        Parameters
        ----------
        frozen : bool
            True freezes the embedding, False lets it train; without an
            embedding, nothing changes.
        """
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
        widths, at, layers = self._head_widths, n_rnn, []
        for n_in, n_out in zip(widths, widths[1:]):  # the output layer last
            split, end = at + n_out * n_in, at + n_out * (n_in + 1)
            layers.append(
                (
                    self.flat_params[at:split].reshape(n_out, n_in),
                    self.flat_params[split:end],
                    self.flat_grad[at:split].reshape(n_out, n_in),
                    self.flat_grad[split:end],
                )
            )
            at = end
        *hidden, (self.weight, self.bias, self.grad_weight, self.grad_bias) = layers
        self.hidden_layers = [(w, b) for w, b, _, _ in hidden]
        self._hidden_grads = [(gw, gb) for _, _, gw, gb in hidden]
        self._features = None

    _TRANSIENT = (
        "weight",
        "bias",
        "grad_weight",
        "grad_bias",
        "hidden_layers",
        "_hidden_grads",
        "_features",
        "_activations",
    )

    def _rebuild(self):
        self._bind()

    def zero_grad(self):
        """Set every accumulated gradient to zero."""
        self.flat_grad[:] = 0

    def forward(
        self, x, lengths=None, training=False, hx=None, return_state=False, check_input=True
    ):
        """Predict from a batch of sequences.

        Parameters
        ----------
        x : array-like of shape [B, T, input_size], or token ids [B, T]
            The sequences (token ids with an embedding).
        lengths : array-like of int of shape [B], optional
            Valid steps of each sequence; by default all ``T``.
        training : bool, default=False
            Keep what :meth:`backward` needs and apply dropout. Without it
            the call writes nothing to the network, so threads can share it.
        hx : ndarray or tuple of ndarray, optional
            The recurrent layers' initial state, as for
            :meth:`RNNBase.forward`; None means zeros.
        return_state : bool, default=False
            Also return the final state (for truncated backpropagation
            through time, which carries it on).
        check_input : bool, default=True
            False skips the pass over the values of ``x`` (see
            :meth:`RNNBase.forward`): the training loops check their data
            once, not once per minibatch.

        Returns
        -------
        pred : ndarray
            ``[B, n_outputs]``, or ``[B, T, n_outputs]`` for
            ``output="sequence"``.
        h_n : ndarray or tuple of ndarray
            With ``return_state`` only: the recurrent layers' final state.
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
        # Row by row independent of the batch: a prediction never depends on
        # the rows predicted with it (scikit-learn checks this).
        activations, pred = dense_head(
            features, self.hidden_layers, self.head_activation, self.weight, self.bias
        )
        if training:  # inference writes nothing to the network: threads may share it
            self._features, self._out_shape, self._pooled = features, out.shape, pooled
            self._head_mask, self._activations = head_mask, activations
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

        The gradients are added into :attr:`flat_grad`, through the head,
        the recurrent layers and the embedding (unless frozen).

        Parameters
        ----------
        grad_pred : ndarray
            Gradient of the loss with respect to the last training
            :meth:`forward`'s prediction, of its shape.
        check_input : bool, default=True
            Check that ``grad_pred`` is finite (the gradients made from it
            inside are not checked again); the training loops, whose losses
            are checked, pass False.

        Raises
        ------
        RuntimeError
            Without a preceding ``forward(..., training=True)``.
        """
        features = self._features
        if features is None:
            raise RuntimeError("backward() needs a preceding forward(..., training=True)")
        if check_input:
            val.check_finite(grad_pred, "grad_pred")
        self._features = None
        flat_pred = grad_pred.reshape(-1, grad_pred.shape[-1])
        activations = self._activations
        self.grad_weight += flat_pred.T @ activations[-1]
        self.grad_bias += flat_pred.sum(axis=0)
        if not self.hidden_layers:  # (in the prediction's shape, as it always was)
            grad_features = grad_pred @ self.weight
        else:
            grad = flat_pred @ self.weight
            derivative = ACTIVATIONS[self.head_activation][1]
            for k in range(len(self.hidden_layers) - 1, -1, -1):
                grad = grad * derivative(activations[k + 1])  # through the activation
                grad_w, grad_b = self._hidden_grads[k]
                grad_w += grad.T @ activations[k]
                grad_b += grad.sum(axis=0)
                grad = grad @ self.hidden_layers[k][0]
            grad_features = grad.reshape(features.shape)
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
            layers = getattr(rnn, "state_layers", rnn.num_layers)  # a stack's: its top's
            dh = np.zeros((layers * nd, B, H), rnn.dtype)
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
