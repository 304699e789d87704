"""NumPy reference: every cell's forward pass and backpropagation through time.

This is the oracle the compiled backends are tested against, and it is itself
tested against central finite differences in float64. It favours the plain
maths over speed: one loop over time steps, one small matmul per step, the
weight gradients accumulated step by step (the compiled backends hoist them).

Shapes (those of every backend): ``x [T, B, D]`` time-major, ``h0 [B, H]``,
``w_ih [G*H, D]``, ``w_hh [G*H, H]``, ``b_ih, b_hh [G*H]`` with G gates in
PyTorch's order (LSTM ``i, f, g, o``; GRU ``r, z, n``). ``"gru"`` is
PyTorch's GRU, the reset gate applied after the recurrent matmul
(``r * (W_hn h + b_hn)``); ``"gru_reset_before"`` applies it before
(``W_hn (r * h) + b_hn``: Keras ``reset_after=False``, ONNX
``linear_before_reset=0``, the form of Cho et al. 2014). ``lengths [B]`` (or
None) marks the valid prefix of each sequence: later steps leave the state
unchanged, output zeros and receive no gradient.
"""

import numpy as np


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _valid_mask(lengths, T, B, dtype):
    """``[T, B, 1]`` array: 1 where step t is inside sample b's length."""
    if lengths is None:
        return np.ones((T, B, 1), dtype=dtype)
    steps = np.arange(T)[:, None]
    return (steps < np.asarray(lengths)[None, :]).astype(dtype)[:, :, None]


#: See the backend contract in ``fastrnn._kernels``: weights are read as they are.
PREPARES_WEIGHTS = False
TAKES_PROJECTED_INPUT = False
HAS_STEPPER = False
INFERS_STACKS = False
THREADED_FLOAT32 = False


def forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, training=True):
    """Run ``cell`` over the sequence ``x``.

    ``training=False`` returns no cache (the compiled backends then skip
    storing what only the backward pass needs).

    Returns
    -------
    out : ndarray [T, B, H]
        ``h_t`` for every step, zero past each sample's length.
    h_n : ndarray [B, H]
        State after each sample's last valid step.
    c_n : ndarray [B, H] or None
        Cell state for LSTM, else None.
    cache : dict
        What :func:`backward` needs.
    """
    T, B, _ = x.shape
    H = w_hh.shape[1]
    mask = _valid_mask(lengths, T, B, x.dtype)
    h, c = h0, c0
    out = np.zeros((T, B, H), dtype=x.dtype)
    steps = []  # per step: (h_prev, c_prev, activated gates, extra)
    for t in range(T):
        xw = x[t] @ w_ih.T + b_ih
        hw = h @ w_hh.T + b_hh
        if cell == "rnn_tanh":
            h_new, c_new, gates, extra = np.tanh(xw + hw), None, None, None
        elif cell == "rnn_relu":
            h_new, c_new, gates, extra = np.maximum(xw + hw, 0), None, None, None
        elif cell == "lstm":
            a = xw + hw
            i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H])
            g, o = np.tanh(a[:, 2 * H : 3 * H]), _sigmoid(a[:, 3 * H :])
            c_new = f * c + i * g
            tc = np.tanh(c_new)
            h_new, gates, extra = o * tc, (i, f, g, o), tc
        elif cell == "gru":
            r = _sigmoid(xw[:, :H] + hw[:, :H])
            z = _sigmoid(xw[:, H : 2 * H] + hw[:, H : 2 * H])
            hn = hw[:, 2 * H :]  # W_hn h + b_hn: the reset gate scales it
            n = np.tanh(xw[:, 2 * H :] + r * hn)
            h_new, c_new, gates, extra = (1 - z) * n + z * h, None, (r, z, n), hn
        elif cell == "gru_reset_before":
            r = _sigmoid(xw[:, :H] + hw[:, :H])
            z = _sigmoid(xw[:, H : 2 * H] + hw[:, H : 2 * H])
            rh = r * h  # what W_hn multiplies: its gradient needs it
            n = np.tanh(xw[:, 2 * H :] + rh @ w_hh[2 * H :].T + b_hh[2 * H :])
            h_new, c_new, gates, extra = (1 - z) * n + z * h, None, (r, z, n), rh
        else:
            raise ValueError(f"unknown cell {cell!r}")
        steps.append((h, c, gates, extra, h_new))
        m = mask[t]
        h = m * h_new + (1 - m) * h
        if c is not None:
            c = m * c_new + (1 - m) * c
        out[t] = m * h_new
    cache = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, mask=mask, steps=steps)
    return out, h, c, (cache if training else None)


