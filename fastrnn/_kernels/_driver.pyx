# cython: language_level=3
"""The Cython sequence driver: one forward and one backward loop for every cell.

Same contract as :mod:`fastrnn._kernels._reference` (shapes are documented
there). The input projection of all steps is one GEMM before the loop, each
step does one recurrent GEMM and one fused pointwise pass per batch row, and
after the backward loop the weight and input gradients are one GEMM each over
all ``T * B`` rows. The GIL is released for the whole sequence.

Buffers are time-major and C-contiguous; ``[T, B, G*H]`` means G gates of H
units for each of B rows at each of T steps. Steps past a row's length are
skipped: its state stays frozen, its output and gradients stay zero.
"""

from cython cimport floating
from libc.string cimport memcpy, memset

import numpy as np

from fastrnn._kernels import GATES
from fastrnn._kernels._blas cimport gemm

include "_cells.pxi"

_CODES = {"rnn_tanh": RNN_TANH, "rnn_relu": RNN_RELU, "lstm": LSTM, "gru": GRU}


def activation(name, x):
    """Apply the kernels' own ``"sigmoid"`` or ``"tanh"`` to ``x`` (for the tests).

    float32 input goes through the same fast approximations as the cells.
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _activation(name == "tanh", x.reshape(-1), out.reshape(-1))
    return out


def _activation(bint use_tanh, const floating[::1] x, floating[::1] out):
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = _tanh(x[i]) if use_tanh else _sigmoid(x[i])


def _descending_order(lens):
    """Row order sorting ``lens`` longest first, or None if already so."""
    if lens.shape[0] < 2 or np.all(np.diff(lens) <= 0):
        return None
    return np.argsort(-lens, kind="stable")


def _lengths_or_full(lengths, T, B):
    if lengths is None:
        return np.full(B, T, dtype=np.intp)
    return np.ascontiguousarray(lengths, dtype=np.intp)


def forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, training=True):
    """Run ``cell`` over ``x [T, B, D]``; see ``_reference.forward``."""
    code, G = _CODES[cell], GATES[cell]
    T, B, D = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    lens = _lengths_or_full(lengths, T, B)
    # The loop wants rows sorted longest first (finished rows then leave the
    # recurrent GEMM); results are put back in the caller's order at the end.
    order = _descending_order(lens)
    if order is not None:
        x, h0, lens = np.take(x, order, axis=1), h0[order], lens[order]
        c0 = c0[order] if c0 is not None else None
    # Buffers are np.empty: the loop writes every row, zeros past each length.
    # (np.zeros of a large buffer maps fresh pages on every call: page faults.)
    out = np.empty((T, B, H), dtype)
    gates = np.empty((T, B, G * H), dtype)
    h = np.array(h0, dtype=dtype, order="C", copy=True)
    c = np.array(c0, dtype=dtype, order="C", copy=True) if c0 is not None else np.zeros((B, H), dtype)
    hw = np.empty((B, G * H), dtype)
    if training:
        h_prev = np.empty((T, B, H), dtype)
        c_prev = np.empty((T, B, H), dtype) if code == LSTM else np.zeros((1, 1, 1), dtype)
        ext = np.empty((T, B, H), dtype)
    else:
        h_prev = c_prev = np.zeros((1, 1, 1), dtype)
        ext = np.zeros((1, B, H), dtype)  # one step's worth, reused
    _FORWARD[dtype.char](code, x, w_ih, w_hh, b_ih, b_hh, lens, gates, out, h, c, hw,
                         h_prev, c_prev, ext, training)
    c_n = c if code == LSTM else None
    cache = None
    if training:
        cache = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, lengths=lens, gates=gates,
                     out=out, h_prev=h_prev, c_prev=c_prev, ext=ext, order=order)
    if order is not None:
        inv = np.argsort(order)
        out, h = np.take(out, inv, axis=1), h[inv]
        c_n = c_n[inv] if c_n is not None else None
    return out, h, c_n, cache


def _forward(Cell code,
             const floating[:, :, ::1] x,       # IN    [T, B, D]
             const floating[:, ::1] w_ih,       # IN    [G*H, D]
             const floating[:, ::1] w_hh,       # IN    [G*H, H]
             const floating[::1] b_ih,          # IN    [G*H]
             const floating[::1] b_hh,          # IN    [G*H]
             const Py_ssize_t[::1] lens,        # IN    [B]
             floating[:, :, ::1] gates,         # OUT   [T, B, G*H] activated gates
             floating[:, :, ::1] out,           # OUT   [T, B, H]
             floating[:, ::1] h,                # INOUT [B, H] h0 -> h_n
             floating[:, ::1] c,                # INOUT [B, H] c0 -> c_n (LSTM)
             floating[:, ::1] hw,               # WORK  [B, G*H]
             floating[:, :, ::1] h_prev,        # OUT   [T, B, H] (training)
             floating[:, :, ::1] c_prev,        # OUT   [T, B, H] (training, LSTM)
             floating[:, :, ::1] ext,           # OUT   [T, B, H] or [1, B, H]
             bint training):
    cdef int T = x.shape[0], B = x.shape[1], D = x.shape[2]
    cdef int H = w_hh.shape[1], GH = w_hh.shape[0]
    cdef Py_ssize_t s, b, row
    cdef size_t row_bytes = H * sizeof(floating)
    cdef floating* g = &gates[0, 0, 0]
    cdef floating* hp = &h[0, 0]
    cdef floating* cp = &c[0, 0]
    cdef floating* e
    cdef int n_active = B
    with nogil:
        # Input projection of every step at once: gates = x W_ih^T.
        gemm(False, True, T * B, GH, D, 1, &x[0, 0, 0], D, &w_ih[0, 0], D,
             0, g, GH)
        for s in range(T):
            # Rows are sorted by length, longest first: the active ones are a
            # prefix, and only they go through the recurrent GEMM.
            while n_active > 0 and lens[n_active - 1] <= s:
                n_active -= 1
            if n_active > 0:
                gemm(False, True, n_active, GH, H, 1, hp, H, &w_hh[0, 0], H,
                     0, &hw[0, 0], GH)
            for b in range(B):
                if b >= n_active:
                    # Padded step: zero output; zero h_prev too, since the weight
                    # gradient GEMM reads it (times a zero gate gradient).
                    memset(&out[s, b, 0], 0, row_bytes)
                    if training:
                        memset(&h_prev[s, b, 0], 0, row_bytes)
                    continue
                row = s * B + b
                if training:
                    memcpy(&h_prev[s, b, 0], hp + b * H, row_bytes)
                    if code == LSTM:
                        memcpy(&c_prev[s, b, 0], cp + b * H, row_bytes)
                    e = &ext[s, b, 0]
                else:
                    e = &ext[0, b, 0]
                cell_forward(code, H, g + row * GH, &hw[b, 0], &b_ih[0], &b_hh[0],
                             hp + b * H, cp + b * H, e)
                memcpy(&out[s, b, 0], hp + b * H, row_bytes)


def backward(cache, dout, dh_n, dc_n=None):
    """Backpropagate through time; see ``_reference.backward``.

    Returns ``dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh``.
    """
    cell = cache["cell"]
    code, G = _CODES[cell], GATES[cell]
    x, w_ih, w_hh = cache["x"], cache["w_ih"], cache["w_hh"]
    T, B, D = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    order = cache["order"]
    if order is not None:  # into the forward pass's longest-first row order
        dout = np.take(dout, order, axis=1)
        dh_n = None if dh_n is None else np.asarray(dh_n)[order]
        dc_n = None if dc_n is None else np.asarray(dc_n)[order]
    dout = np.ascontiguousarray(dout, dtype=dtype)
    dh = np.zeros((B, H), dtype) if dh_n is None else np.array(dh_n, dtype=dtype, order="C", copy=True)
    dc = np.zeros((B, H), dtype) if dc_n is None else np.array(dc_n, dtype=dtype, order="C", copy=True)
    # The loop writes every row of dgi/dgh, zeros for padded steps.
    dgi = np.empty((T, B, G * H), dtype)
    dgh = np.empty((T, B, G * H), dtype) if code == GRU else dgi
    dx = np.empty((T, B, D), dtype)
    dw_ih = np.empty((G * H, D), dtype)
    dw_hh = np.empty((G * H, H), dtype)
    _BACKWARD[dtype.char](code, x, w_ih, w_hh, cache["lengths"], cache["gates"], cache["out"],
              cache["h_prev"], cache["c_prev"], cache["ext"], dout, dh, dc, dgi, dgh,
              dx, dw_ih, dw_hh)
    db_ih = dgi.sum(axis=(0, 1))
    db_hh = dgh.sum(axis=(0, 1))
    if order is not None:
        inv = np.argsort(order)
        dx, dh, dc = np.take(dx, inv, axis=1), dh[inv], dc[inv]
    return dx, dh, (dc if code == LSTM else None), dw_ih, dw_hh, db_ih, db_hh


def _backward(Cell code,
              const floating[:, :, ::1] x,        # IN    [T, B, D]
              const floating[:, ::1] w_ih,        # IN    [G*H, D]
              const floating[:, ::1] w_hh,        # IN    [G*H, H]
              const Py_ssize_t[::1] lens,         # IN    [B]
              const floating[:, :, ::1] gates,    # IN    [T, B, G*H]
              const floating[:, :, ::1] out,      # IN    [T, B, H]
              const floating[:, :, ::1] h_prev,   # IN    [T, B, H]
              const floating[:, :, ::1] c_prev,   # IN    [T, B, H] (LSTM)
              const floating[:, :, ::1] ext,      # IN    [T, B, H]
              const floating[:, :, ::1] dout,     # IN    [T, B, H]
              floating[:, ::1] dh,                # INOUT [B, H] dh_n -> dh0
              floating[:, ::1] dc,                # INOUT [B, H] dc_n -> dc0 (LSTM)
              floating[:, :, ::1] dgi,            # OUT   [T, B, G*H]
              floating[:, :, ::1] dgh,            # OUT   [T, B, G*H] (aliases dgi but GRU)
              floating[:, :, ::1] dx,             # OUT   [T, B, D]
              floating[:, ::1] dw_ih,             # OUT   [G*H, D]
              floating[:, ::1] dw_hh):            # OUT   [G*H, H]
    cdef int T = x.shape[0], B = x.shape[1], D = x.shape[2]
    cdef int H = w_hh.shape[1], GH = w_hh.shape[0]
    cdef Py_ssize_t s, b
    cdef const floating* cprev
    cdef int n_active = 0
    with nogil:
        for s in range(T - 1, -1, -1):
            while n_active < B and lens[n_active] > s:
                n_active += 1
            for b in range(B):
                if b >= n_active:
                    # Padded steps add nothing: dh passes through, gradients are 0.
                    memset(&dgi[s, b, 0], 0, GH * sizeof(floating))
                    memset(&dgh[s, b, 0], 0, GH * sizeof(floating))
                    continue
                # c_prev is a [1, 1, 1] placeholder except for LSTM.
                cprev = &c_prev[s, b, 0] if code == LSTM else &c_prev[0, 0, 0]
                cell_backward(code, H, &gates[s, b, 0], &h_prev[s, b, 0], &out[s, b, 0],
                              cprev, &ext[s, b, 0], &dout[s, b, 0], &dh[b, 0], &dc[b, 0],
                              &dgi[s, b, 0], &dgh[s, b, 0])
            # dh_{t-1} += dgh_t W_hh for the active prefix; the others keep dh.
            if n_active > 0:
                gemm(False, False, n_active, H, GH, 1, &dgh[s, 0, 0], GH, &w_hh[0, 0], H,
                     1, &dh[0, 0], H)
        # The weight and input gradients of all steps at once.
        gemm(True, False, GH, D, T * B, 1, &dgi[0, 0, 0], GH, &x[0, 0, 0], D,
             0, &dw_ih[0, 0], D)
        gemm(True, False, GH, H, T * B, 1, &dgh[0, 0, 0], GH, &h_prev[0, 0, 0], H,
             0, &dw_hh[0, 0], H)
        gemm(False, False, T * B, D, GH, 1, &dgi[0, 0, 0], GH, &w_ih[0, 0], D,
             0, &dx[0, 0, 0], D)


# The fused-type functions specialised once, by dtype character: calling a
# fused ``def`` makes Cython match argument types on every call (microseconds).
_FORWARD = {"f": _forward.__signatures__["float"], "d": _forward.__signatures__["double"]}
_BACKWARD = {"f": _backward.__signatures__["float"], "d": _backward.__signatures__["double"]}
