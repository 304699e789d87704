"""The Numba sequence driver: one forward and one backward loop for every cell.

Same contract as :mod:`fastrnn._kernels._reference` (shapes are documented
there) and the same algorithm as the Cython driver (``_driver.pyx`` with
``_cells.pxi``): the input projection of all steps is one GEMM before the
loop, each step does one recurrent GEMM and one fused pointwise pass per batch
row, and after the backward loop the weight and input gradients are one GEMM
each over all ``T * B`` rows. ``np.dot`` on contiguous 2-D arrays inside
``@njit`` code calls the BLAS that SciPy ships.

The Python functions :func:`forward` and :func:`backward` only allocate
buffers; each then makes one call into compiled code, which runs the whole
sequence without the GIL.

Buffers are time-major and C-contiguous; ``[T, B, G*H]`` means G gates of H
units for each of B rows at each of T steps. Steps past a row's length are
skipped: its state stays frozen, its output and gradients stay zero.

Every gate function computes in the dtype of its arrays: constants are made
with ``dtype.type`` because a bare ``1`` or ``1.0`` would promote float32 maths
to float64. No ``fastmath``: results must match the reference.
"""

import math

import numpy as np
from numba import njit

from fastrnn._kernels import GATES

# Integer cell codes, as in _cells.pxi: compiled code dispatches on them.
RNN_TANH = 0
RNN_RELU = 1
LSTM = 2
GRU = 3
_CODES = {"rnn_tanh": RNN_TANH, "rnn_relu": RNN_RELU, "lstm": LSTM, "gru": GRU}


# ---------------------------------------------------------------------------
# Pointwise gate math of each cell, for one batch row of H hidden units.
#
# Forward, per row: g [G*H] holds x_t W_ih^T on entry and the activated gates
# on exit; hw [G*H] is h_{t-1} W_hh^T; h [H] (and c [H]) hold the previous
# state on entry and the new one on exit; ext [H] is what backward needs
# besides the gates: tanh(c_t) for LSTM, W_hn h_{t-1} + b_hn for GRU.
#
# Backward, per row: dh_next [H] holds dL/dh_t from later steps on entry and
# the part of dL/dh_{t-1} that bypasses W_hh on exit (GRU's z * dh, else 0);
# the driver then adds dgh W_hh. dgi / dgh [G*H] get the gradients of the
# input-side and recurrent-side pre-activations (the same array except for
# GRU, whose reset gate scales the recurrent n part).
# ---------------------------------------------------------------------------


@njit(cache=True)
def _sigmoid(a, one):
    """Logistic function; ``one`` carries the dtype so float32 stays float32."""
    return one / (one + math.exp(-a))


