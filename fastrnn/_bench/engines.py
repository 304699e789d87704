"""The benchmark's shapes and its engines: fastrnn's backends and PyTorch, same weights.

A :class:`Case` is one shape; :func:`make_inputs` draws its weights, input,
upstream gradient and (by kind) initial state or per-row lengths once, and
every engine is built from those very numbers, so their outputs can be
compared before anything is timed (:func:`compare_outputs`). ONNX Runtime's
engine lives in :mod:`fastrnn._bench.onnx`.
"""

import argparse
from dataclasses import dataclass, field

import numpy as np

import fastrnn
from fastrnn._cells import ESTIMATOR_CELLS
from fastrnn._kernels import GATES

RTOL, ATOL = 1e-3, 1e-4
KINDS = ("dense", "step", "ragged")
RAGGED_MIN_LENGTH = 10  # ragged rows get lengths spread evenly from this up to T
_CLASS = {
    "lstm": "LSTM",
    "gru": "GRU",
    "gru_reset_before": "GRU",
    "rnn_tanh": "RNN",
    "rnn_relu": "RNN",
}
#: Cells with a torch.nn module (its GRU applies the reset gate after the matmul).
TORCH_CELLS = ESTIMATOR_CELLS  # (the reset-before GRU has no PyTorch module)
_CELL_ALIASES = {"rnn": "rnn_tanh"}


@dataclass(frozen=True)
class Case:
    """One benchmark shape: a single-layer, unidirectional recurrent layer.

    Attributes
    ----------
    cell : {"lstm", "gru", "gru_reset_before", "rnn_tanh", "rnn_relu"}
        ``"gru_reset_before"`` is ``GRU(reset_after=False)``: no PyTorch
        engine, ONNX Runtime with ``linear_before_reset=0``.
    T, B, D, H : int
        Time steps, batch size, input features, hidden units.
    kind : {"dense", "step", "ragged"}
        "dense": every row has T steps, the state starts at zero.
        "step": a streaming call — the state is passed in and out (``hx``),
        as a server advancing a model one step per request does (use T=1).
        "ragged": row lengths spread from :data:`RAGGED_MIN_LENGTH` to T;
        fastrnn gets ``lengths=``, PyTorch a packed sequence (and a padded
        baseline), ONNX Runtime ``sequence_lens``.
    """

    cell: str
    T: int
    B: int
    D: int
    H: int
    kind: str = "dense"

    @property
    def name(self):
        """Label for the table, e.g. ``"lstm 100x64x64x256"`` (T x B x D x H)."""
        base = f"{self.cell} {self.T}x{self.B}x{self.D}x{self.H}"
        if self.kind == "step":
            return f"{base} step"
        if self.kind == "ragged":
            return f"{base} ragged {min(RAGGED_MIN_LENGTH, self.T)}-{self.T}"
        return base

    @property
    def work(self):
        """``T * B * H``, the size that decides whether the slow numpy backend runs."""
        return self.T * self.B * self.H

    def flops(self, mode):
        """Floating-point operations of one call in ``mode``, counting the cell's GEMMs.

        Forward: ``2 * steps * G * H * (D + H)`` for G gates, where steps is
        ``T * B`` (or the sum of the lengths of a ragged batch). A training
        step adds a backward pass of about twice that (the input, recurrent
        and weight gradients), so three times the forward in all. The
        pointwise gate maths is left out: it is small next to the GEMMs on
        the shapes where GFLOP/s are reported.
        """
        steps = int(ragged_lengths(self).sum()) if self.kind == "ragged" else self.T * self.B
        forward = 2 * steps * GATES[self.cell] * self.H * (self.D + self.H)
        return forward if mode == "inference" else 3 * forward


# The shapes every report covers (batch 1 to 128, H 32 to 512; the performance
# page's table), float32, batch_first.
CASES = (
    Case("lstm", 50, 1, 8, 32),
    Case("lstm", 100, 32, 16, 64),
    Case("lstm", 100, 64, 64, 256),
    Case("lstm", 50, 128, 128, 512),
    Case("gru", 100, 32, 16, 64),
    Case("gru", 100, 64, 64, 256),
    Case("rnn_tanh", 100, 32, 16, 64),
    Case("lstm", 1, 1, 8, 32, kind="step"),
    Case("lstm", 100, 32, 16, 64, kind="ragged"),
)


