# Thin typed wrapper over scipy.linalg.cython_blas, in row-major terms.
#
# Fortran BLAS is column-major; a row-major matrix is its transpose in
# column-major order, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T.
# This is the only place that thinks about it.

from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major ``C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C``."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)
