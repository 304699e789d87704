"""The Numba sequence driver: one forward and one backward loop for every cell.

Same contract as :mod:`fastrnn._kernels._reference` (shapes are documented
there) and the same algorithm as the Cython driver (``_driver.pyx`` with
``_cells.pxi``): the input projection of all steps is one GEMM before the
loop, each step does one recurrent GEMM and one pointwise pass per batch row
(three simple loops: sum, activate, combine), and after the backward loop the
weight and input gradients are one GEMM each over all ``T * B`` rows.
``np.dot`` on contiguous 2-D arrays inside ``@njit`` code calls the BLAS that
SciPy ships.

The Python functions :func:`forward` and :func:`backward` only allocate
buffers; each then makes one call into compiled code, which runs the whole
sequence without the GIL.

Buffers are time-major and C-contiguous; ``[T, B, G*H]`` means G gates of H
units for each of B rows at each of T steps. Steps past a row's length are
skipped: its state stays frozen, its output and gradients stay zero.

Every gate function computes in the dtype of its arrays: constants are made
with ``dtype.type`` (or are ``np.float32`` globals) because a bare ``1`` or
``1.0`` would promote float32 maths to float64.

Speed comes from the same means as the Cython backend (vectorisable
activations; fastmath flags chosen one by one, never ``fastmath=True``):
float32 sigmoid and tanh are the branch-free Cephes-style polynomials of
``_fastmath.h``, written as plain arithmetic so that LLVM turns
each activation loop into a SIMD loop (``math.exp``/``math.tanh`` in a loop
stay one scalar libm call per element); float64 keeps the exact
``math.exp``/``math.tanh``. The pointwise pass of a row is three simple loops
(sum, activate in place over contiguous runs, combine), since a loop with few
arrays is one the vectoriser accepts. There is no ``fastmath``: LLVM keeps
IEEE semantics and the operation order of the C code, so float32 results
match the Cython backend's bit for bit in the activations.

``error_model="numpy"`` on every kernel: Numba's default ("python") guards
each float division with a ZeroDivisionError check, and that branch out of
the loop stops vectorisation; with "numpy" a division follows IEEE (the same
as Cython's ``cdivision``), and no division here can be by zero anyway.
"""

import math
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from fastrnn._cells import CELLS
from fastrnn._kernels import GATES, lengths_or_full
from fastrnn._kernels._reference import add_into

#: Which GEMM runs (shown by ``fastrnn bench`` in every report).
gemm_provider = "scipy BLAS through np.dot; one thread of ours"


def _cache_on_disk():
    """Whether Numba may keep the compiled kernels on disk (and read them back).

    Numba reads its cache index with pickle: whoever can write the cache
    directory can run code in every process that loads these kernels. Its
    default directory is ``__pycache__`` beside this file (in the install),
    else a per-user one; ``NUMBA_CACHE_DIR`` moves it. Caching is off when
    ``FASTRNN_NUMBA_CACHE=0`` or when that directory may be written by other
    users (group or world writable): the kernels are then compiled anew in
    each process (seconds, once).
    """
    if os.environ.get("FASTRNN_NUMBA_CACHE", "1") == "0":
        return False
    where = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.path.dirname(__file__), "__pycache__"
    )
    try:
        mode = os.stat(where).st_mode
    except OSError:
        return True  # not there yet: Numba makes it with this user's umask
    return not mode & 0o022


# Options of every compiled kernel; see the module docstring for error_model.
_JIT = dict(cache=_cache_on_disk(), error_model="numpy")

# Integer cell codes, as in _cells.pxi: compiled code dispatches on them.
RNN_TANH = 0
RNN_RELU = 1
LSTM = 2
GRU = 3
GRU_RESET_BEFORE = 4
_CODES = {name: cell.code for name, cell in CELLS.items()}
if [_CODES[n] for n in ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")] != [
    RNN_TANH,
    RNN_RELU,
    LSTM,
    GRU,
    GRU_RESET_BEFORE,
]:
    raise ImportError("fastrnn._cells' codes and this module's constants disagree")