def parse_shape(text):
    """``"lstm:100,32,16,64"`` (optionally ``":ragged"`` or ``":step"``) -> :class:`Case`.

    Used as an argparse ``type``, so errors are ``ArgumentTypeError``.
    """
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: expected CELL:T,B,D,H[:KIND], e.g. lstm:100,32,16,64"
        )
    cell = _CELL_ALIASES.get(parts[0].lower(), parts[0].lower())
    if cell not in _CLASS:
        raise argparse.ArgumentTypeError(
            f"shape {text!r}: cell must be one of {sorted(_CLASS)} (or 'rnn')"
        )
    try:
        dims = [int(v) for v in parts[1].split(",")]
    except ValueError:
        dims = []
    if len(dims) != 4 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"shape {text!r}: T,B,D,H must be 4 positive integers")
    kind = parts[2].lower() if len(parts) == 3 else "dense"
    if kind not in KINDS:
        raise argparse.ArgumentTypeError(f"shape {text!r}: kind must be one of {KINDS}")
    return Case(cell, *dims, kind=kind)


def ragged_lengths(case):
    """Row lengths of a ragged case: evenly spread up to T, in a fixed shuffled order.

    Shuffled so that PyTorch has to sort (``enforce_sorted=False``), as a
    user's unsorted batch makes it; the longest row has T steps.
    """
    lo = min(RAGGED_MIN_LENGTH, case.T)
    lengths = np.linspace(lo, case.T, case.B).round().astype(np.int64)
    return np.random.default_rng(1).permutation(lengths)


@dataclass
class Inputs:
    """What every engine of one case shares.

    Attributes
    ----------
    weights : dict of str -> ndarray
        PyTorch's names and layout.
    x : ndarray [B, T, D]
    grad : ndarray [B, T, H]
        Fixed upstream gradient of the output (zero past each row's length).
    lengths : ndarray of int64 [B] or None
        Only for ragged cases.
    hx : ndarray [1, B, H], a tuple of two for LSTM, or None
        Initial state; only for step cases.
    """

    weights: dict
    x: np.ndarray
    grad: np.ndarray
    lengths: np.ndarray = None
    hx: object = None


def make_inputs(case, seed=0):
    """Draw the :class:`Inputs` of ``case``.

    The weights come from a fastrnn layer, in PyTorch's names and layout, so
    every engine (torch and ONNX Runtime included) loads the very same numbers.
    """
    rng = np.random.default_rng(seed)
    layer = fastrnn_layer(case, "numpy", "float32", random_state=seed)
    x = rng.standard_normal((case.B, case.T, case.D)).astype(np.float32)
    grad = rng.standard_normal((case.B, case.T, case.H)).astype(np.float32)
    lengths = hx = None
    if case.kind == "ragged":
        lengths = ragged_lengths(case)
        grad[np.arange(case.T)[None, :] >= lengths[:, None]] = 0
    if case.kind == "step":
        shape = (1, case.B, case.H)
        h0 = (0.5 * rng.standard_normal(shape)).astype(np.float32)
        c0 = (0.5 * rng.standard_normal(shape)).astype(np.float32)
        hx = (h0, c0) if case.cell == "lstm" else h0
    return Inputs(layer.state_dict(), x, grad, lengths, hx)


# -- engines ------------------------------------------------------------------------


@dataclass
class Engine:
    """One implementation under test, with its inputs bound.

    Attributes
    ----------
    name : str
        ``"torch"``, ``"torch-padded"``, ``"ort"`` or a fastrnn backend name.
    run : dict of str -> callable
        Mode -> zero-argument function doing one timed call; an engine that
        cannot train (ONNX Runtime) has no ``"train"`` entry.
    outputs : callable
        Runs each of its modes once; returns named NumPy arrays (output,
        final state and, after training, input and weight gradients).
    note : str
        How the engine was built, for the table (e.g. how the ONNX graph was made).
    comparable : bool
        False for a baseline that computes something else on purpose (the
        padded PyTorch run of a ragged batch): it is timed, not checked.
    """

    name: str
    run: dict
    outputs: object
    note: str = ""
    comparable: bool = field(default=True)