@njit(cache=True)
def _rnn_tanh_forward(H, g, hw, b_ih, b_hh, h):
    """Elman cell with tanh: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    for j in range(H):
        a = math.tanh(g[j] + b_ih[j] + hw[j] + b_hh[j])
        g[j] = a
        h[j] = a


@njit(cache=True)
def _rnn_relu_forward(H, g, hw, b_ih, b_hh, h):
    """Elman cell with ReLU: ``h = max(x W_ih^T + b_ih + h W_hh^T + b_hh, 0)``."""
    zero = g.dtype.type(0)
    for j in range(H):
        a = g[j] + b_ih[j] + hw[j] + b_hh[j]
        a = a if a > zero else zero
        g[j] = a
        h[j] = a


@njit(cache=True)
def _lstm_forward(H, g, hw, b_ih, b_hh, h, c, ext):
    """LSTM cell, gates ``i, f, g, o``; stores ``tanh(c_t)`` in ``ext``."""
    one = g.dtype.type(1)
    for j in range(H):
        i_ = _sigmoid(g[j] + b_ih[j] + hw[j] + b_hh[j], one)
        f_ = _sigmoid(g[H + j] + b_ih[H + j] + hw[H + j] + b_hh[H + j], one)
        g_ = math.tanh(g[2 * H + j] + b_ih[2 * H + j] + hw[2 * H + j] + b_hh[2 * H + j])
        o_ = _sigmoid(g[3 * H + j] + b_ih[3 * H + j] + hw[3 * H + j] + b_hh[3 * H + j], one)
        g[j] = i_
        g[H + j] = f_
        g[2 * H + j] = g_
        g[3 * H + j] = o_
        c[j] = f_ * c[j] + i_ * g_
        a = math.tanh(c[j])
        ext[j] = a
        h[j] = o_ * a


@njit(cache=True)
def _gru_forward(H, g, hw, b_ih, b_hh, h, ext):
    """GRU cell, gates ``r, z, n``, reset applied after the recurrent matmul.

    Stores ``W_hn h_{t-1} + b_hn`` in ``ext``: the reset gate scales it, so
    backward needs it to get the gradient of ``r``.
    """
    one = g.dtype.type(1)
    for j in range(H):
        r_ = _sigmoid(g[j] + b_ih[j] + hw[j] + b_hh[j], one)
        z_ = _sigmoid(g[H + j] + b_ih[H + j] + hw[H + j] + b_hh[H + j], one)
        hn = hw[2 * H + j] + b_hh[2 * H + j]
        n_ = math.tanh(g[2 * H + j] + b_ih[2 * H + j] + r_ * hn)
        g[j] = r_
        g[H + j] = z_
        g[2 * H + j] = n_
        ext[j] = hn
        h[j] = (one - z_) * n_ + z_ * h[j]


@njit(cache=True)
def _cell_forward(code, H, g, hw, b_ih, b_hh, h, c, ext):
    """Dispatch one row's forward pointwise pass on the cell ``code``."""
    if code == RNN_TANH:
        _rnn_tanh_forward(H, g, hw, b_ih, b_hh, h)
    elif code == RNN_RELU:
        _rnn_relu_forward(H, g, hw, b_ih, b_hh, h)
    elif code == LSTM:
        _lstm_forward(H, g, hw, b_ih, b_hh, h, c, ext)
    else:
        _gru_forward(H, g, hw, b_ih, b_hh, h, ext)


@njit(cache=True)
def _rnn_tanh_backward(H, g, dout, dh_next, dgi):
    """Backward of the tanh cell; ``g`` holds ``h_t`` itself."""
    one = g.dtype.type(1)
    zero = g.dtype.type(0)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        dgi[j] = dh * (one - g[j] * g[j])
        dh_next[j] = zero


@njit(cache=True)
def _rnn_relu_backward(H, g, dout, dh_next, dgi):
    """Backward of the ReLU cell; ``g`` holds ``h_t`` itself."""
    zero = g.dtype.type(0)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        dgi[j] = dh if g[j] > zero else zero
        dh_next[j] = zero


@njit(cache=True)
def _lstm_backward(H, g, c_prev, ext, dout, dh_next, dc_next, dgi):
    """Backward of the LSTM cell; ``ext`` holds ``tanh(c_t)``."""
    one = g.dtype.type(1)
    zero = g.dtype.type(0)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        i_ = g[j]
        f_ = g[H + j]
        g_ = g[2 * H + j]
        o_ = g[3 * H + j]
        dc = dc_next[j] + dh * o_ * (one - ext[j] * ext[j])
        dgi[j] = dc * g_ * i_ * (one - i_)
        dgi[H + j] = dc * c_prev[j] * f_ * (one - f_)
        dgi[2 * H + j] = dc * i_ * (one - g_ * g_)
        dgi[3 * H + j] = dh * ext[j] * o_ * (one - o_)
        dc_next[j] = dc * f_
        dh_next[j] = zero