# ---------------------------------------------------------------------------
# Activations. float32: the polynomials of _fastmath.h, constant for constant
# and operation for operation, so both backends round alike; Cephes gives the
# coefficients (expf: degree-5 minimax on [-ln2/2, ln2/2]; tanhf: odd
# polynomial below |x| = 0.625, 1 - 2/(e^{2x}+1) above). Every choice between
# two values is a select on values already computed, never a branch around a
# computation, so the loops that call them vectorise.
# ---------------------------------------------------------------------------

_F32 = np.float32
# Clamps keep 2^n a normal float: e^-87.3 is ~1e-38, e^88.7 ~ FLT_MAX.
_EXP_LO = _F32(-87.3)
_EXP_HI = _F32(88.7)
_LOG2E = _F32(1.44269504088896341)
# 1.5 * 2^23: adding and subtracting it rounds a float32 to an integer.
_ROUND_SHIFTER = _F32(12582912.0)
_ROUND_SHIFTER_BITS = _ROUND_SHIFTER.view(np.int32)
# ln 2 in two parts, so that x - n ln2 keeps its low bits.
_LN2_HI = _F32(0.693359375)
_LN2_LO = _F32(2.12194440e-4)
_EXP_P = (
    _F32(1.9875691500e-4),
    _F32(1.3981999507e-3),
    _F32(8.3334519073e-3),
    _F32(4.1665795894e-2),
    _F32(1.6666665459e-1),
    _F32(5.0000001201e-1),
)
_TANH_P = (
    _F32(-5.70498872745e-3),
    _F32(2.06390887954e-2),
    _F32(-5.37397155531e-2),
    _F32(1.33314422036e-1),
    _F32(-3.33332819422e-1),
)
# Below it the odd polynomial is accurate; above, 1 - 2/(e^{2x}+1) is.
_TANH_SMALL = _F32(0.625)
# tanh(9) rounds to 1 in float32; clamping there keeps e^{2|x|} finite.
_TANH_SAT = _F32(9.0)
_ZERO32 = _F32(0.0)
_ONE32 = _F32(1.0)
_TWO32 = _F32(2.0)
_I32_127 = np.int32(127)
_I32_23 = np.int32(23)


