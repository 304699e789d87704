/* The float32 GEMM of the time loop: C[M, N] (+)= A[M, K] B[K, N], row-major,
 * with A read as A[i * ars + k * aks] (ars = lda, aks = 1 for a row-major A;
 * ars = 1, aks = lda for the transpose of a row-major [K, M] matrix).
 *
 * Why not BLAS: the per-step products are small (M = a few batch rows), where
 * a BLAS call's fixed cost and its transposed-operand paths dominate, and a
 * BLAS may pick a different kernel (gemv for one row, a "small matrix" path,
 * another blocking) for a different M, so a row's result would depend on the
 * batch it came in. Here every element of C sums k = 0..K-1 in order, one
 * multiply-add each, whatever M, N or the block it falls in: a row of the
 * output is bitwise the same alone or in any batch, and concurrent calls from
 * several threads share nothing.
 *
 * Three versions (AVX-512, AVX2+FMA, plain C) are compiled for any x86-64;
 * the widest the CPU runs is picked once, at the first call.
 */
#ifndef FASTRNN_GEMM_H
#define FASTRNN_GEMM_H

#include <stddef.h>
#include <string.h>

typedef void (*frnn_sgemm_fn)(int M, int N, int K, const float *A, int ars, int aks,
                              const float *B, int ldb, int beta, float *C, int ldc);

/* Plain C: the fallback and the reference order for the SIMD versions. */
static void frnn_sgemm_generic(int M, int N, int K, const float *A, int ars, int aks,
                               const float *B, int ldb, int beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (!beta)
            for (int j = 0; j < N; j++) c[j] = 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * ars + (size_t)k * aks];
            const float *b = B + (size_t)k * ldb;
            for (int j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define FRNN_HAVE_X86 1
#define FRNN_INLINE static inline __attribute__((always_inline))
#define FRNN_AVX512 __attribute__((target("avx512f,fma")))
#define FRNN_AVX2 __attribute__((target("avx2,fma")))

/* AVX-512: blocks of MR <= 4 rows by NV <= 4 vectors of 16 columns, the last
 * vector masked to the columns left. Called with constant MR and NV, each
 * block keeps its MR * NV accumulators in registers. */
FRNN_INLINE FRNN_AVX512 void frnn_blk512(int MR, int NV, __mmask16 tail, int K,
                                         const float *A, int ars, int aks, const float *B, int ldb,
                                         int beta, float *C, int ldc)
{
    __m512 acc[4][4], b[4];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = beta ? _mm512_maskz_loadu_ps(v == NV - 1 ? tail : 0xFFFF,
                                                     C + (size_t)r * ldc + 16 * v)
                             : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        for (int v = 0; v < NV; v++)
            b[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? tail : 0xFFFF,
                                         B + (size_t)k * ldb + 16 * v);
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(A[(size_t)r * ars + (size_t)k * aks]);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16 * v, v == NV - 1 ? tail : 0xFFFF,
                                  acc[r][v]);
}

/* One column panel of width 16 * NV: rows four at a time, then one by one. */
FRNN_INLINE FRNN_AVX512 void frnn_panel512(int NV, __mmask16 tail, int M, int K,
                                           const float *A, int ars, int aks, const float *B, int ldb,
                                           int beta, float *C, int ldc)
{
    int i = 0;
    for (; i + 4 <= M; i += 4)
        frnn_blk512(4, NV, tail, K, A + (size_t)i * ars, ars, aks, B, ldb, beta,
                    C + (size_t)i * ldc, ldc);
    for (; i < M; i++)
        frnn_blk512(1, NV, tail, K, A + (size_t)i * ars, ars, aks, B, ldb, beta,
                    C + (size_t)i * ldc, ldc);
}

FRNN_AVX512 static void frnn_sgemm_avx512(int M, int N, int K, const float *A, int ars,
                                          int aks, const float *B, int ldb, int beta,
                                          float *C, int ldc)
{
    for (int j = 0; j < N; j += 64) {
        const int n = N - j < 64 ? N - j : 64;
        const __mmask16 tail = n % 16 ? (__mmask16)((1u << (n % 16)) - 1) : 0xFFFF;
        switch ((n + 15) / 16) {
        case 4: frnn_panel512(4, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc); break;
        case 3: frnn_panel512(3, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc); break;
        case 2: frnn_panel512(2, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc); break;
        default: frnn_panel512(1, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc); break;
        }
    }
}

