# Pointwise gate math of each cell, for one batch row of H hidden units.
# Included by _driver.pyx; the driver owns the GEMMs, the time loop and lengths.
# (float32 LSTM forward runs _pointwise.h's fused pass instead of cell_forward,
# which serves it in float64; the two compute the same formulas.)
#
# Forward, per row:  g [G*H] holds x_t W_ih^T on entry and the activated gates
# on exit; hw [G*H] is h_{t-1} W_hh^T; h [H] (and c [H]) hold the previous
# state on entry and the new one on exit; ext [H] is what backward needs
# besides the gates: tanh(c_t) for LSTM, W_hn h_{t-1} + b_hn for GRU,
# r * h_{t-1} for the reset-before GRU. That GRU needs r before its recurrent
# n product, so the driver runs it in two passes around that product:
# gru_reset_gates (hw holds the r and z parts), then cell_forward (hw's n
# part holds (r * h_{t-1}) W_hn^T).
#
# Backward, per row: dh_next [H] holds dL/dh_t from later steps on entry and
# the part of dL/dh_{t-1} that bypasses W_hh on exit (GRU's z * dh, else 0);
# the driver then adds dgh W_hh. dgi / dgh [G*H] get the gradients of the
# input-side and recurrent-side pre-activations (the same except for GRU,
# whose reset gate scales the recurrent n part). The reset-before GRU's r
# gradient needs dn W_hn, a product: cell_backward leaves it to
# gru_reset_backward, which the driver calls after that product.

from libc.math cimport tanh, exp, log

cdef extern from "_fastmath.h" nogil:
    float frnn_sigmoidf(float x)
    float frnn_tanhf(float x)
    void frnn_sigmoid_inplace(float* a, int n)
    void frnn_tanh_inplace(float* a, int n)
    void frnn_exp_inplace(float* a, int n)

cdef enum Cell:
    RNN_TANH = 0
    RNN_RELU = 1
    LSTM = 2
    GRU = 3
    GRU_RESET_BEFORE = 4


# float32 uses the vectorisable approximations of _fastmath.h (a few ulp);
# float64, the precision of gradient checks, keeps libm's exact functions.
cdef inline floating _tanh(floating a) noexcept nogil:
    if floating is float:
        return frnn_tanhf(a)
    else:
        return tanh(a)


cdef inline floating _sigmoid(floating a) noexcept nogil:
    if floating is float:
        return frnn_sigmoidf(a)
    else:
        return 1.0 / (1.0 + exp(-a))


cdef inline void _sigmoid_inplace(floating* a, int n) noexcept nogil:
    # float32: a SIMD loop in _fastmath.h, built for the widest units present.
    cdef int j
    if floating is float:
        frnn_sigmoid_inplace(a, n)
    else:
        for j in range(n):
            a[j] = _sigmoid(a[j])


cdef inline void _tanh_inplace(floating* a, int n) noexcept nogil:
    cdef int j
    if floating is float:
        frnn_tanh_inplace(a, n)
    else:
        for j in range(n):
            a[j] = _tanh(a[j])


cdef inline void cell_forward(Cell cell, int H,
                              floating* g,              # INOUT [G*H]
                              const floating* hw,       # IN    [G*H]
                              const floating* b_ih,     # IN    [G*H]
                              const floating* b_hh,     # IN    [G*H]
                              floating* h,              # INOUT [H]
                              floating* c,              # INOUT [H] (LSTM)
                              floating* ext,            # OUT   [H] (LSTM, GRU)
                              ) noexcept nogil:
    # Three passes of simple loops (sum, activate, combine) rather than one
    # fused loop: each has few pointers, so the compiler vectorises all three.
    cdef int j
    cdef int n_summed = 2 * H if cell == GRU else (4 * H if cell == LSTM else H)
    if cell == GRU_RESET_BEFORE:
        n_summed = 0  # r and z are done (gru_reset_gates); n below
    cdef floating a
    for j in range(n_summed):
        g[j] = g[j] + b_ih[j] + hw[j] + b_hh[j]
    if cell == RNN_TANH:
        _tanh_inplace(g, H)
        for j in range(H):
            h[j] = g[j]
    elif cell == RNN_RELU:
        for j in range(H):
            a = g[j]
            a = a if a > 0 else 0
            g[j] = a
            h[j] = a
    elif cell == LSTM:
        _sigmoid_inplace(g, 2 * H)        # i, f
        _tanh_inplace(g + 2 * H, H)       # g
        _sigmoid_inplace(g + 3 * H, H)    # o
        for j in range(H):
            c[j] = g[H + j] * c[j] + g[j] * g[2 * H + j]
            ext[j] = c[j]
        _tanh_inplace(ext, H)
        for j in range(H):
            h[j] = g[3 * H + j] * ext[j]
    elif cell == GRU:  # reset gate applied after the recurrent matmul (PyTorch)
        _sigmoid_inplace(g, 2 * H)        # r, z
        for j in range(H):
            ext[j] = hw[2 * H + j] + b_hh[2 * H + j]
            g[2 * H + j] = g[2 * H + j] + b_ih[2 * H + j] + g[j] * ext[j]
        _tanh_inplace(g + 2 * H, H)       # n
        for j in range(H):
            h[j] = (1 - g[H + j]) * g[2 * H + j] + g[H + j] * h[j]
    else:  # GRU_RESET_BEFORE, second pass: hw's n part is (r * h) W_hn^T
        for j in range(H):
            g[2 * H + j] = g[2 * H + j] + b_ih[2 * H + j] + hw[2 * H + j] + b_hh[2 * H + j]
        _tanh_inplace(g + 2 * H, H)       # n
        for j in range(H):
            h[j] = (1 - g[H + j]) * g[2 * H + j] + g[H + j] * h[j]