# C's memcpy between a float and an int32, as LLVM bitcasts: no memory round
# trip, so loops using them vectorise (a view of a small array would not).
@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose 32 bits are the int32 ``bits``."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _float32_bits(typingctx, x):
    """The 32 bits of the float32 ``x`` as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(x), codegen


@njit(**_JIT)
def _expf(x):
    """``e^x`` in float32, within a few ulp (``frnn_expf``)."""
    # Written "c if x < c else x" as in C, so that NaN falls through unchanged.
    x = _EXP_LO if x < _EXP_LO else x
    x = _EXP_HI if x > _EXP_HI else x
    # n = round(x / ln2) with no call to rint: adding 1.5 * 2^23 leaves n in
    # the low mantissa bits of t. Without fastmath LLVM keeps the add and the
    # subtract. k is read from t's bits, not converted from n: a conversion of
    # NaN to int would be undefined in LLVM, a bitcast never is.
    t = x * _LOG2E + _ROUND_SHIFTER
    n = t - _ROUND_SHIFTER
    # Numba widens int32 arithmetic to int64; np.int32 keeps the integer
    # lanes as wide as the float ones, so they share SIMD registers.
    k = np.int32(_float32_bits(t) - _ROUND_SHIFTER_BITS)
    r = x - n * _LN2_HI
    r = r + n * _LN2_LO
    p = _EXP_P[0]
    p = p * r + _EXP_P[1]
    p = p * r + _EXP_P[2]
    p = p * r + _EXP_P[3]
    p = p * r + _EXP_P[4]
    p = p * r + _EXP_P[5]
    y = p * r * r + r + _ONE32
    # 2^n built from its exponent bits.
    return y * _float32_from_bits(np.int32((k + _I32_127) << _I32_23))


@njit(**_JIT)
def _sigmoidf(x):
    """Logistic function in float32 (``frnn_sigmoidf``)."""
    return _ONE32 / (_ONE32 + _expf(-x))


@njit(**_JIT)
def _tanhf(x):
    """``tanh`` in float32 (``frnn_tanhf``); both branches are computed."""
    a = abs(x)
    ac = _TANH_SAT if a > _TANH_SAT else a
    big = _ONE32 - _TWO32 / (_expf(_TWO32 * ac) + _ONE32)
    big = -big if x < _ZERO32 else big
    z = x * x
    small = _TANH_P[0]
    small = small * z + _TANH_P[1]
    small = small * z + _TANH_P[2]
    small = small * z + _TANH_P[3]
    small = small * z + _TANH_P[4]
    small = small * z * x + x
    return small if a < _TANH_SMALL else big


def _sigmoid(a):
    """Logistic function in the precision of ``a`` (compiled code only)."""
    return 1.0 / (1.0 + math.exp(-a))


def _tanh(a):
    """``tanh`` in the precision of ``a`` (compiled code only)."""
    return math.tanh(a)


# The dtype picks the implementation when a caller is compiled: float32 gets
# the fast polynomials, float64 (the precision of gradient checks) libm's.
@overload(_sigmoid, jit_options=_JIT)
def _sigmoid_overload(a):
    if a == types.float32:
        return lambda a: _sigmoidf(a)
    return lambda a: 1.0 / (1.0 + math.exp(-a))


@overload(_tanh, jit_options=_JIT)
def _tanh_overload(a):
    if a == types.float32:
        return lambda a: _tanhf(a)
    return lambda a: math.tanh(a)


@njit(**_JIT)
def _sigmoid_inplace(a):
    """``a = sigmoid(a)`` over a contiguous run: one array, so a SIMD loop."""
    for j in range(a.size):
        a[j] = _sigmoid(a[j])


@njit(**_JIT)
def _tanh_inplace(a):
    """``a = tanh(a)`` over a contiguous run: one array, so a SIMD loop."""
    for j in range(a.size):
        a[j] = _tanh(a[j])


@njit(**_JIT)
def _activate(use_tanh, x, out):
    """Body of :func:`activation`."""
    out[:] = x
    if use_tanh:
        _tanh_inplace(out)
    else:
        _sigmoid_inplace(out)


def activation(name, x):
    """Apply the kernels' own ``"sigmoid"`` or ``"tanh"`` to ``x`` (for the tests).

    float32 input goes through the same fast approximations as the cells;
    float64 through ``math.exp``/``math.tanh``.
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _activate(name == "tanh", x.reshape(-1), out.reshape(-1))
    return out


# ---------------------------------------------------------------------------
# Pointwise gate math of each cell, for one batch row of H hidden units.
#
# Forward, per row: g [G*H] holds x_t W_ih^T on entry and the activated gates
# on exit; hw [G*H] is h_{t-1} W_hh^T; h [H] (and c [H]) hold the previous
# state on entry and the new one on exit; ext [H] is what backward needs
# besides the gates: tanh(c_t) for LSTM, W_hn h_{t-1} + b_hn for GRU,
# r * h_{t-1} for the reset-before GRU. That GRU needs r before its recurrent
# n product, so the driver runs it in two passes around that product:
# _gru_reset_gates, then _cell_forward (the n gate and the new state).
#
# Backward, per row: dh_next [H] holds dL/dh_t from later steps on entry and
# the part of dL/dh_{t-1} that bypasses W_hh on exit (GRU's z * dh, else 0);
# the driver then adds dgh W_hh. dgi / dgh [G*H] get the gradients of the
# input-side and recurrent-side pre-activations (the same array except for
# GRU, whose reset gate scales the recurrent n part).
#
# A forward pass is three kinds of simple loop rather than one fused loop:
# (1) sum the input part, the recurrent part and both biases; (2) activate in
# place over the contiguous run of each gate kind; (3) combine into the new
# state. Each loop touches few arrays, so LLVM vectorises all of them (a fused
# loop over the gates of one unit does not vectorise as well).
# ---------------------------------------------------------------------------


