"""Export layers and fitted estimators to ONNX, on its RNN, LSTM and GRU operators.

The graph is the standard one any ONNX runtime runs: per layer one ONNX
``RNN``/``LSTM``/``GRU`` node (both directions in one node when
bidirectional), then for an estimator its linear head and what ``predict``
does after it. ONNX's gate orders differ from PyTorch's (LSTM ``i, o, f, c``
for ``i, f, g, o``; GRU ``z, r, h`` for ``r, z, n``): the weights are
reordered here, and the GRU uses ``linear_before_reset=1``, which is
PyTorch's GRU (``GRU(reset_after=False)`` exports with
``linear_before_reset=0``, its own form). Ragged batches pass their lengths as the operators'
``sequence_lens``. Needs the ``onnx`` package (``pip install onnx``); the
graphs compute in float32.

Exported names
--------------
Layer: inputs ``x`` (``[N, T, D]``, or ``[T, N, D]`` when not
``batch_first``), optionally ``lengths`` (int32 ``[N]``) and ``h0`` (and
``c0``), ``[num_layers * directions, N, H]``; outputs ``output``, ``h_n``
(and ``c_n``), as :meth:`RNNBase.forward`.

Estimator: input ``X`` as the model was fitted on it (``[N, T, F]``; ``[N, F,
T]`` with ``data_format="channels_first"``; ``[N, T * F]`` for 2-D X),
optionally ``lengths``; outputs ``variable`` (a regressor's ``predict``, float64)
or ``label`` and ``probabilities`` (a classifier's ``predict`` and
``predict_proba``, the latter in float32), the names skl2onnx gives
scikit-learn's models.
"""

import numpy as np

from fastrnn._cells import CELLS
from fastrnn._kernels import GATES

OPSET = 17
IR_VERSION = 8  # opset 17's; a newer `onnx` writes higher versions that older runtimes refuse
# For each ONNX gate block, the PyTorch block it comes from.
GATE_ORDER = {name: list(cell.onnx_order) for name, cell in CELLS.items()}
_OP = {name: cell.onnx_op for name, cell in CELLS.items()}
# The head's hidden-layer activations (SequenceNetwork's names) as ONNX operators.
_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}


def to_onnx(model, path=None, *, lengths=False, initial_state=False):
    """Write ``model`` as an ONNX graph.

    Parameters
    ----------
    model : fastrnn.nn.RNN, LSTM or GRU, or a fitted RNNRegressor or RNNClassifier
        The layer, or the estimator (number input, ``output="last"`` or
        ``"sequence"``, neither the "quantile" nor the "gaussian" loss), to
        export.
    path : str or path-like, optional
        Where to save the model; it is returned either way.
    lengths : bool, default=False
        Add an int32 ``lengths`` input (each sequence's valid steps, the
        operators' ``sequence_lens``) for ragged batches padded to T.
    initial_state : bool, default=False
        Add ``h0`` (and ``c0``) inputs; layers only.

    Returns
    -------
    onnx.ModelProto
        The checked ONNX model (opset 17): a layer's graph gives its
        ``output`` and final states; a regressor's its predictions
        (``variable``); a classifier's its ``label`` and ``probabilities``.

    Raises
    ------
    TypeError
        For another kind of model, or ``initial_state`` with an estimator.
    """
    import onnx
    from onnx import helper

    from fastrnn.nn import RNNBase

    g = _Graph()
    if isinstance(model, RNNBase):
        outputs = _layer_graph(g, model, lengths, initial_state)
        name = f"fastrnn_{model.cell}"
    elif hasattr(model, "network_") and hasattr(model, "_step_features"):
        if getattr(model, "loss", None) in ("quantile", "gaussian"):
            raise TypeError(f"to_onnx does not export a model with loss={model.loss!r}")
        if model.output not in ("last", "sequence") or model.embedding_dim is not None:
            raise TypeError(
                "to_onnx exports models with number input and output='last' or 'sequence'"
            )
        if initial_state:
            raise TypeError("initial_state is for layers; an estimator starts from zeros")
        outputs = _estimator_graph(g, model, lengths)
        name = f"fastrnn_{type(model).__name__}"
    else:
        raise TypeError(
            "to_onnx takes a fastrnn layer or a fitted RNNRegressor / RNNClassifier, got "
            f"{type(model).__name__}"
        )
    graph = helper.make_graph(g.nodes, name, g.inputs, outputs, g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = IR_VERSION
    proto.producer_name = "fastrnn"
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, path)
    return proto


class _Graph:
    """Nodes, constants and inputs of a graph under construction, with unique names."""

    def __init__(self):
        self.nodes, self.initializers, self.inputs = [], [], []
        self._count = 0

    def _name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def input(self, name, elem_type, shape):
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def const(self, array, hint="const"):
        from onnx import numpy_helper

        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, n_out=1, out=None, **attrs):
        """Add a node; return its output name (or names when ``n_out > 1``)."""
        from onnx import helper

        outs = (
            out if out is not None else [self._name(hint or op_type.lower()) for _ in range(n_out)]
        )
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outs), **attrs))
        return outs[0] if len(outs) == 1 else outs


