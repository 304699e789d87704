"""ONNX Runtime as a benchmark engine (inference only), with the same weights as the others.

The model comes from ``torch.onnx.export`` of the PyTorch module when that
works (TorchScript exporter, ``dynamo=False``: the new exporter needs
``onnxscript``). Where it cannot — a packed (ragged) batch does not export,
or PyTorch is absent — the graph is built with ``onnx.helper`` around ONNX's
own LSTM/GRU/RNN operator, whose gate orders differ from PyTorch's (see
:data:`ONNX_GATE_ORDER`). Either way the engine is checked against the
reference before it is timed, like every other engine.
"""

import io
import warnings

import numpy as np

from fastrnn._bench_engines import Engine, torch_module, torch_state
from fastrnn._kernels import GATES

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17; newer `onnx` writes higher ones older ORTs refuse
# Position of each ONNX gate block in PyTorch's layout: ONNX LSTM is i, o, f, c
# (PyTorch i, f, g, o); ONNX GRU is z, r, h (PyTorch r, z, n).
ONNX_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_tanh": [0], "rnn_relu": [0]}
_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}


def import_onnxruntime(disabled):
    """ONNX Runtime, or None with the reason (not installed, or ``--no-ort``)."""
    if disabled:
        return None, "--no-ort: ONNX Runtime not timed"
    try:
        import onnxruntime
    except ImportError:
        return None, "onnxruntime is not installed: no ONNX Runtime rows (pip install onnxruntime)"
    return onnxruntime, None


def _state_names(case):
    """Graph input names of the initial state of a step case (none otherwise)."""
    if case.kind != "step":
        return []
    return ["h0", "c0"] if case.cell == "lstm" else ["h0"]


def _output_names(case):
    return ["output", "h_n", "c_n"] if case.cell == "lstm" else ["output", "h_n"]


def export_torch(torch, case, inputs):
    """Serialized ONNX model of the torch module of ``case``, via ``torch.onnx.export``."""
    module = torch_module(torch, case, inputs.weights)
    x = torch.from_numpy(inputs.x.copy())
    hx = torch_state(torch, inputs.hx)
    args = (x,) if hx is None else (x, hx)
    f = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated and about batch_first
        # RNNs with an initial state; neither changes the graph it writes.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            f,
            dynamo=False,
            input_names=["x"] + _state_names(case),
            output_names=_output_names(case),
            opset_version=OPSET,
        )
    return f.getvalue()


def _to_onnx_gates(a, case):
    """Reorder the gate blocks of a PyTorch weight or bias (first axis) into ONNX's order."""
    G, H = GATES[case.cell], case.H
    blocks = a.reshape(G, H, *a.shape[1:])
    return np.ascontiguousarray(blocks[ONNX_GATE_ORDER[case.cell]].reshape(a.shape))