@njit(**_JIT)
def _add_preactivations(g, hw, b_ih, b_hh):
    """``g += b_ih + hw + b_hh`` over ``g``'s length, summed in the C order."""
    for j in range(g.size):
        g[j] = g[j] + b_ih[j] + hw[j] + b_hh[j]


@njit(**_JIT)
def _rnn_tanh_forward(H, g, hw, b_ih, b_hh, h):
    """Elman cell with tanh: ``h = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    _add_preactivations(g[:H], hw, b_ih, b_hh)
    _tanh_inplace(g[:H])
    for j in range(H):
        h[j] = g[j]


@njit(**_JIT)
def _rnn_relu_forward(H, g, hw, b_ih, b_hh, h):
    """Elman cell with ReLU: ``h = max(x W_ih^T + b_ih + h W_hh^T + b_hh, 0)``."""
    zero = g.dtype.type(0)
    _add_preactivations(g[:H], hw, b_ih, b_hh)
    for j in range(H):
        a = g[j]
        a = a if a > zero else zero
        g[j] = a
        h[j] = a


@njit(**_JIT)
def _lstm_forward(H, g, hw, b_ih, b_hh, h, c, ext):
    """LSTM cell, gates ``i, f, g, o``; stores ``tanh(c_t)`` in ``ext``."""
    _add_preactivations(g[: 4 * H], hw, b_ih, b_hh)
    _sigmoid_inplace(g[: 2 * H])  # i, f
    _tanh_inplace(g[2 * H : 3 * H])  # g
    _sigmoid_inplace(g[3 * H : 4 * H])  # o
    for j in range(H):
        c[j] = g[H + j] * c[j] + g[j] * g[2 * H + j]
        ext[j] = c[j]
    _tanh_inplace(ext[:H])
    for j in range(H):
        h[j] = g[3 * H + j] * ext[j]


@njit(**_JIT)
def _gru_forward(H, g, hw, b_ih, b_hh, h, ext):
    """GRU cell, gates ``r, z, n``, reset applied after the recurrent matmul.

    Stores ``W_hn h_{t-1} + b_hn`` in ``ext``: the reset gate scales it, so
    backward needs it to get the gradient of ``r``.
    """
    one = g.dtype.type(1)
    _add_preactivations(g[: 2 * H], hw, b_ih, b_hh)
    _sigmoid_inplace(g[: 2 * H])  # r, z
    for j in range(H):
        ext[j] = hw[2 * H + j] + b_hh[2 * H + j]
        g[2 * H + j] = g[2 * H + j] + b_ih[2 * H + j] + g[j] * ext[j]
    _tanh_inplace(g[2 * H : 3 * H])  # n
    for j in range(H):
        h[j] = (one - g[H + j]) * g[2 * H + j] + g[H + j] * h[j]


@njit(**_JIT)
def _gru_reset_gates(H, g, hw, b_ih, b_hh, h, rh):
    """Reset-before GRU, first pass: activate ``r, z``; ``rh = r * h_{t-1}``.

    ``hw [2*H]`` is ``h_{t-1} W_h{r,z}^T``; ``rh`` is what ``W_hn`` multiplies
    next (and what backward needs for ``W_hn``'s gradient).
    """
    _add_preactivations(g[: 2 * H], hw, b_ih, b_hh)
    _sigmoid_inplace(g[: 2 * H])  # r, z
    for j in range(H):
        rh[j] = g[j] * h[j]


@njit(**_JIT)
def _gru_reset_before_forward(H, g, hn, b_ih, b_hh, h):
    """Reset-before GRU, second pass: ``hn [H]`` holds ``(r * h_{t-1}) W_hn^T``."""
    one = g.dtype.type(1)
    _add_preactivations(g[2 * H : 3 * H], hn, b_ih[2 * H :], b_hh[2 * H :])
    _tanh_inplace(g[2 * H : 3 * H])  # n
    for j in range(H):
        h[j] = (one - g[H + j]) * g[2 * H + j] + g[H + j] * h[j]


@njit(**_JIT)
def _cell_forward(code, H, g, hw, b_ih, b_hh, h, c, ext):
    """Dispatch one row's forward pointwise pass on the cell ``code``."""
    if code == RNN_TANH:
        _rnn_tanh_forward(H, g, hw, b_ih, b_hh, h)
    elif code == RNN_RELU:
        _rnn_relu_forward(H, g, hw, b_ih, b_hh, h)
    elif code == LSTM:
        _lstm_forward(H, g, hw, b_ih, b_hh, h, c, ext)
    elif code == GRU:
        _gru_forward(H, g, hw, b_ih, b_hh, h, ext)
    else:
        _gru_reset_before_forward(H, g, hw, b_ih, b_hh, h)


@njit(**_JIT)
def _rnn_tanh_backward(H, g, dout, dh_next, dgi):
    """Backward of the tanh cell; ``g`` holds ``h_t`` itself."""
    one = g.dtype.type(1)
    zero = g.dtype.type(0)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        dgi[j] = dh * (one - g[j] * g[j])
        dh_next[j] = zero


@njit(**_JIT)
def _rnn_relu_backward(H, g, dout, dh_next, dgi):
    """Backward of the ReLU cell; ``g`` holds ``h_t`` itself."""
    zero = g.dtype.type(0)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        dgi[j] = dh if g[j] > zero else zero
        dh_next[j] = zero


@njit(**_JIT)
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


@njit(**_JIT)
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


@njit(**_JIT)
def _gru_reset_before_backward(H, g, h_prev, dout, dh_next, dgi, dn):
    """Reset-before GRU, first pass: the ``z`` and ``n`` gradients (``dn`` too).

    ``r``'s gradient needs ``dn W_hn``, a product over the batch: the driver
    then calls :func:`_gru_reset_backward`.
    """
    one = g.dtype.type(1)
    for j in range(H):
        dh = dout[j] + dh_next[j]
        z_ = g[H + j]
        n_ = g[2 * H + j]
        dn[j] = dh * (one - z_) * (one - n_ * n_)
        dgi[H + j] = dh * (h_prev[j] - n_) * z_ * (one - z_)
        dgi[2 * H + j] = dn[j]
        dh_next[j] = dh * z_


@njit(**_JIT)
def _gru_reset_backward(H, g, h_prev, drh, dh_next, dgi):
    """Reset-before GRU, second pass: ``drh = dn W_hn`` is the gradient of ``r * h_{t-1}``."""
    one = g.dtype.type(1)
    for j in range(H):
        r_ = g[j]
        dgi[j] = drh[j] * h_prev[j] * r_ * (one - r_)
        dh_next[j] += drh[j] * r_


@njit(**_JIT)
def _cell_backward(code, H, g, h_prev, c_prev, ext, dout, dh_next, dc_next, dgi, dgh):
    """Dispatch one row's backward pointwise pass on the cell ``code``.

    The reset-before GRU (two passes around a product) is the driver's.
    """
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


@njit(nogil=True, **_JIT)
def _forward(
    code,
    x,  # IN    [T, B, D]
    wt_ih,  # IN    [D, G*H] W_ih^T
    wt_hh,  # IN    [H, G*H] W_hh^T
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
    wt_hn,  # IN    [H, H] W_hn^T (reset-before GRU; wt_hh is then W_h{r,z}^T)
    hn,  # WORK  [B, H] (reset-before GRU)
):
    """Run the whole sequence: see :func:`forward`."""
    T, B, D = x.shape
    H = h.shape[1]
    GH = gates.shape[2]
    # Input projection of every step at once: gates = x W_ih^T. The weights
    # come transposed: BLAS runs these shapes faster without a transpose flag.
    np.dot(x.reshape((T * B, D)), wt_ih, gates.reshape((T * B, GH)))
    for s in range(T):
        np.dot(h, wt_hh, hw)
        # Out of training, one step's ext is enough: nothing reads it later.
        es = s if training else 0
        rec = hw
        if code == GRU_RESET_BEFORE:
            # r first: W_hn multiplies r * h_{t-1}, kept in ext.
            for b in range(B):
                if s < lens[b]:
                    _gru_reset_gates(H, gates[s, b], hw[b], b_ih, b_hh, h[b], ext[es, b])
            np.dot(ext[es], wt_hn, hn)
            rec = hn
        for b in range(B):
            if s >= lens[b]:
                continue
            if training:
                for j in range(H):
                    h_prev[s, b, j] = h[b, j]
                if code == LSTM:
                    for j in range(H):
                        c_prev[s, b, j] = c[b, j]
            _cell_forward(code, H, gates[s, b], rec[b], b_ih, b_hh, h[b], c[b], ext[es, b])
            for j in range(H):
                out[s, b, j] = h[b, j]


@njit(nogil=True, **_JIT)
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
    w_rec,  # IN    [G*H, H] what dgh multiplies into dh (W_hh; reset-before: W_hn rows 0)
    w_hn,  # IN    [H, H] (reset-before GRU)
    dn,  # WORK  [T, B, H] zeros (reset-before GRU: n's gradient)
    dw_hn,  # WORK  [H, H] (reset-before GRU)
):
    """Backpropagate through the whole sequence: see :func:`backward`."""
    T, B, D = x.shape
    GH, H = w_hh.shape
    for s in range(T - 1, -1, -1):
        if code == GRU_RESET_BEFORE:
            # r's gradient needs dn W_hn, the gradient of r * h_{t-1}.
            for b in range(B):
                if s < lens[b]:
                    _gru_reset_before_backward(
                        H, gates[s, b], h_prev[s, b], dout[s, b], dh[b], dgi[s, b], dn[s, b]
                    )
            np.dot(dn[s], w_hn, dh_w)
            for b in range(B):
                if s < lens[b]:
                    _gru_reset_backward(H, gates[s, b], h_prev[s, b], dh_w[b], dh[b], dgi[s, b])
        for b in range(B):
            if s >= lens[b] or code == GRU_RESET_BEFORE:
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
        np.dot(dgh[s], w_rec, dh_w)
        for b in range(B):
            for j in range(H):
                dh[b, j] += dh_w[b, j]
    # The weight and input gradients of all steps at once (padded rows are 0).
    dgi2 = dgi.reshape((T * B, GH))
    dgh2 = dgh.reshape((T * B, GH))
    np.dot(dgi2.T, x.reshape((T * B, D)), dw_ih)
    np.dot(dgh2.T, h_prev.reshape((T * B, H)), dw_hh)
    if code == GRU_RESET_BEFORE:  # W_hn multiplied r * h_{t-1}, kept in ext
        np.dot(dn.reshape((T * B, H)).T, ext.reshape((T * B, H)), dw_hn)
        dw_hh[2 * H :] = dw_hn
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