def _onnx_gates(a, cell, H):
    """Reorder the gate blocks (first axis) of a PyTorch weight or bias into ONNX's order."""
    blocks = a.reshape(GATES[cell], H, *a.shape[1:])
    return blocks[GATE_ORDER[cell]].reshape(a.shape)


def _recurrent(g, layer, x, lengths, h0, c0):
    """The layer stack on time-major ``x [T, N, D]``.

    Returns the names of ``y [T, N, directions * H]``, ``h_n`` and ``c_n``
    (None but for LSTM), each ``[layers * directions, N, H]``.
    """
    cell, H, nd = layer.cell, layer.hidden_size, layer.num_directions
    attrs = {"hidden_size": H}
    if nd == 2:
        attrs["direction"] = "bidirectional"
    if cell in ("gru", "gru_reset_before"):
        # ONNX's h = g(x W_h^T + (r . h) R_h^T + Rb_h + Wb_h) with 0; PyTorch's form with 1.
        attrs["linear_before_reset"] = int(cell == "gru")
    if cell.startswith("rnn_"):
        attrs["activations"] = ["Tanh" if cell == "rnn_tanh" else "Relu"] * nd
    flat = g.const(np.array([0, 0, -1], np.int64), "shape_tn_")
    axis0 = g.const(np.array([0], np.int64), "axis0") if h0 is not None else None
    h_parts, c_parts = [], []
    for i in range(layer.num_layers):
        ws = [layer._weights(i, d) for d in range(nd)]
        W = np.stack([_onnx_gates(w[0], cell, H) for w in ws])
        R = np.stack([_onnx_gates(w[1], cell, H) for w in ws])
        B = np.stack(
            [np.concatenate([_onnx_gates(w[2], cell, H), _onnx_gates(w[3], cell, H)]) for w in ws]
        )
        states = []
        for s in (h0, c0):
            if s is not None:
                start = g.const(np.array([i * nd], np.int64), "start")
                end = g.const(np.array([(i + 1) * nd], np.int64), "end")
                states.append(g.op("Slice", [s, start, end, axis0], "state_l"))
            else:
                states.append("")
        inputs = [
            x,
            g.const(W.astype(np.float32), "W"),
            g.const(R.astype(np.float32), "R"),
            g.const(B.astype(np.float32), "B"),
            lengths or "",
        ]
        inputs += states[: 2 if cell == "lstm" else 1]
        while not inputs[-1]:  # trailing optional inputs left out
            inputs.pop()
        outs = g.op(_OP[cell], inputs, f"{cell}_l{i}", n_out=3 if cell == "lstm" else 2, **attrs)
        y = g.op("Transpose", [outs[0]], "y_tndh", perm=[0, 2, 1, 3])  # [T, N, nd, H]
        x = g.op("Reshape", [y, flat], "y_l")
        h_parts.append(outs[1])
        if cell == "lstm":
            c_parts.append(outs[2])
    h_n = h_parts[0] if len(h_parts) == 1 else g.op("Concat", h_parts, "h_n", axis=0)
    c_n = None
    if c_parts:
        c_n = c_parts[0] if len(c_parts) == 1 else g.op("Concat", c_parts, "c_n", axis=0)
    return x, h_n, c_n


def _layer_graph(g, layer, lengths, initial_state):
    from onnx import TensorProto, helper

    F = TensorProto.FLOAT
    H, S = layer.hidden_size, layer.num_layers * layer.num_directions
    seq = ["N", "T"] if layer.batch_first else ["T", "N"]
    x = g.input("x", F, seq + [layer.input_size])
    lens = g.input("lengths", TensorProto.INT32, ["N"]) if lengths else None
    h0 = c0 = None
    if initial_state:
        h0 = g.input("h0", F, [S, "N", H])
        c0 = g.input("c0", F, [S, "N", H]) if layer.cell == "lstm" else None
    x_t = g.op("Transpose", [x], "x_tnd", perm=[1, 0, 2]) if layer.batch_first else x
    y, h_n, c_n = _recurrent(g, layer, x_t, lens, h0, c0)
    perm = [1, 0, 2] if layer.batch_first else [0, 1, 2]
    g.op("Transpose", [y], out=["output"], perm=perm)
    g.op("Identity", [h_n], out=["h_n"])
    outputs = [
        helper.make_tensor_value_info("output", F, seq + [layer.num_directions * H]),
        helper.make_tensor_value_info("h_n", F, [S, "N", H]),
    ]
    if c_n is not None:
        g.op("Identity", [c_n], out=["c_n"])
        outputs.append(helper.make_tensor_value_info("c_n", F, [S, "N", H]))
    return outputs