def build_graph(case, weights):
    """Serialized ONNX model of ``case`` built around ONNX's LSTM/GRU/RNN operator.

    Input ``x [B, T, D]`` (batch first, as the other engines get it), plus
    ``lengths`` (int32 ``[B]``, the operator's ``sequence_lens``) for a ragged
    case and ``h0``/``c0 [1, B, H]`` for a step case. Outputs ``output
    [B, T, H]``, ``h_n`` and for LSTM ``c_n`` (``[1, B, H]``). The weights are
    initializers in ONNX's gate order; the GRU uses ``linear_before_reset=1``,
    which is PyTorch's GRU (the reset gate multiplies ``W_hn h + b_hn``).
    """
    from onnx import TensorProto, helper, numpy_helper

    cell, B, T, D, H = case.cell, case.B, case.T, case.D, case.H
    W = _to_onnx_gates(weights["weight_ih_l0"], case)[None]
    R = _to_onnx_gates(weights["weight_hh_l0"], case)[None]
    bias = np.concatenate(
        [_to_onnx_gates(weights["bias_ih_l0"], case), _to_onnx_gates(weights["bias_hh_l0"], case)]
    )[None]
    initializers = [
        numpy_helper.from_array(W.astype(np.float32), "W"),
        numpy_helper.from_array(R.astype(np.float32), "R"),
        numpy_helper.from_array(bias.astype(np.float32), "B"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [B, T, D])]
    if case.kind == "ragged":
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, [B]))
    states = _state_names(case)
    inputs += [helper.make_tensor_value_info(s, TensorProto.FLOAT, [1, B, H]) for s in states]

    attrs = {"hidden_size": H}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    if cell.startswith("rnn_"):
        attrs["activations"] = ["Tanh" if cell == "rnn_tanh" else "Relu"]
    # Optional operator inputs are positional; "" marks one left out.
    op_inputs = ["x_tbd", "W", "R", "B", "lengths" if case.kind == "ragged" else ""] + states
    while not op_inputs[-1]:
        op_inputs.pop()
    outputs = _output_names(case)
    nodes = [
        helper.make_node("Transpose", ["x"], ["x_tbd"], perm=[1, 0, 2]),
        helper.make_node(_ONNX_OP[cell], op_inputs, ["y_t1bh"] + outputs[1:], **attrs),
        helper.make_node("Squeeze", ["y_t1bh", "axis1"], ["y_tbh"]),
        helper.make_node("Transpose", ["y_tbh"], ["output"], perm=[1, 0, 2]),
    ]
    graph_outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [B, T, H])]
    graph_outputs += [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, B, H]) for name in outputs[1:]
    ]
    graph = helper.make_graph(nodes, f"fastrnn_bench_{cell}", inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model.SerializeToString()


def onnx_model(torch, case, inputs):
    """The ONNX model of ``case`` and how it was made.

    Returns
    -------
    model : bytes or None
        None when neither way works (then ``how`` says why).
    how : str
    """
    reasons = []
    if case.kind == "ragged":
        reasons.append("torch.onnx.export cannot export a packed sequence")
    elif torch is None:
        reasons.append("no PyTorch to export from")
    else:
        try:
            return export_torch(torch, case, inputs), "torch.onnx.export"
        except Exception as exc:  # any exporter failure falls back to the hand-built graph
            reasons.append(f"torch.onnx.export failed ({type(exc).__name__}: {exc})")
    try:
        model = build_graph(case, inputs.weights)
    except ImportError:
        return None, "; ".join(reasons + ["the onnx package is not installed (pip install onnx)"])
    return model, f"onnx.helper {_ONNX_OP[case.cell]} op ({'; '.join(reasons)})"


def session_options(ort, threads):
    """ONNX Runtime options matching the other engines' thread count.

    ``threads`` intra-op threads, one inter-op thread, sequential execution:
    one owner of parallelism per call, as for every other engine.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return options


def ort_engine(ort, case, inputs, model, how, threads):
    """An inference-only :class:`Engine` running ``model`` in an ONNX Runtime session.

    The feeds are built once; a timed call is one ``session.run`` returning
    every output, as PyTorch's forward does.
    """
    session = ort.InferenceSession(
        model, session_options(ort, threads), providers=["CPUExecutionProvider"]
    )
    available = {"x": np.ascontiguousarray(inputs.x)}
    if inputs.lengths is not None:
        available["lengths"] = inputs.lengths.astype(np.int32)
    if inputs.hx is not None:
        states = inputs.hx if isinstance(inputs.hx, tuple) else (inputs.hx,)
        available.update(zip(_state_names(case), states))
    feeds = {arg.name: available[arg.name] for arg in session.get_inputs()}

    def infer():
        return session.run(None, feeds)

    def outputs():
        out, h_n = session.run(["output", "h_n"], feeds)
        return {"output": out, "h_n": h_n[0].copy()}

    return Engine("ort", {"inference": infer}, outputs, how)