def _cell_kwargs(cell):
    """Constructor arguments that pick ``cell`` within its class (fastrnn's or torch's)."""
    if cell.startswith("rnn_"):
        return {"nonlinearity": cell[4:]}
    return {"reset_after": False} if cell == "gru_reset_before" else {}


def fastrnn_layer(case, backend, dtype, random_state=None):
    """A fresh ``fastrnn.nn`` layer for ``case`` (batch_first)."""
    cls = getattr(fastrnn.nn, _CLASS[case.cell])
    kwargs = _cell_kwargs(case.cell)
    return cls(
        case.D,
        case.H,
        batch_first=True,
        dtype=dtype,
        backend=backend,
        random_state=random_state,
        **kwargs,
    )


def _last_state(h_n):
    """The final hidden state of the single layer, ``[B, H]`` (LSTM gives ``(h_n, c_n)``)."""
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    return np.asarray(h_n[0]).copy()  # a copy: a later call may reuse the buffer


def fastrnn_engine(case, backend, inputs, dtype="float32"):
    """An :class:`Engine` running fastrnn's layer API on ``backend``.

    A training step is what a user's loop pays: ``zero_grad``, ``forward``
    with ``training=True`` and ``backward`` of the fixed upstream gradient
    (which also yields the gradient of the input). Ragged batches pass
    ``lengths=``, step cases pass the state as ``hx``.
    """
    layer = fastrnn_layer(case, backend, dtype)
    layer.load_state_dict(inputs.weights)
    # Converted once here, not inside the timed calls (matters only for float64).
    x = np.ascontiguousarray(inputs.x, dtype=dtype)
    grad = np.ascontiguousarray(inputs.grad, dtype=dtype)
    hx = inputs.hx
    if hx is not None:
        hx = tuple(np.asarray(a, dtype) for a in hx) if isinstance(hx, tuple) else hx.astype(dtype)
    lengths = inputs.lengths

    def infer():
        return layer.forward(x, hx=hx, lengths=lengths, training=False)

    def train():
        layer.zero_grad()
        layer.forward(x, hx=hx, lengths=lengths, training=True)
        return layer.backward(grad)

    def outputs():
        out, h = infer()
        dx = train()
        got = {"output": np.array(out), "h_n": _last_state(h), "grad_x": np.array(dx)}
        got.update({f"grad.{k}": v.copy() for k, v in layer.grad.items()})
        return got

    return Engine(backend, {"inference": infer, "train": train}, outputs)


def stream_engine(case, backend, inputs):
    """An :class:`Engine` stepping ``layer.stream()`` once per call (step cases).

    What a server advancing a session by one step pays with fastrnn: the
    state stays inside the stream between calls (it starts at the case's
    ``hx``), the input is one step ``[B, D]``. Inference only.
    """
    layer = fastrnn_layer(case, backend, "float32")
    layer.load_state_dict(inputs.weights)
    stream = layer.stream(batch_size=case.B)
    x = np.ascontiguousarray(inputs.x[:, 0])

    def infer():
        return stream.step(x)

    def outputs():
        stream.state = inputs.hx
        out = infer()
        return {"output": out[:, None].copy(), "h_n": _last_state(stream.state)}

    note = "layer.stream(): state carried inside, one step per call"
    return Engine(f"{backend}-stream", {"inference": infer}, outputs, note)


def torch_module(torch, case, weights):
    """``torch.nn.LSTM/GRU/RNN`` (batch_first) holding ``weights``."""
    if case.cell not in TORCH_CELLS:
        raise ValueError(f"torch.nn has no {case.cell} layer")
    cls = getattr(torch.nn, _CLASS[case.cell])
    module = cls(case.D, case.H, batch_first=True, **_cell_kwargs(case.cell))
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()})
    return module


def torch_state(torch, hx):
    """The initial state as torch tensors (None stays None)."""
    if hx is None:
        return None
    if isinstance(hx, tuple):
        return tuple(torch.from_numpy(a.copy()) for a in hx)
    return torch.from_numpy(hx.copy())