def _estimator_graph(g, est, lengths):
    from onnx import TensorProto, helper

    F = TensorProto.FLOAT
    net, k = est.network_, est._step_features
    rnn, nd = net.rnn, net.rnn.num_directions
    if est._fitted_2d:  # each k consecutive columns are one step
        X = g.input("X", F, ["N", "TF"])
        x = g.op("Reshape", [X, g.const(np.array([0, -1, k], np.int64), "shape")], "x_ntf")
        perm, time_axis = [1, 0, 2], 1
    elif est.data_format == "channels_first":  # X as fitted: [N, F, T]
        x = g.input("X", F, ["N", k, "T"])
        perm, time_axis = [2, 0, 1], 2
    else:
        x = g.input("X", F, ["N", "T", k])
        perm, time_axis = [1, 0, 2], 1
    lens = g.input("lengths", TensorProto.INT32, ["N"]) if lengths else None
    y = g.op("Transpose", [x], "x_tnf", perm=perm)
    stack = getattr(rnn, "layers", [rnn])  # layers of different widths: one after another
    for layer in stack:
        y, h_n, _ = _recurrent(g, layer, y, lens, None, None)
    if est.output == "sequence":
        features = g.op("Transpose", [y], "features", perm=[1, 0, 2])  # [N, T, nd*H]
    else:  # the top layer's final states, directions side by side: [N, nd*H]
        S = stack[-1].num_layers * nd
        top = g.op(
            "Slice",
            [
                h_n,
                g.const(np.array([S - nd], np.int64)),
                g.const(np.array([S], np.int64)),
                g.const(np.array([0], np.int64)),
            ],
            "top",
        )
        top = g.op("Transpose", [top], "top_n", perm=[1, 0, 2])
        features = g.op("Reshape", [top, g.const(np.array([0, -1], np.int64))], "features")
    for w, b in net.hidden_layers:  # the head's hidden dense layers
        features = g.op("MatMul", [features, g.const(np.ascontiguousarray(w.T, np.float32))])
        features = g.op("Add", [features, g.const(np.asarray(b, np.float32))], "dense")
        if net.head_activation != "identity":
            features = g.op(_ACTIVATION_OPS[net.head_activation], [features], "activation")
    weight = g.const(np.ascontiguousarray(net.weight.T, np.float32), "head_weight")
    bias = g.const(np.asarray(net.bias, np.float32), "head_bias")
    logits = g.op("Add", [g.op("MatMul", [features, weight], "head"), bias], "logits")
    seq = ["N", "T"] if est.output == "sequence" else ["N"]
    n_out = net.n_outputs
    if hasattr(est, "classes_"):
        classes = np.asarray(est.classes_)
        if classes.dtype.kind in "US":
            classes = classes.astype(object)
        g.op("Softmax", [logits], out=["probabilities"], axis=-1)
        index = g.op("ArgMax", [logits], "index", axis=-1, keepdims=0)
        g.op("Gather", [g.const(classes, "classes"), index], out=["label"], axis=0)
        label_type = (
            helper.np_dtype_to_tensor_dtype(classes.dtype)
            if classes.dtype.kind != "O"
            else TensorProto.STRING
        )
        return [
            helper.make_tensor_value_info("label", label_type, seq),
            helper.make_tensor_value_info("probabilities", F, seq + [n_out]),
        ]
    # Regressor: predict's float64 target mapping, then zeros past each length.
    y = g.op("Cast", [logits], "logits64", to=TensorProto.DOUBLE)
    y = g.op("Mul", [y, g.const(np.asarray(est._y_scale, np.float64), "y_scale")], "scaled")
    y = g.op("Add", [y, g.const(np.asarray(est._y_mean, np.float64), "y_mean")], "y")
    shape = seq + [n_out]
    if est._one_target():
        y = g.op("Squeeze", [y, g.const(np.array([-1], np.int64))], "y_one")
        shape = seq
    if est.output == "sequence" and lens is not None:
        mask = _step_mask(g, x, lens, time_axis, extra_axis=not est._one_target())
        y = g.op("Mul", [y, mask], "y_masked")
    g.op("Identity", [y], out=["variable"])
    return [helper.make_tensor_value_info("variable", TensorProto.DOUBLE, shape)]


def _step_mask(g, x, lens, time_axis, extra_axis):
    """float64 ``[N, T]`` (or ``[N, T, 1]``): 1 at a sequence's steps, 0 past its length."""
    from onnx import TensorProto

    shape = g.op("Shape", [x], "shape_x")
    T = g.op("Gather", [shape, g.const(np.array(time_axis, np.int64))], "T", axis=0)
    steps = g.op(
        "Range", [g.const(np.array(0, np.int64)), T, g.const(np.array(1, np.int64))], "steps"
    )
    lens64 = g.op("Cast", [lens], "lens64", to=TensorProto.INT64)
    lens_col = g.op("Unsqueeze", [lens64, g.const(np.array([1], np.int64))], "lens_col")
    mask = g.op("Cast", [g.op("Less", [steps, lens_col], "valid")], "mask", to=TensorProto.DOUBLE)
    if extra_axis:
        mask = g.op("Unsqueeze", [mask, g.const(np.array([-1], np.int64))], "mask3")
    return mask