cdef inline void gru_reset_gates(int H,
                                 floating* g,              # INOUT [3*H]
                                 const floating* hw,       # IN    [2*H] h W_h{r,z}^T
                                 const floating* b_ih,     # IN    [3*H]
                                 const floating* b_hh,     # IN    [3*H]
                                 const floating* h,        # IN    [H]
                                 floating* rh,             # OUT   [H] r * h
                                 ) noexcept nogil:
    """Reset-before GRU, first pass: activate r and z; ``rh`` is what W_hn multiplies."""
    cdef int j
    for j in range(2 * H):
        g[j] = g[j] + b_ih[j] + hw[j] + b_hh[j]
    _sigmoid_inplace(g, 2 * H)
    for j in range(H):
        rh[j] = g[j] * h[j]


cdef inline void cell_backward(Cell cell, int H,
                               const floating* g,        # IN    [G*H] activated gates
                               const floating* h_prev,   # IN    [H]
                               const floating* c_prev,   # IN    [H] (LSTM)
                               const floating* ext,      # IN    [H] (LSTM, GRU)
                               const floating* dout,     # IN    [H]
                               floating* dh_next,        # INOUT [H]
                               floating* dc_next,        # INOUT [H] (LSTM)
                               floating* dgi,            # OUT   [G*H]
                               floating* dgh,            # OUT   [G*H]
                               ) noexcept nogil:
    cdef int j
    cdef floating dh, dc, i_, f_, g_, o_, r_, z_, n_, dn, dr, dz
    if cell == RNN_TANH:
        for j in range(H):
            dh = dout[j] + dh_next[j]
            dgi[j] = dh * (1 - g[j] * g[j])  # an RNN's gate is h_t itself
            dh_next[j] = 0
    elif cell == RNN_RELU:
        for j in range(H):
            dh = dout[j] + dh_next[j]
            dgi[j] = dh if g[j] > 0 else 0
            dh_next[j] = 0
    elif cell == LSTM:
        for j in range(H):
            dh = dout[j] + dh_next[j]
            i_ = g[j]
            f_ = g[H + j]
            g_ = g[2 * H + j]
            o_ = g[3 * H + j]
            dc = dc_next[j] + dh * o_ * (1 - ext[j] * ext[j])
            dgi[j] = dc * g_ * i_ * (1 - i_)
            dgi[H + j] = dc * c_prev[j] * f_ * (1 - f_)
            dgi[2 * H + j] = dc * i_ * (1 - g_ * g_)
            dgi[3 * H + j] = dh * ext[j] * o_ * (1 - o_)
            dc_next[j] = dc * f_
            dh_next[j] = 0
    elif cell == GRU:
        for j in range(H):
            dh = dout[j] + dh_next[j]
            r_ = g[j]
            z_ = g[H + j]
            n_ = g[2 * H + j]
            dn = dh * (1 - z_) * (1 - n_ * n_)
            dz = dh * (h_prev[j] - n_) * z_ * (1 - z_)
            dr = dn * ext[j] * r_ * (1 - r_)
            dgi[j] = dr
            dgi[H + j] = dz
            dgi[2 * H + j] = dn
            dgh[j] = dr
            dgh[H + j] = dz
            dgh[2 * H + j] = dn * r_
            dh_next[j] = dh * z_
    else:  # GRU_RESET_BEFORE, first pass: z and n (dgh is dgi); r in gru_reset_backward
        for j in range(H):
            dh = dout[j] + dh_next[j]
            z_ = g[H + j]
            n_ = g[2 * H + j]
            dgi[H + j] = dh * (h_prev[j] - n_) * z_ * (1 - z_)
            dgi[2 * H + j] = dh * (1 - z_) * (1 - n_ * n_)
            dh_next[j] = dh * z_


cdef inline void gru_reset_backward(int H,
                                    const floating* g,       # IN    [3*H] activated gates
                                    const floating* h_prev,  # IN    [H]
                                    const floating* drh,     # IN    [H] dn W_hn
                                    floating* dh_next,       # INOUT [H]
                                    floating* dgi,           # OUT   [H] r's part of dgi
                                    ) noexcept nogil:
    """Reset-before GRU, second pass: ``drh`` is the gradient of ``r * h_{t-1}``."""
    cdef int j
    cdef floating r_
    for j in range(H):
        r_ = g[j]
        dgi[j] = drh[j] * h_prev[j] * r_ * (1 - r_)
        dh_next[j] = dh_next[j] + drh[j] * r_