def backward(cache, dout, dh_n, dc_n=None, grads=None):
    """Backpropagate through time.

    Parameters
    ----------
    cache : dict
        From :func:`forward`.
    dout : ndarray [T, B, H]
        Gradient of the loss with respect to ``out``.
    dh_n, dc_n : ndarray [B, H] or None
        Gradient with respect to the final state(s); None means zero.
    grads : tuple of 4 ndarray, optional
        ``dw_ih``, ``dw_hh``, ``db_ih``, ``db_hh`` shaped like the parameters
        (None for an absent bias): the parameter gradients are added into
        them (a layer's gradient buffers) and returned as None.

    Returns
    -------
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh
        Gradients of the inputs, the initial states (``dc0`` is None except
        for LSTM) and the four parameters.
    """
    cell, x, w_ih, w_hh, mask = (cache[k] for k in ("cell", "x", "w_ih", "w_hh", "mask"))
    T, B, _ = x.shape
    H = w_hh.shape[1]
    dx = np.zeros_like(x)
    dw_ih, dw_hh = np.zeros_like(w_ih), np.zeros_like(w_hh)
    db_ih, db_hh = np.zeros(w_ih.shape[0], x.dtype), np.zeros(w_ih.shape[0], x.dtype)
    dh_next = np.zeros((B, H), x.dtype) if dh_n is None else dh_n.copy()
    dc_next = None
    if cell == "lstm":
        dc_next = np.zeros((B, H), x.dtype) if dc_n is None else dc_n.copy()
    for t in reversed(range(T)):
        h_prev, c_prev, gates, extra, h_new = cache["steps"][t]
        m = mask[t]
        # A padded step passes dh straight through and contributes nothing.
        dh = m * (dout[t] + dh_next)
        dh_direct = np.zeros_like(dh)
        if cell == "rnn_tanh":
            da_ih = da_hh = dh * (1 - h_new**2)
        elif cell == "rnn_relu":
            da_ih = da_hh = dh * (h_new > 0)
        elif cell == "lstm":
            i, f, g, o = gates
            tc = extra
            dc = m * dc_next + dh * o * (1 - tc**2)
            di, df, dg, do = dc * g, dc * c_prev, dc * i, dh * tc
            da_ih = da_hh = np.concatenate(
                [di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)], axis=1
            )
            dc_next = m * dc * f + (1 - m) * dc_next
        elif cell == "gru":
            r, z, n = gates
            hn = extra
            dn = dh * (1 - z) * (1 - n**2)
            dz = dh * (h_prev - n) * z * (1 - z)
            dr = dn * hn * r * (1 - r)
            da_ih = np.concatenate([dr, dz, dn], axis=1)
            da_hh = np.concatenate([dr, dz, dn * r], axis=1)
            dh_direct = dh * z
        else:  # gru_reset_before
            r, z, n = gates
            dn = dh * (1 - z) * (1 - n**2)
            dz = dh * (h_prev - n) * z * (1 - z)
            drh = dn @ w_hh[2 * H :]
            dr = drh * h_prev * r * (1 - r)
            da_ih = da_hh = np.concatenate([dr, dz, dn], axis=1)
            dh_direct = dh * z + drh * r  # through r * h_{t-1}
        dx[t] = da_ih @ w_ih
        dw_ih += da_ih.T @ x[t]
        db_ih += da_ih.sum(axis=0)
        db_hh += da_hh.sum(axis=0)
        if cell == "gru_reset_before":
            # W_hn multiplies r * h_{t-1}; its path to h_{t-1} is in dh_direct.
            dw_hh[: 2 * H] += da_hh[:, : 2 * H].T @ h_prev
            dw_hh[2 * H :] += dn.T @ extra
            dh_prev = da_hh[:, : 2 * H] @ w_hh[: 2 * H]
        else:
            dw_hh += da_hh.T @ h_prev
            dh_prev = da_hh @ w_hh
        dh_next = m * (dh_prev + dh_direct) + (1 - m) * dh_next
    return add_into(grads, (dx, dh_next, dc_next, dw_ih, dw_hh, db_ih, db_hh))


def add_into(grads, result):
    """``backward``'s ``result``, its parameter gradients added into ``grads`` if given."""
    if grads is None:
        return result
    for into, value in zip(grads, result[3:]):
        if into is not None:
            if into.shape != value.shape or into.dtype != value.dtype:
                raise ValueError(f"grads must be {value.dtype} arrays shaped {value.shape}")
            into += value
    return (*result[:3], None, None, None, None)


def reverse_within_lengths(a, lengths):
    """Reverse ``a [T, B, ...]`` in time, each row within its own length.

    Steps past a row's length stay where they are, so applying this twice
    gives ``a`` back: the same function maps a reverse direction's input in
    and its output (and gradients) back out.
    """
    if lengths is None:
        return np.ascontiguousarray(a[::-1])
    T = a.shape[0]
    steps = np.arange(T)[:, None]
    src = np.where(steps < lengths, lengths - 1 - steps, steps)  # [T, B]
    return np.ascontiguousarray(a[src, np.arange(a.shape[1])])


def embedding_backward(ids, dout, grad):
    """Add row ``i`` of ``dout [N, E]`` to ``grad[ids[i]]`` (in place); ids may repeat."""
    ids = np.asarray(ids).reshape(-1)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(grad)):
        raise ValueError(f"ids must lie in [0, {len(grad)}), got {ids.min()}..{ids.max()}")
    np.add.at(grad, ids, np.asarray(dout).reshape(len(ids), grad.shape[1]))


def softmax_cross_entropy(z, y, w):
    """``(sum_i w_i * -log softmax(z_i)[y_i], w_i * (softmax(z_i) - onehot(y_i)))``."""
    z, y = np.asarray(z), np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"targets must be integers, got dtype {y.dtype}")
    if len(y) and (np.min(y) < 0 or np.max(y) >= z.shape[1]):
        raise ValueError(f"targets must lie in [0, {z.shape[1]}), got {np.min(y)}..{np.max(y)}")
    if len(y) != len(z) or len(w) != len(z):
        raise ValueError(
            f"z must be [N, V] with N targets and N weights; got z {z.shape}, "
            f"{len(y)} targets, {len(w)} weights"
        )
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(z))
    grad = np.exp(logp)
    grad[rows, y] -= 1
    w = np.asarray(w, z.dtype)
    return -float(np.sum(w * logp[rows, y])), w[:, None] * grad
