# cython: language_level=3
"""The Cython sequence driver: one forward and one backward loop for every cell.

Same contract as :mod:`fastrnn._kernels._reference` (shapes are documented
there). Each step does the input and recurrent products of the rows still
active and the cell's pointwise pass per row (float32 LSTM: one fused,
hand-vectorised pass, ``_pointwise.h``); each backward step computes the gate
gradients and ``dh_{t-1}``, and stages its rows for the weight gradients,
which are summed a few hundred rows per product; ``dx`` is one product after
the loop. The GIL is released for the whole sequence.

Weights are laid out once per weight version (:class:`Prepared`: float32
packed in the GEMM's column panels), which a layer keeps between calls;
:func:`infer` runs a whole unidirectional stack in one call (the layers'
inference path), :class:`Stepper` a few steps at a time (streams).

Threads: a batch is cut into contiguous chunks of rows, one per thread of
``_threads.h``'s pool (fastrnn's own, not OpenMP's: see there why), and a
thread runs the whole sequence for its chunk; rows of an RNN never meet, so
there is no barrier per step. The chunks depend only on the batch and the
thread limit, never on which thread runs one. The products inside the time
loop are ``_gemm.h``'s (float32), whose result for a row does not depend on
the rows beside it: outputs are the same for any batch size or thread count.
float64 (the precision of gradient checks) runs one chunk on BLAS.

Buffers are time-major and C-contiguous; ``[T, B, G*H]`` means G gates of H
units for each of B rows at each of T steps. Steps past a row's length are
skipped: its state stays frozen, its output and gradients stay zero.
"""

from cython cimport floating
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcmp, memcpy, memset

import math
import threading

import numpy as np

cimport numpy as cnp

from fastrnn._cells import CELLS
from fastrnn._kernels import GATES, lengths_or_full
from fastrnn._kernels._blas cimport gemm

include "_cells.pxi"

cnp.import_array()

cdef extern from "_gemm.h" nogil:
    ctypedef void (*frnn_sgemm_fn)(int M, int N, int K, const float* A, int ars, int aks,
                                   const float* B, int ldb, int beta, float* C, int ldc)
    ctypedef void (*frnn_sgemm_packed_fn)(int M, int N, int K, const float* A, int ars,
                                          int aks, const float* P, size_t ps, int beta,
                                          float* C, int ldc)
    ctypedef struct frnn_gemm_kernel:
        const char* name
        frnn_sgemm_fn gemm
        frnn_sgemm_packed_fn gemm_packed
        int nr
    const frnn_gemm_kernel* frnn_gemm_pick()
    const frnn_gemm_kernel* frnn_gemm_named(const char* name)
    size_t frnn_packed_size(int nr, int K, int N)
    void frnn_pack(int nr, int K, int N, const float* src, size_t sk, size_t sn, float* P)
    void frnn_pack_rows(int nr, int rows, int N, const float* src, size_t lds, float* P,
                        size_t cap, int k0)

cdef extern from "_pointwise.h" nogil:
    ctypedef void (*frnn_lstm_fn)(int n, int H, float* gates, int ldg, const float* bias,
                                  float* h, float* c, float* tc, float* out, int ldo,
                                  int training)
    ctypedef void (*frnn_act_fn)(int kind, const float* x, float* y, long n)
    ctypedef void (*frnn_lstm_back_fn)(int n, int H, const float* gates, int ldg,
                                       const float* c_prev, const float* tc, const float* dout,
                                       float* dh, float* dc, float* dg)
    ctypedef struct frnn_pointwise_kernel:
        const char* name
        frnn_lstm_fn lstm
        frnn_lstm_back_fn lstm_back
        frnn_act_fn act
    const frnn_pointwise_kernel* frnn_pointwise_named(const char* name)

cdef extern from "_threads.h" nogil:
    ctypedef void (*frnn_task_fn)(void* ctx, int part) noexcept nogil
    int frnn_max_threads()
    void frnn_set_thread_limit(int n)
    void frnn_parallel(frnn_task_fn fn, void* ctx, int parts)

cdef extern from "_split.h" nogil:
    enum: FRNN_SPLIT_MAX
    ctypedef struct frnn_split_weights:
        int parts
        int u[17]  # FRNN_SPLIT_MAX + 1
        const float* ih[16]
        const float* hh[16]
        const float* bias[16]
    ctypedef struct frnn_split_job:
        const frnn_split_weights* w
        const frnn_gemm_kernel* gemm
        const frnn_pointwise_kernel* pw
        int T, B, D, H
        const float* x
        const Py_ssize_t* lens
        float* gates
        float* out
        float* h
        float* c
        const float* h0
        int training
        float* gates_out
        float* h_prev
        float* c_prev
        float* tc
    int frnn_lstm_split(frnn_split_job* j)

# The widest kernels this CPU runs, picked once: the GEMM and the fused pointwise pass.
cdef const frnn_gemm_kernel* _kernel = frnn_gemm_pick()
cdef const frnn_pointwise_kernel* _pointwise = frnn_pointwise_named(_kernel.name)

#: Which GEMM runs where (shown by ``fastrnn bench`` in every report).
gemm_provider = (f"fastrnn's {_kernel.name.decode()} GEMM for every float32 product "
                 "(weights packed once per version), rows split over fastrnn's thread pool; "
                 "float64: scipy BLAS")

# A chunk of rows is worth a thread only with enough rows for the GEMM's
# register blocks and enough work to pay for waking the thread.
# (The measurements behind this file's constants: bench/THRESHOLDS.md.)
_MIN_CHUNK_ROWS = 4
_MIN_CHUNK_FLOPS = 2_000_000
# The column split (_split.h) of an LSTM's forward pass takes batches that are
# one chunk of rows (more rows split better by rows), when a step's recurrent
# product (8 B H^2 flops) is at least _SPLIT_MIN_FLOPS, in blocks of at least
# _SPLIT_MIN_UNITS units: below, the wait per step costs what the split saves.
_SPLIT_MIN_FLOPS = 1 << 17
_SPLIT_MIN_UNITS = 64


cdef inline void rowgemm(int m, int n, int k, const floating* a, int lda,
                         const floating* b, int ldb, bint accumulate,
                         floating* c, int ldc) noexcept nogil:
    """Row-major ``C[m, n] (+)= A[m, k] @ B[k, n]`` inside the time loop."""
    if floating is float:
        _kernel.gemm(m, n, k, a, lda, 1, b, ldb, accumulate, c, ldc)
    else:
        gemm(False, False, m, n, k, 1, a, lda, b, ldb, 1 if accumulate else 0, c, ldc)


cdef struct Mat:
    # A weight matrix as the B operand of the loop's products. float32: packed
    # in the kernel's panels (``_gemm.h``), ``ld`` the panel stride; float64:
    # row-major, ``ld`` its leading dimension.
    const void* p
    size_t ld


cdef inline void wgemm(int m, int n, int k, const floating* a, int lda, Mat w, int k0,
                       bint accumulate, floating* c, int ldc) noexcept nogil:
    """``C[m, n] (+)= A[m, k] @ W[k0:k0 + k, :n]`` for a prepared weight ``W``."""
    if floating is float:
        _kernel.gemm_packed(m, n, k, a, lda, 1, <const float*>w.p + <size_t>k0 * _kernel.nr,
                            w.ld, accumulate, c, ldc)
    else:
        gemm(False, False, m, n, k, 1, a, lda, <const double*>w.p + <size_t>k0 * w.ld,
             <int>w.ld, 1 if accumulate else 0, c, ldc)


cdef Mat _mat(object owner, size_t ld):
    cdef Mat m
    m.p = cnp.PyArray_DATA(<cnp.ndarray>owner)
    m.ld = ld
    return m


cdef object _pack(const frnn_gemm_kernel* kernel, const float* src, int K, int N, size_t sk,
                  size_t sn):
    """``B[k, n] = src[k * sk + n * sn]`` packed in ``kernel``'s panels (a new array)."""
    packed = np.empty(frnn_packed_size(kernel.nr, K, N), np.float32)
    frnn_pack(kernel.nr, K, N, src, sk, sn, <float*>cnp.PyArray_DATA(packed))
    return packed


cdef struct LayerWeights:
    # What the loop reads of one layer direction (see Prepared).
    Mat ih                 # W_ih^T [D, G*H]
    Mat hh                 # W_hh^T [H, G*H] (reset-before GRU: its r, z columns [H, 2H])
    Mat hn                 # W_hn^T [H, H] (reset-before GRU only)
    const void* bias       # [G*H] b_ih + b_hh
    const void* b_ih       # [G*H]
    const void* b_hh       # [G*H]


cdef class Prepared:
    """One layer direction's weights laid out for the time loop.

    Built once per weight version (a layer caches it and rebuilds it when its
    parameters change) instead of transposing inside every call. float32:
    ``W_ih^T`` and ``W_hh^T`` packed in the GEMM kernel's column panels
    (the reset-before GRU's ``W_hn^T`` apart, since its product waits for
    the reset gate); float64: the transposes, for BLAS. Both keep ``b_ih``,
    ``b_hh`` and their sum (what the fused LSTM pass adds). Never changed
    once built, so threads may share one.

    Parameters
    ----------
    cell : str
    w_ih, w_hh, b_ih, b_hh : ndarray
        PyTorch layout (``[G*H, D]``, ``[G*H, H]``, ``[G*H]``), one dtype.
    """

    cdef readonly str cell
    cdef readonly object dtype
    cdef readonly int G, H, D
    cdef object _keep, _backward, _source, _splits
    cdef LayerWeights w

    def __init__(self, cell, w_ih, w_hh, b_ih, b_hh):
        cdef int G = GATES[cell], H = w_hh.shape[1], D = w_ih.shape[1], GH = G * H
        cdef int Hr = 2 * H if cell == "gru_reset_before" else GH  # W_hh's rows that meet h
        cdef size_t nr = _kernel.nr
        self.cell, self.G, self.H, self.D = cell, G, H, D
        self.dtype = np.dtype(w_hh.dtype)
        if self.dtype.char not in "fd":
            raise TypeError(f"weights must be float32 or float64, got {self.dtype}")
        if w_hh.shape[0] != GH or w_ih.shape[0] != GH or np.shape(b_ih) != (GH,) \
                or np.shape(b_hh) != (GH,):
            raise ValueError(f"weights do not make a {cell} of {H} units")
        w_ih = np.ascontiguousarray(w_ih, self.dtype)
        w_hh = np.ascontiguousarray(w_hh, self.dtype)
        b_ih = np.array(b_ih, self.dtype, order="C", copy=True)
        b_hh = np.array(b_hh, self.dtype, order="C", copy=True)
        bias = b_ih + b_hh
        cdef const float* wi
        cdef const float* wh
        if self.dtype == np.float32:
            wi = <const float*>cnp.PyArray_DATA(w_ih)
            wh = <const float*>cnp.PyArray_DATA(w_hh)
            ih = _pack(_kernel, wi, D, GH, 1, D)
            hh = _pack(_kernel, wh, H, Hr, 1, H)
            hn = _pack(_kernel, wh + <size_t>Hr * H, H, GH - Hr, 1, H) if Hr < GH else hh
            self.w.ih = _mat(ih, D * nr)
            self.w.hh = _mat(hh, H * nr)
            self.w.hn = _mat(hn, H * nr)
        else:
            # Copies (a transpose with a dimension of 1 is contiguous already,
            # and ascontiguousarray would hand back a view of the caller's weights).
            ih = np.array(w_ih.T, order="C", copy=True)
            hh = hn = np.array(w_hh.T, order="C", copy=True)
            self.w.ih, self.w.hh, self.w.hn = _mat(ih, GH), _mat(hh, GH), _mat(hh, GH)
            self.w.hn.p = <const double*>self.w.hh.p + Hr  # W_hn^T: columns Hr.. of W_hh^T
        self._keep = (ih, hh, hn, bias, b_ih, b_hh)
        self._source = (w_ih, w_hh)  # what backward's operands are packed from
        self.w.bias = cnp.PyArray_DATA(bias)
        self.w.b_ih, self.w.b_hh = cnp.PyArray_DATA(b_ih), cnp.PyArray_DATA(b_hh)

    def backward_weights(self):
        """Backward's operands of these weights (:class:`_BackwardWeights`), built on
        first use from the weights this was prepared from and kept: steps that
        backpropagate without changing the weights pack them once. (A layer
        prepares from a copy of its parameters, so they cannot change under it.)"""
        if self._backward is None:
            self._backward = _BackwardWeights(*self._source)
        return self._backward

    def split(self, int parts):
        """These (float32 LSTM) weights cut into ``parts`` blocks of hidden units
        (:class:`_SplitWeights`), built on first use for that many parts and kept."""
        if self._splits is None:
            self._splits = {}
        if parts not in self._splits:
            self._splits[parts] = _SplitWeights(parts, *self._source, self._keep[3])
        return self._splits[parts]


