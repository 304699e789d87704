"""ONNX Runtime as a benchmark engine (inference only), with the same weights as the others.

The model comes from ``torch.onnx.export`` of the PyTorch module when that
works (TorchScript exporter, ``dynamo=False``: the new exporter needs
``onnxscript``). Where it cannot — a packed (ragged) batch does not export,
or PyTorch is absent — the graph is built with ``onnx.helper`` around ONNX's
own LSTM/GRU/RNN operator by :func:`fastrnn.onnx.to_onnx` (which reorders
the gates into ONNX's order). Either way the engine is checked against the
reference before it is timed, like every other engine.
"""

import io
import warnings

import numpy as np

from fastrnn._bench.engines import TORCH_CELLS, Engine, fastrnn_layer, torch_module, torch_state
from fastrnn.onnx import OPSET


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


def build_graph(case, weights):
    """Serialized ONNX model of ``case`` from :func:`fastrnn.onnx.to_onnx`.

    A fastrnn layer holding ``weights`` exported on ONNX's own LSTM/GRU/RNN
    operator: input ``x [B, T, D]`` (batch first, as the other engines get
    it), plus ``lengths`` (the operator's ``sequence_lens``) for a ragged
    case and ``h0``/``c0`` for a step case; outputs ``output``, ``h_n`` (and
    ``c_n``).
    """
    from fastrnn.onnx import to_onnx

    layer = fastrnn_layer(case, "numpy", "float32")
    layer.load_state_dict(weights)
    model = to_onnx(layer, lengths=case.kind == "ragged", initial_state=case.kind == "step")
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
    elif case.cell not in TORCH_CELLS:
        reasons.append(f"torch.nn has no {case.cell} layer to export")
    else:
        try:
            return export_torch(torch, case, inputs), "torch.onnx.export"
        except Exception as exc:  # any exporter failure falls back to the hand-built graph
            reasons.append(f"torch.onnx.export failed ({type(exc).__name__}: {exc})")
    try:
        model = build_graph(case, inputs.weights)
    except ImportError:
        return None, "; ".join(reasons + ["the onnx package is not installed (pip install onnx)"])
    return model, f"fastrnn.onnx.to_onnx ({'; '.join(reasons)})"


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