@njit(cache=True)
def _gru_backward(H, g, h_prev, ext, dout, dh_next, dgi, dgh):
    """Backward of the GRU cell; ``ext`` holds ``W_hn h_{t-1} + b_hn``."""
    one = g.dtype.type(1)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        r_ = g[j]
        z_ = g[H + j]
        n_ = g[2 * H + j]
        dn = dh * (one - z_) * (one - n_ * n_)
        dz = dh * (h_prev[j] - n_) * z_ * (one - z_)
        dr = dn * ext[j] * r_ * (one - r_)
        dgi[j] = dr
        dgi[H + j] = dz
        dgi[2 * H + j] = dn
        dgh[j] = dr
        dgh[H + j] = dz
        dgh[2 * H + j] = dn * r_
        # h' = (1 - z) n + z h: this path to h_{t-1} does not go through W_hh.
        dh_next[j] = dh * z_


@njit(cache=True)
def _cell_backward(code, H, g, h_prev, c_prev, ext, dout, dh_next, dc_next, dgi, dgh):
    """Dispatch one row's backward pointwise pass on the cell ``code``."""
    if code == RNN_TANH:
        _rnn_tanh_backward(H, g, dout, dh_next, dgi)
    elif code == RNN_RELU:
        _rnn_relu_backward(H, g, dout, dh_next, dgi)
    elif code == LSTM:
        _lstm_backward(H, g, c_prev, ext, dout, dh_next, dc_next, dgi)
    else:
        _gru_backward(H, g, h_prev, ext, dout, dh_next, dgi, dgh)


# ---------------------------------------------------------------------------
# Sequence drivers: GEMMs, the time loop and lengths, written once.
# ---------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _forward(
    code,
    x,  # IN    [T, B, D]
    w_ih,  # IN    [G*H, D]
    w_hh,  # IN    [G*H, H]
    b_ih,  # IN    [G*H]
    b_hh,  # IN    [G*H]
    lens,  # IN    [B] intp
    gates,  # OUT   [T, B, G*H] activated gates
    out,  # OUT   [T, B, H]
    h,  # INOUT [B, H] h0 -> h_n
    c,  # INOUT [B, H] c0 -> c_n (LSTM)
    hw,  # WORK  [B, G*H]
    h_prev,  # OUT   [T, B, H] (training) or [1, 1, 1]
    c_prev,  # OUT   [T, B, H] (training, LSTM) or [1, 1, 1]
    ext,  # OUT   [T, B, H] (training) or [1, B, H]
    training,
):
    """Run the whole sequence: see :func:`forward`."""
    T, B, D = x.shape
    GH, H = w_hh.shape
    # Input projection of every step at once: gates = x W_ih^T.
    np.dot(x.reshape((T * B, D)), w_ih.T, gates.reshape((T * B, GH)))
    for s in range(T):
        np.dot(h, w_hh.T, hw)
        # Out of training, one step's ext is enough: nothing reads it later.
        es = s if training else 0
        for b in range(B):
            if s >= lens[b]:
                continue
            if training:
                for j in range(H):
                    h_prev[s, b, j] = h[b, j]
                if code == LSTM:
                    for j in range(H):
                        c_prev[s, b, j] = c[b, j]
            _cell_forward(code, H, gates[s, b], hw[b], b_ih, b_hh, h[b], c[b], ext[es, b])
            for j in range(H):
                out[s, b, j] = h[b, j]