cdef class _SplitWeights:
    """One float32 LSTM layer direction's weights cut into blocks of hidden units.

    Block p holds units ``u[p]:u[p+1]`` of every gate: the rows ``g*H + u`` of
    ``W_ih`` and ``W_hh`` (g = i, f, g, o), packed as the GEMM's B operand, and
    of the summed bias, so that one thread computes those units' gates alone
    (``_split.h``). Block edges fall on multiples of 16 units (whole vectors of
    the pointwise pass).
    """

    cdef frnn_split_weights s
    cdef object _keep

    def __init__(self, int parts, w_ih, w_hh, bias):
        cdef int H = w_hh.shape[1], D = w_ih.shape[1], p, Hp
        if not 2 <= parts <= FRNN_SPLIT_MAX or H < _SPLIT_MIN_UNITS * parts:
            raise ValueError(f"cannot split {H} units into {parts} blocks")
        edges = [0] + [(p * H // parts + 8) // 16 * 16 for p in range(1, parts)] + [H]
        keep = []
        self.s.parts = parts
        for p in range(parts):
            units = np.arange(edges[p], edges[p + 1])
            rows = (np.arange(4)[:, None] * H + units).ravel()
            Hp = units.shape[0]
            wi = np.ascontiguousarray(w_ih[rows])
            wh = np.ascontiguousarray(w_hh[rows])
            ih = _pack(_kernel, <const float*>cnp.PyArray_DATA(wi), D, 4 * Hp, 1, D)
            hh = _pack(_kernel, <const float*>cnp.PyArray_DATA(wh), H, 4 * Hp, 1, H)
            b = np.ascontiguousarray(bias[rows])
            keep += [ih, hh, b]
            self.s.u[p] = edges[p]
            self.s.ih[p] = <const float*>cnp.PyArray_DATA(ih)
            self.s.hh[p] = <const float*>cnp.PyArray_DATA(hh)
            self.s.bias[p] = <const float*>cnp.PyArray_DATA(b)
        self.s.u[parts] = H
        self._keep = keep

    @property
    def edges(self):
        """The blocks' first units, and H."""
        return [self.s.u[p] for p in range(self.s.parts + 1)]


def _split_parts(Prepared w, int B):
    """How many blocks of hidden units a forward call of ``B`` rows with these
    weights is split into (``_split.h``); 0: not split."""
    if w.cell != "lstm" or w.dtype.char != "f" or B >= 2 * _MIN_CHUNK_ROWS \
            or 8 * B * w.H * w.H < _SPLIT_MIN_FLOPS:
        return 0
    cdef int parts = min(frnn_max_threads(), w.H // _SPLIT_MIN_UNITS, FRNN_SPLIT_MAX)
    return parts if parts >= 2 else 0


def thread_limit(n=None):
    """The threads this Python thread's calls may use; ``n`` sets it first.

    ``n`` 0 goes back to the default (``OMP_NUM_THREADS`` when set, else the
    CPUs this process may run on). Per calling thread: a fit's ``n_threads``
    binds its own calls only.
    """
    if n is not None:
        if int(n) < 0:
            raise ValueError(f"thread limit must be >= 0, got {n}")
        frnn_set_thread_limit(int(n))
    return frnn_max_threads()


def _register_with_threadpoolctl():
    """Make threadpoolctl see this library's pool as an "openmp" one (as scikit-learn's
    OpenMP code is seen): ``threadpool_limits(1)`` then limits fastrnn's threads too.
    (Without threadpoolctl, or with one lacking the API, ``n_threads`` and
    ``OMP_NUM_THREADS`` still apply.)"""
    try:
        import threadpoolctl

        threadpoolctl.LibController, threadpoolctl.register
    except (ImportError, AttributeError):
        return

    class FastrnnController(threadpoolctl.LibController):
        user_api = "openmp"
        internal_api = "fastrnn"
        filename_prefixes = ("_driver",)
        check_symbols = ("fastrnn_get_num_threads", "fastrnn_set_num_threads")

        def get_num_threads(self):
            return self.dynlib.fastrnn_get_num_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.fastrnn_set_num_threads(num_threads)

        def get_version(self):
            return None

    known = getattr(threadpoolctl, "_ALL_CONTROLLERS", [])
    if not any(c.internal_api == "fastrnn" for c in known):
        threadpoolctl.register(FastrnnController)


_register_with_threadpoolctl()


#: The backend contract's capabilities (``fastrnn._kernels``).
PREPARES_WEIGHTS = True
TAKES_PROJECTED_INPUT = True
HAS_STEPPER = True
INFERS_STACKS = True
THREADED_FLOAT32 = True  # float32 rows split over _threads.h's pool


def same_bytes(a, b):
    """Whether two C-contiguous arrays hold the same bytes (a cache's freshness check).

    ``memcmp`` with the GIL released: a few hundred microseconds for
    megabytes, where ``np.array_equal`` would build a temporary array first
    (and would call NaN weights changed).
    """
    cdef cnp.ndarray x = a, y = b
    cdef size_t n = x.nbytes
    cdef int diff
    if not (cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_C_CONTIGUOUS(y)):
        raise ValueError("same_bytes needs C-contiguous arrays")
    if x.dtype != y.dtype or x.nbytes != y.nbytes:
        return False
    with nogil:
        diff = memcmp(cnp.PyArray_DATA(x), cnp.PyArray_DATA(y), n)
    return diff == 0



def prepare(cell, w_ih, w_hh, b_ih, b_hh):
    """The :class:`Prepared` weights of one layer direction, for ``forward(prepared=...)``."""
    return Prepared(cell, w_ih, w_hh, b_ih, b_hh)


def matmul(a, b):
    """``a [M, K] @ b [K, N]``, each row of the result independent of the other rows.

    float32 runs this CPU's ``_gemm.h`` kernel, so a row's result is bitwise
    the same whatever the batch around it; float64 runs NumPy (BLAS).
    """
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 2 or b.ndim != 2:
        return a @ b  # NumPy's own rules (and errors) for anything but two float32 matrices
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    c = np.empty((a.shape[0], b.shape[1]), np.float32)
    if c.size:
        _sgemm_with(_kernel.name, a, b, c, False)
    return c


def sgemm(kernel, a, b, c, accumulate=False, transpose_a=False, packed=False):
    """``c (+)= op(a) @ b`` (float32, C-contiguous) with one of ``_gemm.h``'s kernels.

    ``kernel`` is ``"avx512"``, ``"avx2"``, ``"neon"`` (aarch64) or
    ``"generic"``; the tests run each one this CPU supports. ``op(a)`` is
    ``a.T`` with ``transpose_a`` (the weight gradients' form). ``packed``
    packs ``b`` in the kernel's panels first and runs its packed product (the
    weights' form in the time loop). Raises ValueError for a kernel the CPU
    lacks or shapes that do not match.
    """
    return _sgemm_with(kernel.encode(), a, b, c, accumulate, transpose_a, packed)


def _sgemm_with(bytes kernel, const float[:, ::1] a, const float[:, ::1] b,
                float[:, ::1] c, bint accumulate, bint transpose_a=False, bint packed=False):
    cdef const frnn_gemm_kernel* fn = frnn_gemm_named(kernel)
    cdef int M = a.shape[1] if transpose_a else a.shape[0]
    cdef int K = a.shape[0] if transpose_a else a.shape[1]
    cdef int N = b.shape[1]
    cdef int lda = a.shape[1]
    cdef int ars = 1 if transpose_a else lda, aks = lda if transpose_a else 1
    if fn == NULL:
        raise ValueError(f"this CPU cannot run the {kernel.decode()!r} kernel")
    if K != b.shape[0] or c.shape[0] != M or c.shape[1] != N:
        raise ValueError("shapes do not match")
    if K == 0:  # an empty sum; the kernels need K >= 1 rows of b
        if not accumulate:
            c[:, :] = 0
        return np.asarray(c)
    cdef float[::1] panels
    if packed:
        panels = _pack(fn, &b[0, 0], K, N, N, 1)
        with nogil:
            fn.gemm_packed(M, N, K, &a[0, 0], ars, aks, &panels[0], <size_t>K * fn.nr,
                           accumulate, &c[0, 0], c.shape[1])
    else:
        with nogil:
            fn.gemm(M, N, K, &a[0, 0], ars, aks, &b[0, 0], N, accumulate, &c[0, 0], c.shape[1])
    return np.asarray(c)


_workspaces = threading.local()


def _workspace(name, shape, dtype):
    """A scratch buffer that the calls of this thread reuse (uninitialised).

    For buffers that never leave a call: a fresh large array maps fresh pages
    on every call, and their page faults were a tenth to a quarter of a step.
    Each thread keeps its own, so concurrent calls never share one; each
    holds the largest size it has needed.
    """
    store = _workspaces.__dict__
    size = math.prod(shape)
    key = (name, dtype.char)
    buf = store.get(key)
    if buf is None or buf.shape[0] < size:
        buf = store[key] = np.empty(size, dtype)
    return buf[:size].reshape(shape)


def _buffer(store, name, shape, dtype):
    """``store[name]`` if it has this shape and dtype, else a new array kept there.

    Uninitialised. ``store`` None (no caller-kept workspace) gives a new array.
    """
    buf = None if store is None else store.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.empty(shape, dtype)
        if store is not None:
            store[name] = buf
    return buf


def _row_chunks(lens, flops_per_row_step, dtype):
    """Bounds ``[0, ..., B]`` of the row chunks, one per thread.

    Rows are sorted longest first; cuts balance the steps (not the rows) of
    each chunk, so a ragged batch keeps every thread busy.
    """
    B = lens.shape[0]
    if dtype != np.float32 or B < 2 * _MIN_CHUNK_ROWS:
        return np.array([0, B], dtype=np.intp)
    steps = np.cumsum(lens)
    total = int(steps[B - 1])
    n = min(frnn_max_threads(), B // _MIN_CHUNK_ROWS,
            total * flops_per_row_step // _MIN_CHUNK_FLOPS)
    if n <= 1:
        return np.array([0, B], dtype=np.intp)
    cuts = np.searchsorted(steps, total * np.arange(1, n) / n) + 1
    return np.unique(np.concatenate(([0], np.minimum(cuts, B), [B]))).astype(np.intp)


_CODES = {name: cell.code for name, cell in CELLS.items()}
if [_CODES[n] for n in ("rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before")] != [
        RNN_TANH, RNN_RELU, LSTM, GRU, GRU_RESET_BEFORE]:
    raise ImportError("fastrnn._cells' codes and _cells.pxi's Cell enum disagree")


def activation(name, x, kernel=None):
    """Apply the kernels' own ``"sigmoid"`` or ``"tanh"`` to ``x`` (for the tests).

    float32 input goes through the same vectorised approximations as the
    cells: this CPU's (``_pointwise.h``), or those of ``kernel``
    (``"avx512"``, ``"avx2"``, ``"neon"``, ``"generic"``; ValueError where the
    CPU lacks it; ``"neon"`` is the plain C pass, which the compiler vectorises).
    """
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    if x.dtype == np.float32:
        pw = _pointwise if kernel is None else frnn_pointwise_named(kernel.encode())
        if pw == NULL:
            raise ValueError(f"this CPU cannot run the {kernel!r} kernel")
        _activation_f32(pw, name == "tanh", x.reshape(-1), out.reshape(-1))
    else:
        _activation(name == "tanh", x.reshape(-1), out.reshape(-1))
    return out


def lstm_pointwise(kernel, gates, bias, c, bint training=True):
    """The fused LSTM pass of one step on its own (float32, for the tests).

    ``gates [n, 4H]`` are the pre-activations without bias, ``bias [4H]``,
    ``c [n, H]`` the previous cell state; ``kernel`` as for :func:`activation`.
    Returns ``(gates, h, c, tanh_c)``: the gates after the pass (activated in
    training, untouched otherwise), the new state and, in training, ``tanh(c_t)``.
    """
    cdef const frnn_pointwise_kernel* pw = frnn_pointwise_named(kernel.encode())
    if pw == NULL:
        raise ValueError(f"this CPU cannot run the {kernel!r} kernel")
    cdef float[:, ::1] g = np.array(gates, np.float32, order="C", copy=True)
    cdef const float[::1] b = np.ascontiguousarray(bias, np.float32)
    cdef float[:, ::1] cn = np.array(c, np.float32, order="C", copy=True)
    cdef int n = cn.shape[0], H = cn.shape[1]
    if g.shape[0] != n or g.shape[1] != 4 * H or b.shape[0] != 4 * H or n == 0 or H == 0:
        raise ValueError("gates must be [n, 4H], bias [4H] and c [n, H], n, H >= 1")
    cdef float[:, ::1] h = np.empty((n, H), np.float32)
    cdef float[:, ::1] tc = np.full((n, H), np.nan, np.float32)
    with nogil:
        pw.lstm(n, H, &g[0, 0], 4 * H, &b[0], &h[0, 0], &cn[0, 0], &tc[0, 0], &h[0, 0], H,
                training)
    return np.asarray(g), np.asarray(h), np.asarray(cn), np.asarray(tc)


def lstm_pointwise_backward(kernel, gates, c_prev, tc, dout, dh, dc):
    """The fused LSTM backward pass of one step on its own (float32, for the tests).

    ``gates [n, 4H]`` the activated gates, ``c_prev``, ``tc`` (tanh(c_t)),
    ``dout``, ``dh``, ``dc`` [n, H]. Returns ``(dgates, dh, dc)``: the
    pre-activation gradients, dh cleared and dc_{t-1}.
    """
    cdef const frnn_pointwise_kernel* pw = frnn_pointwise_named(kernel.encode())
    if pw == NULL:
        raise ValueError(f"this CPU cannot run the {kernel!r} kernel")
    cdef const float[:, ::1] g = np.ascontiguousarray(gates, np.float32)
    arrays = [np.ascontiguousarray(a, np.float32) for a in (c_prev, tc, dout)]
    cdef const float[:, ::1] cp = arrays[0], t = arrays[1], do = arrays[2]
    cdef float[:, ::1] dh_ = np.array(dh, np.float32, order="C", copy=True)
    cdef float[:, ::1] dc_ = np.array(dc, np.float32, order="C", copy=True)
    cdef int n = cp.shape[0], H = cp.shape[1]
    if n == 0 or H == 0 or g.shape[0] != n or g.shape[1] != 4 * H or any(
            a.shape != (n, H) for a in (arrays[1], arrays[2], np.asarray(dh_), np.asarray(dc_))):
        raise ValueError("gates must be [n, 4H] and the others [n, H], n, H >= 1")
    cdef float[:, ::1] dg = np.full((n, 4 * H), np.nan, np.float32)
    with nogil:
        pw.lstm_back(n, H, &g[0, 0], 4 * H, &cp[0, 0], &t[0, 0], &do[0, 0], &dh_[0, 0],
                     &dc_[0, 0], &dg[0, 0])
    return np.asarray(dg), np.asarray(dh_), np.asarray(dc_)


cdef _activation_f32(const frnn_pointwise_kernel* pw, bint use_tanh, const float[::1] x,
                     float[::1] out):
    if x.shape[0]:
        with nogil:
            pw.act(use_tanh, &x[0], &out[0], x.shape[0])


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


def forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, training=True,
            projected=False, prepared=None, workspace=None):
    """Run ``cell`` over ``x [T, B, D]``; see ``_reference.forward``.

    ``projected=True`` (inference only): ``x [T, B, G*H]`` already holds
    ``x_t W_ih^T`` (an embedding's rows projected once per token id), and
    the loop copies it instead of multiplying; ``w_ih`` is then unused.
    ``prepared``: these weights as :func:`prepare` lays them out (a layer
    keeps them between calls); None prepares them here. ``workspace``: a
    dict the caller keeps for this layer direction, in which training's
    buffers (what backward reads, and backward's own) are kept for the next
    call, so a training step maps no new pages after the first; the cache of
    one call is then valid until the next ``forward`` with the same dict.
    """
    if projected and training:
        raise ValueError("projected inputs are for inference: backward needs x itself")
    cdef Cell code = _CODES[cell]
    cdef int G = GATES[cell]
    x = np.asarray(x)
    dtype = x.dtype
    if dtype.char not in "fd" or x.ndim != 3:
        raise TypeError(f"x must be a float32 or float64 array [T, B, D], got {dtype} {x.shape}")
    cdef int T = x.shape[0], B = x.shape[1], D = x.shape[2], H = w_hh.shape[1]
    cdef int GH = G * H
    if prepared is None:
        prepared = Prepared(cell, w_ih, w_hh, b_ih, b_hh)
    elif (prepared.cell != cell or prepared.dtype != dtype or prepared.H != H
          or prepared.D != w_ih.shape[1]):
        raise ValueError("prepared weights were made for another layer")
    if D != (GH if projected else prepared.D):
        raise ValueError(f"x must have {GH if projected else prepared.D} values per row, got {D}")
    lens = lengths_or_full(lengths, T, B)
    # The loop wants rows sorted longest first (finished rows then leave the
    # recurrent GEMM); results are put back in the caller's order at the end.
    order = _descending_order(lens)
    if order is not None:
        x, h0, lens = np.take(x, order, axis=1), h0[order], lens[order]
        c0 = c0[order] if c0 is not None else None
    x = np.ascontiguousarray(x)
    # Buffers are np.empty: the loop writes every row, zeros past each length.
    # (np.zeros of a large buffer maps fresh pages on every call: page faults.)
    out = np.empty((T, B, H), dtype)
    # Out of training the gates never leave the call: a reused workspace.
    shape = (T, B, GH)
    gates = _buffer(workspace, "gates", shape, dtype) if training else \
        _workspace("gates", shape, dtype)
    h = _state(h0, B, H, dtype, "h0")
    c = _state(c0, B, H, dtype, "c0")
    hw = _workspace("hw", (B, GH), dtype)
    if training:
        h_prev = _buffer(workspace, "h_prev", (T, B, H), dtype)
        c_prev = _buffer(workspace, "c_prev", (T, B, H), dtype) if code == LSTM else h_prev
        ext = _buffer(workspace, "ext", (T, B, H), dtype)
    else:
        # Unused out of training; one step's worth of ext, reused.
        ext = h_prev = c_prev = _workspace("ext", (B, H), dtype)
    chunks = _row_chunks(lens, 2 * GH * ((0 if projected else D) + H), dtype)
    cdef int n = chunks.shape[0] - 1
    cdef Prepared w = prepared
    cdef int parts = 0 if projected or n > 1 else _split_parts(w, B)
    blocks = w.split(parts) if parts else None
    cdef const frnn_split_weights* split = &(<_SplitWeights>blocks).s if parts else NULL
    # In training the split's gates are apart: the loop writes the activated
    # ones into ``gates`` in the usual layout, for backward.
    split_gates = _workspace("split_gates", shape, dtype) if parts and training else gates
    cdef void* p[12]
    for i, a in enumerate((x, lens, chunks, gates, out, h, c, hw, h_prev, c_prev, ext,
                           split_gates)):
        p[i] = cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef bint train = training, proj = projected, dbl = dtype.char == "d"
    with nogil:
        if dbl:
            _sequence(code, &w.w, NULL, <double*>p[11], T, B, D, H, GH, <const double*>p[0],
                      <const Py_ssize_t*>p[1], <const Py_ssize_t*>p[2], n, <double*>p[3],
                      <double*>p[4], <double*>p[5], <double*>p[6], <double*>p[7], <double*>p[8],
                      <double*>p[9], <double*>p[10], train, train, proj)
        else:
            _sequence(code, &w.w, split, <float*>p[11], T, B, D, H, GH, <const float*>p[0],
                      <const Py_ssize_t*>p[1], <const Py_ssize_t*>p[2], n, <float*>p[3],
                      <float*>p[4], <float*>p[5], <float*>p[6], <float*>p[7], <float*>p[8],
                      <float*>p[9], <float*>p[10], train, train, proj)
    c_n = c if code == LSTM else None
    cache = None
    if training:
        # Not ``out``: the caller gets it and may change it before backward.
        cache = dict(cell=cell, x=x, w_ih=w_ih, w_hh=w_hh, lengths=lens, chunks=chunks,
                     gates=gates, h_prev=h_prev, c_prev=c_prev, ext=ext, order=order,
                     workspace=workspace, prepared=prepared)
    if order is not None:
        inv = np.argsort(order)
        out, h = np.take(out, inv, axis=1), h[inv]
        c_n = c_n[inv] if c_n is not None else None
    return out, h, c_n, cache


def _state(s, int B, int H, dtype, name):
    """A C-contiguous copy of the state or state gradient ``s [B, H]`` (None: zeros)."""
    if s is None:
        return np.zeros((B, H), dtype)
    a = np.array(s, dtype=dtype, order="C", copy=True)
    if a.shape != (B, H):
        raise ValueError(f"{name} must have shape {(B, H)}, got {a.shape}")
    return a


cdef enum:
    _MAX_LAYERS = 16  # the lean path's stacks (deeper ones take the general path)


def infer(list layers, x, h0, c0, bint batch_first):
    """Inference of a unidirectional stack over full-length sequences: the lean path.

    One crossing into compiled code for what :func:`forward` and a layer's
    Python loop do in several: the checks of ``x``, the state, every layer,
    each writing into reused workspaces; no parallel region for one chunk of
    rows. The results are bitwise those of :func:`forward` layer by layer.

    Parameters
    ----------
    layers : list of Prepared
        One per layer, from the same layer stack (one cell, dtype and H).
    x : ndarray [B, T, D] (``batch_first``) or [T, B, D]
        C-contiguous, of the layers' dtype; anything else returns None, and
        the caller takes the general path (which converts and checks).
    h0, c0 : ndarray [L, B, H] or None
        The initial state, already checked (None: zeros; ``c0`` for LSTM).

    Returns
    -------
    (out, h_n, c_n) or None
        ``out`` [B, T, H] or [T, B, H] (a view when ``batch_first``),
        ``h_n`` [L, B, H], ``c_n`` [L, B, H] for LSTM else None.

    Raises ValueError for NaN or infinity in ``x``.
    """
    cdef Prepared first = layers[0]
    cdef int L = len(layers)
    if type(x) is not np.ndarray or L > _MAX_LAYERS:
        return None
    cdef cnp.ndarray xa = x
    if cnp.PyArray_NDIM(xa) != 3 or not cnp.PyArray_IS_C_CONTIGUOUS(xa) \
            or xa.dtype is not first.dtype and xa.dtype != first.dtype:
        return None
    cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(xa)
    cdef int T = dims[1] if batch_first else dims[0]
    cdef int B = dims[0] if batch_first else dims[1]
    cdef int D = dims[2], H = first.H, GH = first.G * first.H
    if T < 1 or B < 1 or D != first.D:
        return None
    cdef bint ok, dbl = first.dtype.char == "d"
    cdef Py_ssize_t n_x = <Py_ssize_t>T * B * D
    with nogil:
        ok = _all_finite(<double*>cnp.PyArray_DATA(xa), n_x) if dbl else \
            _all_finite(<float*>cnp.PyArray_DATA(xa), n_x)
    if not ok:
        raise ValueError("x contains NaN or infinity")
    # [B, T, D] of one row is [T, 1, D] already; more rows are transposed once.
    xt = np.ascontiguousarray(xa.transpose(1, 0, 2)) if batch_first and B > 1 else xa
    dtype = first.dtype
    cdef Cell code = _CODES[first.cell]
    out = np.empty((T, B, H), dtype)
    h = np.zeros((L, B, H), dtype) if h0 is None else np.array(h0, dtype, order="C", copy=True)
    if code == LSTM:
        c = np.zeros((L, B, H), dtype) if c0 is None else np.array(c0, dtype, order="C", copy=True)
    else:
        c = _workspace("c", (L, B, H), dtype)  # unused by the other cells
    gates = _workspace("gates", (T, B, GH), dtype)
    hw = _workspace("hw", (B, GH), dtype)
    ext = _workspace("ext", (B, H), dtype)
    mid = _workspace("mid", (2 if L > 2 else 1, T, B, H), dtype) if L > 1 else ext
    chunks = _ONE_CHUNK if dbl or B < 2 * _MIN_CHUNK_ROWS else _row_chunks(
        np.full(B, T, np.intp), 2 * GH * (D + H), dtype)
    cdef const LayerWeights* ws[_MAX_LAYERS]
    cdef const frnn_split_weights* splits[_MAX_LAYERS]
    cdef int l, parts = _split_parts(first, B)
    blocks = [layer.split(parts) if parts else None for layer in layers]
    for l in range(L):
        ws[l] = &(<Prepared>layers[l]).w
        splits[l] = &(<_SplitWeights>blocks[l]).s if parts else NULL
    cdef const Py_ssize_t* cp = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>chunks)
    cdef int n = chunks.shape[0] - 1
    cdef void* bufs[7]
    for l, a in enumerate((xt, mid, out, h, c, gates, hw)):
        bufs[l] = cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef void* ep = cnp.PyArray_DATA(<cnp.ndarray>ext)
    with nogil:
        if dbl:
            _stack(code, ws, splits, L, T, B, D, H, GH, <const double*>bufs[0], <double*>bufs[1],
                   <double*>bufs[2], <double*>bufs[3], <double*>bufs[4], <double*>bufs[5],
                   <double*>bufs[6], <double*>ep, cp, n)
        else:
            _stack(code, ws, splits, L, T, B, D, H, GH, <const float*>bufs[0], <float*>bufs[1],
                   <float*>bufs[2], <float*>bufs[3], <float*>bufs[4], <float*>bufs[5],
                   <float*>bufs[6], <float*>ep, cp, n)
    return (out.transpose(1, 0, 2) if batch_first else out), h, (c if code == LSTM else None)


_ONE_CHUNK = np.array([0, 0], dtype=np.intp)  # only its count (1) is read


cdef void _stack(Cell code, const LayerWeights** ws, const frnn_split_weights** splits, int L,
                 int T, int B, int D, int H, int GH, const floating* x, floating* mid,
                 floating* out, floating* h, floating* c, floating* gates, floating* hw,
                 floating* ext, const Py_ssize_t* chunks, int n) noexcept nogil:
    """``L`` layers over ``x [T, B, D]`` in inference; layer l < L-1 writes ``mid[l % 2]``."""
    cdef int l
    cdef size_t step = <size_t>T * B * H
    cdef const floating* src = x
    cdef floating* dst
    for l in range(L):
        dst = out if l == L - 1 else mid + (l % 2) * step
        _sequence(code, ws[l], splits[l], gates, T, B, D if l == 0 else H, H, GH, src, NULL,
                  chunks, n, gates, dst, h + <size_t>l * B * H, c + <size_t>l * B * H, hw,
                  ext, ext, ext, False, False, False)
        src = dst


cdef void _sequence(Cell code, const LayerWeights* w, const frnn_split_weights* split,
                    floating* split_gates, int T, int B, int D, int H, int GH, const floating* x,
                    const Py_ssize_t* lens, const Py_ssize_t* chunks, int n, floating* gates,
                    floating* out, floating* h, floating* c, floating* hw, floating* h_prev,
                    floating* c_prev, floating* ext, bint ext_per_step, bint training,
                    bint projected) noexcept nogil:
    """One layer direction over the whole sequence, ``n`` chunks of rows (buffers of ``_forward``).

    ``lens`` NULL: every row runs all T steps. ``split``: these weights cut
    into blocks of units (a float32 LSTM, one chunk, not projected), one
    thread each (``_split.h``), with ``split_gates`` (``[T, B, G*H]``; may be
    ``gates`` out of training) for their gates; NULL: not split.
    """
    cdef int i
    cdef frnn_split_job sj
    if floating is float:
        if split != NULL:
            memcpy(hw, h, <size_t>B * H * sizeof(float))  # step 0 reads it while h changes
            sj.w, sj.gemm, sj.pw = split, _kernel, _pointwise
            sj.T, sj.B, sj.D, sj.H = T, B, D, H
            sj.x, sj.lens, sj.gates, sj.out, sj.h, sj.c, sj.h0 = x, lens, split_gates, out, h, c, hw
            sj.training, sj.gates_out, sj.h_prev, sj.c_prev, sj.tc = training, gates, h_prev, \
                c_prev, ext
            if frnn_lstm_split(&sj):
                return
    # One chunk with every row running all T steps: the input products of all
    # steps are one GEMM before the loop (T*B rows: full register tiles even
    # for one row).
    cdef bint hoist = n == 1 and not projected and T > 1 and (lens == NULL or lens[B - 1] == T)
    if hoist:
        wgemm(T * B, GH, D, x, D, w.ih, 0, False, gates, GH)
    if n == 1:  # no parallel region for one chunk: the calling thread runs it
        _forward_rows(code, T, B, D, H, GH, 0, B, x, w, lens, gates, out, h, c, hw, h_prev,
                      c_prev, ext, ext_per_step, training, projected, hoist)
        return
    cdef ForwardJob job
    if floating is float:  # (float64 runs one chunk, on BLAS)
        job = ForwardJob(code, w, T, B, D, H, GH, x, lens, chunks, gates, out, h, c, hw, h_prev,
                         c_prev, ext, ext_per_step, training, projected)
        frnn_parallel(_forward_part, &job, n)
    else:
        for i in range(n):
            _forward_rows(code, T, B, D, H, GH, chunks[i], chunks[i + 1], x, w, lens, gates,
                          out, h, c, hw, h_prev, c_prev, ext, ext_per_step, training, projected,
                          False)


cdef struct ForwardJob:
    # _sequence's arguments, for the chunks run by the thread pool (float32).
    Cell code
    const LayerWeights* w
    int T, B, D, H, GH
    const float* x
    const Py_ssize_t* lens
    const Py_ssize_t* chunks
    float* gates
    float* out
    float* h
    float* c
    float* hw
    float* h_prev
    float* c_prev
    float* ext
    bint ext_per_step, training, projected


cdef void _forward_part(void* ctx, int i) noexcept nogil:
    cdef ForwardJob* j = <ForwardJob*>ctx
    _forward_rows(j.code, j.T, j.B, j.D, j.H, j.GH, j.chunks[i], j.chunks[i + 1], j.x, j.w,
                  j.lens, j.gates, j.out, j.h, j.c, j.hw, j.h_prev, j.c_prev, j.ext,
                  j.ext_per_step, j.training, j.projected, False)


cdef void _forward_rows(Cell code, int T, int B, int D, int H, int GH, int b0, int b1,
                        const floating* x, const LayerWeights* w, const Py_ssize_t* lens,
                        floating* gates, floating* out, floating* h, floating* c,
                        floating* hw, floating* h_prev, floating* c_prev, floating* ext,
                        bint ext_per_step, bint training, bint projected,
                        bint hoisted) noexcept nogil:
    """The whole sequence for rows ``b0:b1`` (the buffers of ``_forward``)."""
    cdef Py_ssize_t s, row
    cdef size_t row_bytes = H * sizeof(floating)
    cdef int n_active = b1 - b0
    for s in range(T):
        # Rows are sorted by length, longest first: the active ones are a
        # prefix, and only they go through the products.
        while lens != NULL and n_active > 0 and lens[b0 + n_active - 1] <= s:
            n_active -= 1
        row = s * B + b0
        # Padded steps: zero output. Backward reads only active rows, so
        # h_prev / c_prev / ext of those rows are left unwritten.
        memset(out + (row + n_active) * H, 0, (b1 - b0 - n_active) * row_bytes)
        if n_active == 0:
            continue
        if projected:  # the rows of x are the products already (D == GH)
            memcpy(gates + row * GH, x + row * D, n_active * GH * sizeof(floating))
        elif not hoisted:
            wgemm(n_active, GH, D, x + row * D, D, w.ih, 0, False, gates + row * GH, GH)
        if training:
            memcpy(h_prev + row * H, h + b0 * H, n_active * row_bytes)
            if code == LSTM:
                memcpy(c_prev + row * H, c + b0 * H, n_active * row_bytes)
        _cells_step(code, n_active, H, GH, w, gates + row * GH, hw + b0 * GH, h + b0 * H, c + b0 * H,
                    ext + (row if ext_per_step else b0) * H, out + row * H, training)


cdef void _cells_step(Cell code, int n, int H, int GH, const LayerWeights* w, floating* gates,
                      floating* hw, floating* h, floating* c, floating* ext, floating* out,
                      bint training) noexcept nogil:
    """One step of ``n`` consecutive rows, after their input products.

    ``gates [n, G*H]`` holds ``x_t W_ih^T`` on entry and the activated gates
    on exit (float32 LSTM: only in training); ``h``, ``c [n, H]`` the state,
    advanced in place and copied to ``out [n, H]`` (which may be ``h``);
    ``hw [n, G*H]`` is scratch; ``ext [n, H]`` gets what backward needs
    (``cell_forward``). The whole-sequence driver and the stepper both run
    this, so a stream computes what the sequence does.
    """
    cdef int b
    cdef const floating* b_ih = <const floating*>w.b_ih
    cdef const floating* b_hh = <const floating*>w.b_hh
    if floating is float:
        if code == LSTM:
            # The recurrent product adds straight into the gates, then one
            # fused pass per row (_pointwise.h) does the rest.
            wgemm(n, GH, H, h, H, w.hh, 0, True, gates, GH)
            _pointwise.lstm(n, H, gates, GH, <const float*>w.bias, h, c, ext, out, H, training)
            return
    if code == GRU_RESET_BEFORE:
        # W_hn multiplies r * h, so r comes first: the r and z products, the
        # gates, then the n product of r * h (which gru_reset_gates puts in ext).
        wgemm(n, 2 * H, H, h, H, w.hh, 0, False, hw, GH)
        for b in range(n):
            gru_reset_gates(H, gates + b * GH, hw + b * GH, b_ih, b_hh, h + b * H, ext + b * H)
        wgemm(n, H, H, ext, H, w.hn, 0, False, hw + 2 * H, GH)
    else:
        wgemm(n, GH, H, h, H, w.hh, 0, False, hw, GH)
    for b in range(n):
        cell_forward(code, H, gates + b * GH, hw + b * GH, b_ih, b_hh, h + b * H, c + b * H,
                     ext + b * H)
    if out != h:
        memcpy(out, h, n * H * sizeof(floating))


def backward(cache, dout, dh_n, dc_n=None, grads=None):
    """Backpropagate through time; see ``_reference.backward``.

    Returns ``dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh``; with ``grads``
    (arrays ``dw_ih``, ``dw_hh``, ``db_ih``, ``db_hh`` shaped like the
    parameters, None for an absent bias) the parameter gradients are added
    into those instead and returned as None.
    """
    cell = cache["cell"]
    cdef Cell code = _CODES[cell]
    x, w_ih, w_hh = cache["x"], cache["w_ih"], cache["w_hh"]
    cdef int T = x.shape[0], B = x.shape[1], D = x.shape[2], H = w_hh.shape[1]
    cdef int GH = GATES[cell] * H
    dtype = x.dtype
    order = cache["order"]
    if order is not None:  # into the forward pass's longest-first row order
        dout = np.take(dout, order, axis=1)
        dh_n = None if dh_n is None else np.asarray(dh_n)[order]
        dc_n = None if dc_n is None else np.asarray(dc_n)[order]
    dout = np.ascontiguousarray(dout, dtype=dtype)
    if dout.shape != (T, B, H):
        raise ValueError(f"dout must have shape {(T, B, H)}, got {dout.shape}")
    dh = _state(dh_n, B, H, dtype, "dh_n")
    dc = _state(dc_n, B, H, dtype, "dc_n")
    given = grads is not None
    if given:
        gw_ih, gw_hh, gb_ih, gb_hh = grads
        for g, shape, name in ((gw_ih, (GH, D), "dw_ih"), (gw_hh, (GH, H), "dw_hh"),
                               (gb_ih, (GH,), "db_ih"), (gb_hh, (GH,), "db_hh")):
            if g is not None and (type(g) is not np.ndarray or g.shape != shape
                                  or g.dtype != dtype or not g.flags.c_contiguous
                                  or not g.flags.writeable):
                raise ValueError(f"grads' {name} must be a writable C-contiguous {dtype} "
                                 f"array of shape {shape}")
    else:
        gw_ih, gw_hh = np.zeros((GH, D), dtype), np.zeros((GH, H), dtype)
        gb_ih, gb_hh = np.zeros(GH, dtype), np.zeros(GH, dtype)
    # The loop writes every row of dgi/dgh, zeros for padded steps; they never
    # leave the call, so they are this thread's reused workspaces.
    dgi = _workspace("dgi", (T, B, GH), dtype)
    dgh = _workspace("dgh", (T, B, GH), dtype) if code == GRU else dgi
    drh = _workspace("drh", (B, H), dtype)  # the reset-before GRU's dn W_hn
    colsum = _workspace("colsum", (GH,), dtype)
    dx = np.empty((T, B, D), dtype)
    # Each chunk of rows sums its own [W_ih | W_hh] gradient; added up after.
    # Rows a multiple of 256 floats apart (4 KiB: the same few L1 sets) are
    # padded apart.
    chunks = cache["chunks"]
    cdef int n = chunks.shape[0] - 1
    cdef const Py_ssize_t* cp = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>chunks)
    cdef int ldw = D + H + 16 if (D + H) % 256 == 0 else D + H
    dw = _buffer(cache["workspace"], "dw", (n, GH, ldw), dtype)
    # Each chunk stages about 256 rows (several steps) per weight-gradient product.
    cdef int i, rows = 0
    for i in range(n):
        rows = max(rows, <int>(cp[i + 1] - cp[i]))
    cdef int cap = rows * max(1, min(T, 256 // rows))
    cdef size_t width = _padded(D) + 2 * _padded(H) + 2 * GH
    stage = _buffer(cache["workspace"], "stage", (n, cap * width), dtype)
    # The work after the recurrence (dx, the sums of dw) and, for one chunk of
    # rows, each flush of its staged weight sums: bands over the threads when
    # they are worth waking.
    cdef int threads = frnn_max_threads() if dtype == np.float32 else 1
    cdef int parts = max(n, threads) if 2 * T * B * GH * D + GH * (D + H) * n \
        >= _MIN_CHUNK_FLOPS else n
    cdef int wparts = threads if n == 1 and 2 * cap * GH * (D + H) >= _MIN_CHUNK_FLOPS else 1
    cdef _BackwardWeights w = cache["prepared"].backward_weights()
    cdef void* p[20]
    for i, a in enumerate((x, cache["lengths"], cache["gates"], cache["h_prev"],
                           cache["c_prev"], cache["ext"], dout, dh, dc, dgi, dgh, drh, dx, dw,
                           stage, colsum, gw_ih, gw_hh)):
        p[i] = cnp.PyArray_DATA(<cnp.ndarray>a)
    for i, a in enumerate((gb_ih, gb_hh)):
        p[18 + i] = NULL if a is None else cnp.PyArray_DATA(<cnp.ndarray>a)
    cdef bint dbl = dtype.char == "d"
    with nogil:
        if dbl:
            _backward(code, w.ih, w.hh, T, B, D, H, GH, cp, n, parts, wparts, ldw, cap * width,
                      cap, <const double*>p[0], p)
        else:
            _backward(code, w.ih, w.hh, T, B, D, H, GH, cp, n, parts, wparts, ldw, cap * width,
                      cap, <const float*>p[0], p)
    if order is not None:
        inv = np.argsort(order)
        dx, dh, dc = np.take(dx, inv, axis=1), dh[inv], dc[inv]
    dc = dc if code == LSTM else None
    if given:
        return dx, dh, dc, None, None, None, None
    return dx, dh, dc, gw_ih, gw_hh, gb_ih, gb_hh


cdef class _BackwardWeights:
    """``W_ih [G*H, D]`` and ``W_hh [G*H, H]`` as backward's B operands.

    float32: packed in the kernel's panels (rows of ``W_hh`` are only H
    floats apart, and the products read them k by k); float64: as they are.
    """

    cdef Mat ih, hh
    cdef object _keep

    def __init__(self, w_ih, w_hh):
        GH, H = w_hh.shape
        D = w_ih.shape[1]
        w_ih, w_hh = np.ascontiguousarray(w_ih), np.ascontiguousarray(w_hh)
        if w_hh.dtype == np.float32:
            ih = _pack(_kernel, <const float*>cnp.PyArray_DATA(w_ih), GH, D, D, 1)
            hh = _pack(_kernel, <const float*>cnp.PyArray_DATA(w_hh), GH, H, H, 1)
            self.ih, self.hh = _mat(ih, <size_t>GH * _kernel.nr), _mat(hh, <size_t>GH * _kernel.nr)
        else:
            ih, hh = w_ih, w_hh
            self.ih, self.hh = _mat(ih, D), _mat(hh, H)
        self._keep = (ih, hh)


cdef void _backward(Cell code, Mat w_ih, Mat w_hh, int T, int B, int D, int H, int GH,
                    const Py_ssize_t* chunks, int n, int parts, int wparts, int ldw,
                    size_t stage_ld, int cap, const floating* x, void** p) noexcept nogil:
    """The whole of :func:`backward` for buffers laid out as :func:`forward` left them.

    ``p`` holds the buffers in :func:`backward`'s order (one list for both
    dtypes; ``x``, its first, comes typed too, which picks the dtype).
    ``dh``, ``dc`` [B, H]: dh_n, dc_n in, dh0, dc0 out; ``dgi``,
    ``dgh`` (the same buffer but for GRU) [T, B, G*H], ``drh`` [B, H],
    ``dw`` [n, G*H, ldw] and ``stage`` [n, stage_ld] work space; ``dx``
    [T, B, D] out. The parameter gradients are added into ``gw_ih`` [G*H, D],
    ``gw_hh`` [G*H, H] and, where not NULL, ``gb_ih``, ``gb_hh`` [G*H]
    (``colsum`` [G*H] scratch). After the recurrence, ``dx`` and the parameter
    gradients are taken in ``parts`` bands (float32: over the thread pool);
    a single chunk's weight sums in ``wparts`` bands each time.
    """
    cdef const Py_ssize_t* lens = <const Py_ssize_t*>p[1]
    cdef const floating* gates = <const floating*>p[2]
    cdef const floating* h_prev = <const floating*>p[3]
    cdef const floating* c_prev = <const floating*>p[4]
    cdef const floating* ext = <const floating*>p[5]
    cdef const floating* dout = <const floating*>p[6]
    cdef floating* dh = <floating*>p[7]
    cdef floating* dc = <floating*>p[8]
    cdef floating* dgi = <floating*>p[9]
    cdef floating* dgh = <floating*>p[10]
    cdef floating* drh = <floating*>p[11]
    cdef floating* dx = <floating*>p[12]
    cdef floating* dw = <floating*>p[13]
    cdef floating* stage = <floating*>p[14]
    cdef floating* colsum = <floating*>p[15]
    cdef floating* gw_ih = <floating*>p[16]
    cdef floating* gw_hh = <floating*>p[17]
    cdef floating* gb_ih = <floating*>p[18]
    cdef floating* gb_hh = <floating*>p[19]
    cdef int i
    memset(dw, 0, <size_t>n * GH * ldw * sizeof(floating))
    cdef BackwardJob job
    # The recurrence: chunks of rows, each through the whole sequence. Then
    # dx = dgi W_ih for all T*B rows at once, and the parameter gradients;
    # each part a band of rows (dx) or of columns (the sums), so every result
    # is summed in the same order whichever thread runs it.
    if floating is float:  # (float64 runs one chunk, on BLAS)
        job = BackwardJob(code, w_ih, w_hh, T, B, D, H, GH, x, lens, chunks, n, parts, gates,
                          h_prev, c_prev, ext, dout, dh, dc, dgi, dgh, drh, dx, dw, ldw,
                          stage, stage_ld, cap, colsum, gw_ih, gw_hh, gb_ih, gb_hh)
        if n > 1:
            frnn_parallel(_backward_part, &job, n)
        else:  # one chunk: the thread pool takes its weight sums in bands
            _backward_rows(code, T, B, D, H, GH, 0, B, x, w_hh, lens, gates, h_prev, c_prev,
                           ext, dout, dh, dc, dgi, dgh, drh, dw, ldw, stage, cap, wparts)
        frnn_parallel(_gradient_part, &job, parts)
    else:
        for i in range(n):
            _backward_rows(code, T, B, D, H, GH, chunks[i], chunks[i + 1], x, w_hh, lens,
                           gates, h_prev, c_prev, ext, dout, dh, dc, dgi, dgh, drh,
                           dw + <size_t>i * GH * ldw, ldw, stage + i * stage_ld, cap, 1)
        for i in range(n):
            _dx_band(i, n, T, B, D, GH, lens, dgi, w_ih, dx)
            _gradient_band(i, n, code, T * B, D, H, GH, n, dgi, dgh, dw, ldw, colsum, gw_ih,
                           gw_hh, gb_ih, gb_hh)
    # (The weight gradients were summed per step inside the loop, each
    # chunk into its own dw: one product over all T*B rows after it
    # would need BLAS, whose threads then fight ours for the cores.)


cdef struct BackwardJob:
    # _backward's arguments, for the parts run by the thread pool (float32).
    Cell code
    Mat w_ih, w_hh
    int T, B, D, H, GH
    const float* x
    const Py_ssize_t* lens
    const Py_ssize_t* chunks
    int n, parts
    const float* gates
    const float* h_prev
    const float* c_prev
    const float* ext
    const float* dout
    float* dh
    float* dc
    float* dgi
    float* dgh
    float* drh
    float* dx
    float* dw
    int ldw
    float* stage
    size_t stage_ld
    int cap
    float* colsum
    float* gw_ih
    float* gw_hh
    float* gb_ih
    float* gb_hh


cdef void _backward_part(void* ctx, int i) noexcept nogil:
    cdef BackwardJob* j = <BackwardJob*>ctx
    _backward_rows(j.code, j.T, j.B, j.D, j.H, j.GH, j.chunks[i], j.chunks[i + 1], j.x, j.w_hh,
                   j.lens, j.gates, j.h_prev, j.c_prev, j.ext, j.dout, j.dh, j.dc, j.dgi,
                   j.dgh, j.drh, j.dw + <size_t>i * j.GH * j.ldw, j.ldw,
                   j.stage + i * j.stage_ld, j.cap, 1)


cdef void _gradient_part(void* ctx, int i) noexcept nogil:
    cdef BackwardJob* j = <BackwardJob*>ctx
    _dx_band(i, j.parts, j.T, j.B, j.D, j.GH, j.lens, j.dgi, j.w_ih, j.dx)
    _gradient_band(i, j.parts, j.code, j.T * j.B, j.D, j.H, j.GH, j.n, j.dgi, j.dgh, j.dw, j.ldw,
                   j.colsum, j.gw_ih, j.gw_hh, j.gb_ih, j.gb_hh)


cdef void _gradient_band(int part, int parts, Cell code, int rows, int D, int H, int GH,
                         int n, const floating* dgi, const floating* dgh, floating* dw,
                         int ldw, floating* colsum, floating* gw_ih, floating* gw_hh,
                         floating* gb_ih, floating* gb_hh) noexcept nogil:
    """Band ``part`` of ``parts`` of the parameter gradients' rows (gates).

    ``gw_ih [G*H, D] +=`` the sum of the n chunks' ``dw[:, :D]`` (chunk 0's
    taking the others in chunk order) and ``gw_hh`` from ``dw[:, D:]``; the
    biases get the column sums of ``dgi`` (``b_ih``) and ``dgh`` (``b_hh``; the
    same sums but for GRU), row by row.
    """
    cdef int g0 = <int>(<long>GH * part // parts), g1 = <int>(<long>GH * (part + 1) // parts)
    cdef int k, g, i
    cdef size_t cs = <size_t>GH * ldw
    cdef floating* a
    cdef const floating* b
    cdef floating* d
    for g in range(g0, g1):
        a = dw + <size_t>g * ldw
        for i in range(1, n):
            b = a + i * cs
            for k in range(D + H):
                a[k] += b[k]
        d = gw_ih + <size_t>g * D
        for k in range(D):
            d[k] += a[k]
        d = gw_hh + <size_t>g * H
        for k in range(H):
            d[k] += a[D + k]
    if gb_ih == NULL and gb_hh == NULL:
        return
    _column_sums(rows, GH, g0, g1, dgi, colsum)
    for g in range(g0, g1):
        if gb_ih != NULL:
            gb_ih[g] += colsum[g]
        if gb_hh != NULL and dgh == dgi:
            gb_hh[g] += colsum[g]
    if gb_hh != NULL and dgh != dgi:
        _column_sums(rows, GH, g0, g1, dgh, colsum)
        for g in range(g0, g1):
            gb_hh[g] += colsum[g]


cdef inline void _column_sums(int rows, int N, int g0, int g1, const floating* a,
                              floating* out) noexcept nogil:
    """``out[g0:g1]`` = the sums of columns ``g0:g1`` of ``a [rows, N]``, row by row.

    Sixteen columns at a time in registers (adding into ``out`` row after row
    was bound by its loads and stores)."""
    cdef int r, g, gb
    cdef floating acc[16]
    gb = g0
    while gb + 16 <= g1:
        for g in range(16):
            acc[g] = a[gb + g]
        for r in range(1, rows):
            for g in range(16):
                acc[g] += a[<size_t>r * N + gb + g]
        for g in range(16):
            out[gb + g] = acc[g]
        gb += 16
    if gb < g1:
        memcpy(out + gb, a + gb, (g1 - gb) * sizeof(floating))
        for r in range(1, rows):
            for g in range(gb, g1):
                out[g] += a[<size_t>r * N + g]


cdef void _dx_band(int part, int parts, int T, int B, int D, int GH, const Py_ssize_t* lens,
                   const floating* dgi, Mat w_ih, floating* dx) noexcept nogil:
    """Rows of band ``part`` of ``parts`` of ``dx [T*B, D] = dgi [T*B, G*H] @ W_ih``;
    rows of padded steps are zeros (not 0 * W_ih, which a non-finite weight makes NaN)."""
    cdef int K = T * B, r
    cdef int r0 = <int>(<long>K * part // parts), r1 = <int>(<long>K * (part + 1) // parts)
    if r1 > r0:
        wgemm(r1 - r0, D, GH, dgi + <size_t>r0 * GH, GH, w_ih, 0, False, dx + <size_t>r0 * D, D)
    for r in range(r0, r1):
        if lens[r % B] <= r // B:
            memset(dx + <size_t>r * D, 0, D * sizeof(floating))


cdef void _backward_rows(Cell code, int T, int B, int D, int H, int GH, int b0, int b1,
                         const floating* x, Mat w_hh, const Py_ssize_t* lens,
                         const floating* gates, const floating* h_prev,
                         const floating* c_prev, const floating* ext, const floating* dout,
                         floating* dh, floating* dc, floating* dgi, floating* dgh,
                         floating* drh, floating* dw, int ldw, floating* stage,
                         int cap, int wparts) noexcept nogil:
    """Backpropagation through the whole sequence for rows ``b0:b1``.

    Each step: the gate gradients of the active rows and ``dh_{t-1}``. The
    weight gradients (this chunk's ``dw``, ``[W_ih | W_hh]`` with row stride
    ``ldw``) take the rows of several steps per product: their operands are
    copied into ``stage`` (``cap`` rows of ``x | h_prev | ext | dgi | dgh``)
    until it is full (x, h_prev and ext packed in the GEMM's panels, as the
    weights are). Summed step by step, every product loaded and stored all of
    ``dw`` (megabytes at H = 256) for a few rows' worth of sums; the order of
    the sums is the same, so are the bits. ``dx`` follows after. ``wparts``:
    bands of ``dw`` that the thread pool sums each time (1: this thread alone).
    """
    cdef Py_ssize_t s, b, row
    cdef int n_active = 0, staged = 0
    cdef int Hr = 2 * H if code == GRU_RESET_BEFORE else GH  # rows of W_hh that h_{t-1} meets
    cdef floating* sx = stage
    cdef floating* sh = sx + <size_t>cap * _padded(D)
    cdef floating* se = sh + <size_t>cap * _padded(H)
    cdef floating* sgi = se + <size_t>cap * _padded(H)
    cdef floating* sgh = sgi + <size_t>cap * GH if code == GRU else sgi
    cdef size_t fs = sizeof(floating)
    for s in range(T - 1, -1, -1):
        while n_active < b1 - b0 and lens[b0 + n_active] > s:
            n_active += 1
        for b in range(b0 + n_active, b1):
            # Padded steps add nothing: dh passes through, gradients are 0.
            memset(dgi + (s * B + b) * GH, 0, GH * sizeof(floating))
            memset(dgh + (s * B + b) * GH, 0, GH * sizeof(floating))
        if n_active == 0:
            continue
        row = s * B + b0
        if floating is float and code == LSTM:  # the fused pass of _pointwise.h
            _pointwise.lstm_back(n_active, H, <const float*>gates + row * GH, GH,
                                 <const float*>c_prev + row * H, <const float*>ext + row * H,
                                 <const float*>dout + row * H, <float*>dh + b0 * H,
                                 <float*>dc + b0 * H, <float*>dgi + row * GH)
        else:
            for b in range(b0, b0 + n_active):
                # c_prev is a placeholder except for LSTM.
                cell_backward(code, H, gates + (s * B + b) * GH, h_prev + (s * B + b) * H,
                              c_prev + (s * B + b) * H,
                              ext + (s * B + b) * H, dout + (s * B + b) * H, dh + b * H,
                              dc + b * H, dgi + (s * B + b) * GH, dgh + (s * B + b) * GH)
        if code == GRU_RESET_BEFORE:
            # W_hn multiplied r * h_{t-1} (kept in ext): its gradient dn W_hn
            # gives r's gradient and a path to h_{t-1} through r.
            wgemm(n_active, H, H, dgh + row * GH + 2 * H, GH, w_hh, 2 * H, False,
                  drh + b0 * H, H)
            for b in range(b0, b0 + n_active):
                gru_reset_backward(H, gates + (s * B + b) * GH, h_prev + (s * B + b) * H,
                                   drh + b * H, dh + b * H, dgi + (s * B + b) * GH)
        # dh_{t-1} += dgh_t W_hh for the active rows; the others keep dh.
        wgemm(n_active, H, Hr, dgh + row * GH, GH, w_hh, 0, True, dh + b0 * H, H)
        if staged + n_active > cap:
            _flush_weight_sums(code, staged, cap, D, H, GH, sx, sh, se, sgi, sgh, dw, ldw,
                               wparts)
            staged = 0
        _stage_rows(n_active, D, x + row * D, D, sx, staged, cap)
        _stage_rows(n_active, H, h_prev + row * H, H, sh, staged, cap)
        memcpy(sgi + <size_t>staged * GH, dgi + row * GH, n_active * GH * fs)
        if code == GRU:
            memcpy(sgh + <size_t>staged * GH, dgh + row * GH, n_active * GH * fs)
        if code == GRU_RESET_BEFORE:  # W_hn multiplied r * h_{t-1} (kept in ext)
            _stage_rows(n_active, H, ext + row * H, H, se, staged, cap)
        staged += n_active
    _flush_weight_sums(code, staged, cap, D, H, GH, sx, sh, se, sgi, sgh, dw, ldw, wparts)


cdef inline int _padded(int n) noexcept nogil:
    """Columns of a staged B operand of ``n`` columns: whole panels of the kernel."""
    return (n + _kernel.nr - 1) // _kernel.nr * _kernel.nr


cdef inline void _stage_rows(int rows, int N, const floating* src, int lds, floating* dst,
                             int k0, int cap) noexcept nogil:
    """Rows ``src [rows, N]`` (stride ``lds``) in as rows ``k0..`` of a staged B
    operand of ``cap`` rows: float32 packed in the kernel's panels, float64 row-major."""
    cdef int r
    if floating is float:
        frnn_pack_rows(_kernel.nr, rows, N, src, lds, dst, cap, k0)
    else:
        for r in range(rows):
            memcpy(dst + <size_t>(k0 + r) * N, src + <size_t>r * lds, N * sizeof(double))


cdef inline void _staged_product(int M, int N, int K, const floating* a, int lda,
                                 const floating* staged, int cap, floating* c,
                                 int ldc) noexcept nogil:
    """``C[M, N] += A[K, M]^T @ S[K, N]`` for a staged ``S`` of ``cap`` rows."""
    if floating is float:
        _kernel.gemm_packed(M, N, K, a, 1, lda, staged, <size_t>cap * _kernel.nr, True, c, ldc)
    else:
        gemm(True, False, M, N, K, 1, a, lda, staged, N, 1, c, ldc)


cdef void _weight_sums(Cell code, int rows, int cap, int D, int H, int GH, const floating* sx,
                       const floating* sh, const floating* se, const floating* sgi,
                       const floating* sgh, floating* dw, int ldw, int g0,
                       int g1) noexcept nogil:
    """Add ``rows`` staged rows' terms to rows ``g0:g1`` of ``dw``: ``dgi^T x``,
    ``dgh^T h_prev`` and, for the reset-before GRU's ``W_hn``, ``dgh_n^T (r * h_prev)``.

    The gate gradients are the A operand read transposed (``[rows, G*H]`` as
    staged), so the products write ``dw`` in the parameters' own layout and
    adding it into them is a contiguous pass (a transposed ``dw`` took 65% of
    a T = 1, H = 256 backward to add, element by element). Each element sums
    the staged rows in order, whatever the band."""
    cdef int Hr = 2 * H if code == GRU_RESET_BEFORE else GH
    cdef int a0 = g0, a1 = min(g1, Hr)
    if rows == 0:
        return
    if a1 > a0:  # x meets every gate, h_prev the first Hr
        _staged_product(a1 - a0, D, rows, sgi + a0, GH, sx, cap, dw + <size_t>a0 * ldw, ldw)
        _staged_product(a1 - a0, H, rows, sgh + a0, GH, sh, cap, dw + <size_t>a0 * ldw + D, ldw)
    if code == GRU_RESET_BEFORE:  # dgh is dgi for this cell: its n part, both ways
        a0, a1 = max(g0, Hr), g1
        if a1 > a0:
            _staged_product(a1 - a0, D, rows, sgi + a0, GH, sx, cap, dw + <size_t>a0 * ldw, ldw)
            _staged_product(a1 - a0, H, rows, sgi + a0, GH, se, cap, dw + <size_t>a0 * ldw + D,
                            ldw)


cdef struct WeightJob:
    # _weight_sums' arguments, for its bands run by the thread pool (float32).
    Cell code
    int rows, cap, D, H, GH, parts
    const float* sx
    const float* sh
    const float* se
    const float* sgi
    const float* sgh
    float* dw
    int ldw


cdef inline int _band_edge(int n, int part, int parts) noexcept nogil:
    """Where band ``part`` of ``parts`` of ``n`` rows starts (multiples of 8 rows:
    whole row tiles of the GEMM)."""
    return n if part >= parts else <int>(<long>n * part // parts) & ~7


cdef void _weight_part(void* ctx, int i) noexcept nogil:
    cdef WeightJob* j = <WeightJob*>ctx
    _weight_sums(j.code, j.rows, j.cap, j.D, j.H, j.GH, j.sx, j.sh, j.se, j.sgi, j.sgh, j.dw,
                 j.ldw, _band_edge(j.GH, i, j.parts), _band_edge(j.GH, i + 1, j.parts))


cdef void _flush_weight_sums(Cell code, int rows, int cap, int D, int H, int GH,
                             const floating* sx, const floating* sh, const floating* se,
                             const floating* sgi, const floating* sgh, floating* dw, int ldw,
                             int parts) noexcept nogil:
    """:func:`_weight_sums` of all of ``dw``, in ``parts`` bands over the thread pool."""
    cdef WeightJob job
    if floating is float:
        if parts > 1:
            job = WeightJob(code, rows, cap, D, H, GH, parts, sx, sh, se, sgi, sgh, dw, ldw)
            frnn_parallel(_weight_part, &job, parts)
            return
    _weight_sums(code, rows, cap, D, H, GH, sx, sh, se, sgi, sgh, dw, ldw, 0, GH)


# -- streaming: one step at a time, state kept between calls -----------------

cdef class Stepper:
    """A recurrent stack (and optional dense head) advanced a few steps per call.

    The lean path behind :class:`fastrnn.nn.Stream`: each layer's weights are
    prepared once (:class:`Prepared`); the state and every scratch buffer are
    preallocated; a call checks its input, releases the GIL and runs the same
    GEMMs and cell code as :func:`forward`, so a stream's outputs are bitwise
    those of the whole sequence (float32). One stepper serves one caller at a
    time: concurrent streams each have their own.

    Parameters
    ----------
    cell : str
    weights : list of (w_ih, w_hh, b_ih, b_hh), one per layer, PyTorch layout
    batch_size : int
    head : (weight [n_out, H], bias [n_out]) or None
        A linear map of the top layer's state, as ``SequenceNetwork``'s.
    affine : (scale [n_out], shift [n_out]) or None
        Then ``float64(out) * scale + shift`` (a regressor's target scaling);
        the outputs are float64.

    Attributes
    ----------
    h, c : ndarray [num_layers, batch_size, H]
        The state, written in place by each step (``c`` is LSTM's cell state,
        unused by the other cells).
    """

    cdef readonly object h, c, dtype
    cdef object _args, _prepared, _head_w, _head_b, _gates, _hw, _ext, _tmp, _affine
    cdef LayerWeights* _layers
    cdef readonly int num_layers, batch_size, input_size, hidden_size, n_out
    cdef Cell _code
    cdef int _G
    cdef bint _head, _double

    def __init__(self, cell, weights, int batch_size, head=None, affine=None):
        self._code, self._G = _CODES[cell], GATES[cell]
        w_ih0, w_hh0 = weights[0][0], weights[0][1]
        self.dtype = w_hh0.dtype
        self._double = self.dtype == np.float64
        self.num_layers, self.batch_size = len(weights), batch_size
        self.input_size, self.hidden_size = w_ih0.shape[1], w_hh0.shape[1]
        H, B = w_hh0.shape[1], batch_size
        GH = self._G * H
        if B < 1:
            raise ValueError(f"batch_size must be >= 1, got {B}")
        # The weights are copied: a stream keeps the model it was made from,
        # whatever happens to the arrays passed in (and pickles with them).
        weights = [tuple(np.array(a, self.dtype, copy=True) for a in layer) for layer in weights]
        if head is not None:
            head = tuple(np.array(a, copy=True) for a in head)
        if affine is not None:
            affine = tuple(np.array(a, copy=True) for a in affine)
        self._args = (cell, weights, batch_size, head, affine)
        # Every shape is checked here: the step loop trusts them.
        prepared = []
        d_in = self.input_size
        for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
            for name, a, shape in (("w_ih", w_ih, (GH, d_in)), ("w_hh", w_hh, (GH, H)),
                                   ("b_ih", b_ih, (GH,)), ("b_hh", b_hh, (GH,))):
                if np.shape(a) != shape:
                    raise ValueError(f"layer {i} {name} has shape {np.shape(a)}, "
                                     f"a {cell} of {H} units needs {shape}")
            prepared.append(Prepared(cell, np.asarray(w_ih, self.dtype),
                                     np.asarray(w_hh, self.dtype), b_ih, b_hh))
            d_in = H
        self._head = head is not None
        self.n_out = np.shape(head[0])[0] if self._head else H
        if self._head:
            if np.shape(head[0]) != (self.n_out, H) or np.shape(head[1]) != (self.n_out,):
                raise ValueError(f"the head must be weight [n_out, {H}] and bias [n_out], got "
                                 f"{np.shape(head[0])} and {np.shape(head[1])}")
        if affine is not None and (np.shape(affine[0]) != (self.n_out,)
                                   or np.shape(affine[1]) != (self.n_out,)):
            raise ValueError(f"affine must be two arrays of {self.n_out} values")
        self._head_w = np.array(np.asarray(head[0], self.dtype).T, order="C", copy=True) \
            if self._head else np.zeros((1, 1), self.dtype)
        self._head_b = np.array(head[1], self.dtype, order="C", copy=True) if self._head \
            else np.zeros(1, self.dtype)
        self._prepared = prepared
        self._layers = <LayerWeights*>PyMem_Malloc(len(prepared) * sizeof(LayerWeights))
        if self._layers == NULL:
            raise MemoryError()
        cdef Prepared p
        for i, p in enumerate(prepared):
            self._layers[i] = p.w
        self._new_state()
        self._affine = None
        if affine is not None:
            self._affine = np.ascontiguousarray(np.stack(affine), dtype=np.float64)

    cdef _new_state(self):
        """Zero state and this stepper's own scratch buffers."""
        cdef int B = self.batch_size, H = self.hidden_size, GH = self._G * self.hidden_size
        self.h = np.zeros((self.num_layers, B, H), self.dtype)
        self.c = np.zeros((self.num_layers, B, H), self.dtype)
        self._gates = np.empty((B, GH), self.dtype)
        self._hw = np.empty((B, GH), self.dtype)
        self._ext = np.empty((B, H), self.dtype)
        self._tmp = np.empty((B, self.n_out), self.dtype)

    def fork(self):
        """A stepper of the same weights, shared (never changed once built, so
        safe to share), with its own zero state and scratch: what another
        sequence costs is its state, ``(2 L + 2 G + 1) B H + B n_out`` values,
        not another copy of the model."""
        cdef Stepper s = Stepper.__new__(Stepper)
        s._code, s._G, s._head, s._double, s.dtype = self._code, self._G, self._head, \
            self._double, self.dtype
        s.num_layers, s.batch_size, s.input_size = self.num_layers, self.batch_size, \
            self.input_size
        s.hidden_size, s.n_out = self.hidden_size, self.n_out
        s._args, s._prepared, s._head_w, s._head_b, s._affine = self._args, self._prepared, \
            self._head_w, self._head_b, self._affine
        s._layers = <LayerWeights*>PyMem_Malloc(self.num_layers * sizeof(LayerWeights))
        if s._layers == NULL:
            raise MemoryError()
        memcpy(s._layers, self._layers, self.num_layers * sizeof(LayerWeights))
        s._new_state()
        return s

    def __dealloc__(self):
        PyMem_Free(self._layers)

    def __reduce__(self):
        # _layers points into the prepared weights: rebuilt, never pickled.
        return _stepper_with_state, (self._args, self.h, self.c)

    def step(self, x):
        """Advance by the steps in ``x`` and return the outputs.

        Parameters
        ----------
        x : ndarray [batch_size, input_size] (one step) or [k, batch_size,
            input_size], C-contiguous, of the stepper's dtype (callers convert).

        Returns
        -------
        out : ndarray [batch_size, n_out] or [k, batch_size, n_out]
            float64 with ``affine``, else the stepper's dtype.

        Raises ValueError, leaving the state as it was, for NaN or infinity.
        """
        cdef cnp.ndarray xa = x
        cdef int nd = cnp.PyArray_NDIM(xa)
        cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(xa)
        # The callers' checks make these hold; a stray call must not read past x.
        if (nd != 2 and nd != 3) or dims[nd - 2] != self.batch_size \
                or dims[nd - 1] != self.input_size or xa.dtype != self.dtype \
                or not cnp.PyArray_IS_C_CONTIGUOUS(xa):
            raise ValueError(f"x must be a C-contiguous {self.dtype} array "
                             f"[(k,) {self.batch_size}, {self.input_size}]")
        cdef Py_ssize_t k = dims[0] if nd == 3 else 1
        out_dtype = np.float64 if self._affine is not None else self.dtype
        shape = (self.batch_size, self.n_out)
        out = np.empty((k,) + shape if nd == 3 else shape, out_dtype)
        cdef char* xp = cnp.PyArray_BYTES(xa)
        cdef char* op = cnp.PyArray_BYTES(<cnp.ndarray>out)
        cdef Py_ssize_t n_x = k * self.batch_size * self.input_size
        cdef bint ok
        with nogil:
            if self._double:
                ok = _all_finite(<double*>xp, n_x)
            else:
                ok = _all_finite(<float*>xp, n_x)
        if not ok:
            raise ValueError("x contains NaN or infinity")
        self._run(xp, op, k)
        return out

    cdef void _run(self, char* xp, char* op, Py_ssize_t k):
        cdef char* hwp = cnp.PyArray_BYTES(<cnp.ndarray>self._head_w)
        cdef char* hbp = cnp.PyArray_BYTES(<cnp.ndarray>self._head_b)
        cdef char* hp = cnp.PyArray_BYTES(<cnp.ndarray>self.h)
        cdef char* cp = cnp.PyArray_BYTES(<cnp.ndarray>self.c)
        cdef char* gp = cnp.PyArray_BYTES(<cnp.ndarray>self._gates)
        cdef char* wp = cnp.PyArray_BYTES(<cnp.ndarray>self._hw)
        cdef char* ep = cnp.PyArray_BYTES(<cnp.ndarray>self._ext)
        cdef char* tp = cnp.PyArray_BYTES(<cnp.ndarray>self._tmp)
        cdef double* ap = NULL
        if self._affine is not None:
            ap = <double*>cnp.PyArray_DATA(<cnp.ndarray>self._affine)
        cdef int L = self.num_layers, B = self.batch_size, D = self.input_size
        cdef int H = self.hidden_size, n = self.n_out
        with nogil:
            if self._double:
                _steps(self._code, self._G, k, L, B, D, H, n, self._head, <double*>xp,
                       self._layers, <double*>hwp, <double*>hbp, <double*>hp, <double*>cp,
                       <double*>gp, <double*>wp, <double*>ep, <double*>tp, ap, <double*>op)
            else:
                _steps(self._code, self._G, k, L, B, D, H, n, self._head, <float*>xp,
                       self._layers, <float*>hwp, <float*>hbp, <float*>hp, <float*>cp,
                       <float*>gp, <float*>wp, <float*>ep, <float*>tp, ap, <float*>op)


def _stepper_with_state(args, h, c):
    """A :class:`Stepper` made from ``args`` and carrying the state ``h``, ``c`` (unpickling)."""
    stepper = Stepper(*args)
    stepper.h[...] = h
    stepper.c[...] = c
    return stepper


cdef bint _all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating acc = 0
    for i in range(n):
        acc = acc + (x[i] - x[i])  # 0 for a finite value, NaN for NaN or infinity
    return acc == 0


cdef void _steps(Cell code, int G, Py_ssize_t k, int L, int B, int D, int H, int n, bint head,
                 const floating* x, const LayerWeights* layers, const floating* head_w,
                 const floating* head_b, floating* h, floating* c, floating* gates,
                 floating* hw, floating* ext, floating* tmp, const double* affine,
                 void* out) noexcept nogil:
    """``k`` steps of an ``L``-layer stack (buffers of :class:`Stepper`)."""
    cdef Py_ssize_t s
    cdef int l, b, j, d_in, GH = G * H
    cdef const floating* inp
    cdef floating* hl
    cdef floating* res
    cdef size_t row_bytes = H * sizeof(floating)
    for s in range(k):
        inp = x + s * B * D
        d_in = D
        for l in range(L):
            hl = h + <Py_ssize_t>l * B * H
            wgemm(B, GH, d_in, inp, d_in, layers[l].ih, 0, False, gates, GH)
            _cells_step(code, B, H, GH, &layers[l], gates, hw, hl, c + <Py_ssize_t>l * B * H,
                        ext, hl, False)
            inp, d_in = hl, H
        # inp is now the top layer's new state [B, H].
        res = tmp if affine != NULL else <floating*>out + s * B * n
        if head:
            rowgemm(B, n, H, inp, H, head_w, n, False, res, n)
            for b in range(B):
                for j in range(n):
                    res[b * n + j] = res[b * n + j] + head_b[j]
        else:
            memcpy(res, inp, B * row_bytes)
        if affine != NULL:
            for b in range(B):
                for j in range(n):
                    (<double*>out)[(s * B + b) * n + j] = (
                        <double>res[b * n + j] * affine[j] + affine[n + j])


# -- vocabulary kernels: the embedding's gradient and the softmax head's loss -------

def embedding_backward(ids, dout, grad):
    """Add row ``i`` of ``dout [N, E]`` to ``grad[ids[i]]`` (``grad [V, E]``, in place).

    The embedding's weight gradient; ids repeat, so rows accumulate. ``ids``
    must lie in ``[0, V)`` (the embedding checks them on the way in).
    """
    ids = _token_ids(ids, grad.shape[0], "ids").reshape(-1)
    dout = np.ascontiguousarray(dout, dtype=grad.dtype)
    if dout.size != ids.shape[0] * grad.shape[1]:
        raise ValueError(f"dout has {dout.size} values for {ids.shape[0]} ids of "
                         f"{grad.shape[1]} dimensions")
    _EMBEDDING_BACKWARD[grad.dtype.char](ids, dout.reshape(ids.shape[0], grad.shape[1]), grad)


def _token_ids(ids, n, name):
    """``ids`` as a C-contiguous intp array, each an integer in ``[0, n)`` (the loops trust it)."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integers, got dtype {ids.dtype}")
    ids = np.ascontiguousarray(ids, dtype=np.intp)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got {ids.min()}..{ids.max()}")
    return ids


def _embedding_backward(const Py_ssize_t[::1] ids, const floating[:, ::1] dout,
                        floating[:, ::1] grad):
    cdef Py_ssize_t i, j, E = grad.shape[1]
    cdef floating* row
    with nogil:
        for i in range(ids.shape[0]):
            row = &grad[ids[i], 0]
            for j in range(E):
                row[j] += dout[i, j]


def softmax_cross_entropy(z, y, w):
    """Weighted softmax cross-entropy of logits ``z [N, V]`` and its gradient.

    Returns ``(sum_i w_i * -log softmax(z_i)[y_i], dz)`` with
    ``dz_i = w_i * (softmax(z_i) - onehot(y_i))``: one pass per row, the
    exponentials vectorised in float32 (``_fastmath.h``), the sums in double.
    Callers pass normalised ``w`` for a mean.
    """
    z = np.ascontiguousarray(z)
    y = _token_ids(y, z.shape[1], "targets").reshape(-1)
    w = np.ascontiguousarray(w, dtype=z.dtype).reshape(-1)
    if z.ndim != 2 or y.shape[0] != z.shape[0] or w.shape[0] != z.shape[0]:
        raise ValueError(f"z must be [N, V] with N targets and N weights; got z {z.shape}, "
                         f"{y.shape[0]} targets, {w.shape[0]} weights")
    grad = np.empty_like(z)
    return _SOFTMAX_CE[z.dtype.char](z, y, w, grad), grad


def _softmax_ce(const floating[:, ::1] z, const Py_ssize_t[::1] y, const floating[::1] w,
                floating[:, ::1] g):
    cdef Py_ssize_t i, j, N = z.shape[0], V = z.shape[1]
    cdef double total = 0, s
    cdef floating m, scale
    with nogil:
        for i in range(N):
            m = z[i, 0]
            for j in range(1, V):
                m = z[i, j] if z[i, j] > m else m
            for j in range(V):
                g[i, j] = z[i, j] - m
            if floating is float:
                frnn_exp_inplace(&g[i, 0], <int>V)
            else:
                for j in range(V):
                    g[i, j] = exp(g[i, j])
            s = 0
            for j in range(V):
                s += g[i, j]
            total += w[i] * (log(s) - (z[i, y[i]] - m))
            scale = <floating>(w[i] / s)
            for j in range(V):
                g[i, j] = g[i, j] * scale
            g[i, y[i]] -= w[i]
    return total


_EMBEDDING_BACKWARD = {"f": _embedding_backward.__signatures__["float"],
                       "d": _embedding_backward.__signatures__["double"]}
_SOFTMAX_CE = {"f": _softmax_ce.__signatures__["float"],
               "d": _softmax_ce.__signatures__["double"]}


# -- time reversal within lengths (the reverse direction's input and output) ----

def reverse_within_lengths(a, lengths):
    """``a [T, B, D]`` reversed in time, each row within its own length (a new array).

    Steps past a row's length stay where they are. One copy of each row-step,
    with the GIL released; the NumPy version gathers through an index array.
    """
    a = np.ascontiguousarray(a)
    if a.ndim < 2:
        raise ValueError(f"a must be [T, B, ...], got shape {a.shape}")
    T, B = a.shape[0], a.shape[1]
    if a.size == 0:
        return a.copy()
    lens = lengths_or_full(lengths, T, B)
    out = np.empty_like(a)
    flat = a.reshape(T, B, -1)
    _REVERSE[a.dtype.char](flat, lens, out.reshape(T, B, -1))
    return out


def _reverse(const floating[:, :, ::1] a, const Py_ssize_t[::1] lens, floating[:, :, ::1] out):
    cdef Py_ssize_t t, b, src, T = a.shape[0], B = a.shape[1], D = a.shape[2]
    cdef size_t row_bytes = D * sizeof(floating)
    if D == 0:
        return
    with nogil:
        for t in range(T):
            for b in range(B):
                src = lens[b] - 1 - t if t < lens[b] else t
                memcpy(&out[t, b, 0], &a[src, b, 0], row_bytes)


_REVERSE = {"f": _reverse.__signatures__["float"], "d": _reverse.__signatures__["double"]}