def _state_copy(a, shape, dtype):
    """A fresh C-contiguous copy of ``a``, or zeros when ``a`` is None."""
    if a is None:
        return np.zeros(shape, dtype)
    return np.array(a, dtype=dtype, order="C", copy=True)


#: See the backend contract in ``fastrnn._kernels``.
PREPARES_WEIGHTS = True
TAKES_PROJECTED_INPUT = False
HAS_STEPPER = False
INFERS_STACKS = False
THREADED_FLOAT32 = False


class Prepared:
    """One layer direction's weights as :func:`forward` multiplies them: ``W_ih^T``
    and ``W_hh^T`` contiguous (the reset-before GRU's ``W_hn^T`` apart), copies
    made once per weight version instead of on every call (at B=1, H=256 the two
    transposes were most of a step)."""

    def __init__(self, cell, w_ih, w_hh, b_ih, b_hh):
        H = w_hh.shape[1]
        self.cell, self.dtype = cell, np.dtype(w_hh.dtype)
        self.wt_ih = np.array(w_ih.T, order="C", copy=True)
        wt_hh = np.array(w_hh.T, order="C", copy=True)
        self.wt_hn = None
        if cell == "gru_reset_before":  # two recurrent products: r and z, then n of r * h
            wt_hh, self.wt_hn = wt_hh[:, : 2 * H].copy(), wt_hh[:, 2 * H :].copy()
        self.wt_hh = wt_hh