def torch_engine(torch, case, inputs, packed=True):
    """An :class:`Engine` running ``torch.nn.LSTM/GRU/RNN`` with the same weights.

    Inference runs under ``torch.no_grad()``. A training step is
    ``zero_grad``, forward and ``output.backward(grad)`` with an input that
    requires grad, so torch computes the same gradients fastrnn returns.

    A ragged batch goes through ``pack_padded_sequence`` (unsorted, as a
    user's batch comes) and ``pad_packed_sequence``, the way PyTorch gives
    the right answer for it; with ``packed=False`` it runs the padded batch
    as if every row had T steps — the fast, wrong-for-the-task baseline a
    user may compare with, named ``"torch-padded"`` and not checked.
    """
    module = torch_module(torch, case, inputs.weights)
    x_inf = torch.from_numpy(inputs.x.copy())
    x_train = torch.from_numpy(inputs.x.copy()).requires_grad_(True)
    grad_t = torch.from_numpy(inputs.grad.copy())
    hx = torch_state(torch, inputs.hx)
    ragged = inputs.lengths is not None and packed
    lengths = torch.from_numpy(inputs.lengths) if ragged else None
    pack = torch.nn.utils.rnn.pack_padded_sequence
    unpack = torch.nn.utils.rnn.pad_packed_sequence

    def call(x):
        if lengths is None:
            return module(x, hx)
        seq = pack(x, lengths, batch_first=True, enforce_sorted=False)
        out, h = module(seq, hx)
        return unpack(out, batch_first=True, total_length=case.T)[0], h

    def infer():
        with torch.no_grad():
            return call(x_inf)

    def train():
        module.zero_grad()
        x_train.grad = None
        out, _ = call(x_train)
        out.backward(grad_t)

    def outputs():
        out, h = infer()
        train()
        got = {"output": out.numpy(), "h_n": _last_state(h), "grad_x": x_train.grad.numpy()}
        got.update({f"grad.{k}": p.grad.numpy().copy() for k, p in module.named_parameters()})
        return got

    if inputs.lengths is None:
        return Engine("torch", {"inference": infer, "train": train}, outputs)
    if packed:
        return Engine("torch", {"inference": infer, "train": train}, outputs, "packed sequence")
    note = "padded baseline: runs all T steps of every row (not checked)"
    return Engine("torch-padded", {"inference": infer, "train": train}, outputs, note, False)


def make_engine(name, case, inputs, torch=None):
    """The engine called ``name``: ``"torch"``, ``"torch-padded"`` or a fastrnn backend."""
    if name in ("torch", "torch-padded"):
        return torch_engine(torch, case, inputs, packed=name == "torch")
    return fastrnn_engine(case, name, inputs)


# -- correctness ------------------------------------------------------------------------


def compare_outputs(got, ref):
    """Check ``got`` against ``ref`` (dicts of arrays) before anything is timed.

    Outputs and the final state use ``allclose(rtol=1e-3, atol=1e-4)``.
    Weight gradients are sums over all ``T * B`` steps and samples, so their
    float32 rounding grows with their size: their ``atol`` is scaled by the
    largest reference gradient of that weight. Only the keys of ``ref`` are
    compared, so an inference-only engine is checked on its outputs alone.

    Returns
    -------
    ok : bool
    detail : str
        ``""`` when ok, else the first array that differs and by how much.
    """
    for key, want in ref.items():
        have = got.get(key)
        if have is None or have.shape != want.shape:
            shape = None if have is None else have.shape
            return False, f"{key}: shape {shape} != {want.shape}"
        atol = ATOL * max(1.0, float(np.abs(want).max())) if key.startswith("grad") else ATOL
        if not np.allclose(have, want, rtol=RTOL, atol=atol):
            err = float(np.abs(have.astype(np.float64) - want).max())
            return False, f"{key} max|diff|={err:.2e}"
    return True, ""


def check_engines(engines, ref, against):
    """Compare every comparable engine (but the reference) with ``ref``.

    Parameters
    ----------
    engines : list of Engine
    ref : dict of str -> ndarray
        The reference's outputs.
    against : str
        The reference's name, for the record.

    Returns
    -------
    dict of str -> dict
        Engine name -> ``{"ok", "against", "detail"}``.
    """
    checks = {}
    for engine in engines:
        if not engine.comparable or engine.name == against:
            continue
        want = ref if "train" in engine.run else {k: ref[k] for k in ("output", "h_n")}
        ok, detail = compare_outputs(engine.outputs(), want)
        checks[engine.name] = {"ok": ok, "against": against, "detail": detail}
    return checks