/* AVX2: blocks of MR <= 6 rows by NV <= 2 vectors of 8 columns (12
 * accumulators, 15 of the 16 registers); unless FULL, the last vector is
 * masked (AVX2's masked loads are slow on some CPUs: only where needed). */
#define FRNN_LD256(p, m, FULL) ((FULL) ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m))
FRNN_INLINE FRNN_AVX2 void frnn_blk256(int MR, int NV, int FULL, __m256i tail, int K,
                                       const float *A, int ars, int aks, const float *B, int ldb,
                                       int beta, float *C, int ldc)
{
    const __m256i all = _mm256_set1_epi32(-1);
    __m256 acc[6][2], b[2];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = beta ? FRNN_LD256(C + (size_t)r * ldc + 8 * v,
                                          v == NV - 1 ? tail : all, FULL || v < NV - 1)
                             : _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        for (int v = 0; v < NV; v++)
            b[v] = FRNN_LD256(B + (size_t)k * ldb + 8 * v, v == NV - 1 ? tail : all,
                              FULL || v < NV - 1);
        for (int r = 0; r < MR; r++) {
            const __m256 a = _mm256_broadcast_ss(A + (size_t)r * ars + (size_t)k * aks);
            for (int v = 0; v < NV; v++) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            if (FULL || v < NV - 1)
                _mm256_storeu_ps(C + (size_t)r * ldc + 8 * v, acc[r][v]);
            else
                _mm256_maskstore_ps(C + (size_t)r * ldc + 8 * v, tail, acc[r][v]);
}

FRNN_INLINE FRNN_AVX2 void frnn_panel256(int NV, int FULL, __m256i tail, int M, int K,
                                         const float *A, int ars, int aks, const float *B, int ldb,
                                         int beta, float *C, int ldc)
{
    int i = 0;
    for (; i + 6 <= M; i += 6)
        frnn_blk256(6, NV, FULL, tail, K, A + (size_t)i * ars, ars, aks, B, ldb, beta,
                    C + (size_t)i * ldc, ldc);
    for (; i < M; i++)
        frnn_blk256(1, NV, FULL, tail, K, A + (size_t)i * ars, ars, aks, B, ldb, beta,
                    C + (size_t)i * ldc, ldc);
}

FRNN_AVX2 static void frnn_sgemm_avx2(int M, int N, int K, const float *A, int ars,
                                      int aks, const float *B, int ldb, int beta, float *C,
                                      int ldc)
{
    for (int j = 0; j < N; j += 16) {
        const int n = N - j < 16 ? N - j : 16;
        const int last = (n - 1) % 8 + 1; /* columns in the last vector */
        const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(last),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        if (n == 16)
            frnn_panel256(2, 1, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc);
        else if (n > 8)
            frnn_panel256(2, 0, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc);
        else
            frnn_panel256(1, n == 8, tail, M, K, A, ars, aks, B + j, ldb, beta, C + j, ldc);
    }
}
#endif /* x86-64 */

/* The version for this CPU, and its name for reports and tests. */
static frnn_sgemm_fn frnn_sgemm_pick(const char **name)
{
#ifdef FRNN_HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        *name = "avx512";
        return frnn_sgemm_avx512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        *name = "avx2";
        return frnn_sgemm_avx2;
    }
#endif
    *name = "generic";
    return frnn_sgemm_generic;
}

/* By name, so the tests can run every version this CPU supports. */
static frnn_sgemm_fn frnn_sgemm_named(const char *name)
{
#ifdef FRNN_HAVE_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx512") && __builtin_cpu_supports("avx512f"))
        return frnn_sgemm_avx512;
    if (!strcmp(name, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return frnn_sgemm_avx2;
#endif
    return strcmp(name, "generic") ? NULL : frnn_sgemm_generic;
}

#endif