def prepare(cell, w_ih, w_hh, b_ih, b_hh):
    """``forward``'s ``prepared`` for these weights (see the backend contract)."""
    return Prepared(cell, w_ih, w_hh, b_ih, b_hh)


@njit(nogil=True, **_JIT)
def _same_words(a, b):
    for i in range(a.shape[0]):
        if a[i] != b[i]:
            return False
    return True


def same_bytes(a, b):
    """Whether two C-contiguous arrays hold the same bytes (a cache's freshness check)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    # Compared as integers: bits, not values (-0.0 is not 0.0, a NaN is itself).
    kind = np.uint32 if a.dtype.itemsize == 4 else np.uint64
    return _same_words(a.reshape(-1).view(kind), b.reshape(-1).view(kind))


def forward(
    cell,
    x,
    h0,
    c0,
    w_ih,
    w_hh,
    b_ih,
    b_hh,
    lengths=None,
    training=True,
    prepared=None,
    workspace=None,
):
    """Run ``cell`` over the sequence ``x``; see ``_reference.forward``.

    Parameters
    ----------
    cell : {"rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before"}
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
    prepared : Prepared, optional
        These weights from :func:`prepare` (a layer keeps it between calls);
        None transposes them here.
    workspace : dict, optional
        Accepted for the backend contract; this backend allocates per call.

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
    lens = lengths_or_full(lengths, T, B)
    # Output rows past a sample's length are never written: they must start at 0.
    out = (np.empty if lengths is None else np.zeros)((T, B, H), dtype)
    gates = np.empty((T, B, G * H), dtype)
    h = _state_copy(h0, (B, H), dtype)
    c = _state_copy(c0, (B, H), dtype)  # untouched scratch except for LSTM
    placeholder = np.zeros((1, 1, 1), dtype)
    if training:
        # Zeros, not empty: the dW_hh GEMM reads the rows of padded steps.
        h_prev = np.zeros((T, B, H), dtype)
        c_prev = np.zeros((T, B, H), dtype) if code == LSTM else placeholder
        ext = np.zeros((T, B, H), dtype)
    else:
        h_prev = c_prev = placeholder
        ext = np.zeros((1, B, H), dtype)  # one step's worth, reused
    if prepared is None:
        prepared = Prepared(cell, w_ih, w_hh, b_ih, b_hh)
    elif prepared.cell != cell or prepared.dtype != dtype or prepared.wt_ih.shape != (D, G * H):
        raise ValueError("prepared weights were made for another layer")
    wt_ih, wt_hh = prepared.wt_ih, prepared.wt_hh
    wt_hn, hn = placeholder[0], placeholder[0]
    if code == GRU_RESET_BEFORE:
        wt_hn, hn = prepared.wt_hn, np.empty((B, H), dtype)
    hw = np.empty((B, wt_hh.shape[1]), dtype)
    _forward(
        code,
        x,
        wt_ih,
        wt_hh,
        b_ih,
        b_hh,
        lens,
        gates,
        out,
        h,
        c,
        hw,
        h_prev,
        c_prev,
        ext,
        training,
        wt_hn,
        hn,
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


def backward(cache, dout, dh_n, dc_n=None, grads=None):
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
    grads : tuple of 4 ndarray, optional
        Where the parameter gradients are added (see ``_reference.backward``).

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
    # Placeholders but for the reset-before GRU.
    w_rec, w_hn, dn = w_hh, np.zeros((1, 1), dtype), np.zeros((1, 1, 1), dtype)
    dw_hn = np.zeros((1, 1), dtype)
    if code == GRU_RESET_BEFORE:
        w_rec, w_hn = w_hh.copy(), w_hh[2 * H :].copy()
        w_rec[2 * H :] = 0  # n reaches h_{t-1} through r * h_{t-1}: the cell adds that
        dn, dw_hn = np.zeros((T, B, H), dtype), np.empty((H, H), dtype)
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
        w_rec,
        w_hn,
        dn,
        dw_hn,
    )
    return add_into(grads, (dx, dh, (dc if code == LSTM else None), dw_ih, dw_hh, db_ih, db_hh))