@njit(cache=True, nogil=True)
def _backward(
    code,
    x,  # IN    [T, B, D]
    w_ih,  # IN    [G*H, D]
    w_hh,  # IN    [G*H, H]
    lens,  # IN    [B] intp
    gates,  # IN    [T, B, G*H]
    h_prev,  # IN    [T, B, H]
    c_prev,  # IN    [T, B, H] (LSTM) or [1, 1, 1]
    ext,  # IN    [T, B, H]
    dout,  # IN    [T, B, H]
    dh,  # INOUT [B, H] dh_n -> dh0
    dc,  # INOUT [B, H] dc_n -> dc0 (LSTM)
    dgi,  # OUT   [T, B, G*H], zero on entry
    dgh,  # OUT   [T, B, G*H] (the same array as dgi except for GRU)
    dh_w,  # WORK  [B, H]
    dx,  # OUT   [T, B, D]
    dw_ih,  # OUT   [G*H, D]
    dw_hh,  # OUT   [G*H, H]
    db_ih,  # OUT   [G*H], zero on entry
    db_hh,  # OUT   [G*H], zero on entry
):
    """Backpropagate through the whole sequence: see :func:`backward`."""
    T, B, D = x.shape
    GH, H = w_hh.shape
    for s in range(T - 1, -1, -1):
        for b in range(B):
            if s >= lens[b]:
                continue
            # c_prev is a [1, 1, 1] placeholder except for LSTM.
            cp = c_prev[s, b] if code == LSTM else c_prev[0, 0]
            _cell_backward(
                code,
                H,
                gates[s, b],
                h_prev[s, b],
                cp,
                ext[s, b],
                dout[s, b],
                dh[b],
                dc[b],
                dgi[s, b],
                dgh[s, b],
            )
        # dh_{t-1} += dgh_t W_hh; rows of padded steps add 0 and keep dh.
        # (np.dot has no beta = 1, hence the work buffer.)
        np.dot(dgh[s], w_hh, dh_w)
        for b in range(B):
            for j in range(H):
                dh[b, j] += dh_w[b, j]
    # The weight and input gradients of all steps at once (padded rows are 0).
    dgi2 = dgi.reshape((T * B, GH))
    dgh2 = dgh.reshape((T * B, GH))
    np.dot(dgi2.T, x.reshape((T * B, D)), dw_ih)
    np.dot(dgh2.T, h_prev.reshape((T * B, H)), dw_hh)
    np.dot(dgi2, w_ih, dx.reshape((T * B, D)))
    for r in range(T * B):
        for k in range(GH):
            db_ih[k] += dgi2[r, k]
    if code == GRU:
        for r in range(T * B):
            for k in range(GH):
                db_hh[k] += dgh2[r, k]
    else:
        db_hh[:] = db_ih


# ---------------------------------------------------------------------------
# Python entry points: allocate, then one call into compiled code.
# ---------------------------------------------------------------------------


def _lengths_or_full(lengths, T, B):
    if lengths is None:
        return np.full(B, T, dtype=np.intp)
    return np.ascontiguousarray(lengths, dtype=np.intp)


def _state_copy(a, shape, dtype):
    """A fresh C-contiguous copy of ``a``, or zeros when ``a`` is None."""
    if a is None:
        return np.zeros(shape, dtype)
    return np.array(a, dtype=dtype, order="C", copy=True)


def forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, training=True):
    """Run ``cell`` over the sequence ``x``; see ``_reference.forward``.

    Parameters
    ----------
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru"}
        The recurrent cell.
    x : ndarray [T, B, D]
        Time-major input, float32 or float64; every array has this dtype.
    h0 : ndarray [B, H]
        Initial hidden state (not modified).
    c0 : ndarray [B, H] or None
        Initial cell state for LSTM, else None (not modified).
    w_ih, w_hh : ndarray [G*H, D], [G*H, H]
        Input and recurrent weights, gates in PyTorch's order.
    b_ih, b_hh : ndarray [G*H]
        Input and recurrent biases.
    lengths : ndarray [B] of int or None
        Valid prefix of each sequence, ``1 <= lengths[b] <= T``; None means T.
    training : bool
        Keep what :func:`backward` needs; False returns no cache.

    Returns
    -------
    out : ndarray [T, B, H]
        ``h_t`` for every step, zero past each sample's length.
    h_n : ndarray [B, H]
        State after each sample's last valid step.
    c_n : ndarray [B, H] or None
        Cell state for LSTM, else None.
    cache : dict or None
        What :func:`backward` needs; None when ``training`` is False.
    """
    code, G = _CODES[cell], GATES[cell]
    T, B, D = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
    b_ih, b_hh = np.ascontiguousarray(b_ih), np.ascontiguousarray(b_hh)
    lens = _lengths_or_full(lengths, T, B)
    # Output rows past a sample's length are never written: they must start at 0.
    out = (np.empty if lengths is None else np.zeros)((T, B, H), dtype)
    gates = np.empty((T, B, G * H), dtype)
    h = _state_copy(h0, (B, H), dtype)
    c = _state_copy(c0, (B, H), dtype)  # untouched scratch except for LSTM
    hw = np.empty((B, G * H), dtype)
    placeholder = np.zeros((1, 1, 1), dtype)
    if training:
        # Zeros, not empty: the dW_hh GEMM reads the rows of padded steps.
        h_prev = np.zeros((T, B, H), dtype)
        c_prev = np.zeros((T, B, H), dtype) if code == LSTM else placeholder
        ext = np.zeros((T, B, H), dtype)
    else:
        h_prev = c_prev = placeholder
        ext = np.zeros((1, B, H), dtype)  # one step's worth, reused
    _forward(
        code, x, w_ih, w_hh, b_ih, b_hh, lens, gates, out, h, c, hw, h_prev, c_prev, ext, training
    )
    c_n = c if code == LSTM else None
    if not training:
        return out, h, c_n, None
    # RNN cells need h_t in backward: their activated gate is h_t itself, so
    # the cache does not hold on to ``out``, which the caller may change.
    cache = dict(
        cell=cell,
        x=x,
        w_ih=w_ih,
        w_hh=w_hh,
        lengths=lens,
        gates=gates,
        h_prev=h_prev,
        c_prev=c_prev,
        ext=ext,
    )
    return out, h, c_n, cache


def backward(cache, dout, dh_n, dc_n=None):
    """Backpropagate through time; see ``_reference.backward``.

    Parameters
    ----------
    cache : dict
        From :func:`forward` with ``training=True``.
    dout : ndarray [T, B, H]
        Gradient of the loss with respect to ``out``; ignored past each
        sample's length.
    dh_n, dc_n : ndarray [B, H] or None
        Gradient with respect to the final state(s); None means zero. Not
        modified.

    Returns
    -------
    dx : ndarray [T, B, D]
    dh0 : ndarray [B, H]
    dc0 : ndarray [B, H] or None
        None except for LSTM.
    dw_ih, dw_hh, db_ih, db_hh : ndarray
        Gradients of the parameters, shaped like them.
    """
    cell = cache["cell"]
    code, G = _CODES[cell], GATES[cell]
    x, w_ih, w_hh = cache["x"], cache["w_ih"], cache["w_hh"]
    T, B, D = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    dout = np.ascontiguousarray(dout, dtype=dtype)
    dh = _state_copy(dh_n, (B, H), dtype)
    dc = _state_copy(dc_n if code == LSTM else None, (B, H), dtype)
    # Rows of padded steps are never written and must stay 0 for the final GEMMs.
    dgi = np.zeros((T, B, G * H), dtype)
    dgh = np.zeros((T, B, G * H), dtype) if code == GRU else dgi
    dh_w = np.empty((B, H), dtype)
    dx = np.empty((T, B, D), dtype)
    dw_ih = np.empty((G * H, D), dtype)
    dw_hh = np.empty((G * H, H), dtype)
    db_ih = np.zeros(G * H, dtype)
    db_hh = np.zeros(G * H, dtype)
    _backward(
        code,
        x,
        w_ih,
        w_hh,
        cache["lengths"],
        cache["gates"],
        cache["h_prev"],
        cache["c_prev"],
        cache["ext"],
        dout,
        dh,
        dc,
        dgi,
        dgh,
        dh_w,
        dx,
        dw_ih,
        dw_hh,
        db_ih,
        db_hh,
    )
    return dx, dh, (dc if code == LSTM else None), dw_ih, dw_hh, db_ih, db_hh
