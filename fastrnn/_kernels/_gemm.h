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
 * Three versions (AVX-512, AVX2+FMA, plain C) are compiled for any x86-64,
 * two (NEON, plain C) for any aarch64; the widest the CPU runs is picked
 * once, at the first call.
 */
#ifndef FASTRNN_GEMM_H
#define FASTRNN_GEMM_H

#include <stddef.h>
#include <string.h>

typedef void (*frnn_sgemm_fn)(int M, int N, int K, const float *A, int ars, int aks,
                              const float *B, int ldb, int beta, float *C, int ldc);
typedef void (*frnn_sgemm_packed_fn)(int M, int N, int K, const float *A, int ars, int aks,
                                     const float *P, size_t ps, int beta, float *C, int ldc);

/* A kernel: its GEMM on a row-major B, its GEMM on a packed B and the panel
 * width NR that its packing uses. */
typedef struct {
    const char *name;
    frnn_sgemm_fn gemm;
    frnn_sgemm_packed_fn gemm_packed;
    int nr;
} frnn_gemm_kernel;

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


/* Packed B, plain C: panels of 16 columns, the same order of sums. */
static void frnn_sgemm_packed_generic(int M, int N, int K, const float *A, int ars, int aks,
                                      const float *P, size_t ps, int beta, float *C, int ldc)
{
    for (int j = 0; j < N; j += 16) {
        const int n = N - j < 16 ? N - j : 16;
        const float *panel = P + (size_t)(j / 16) * ps;
        for (int i = 0; i < M; i++) {
            float acc[16];
            float *c = C + (size_t)i * ldc + j;
            for (int q = 0; q < n; q++) acc[q] = beta ? c[q] : 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = A[(size_t)i * ars + (size_t)k * aks];
                const float *b = panel + (size_t)k * 16;
                for (int q = 0; q < n; q++) acc[q] += a * b[q];
            }
            for (int q = 0; q < n; q++) c[q] = acc[q];
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

/* -- Products with a packed B (the weights) ----------------------------------
 *
 * The loop multiplies by the same weights at every step, so they are packed
 * once per weight version (see frnn_pack) into column panels of NR columns,
 * each panel [K][NR] contiguous and zero beyond column N; panel p starts at
 * P + p * ps (ps >= K * NR, so a range of k is P + k0 * NR with the same ps).
 * Rows of a row-major W^T are 4H floats apart, so at H >= 256 they map to the
 * same few L1 sets; a panel is read front to back instead. Every element still
 * sums k = 0..K-1 in order with one multiply-add each, whatever M or the tile
 * it falls in, so a row's result stays independent of the batch. */

/* AVX-512: tiles of MR <= 4 rows by one 64-column panel (4 vectors); the last
 * panel masks the columns past N in C (the panel's own zeros are read). */
FRNN_INLINE FRNN_AVX512 void frnn_pblk512(int MR, const __mmask16 *mk, int K, const float *A,
                                          int ars, int aks, const float *P, int beta, float *C,
                                          int ldc)
{
    __m512 acc[4][4];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++)
            acc[r][v] = beta ? _mm512_maskz_loadu_ps(mk[v], C + (size_t)r * ldc + 16 * v)
                             : _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *b = P + (size_t)k * 64;
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16),
                     b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(A[(size_t)r * ars + (size_t)k * aks]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
            acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
            acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 4; v++)
            _mm512_mask_storeu_ps(C + (size_t)r * ldc + 16 * v, mk[v], acc[r][v]);
}

/* One row against NP <= 3 panels at once (up to 12 independent accumulators:
 * a single row has little else to keep the FMA pipes busy); if TAIL, the last
 * of them is the partial panel, whose columns past N are masked in C. */
FRNN_INLINE FRNN_AVX512 void frnn_prow512(int NP, int TAIL, const __mmask16 *mk, int K,
                                          const float *A, int aks, const float *P, size_t ps,
                                          int beta, float *C)
{
    __m512 acc[3][4];
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 4; v++)
            acc[q][v] = !beta ? _mm512_setzero_ps()
                        : TAIL && q == NP - 1 ? _mm512_maskz_loadu_ps(mk[v], C + 64 * q + 16 * v)
                                              : _mm512_loadu_ps(C + 64 * q + 16 * v);
    for (int k = 0; k < K; k++) {
        const __m512 a = _mm512_set1_ps(A[(size_t)k * aks]);
        for (int q = 0; q < NP; q++)
            for (int v = 0; v < 4; v++)
                acc[q][v] = _mm512_fmadd_ps(a, _mm512_loadu_ps(P + q * ps + (size_t)k * 64 + 16 * v),
                                            acc[q][v]);
    }
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 4; v++)
            if (TAIL && q == NP - 1)
                _mm512_mask_storeu_ps(C + 64 * q + 16 * v, mk[v], acc[q][v]);
            else
                _mm512_storeu_ps(C + 64 * q + 16 * v, acc[q][v]);
}

FRNN_AVX512 static void frnn_sgemm_packed_avx512(int M, int N, int K, const float *A, int ars,
                                                 int aks, const float *P, size_t ps, int beta,
                                                 float *C, int ldc)
{
    const int np = (N + 63) / 64, full = N / 64;
    const __mmask16 all[4] = {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF};
    __mmask16 tail[4];
    for (int v = 0; v < 4; v++) {
        const int left = N - 64 * full - 16 * v;
        tail[v] = left >= 16 ? 0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
    }
    for (int p = 0; p < np; p++) {
        const __mmask16 *mk = p < full ? all : tail;
        int i = 0;
        for (; i + 4 <= M; i += 4)
            frnn_pblk512(4, mk, K, A + (size_t)i * ars, ars, aks, P + p * ps, beta,
                         C + (size_t)i * ldc + 64 * p, ldc);
    }
    /* Rows left over, one at a time: the panels in groups of at most 3, as
     * even as possible (7 panels: 3, 2, 2), the partial panel last. */
    const int groups = (np + 2) / 3;
    for (int i = M - M % 4; i < M; i++) {
        for (int g = 0, p = 0; g < groups; g++) {
            const int size = np / groups + (g < np % groups);
            const int t = p + size == np && full < np;
            const float *a = A + (size_t)i * ars;
            float *c = C + (size_t)i * ldc + 64 * p;
            switch (size * 2 + t) {
            case 2: frnn_prow512(1, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 3: frnn_prow512(1, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 4: frnn_prow512(2, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 5: frnn_prow512(2, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 6: frnn_prow512(3, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            default: frnn_prow512(3, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            }
            p += size;
        }
    }
}

/* AVX2: tiles of MR <= 4 rows by one 24-column panel (3 vectors, 12
 * accumulators), faster than the row-major 6x16 tile at the loop's shapes
 * (bench/THRESHOLDS.md). Unless FULL, C's columns past N are masked. */
FRNN_INLINE FRNN_AVX2 void frnn_pblk256(int MR, int FULL, const __m256i *mk, int K,
                                        const float *A, int ars, int aks, const float *P,
                                        int beta, float *C, int ldc)
{
    __m256 acc[4][3];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 3; v++)
            acc[r][v] = !beta ? _mm256_setzero_ps()
                        : FULL ? _mm256_loadu_ps(C + (size_t)r * ldc + 8 * v)
                               : _mm256_maskload_ps(C + (size_t)r * ldc + 8 * v, mk[v]);
    for (int k = 0; k < K; k++) {
        const float *b = P + (size_t)k * 24;
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8),
                     b2 = _mm256_loadu_ps(b + 16);
        for (int r = 0; r < MR; r++) {
            const __m256 a = _mm256_broadcast_ss(A + (size_t)r * ars + (size_t)k * aks);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
            acc[r][2] = _mm256_fmadd_ps(a, b2, acc[r][2]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 3; v++)
            if (FULL)
                _mm256_storeu_ps(C + (size_t)r * ldc + 8 * v, acc[r][v]);
            else
                _mm256_maskstore_ps(C + (size_t)r * ldc + 8 * v, mk[v], acc[r][v]);
}

/* One row against NP <= 4 panels at once (up to 12 accumulators); if TAIL,
 * the last of them is the partial panel, masked in C. */
FRNN_INLINE FRNN_AVX2 void frnn_prow256(int NP, int TAIL, const __m256i *mk, int K,
                                        const float *A, int aks, const float *P, size_t ps,
                                        int beta, float *C)
{
    __m256 acc[4][3];
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 3; v++)
            acc[q][v] = !beta ? _mm256_setzero_ps()
                        : TAIL && q == NP - 1 ? _mm256_maskload_ps(C + 24 * q + 8 * v, mk[v])
                                              : _mm256_loadu_ps(C + 24 * q + 8 * v);
    for (int k = 0; k < K; k++) {
        const __m256 a = _mm256_broadcast_ss(A + (size_t)k * aks);
        for (int q = 0; q < NP; q++)
            for (int v = 0; v < 3; v++)
                acc[q][v] = _mm256_fmadd_ps(a, _mm256_loadu_ps(P + q * ps + (size_t)k * 24 + 8 * v),
                                            acc[q][v]);
    }
    for (int q = 0; q < NP; q++)
        for (int v = 0; v < 3; v++)
            if (TAIL && q == NP - 1)
                _mm256_maskstore_ps(C + 24 * q + 8 * v, mk[v], acc[q][v]);
            else
                _mm256_storeu_ps(C + 24 * q + 8 * v, acc[q][v]);
}

FRNN_AVX2 static void frnn_sgemm_packed_avx2(int M, int N, int K, const float *A, int ars,
                                             int aks, const float *P, size_t ps, int beta,
                                             float *C, int ldc)
{
    const int np = (N + 23) / 24, full = N / 24;
    __m256i tail[3];
    for (int v = 0; v < 3; v++)
        tail[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(N - 24 * full - 8 * v),
                                     _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int p = 0; p < np; p++) {
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            if (p < full)
                frnn_pblk256(4, 1, tail, K, A + (size_t)i * ars, ars, aks, P + p * ps, beta,
                             C + (size_t)i * ldc + 24 * p, ldc);
            else
                frnn_pblk256(4, 0, tail, K, A + (size_t)i * ars, ars, aks, P + p * ps, beta,
                             C + (size_t)i * ldc + 24 * p, ldc);
        }
    }
    /* Rows left over, one at a time: the panels in groups of at most 4, as
     * even as possible (6 panels: 3, 3), the partial panel last. */
    const int groups = (np + 3) / 4;
    for (int i = M - M % 4; i < M; i++) {
        for (int g = 0, p = 0; g < groups; g++) {
            const int size = np / groups + (g < np % groups);
            const int t = p + size == np && full < np;
            const float *a = A + (size_t)i * ars;
            float *c = C + (size_t)i * ldc + 24 * p;
            switch (size * 2 + t) {
            case 2: frnn_prow256(1, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 3: frnn_prow256(1, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 4: frnn_prow256(2, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 5: frnn_prow256(2, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 6: frnn_prow256(3, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 7: frnn_prow256(3, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            case 8: frnn_prow256(4, 0, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            default: frnn_prow256(4, 1, tail, K, a, aks, P + p * ps, ps, beta, c); break;
            }
            p += size;
        }
    }
}
#endif /* x86-64 */

/* -- AArch64: Advanced SIMD (NEON) -------------------------------------------
 *
 * Every AArch64 CPU has Advanced SIMD (4 floats a vector, 32 registers), so
 * an aarch64 build compiles this kernel pair and picks it first. Each vector
 * FMA (vfmaq_n_f32: one fused multiply-add per lane, no flush to zero unless
 * FPCR says so, which fastrnn never sets) adds one k of one element, k in
 * order, so the results are those of frnn_sgemm_generic as GCC and clang
 * compile it for aarch64 (they contract its c += a * b into the same fused
 * multiply-add): bitwise, whatever M, the tile a row falls in, or the threads.
 *
 * The kernels are written over a vector type and four operations (frnn_f4,
 * FRNN_F4_*) so the same code
 * also compiles for x86 with 128-bit FMA when FRNN_NEON_PROXY is defined:
 * the C harness (tests/kernels/gemm_harness.c) checks it natively that way,
 * and bench/probes/neon_proxy.c times it (the register blocking's gain over
 * plain C at the same vector width; x86 with AVX-512VL also has 32 vector
 * registers, FRNN_NEON_PROXY_TARGET "fma" makes do with 16). It is never
 * picked or named on x86. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#include <arm_neon.h>
#define FRNN_HAVE_NEON 1
typedef float32x4_t frnn_f4;
#define FRNN_F4_LOAD(p) vld1q_f32(p)
#define FRNN_F4_STORE(p, v) vst1q_f32((p), (v))
#define FRNN_F4_ZERO() vdupq_n_f32(0.0f)
#define FRNN_F4_FMA(acc, b, a) vfmaq_n_f32((acc), (b), (a)) /* acc + b * a, rounded once */
#define FRNN_NEON_INLINE static inline __attribute__((always_inline))
#define FRNN_NEON_FN static
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && defined(FRNN_NEON_PROXY)
#include <immintrin.h>
typedef __m128 frnn_f4;
#define FRNN_F4_LOAD(p) _mm_loadu_ps(p)
#define FRNN_F4_STORE(p, v) _mm_storeu_ps((p), (v))
#define FRNN_F4_ZERO() _mm_setzero_ps()
#define FRNN_F4_FMA(acc, b, a) _mm_fmadd_ps(_mm_set1_ps(a), (b), (acc))
#ifndef FRNN_NEON_PROXY_TARGET /* "fma": 16 vector registers instead of 32 */
#define FRNN_NEON_PROXY_TARGET "avx512f,avx512vl,fma"
#endif
#define FRNN_NEON_INLINE \
    static inline __attribute__((always_inline, target(FRNN_NEON_PROXY_TARGET)))
#define FRNN_NEON_FN static __attribute__((target(FRNN_NEON_PROXY_TARGET)))
#endif

#ifdef FRNN_F4_FMA
/* The loops over a block's rows and vectors unrolled before anything else,
 * so its accumulators live in registers (GCC for aarch64 otherwise keeps the
 * arrays in memory and stores them at every k). */
#define FRNN_UNROLL _Pragma("GCC unroll 16")
/* Row-major B: blocks of MR <= 5 rows by NV <= 4 vectors (20 accumulators,
 * 4 vectors of B and A's 5 values: 29 of the 32 registers; 6 rows would
 * leave GCC, which loads all of A's values first, 3 accumulators short). */
FRNN_NEON_INLINE void frnn_blk_neon(int MR, int NV, int K, const float *A, int ars, int aks,
                                    const float *B, int ldb, int beta, float *C, int ldc)
{
    frnn_f4 acc[5][4], b[4];
    FRNN_UNROLL for (int r = 0; r < MR; r++)
        FRNN_UNROLL for (int v = 0; v < NV; v++)
            acc[r][v] = beta ? FRNN_F4_LOAD(C + (size_t)r * ldc + 4 * v) : FRNN_F4_ZERO();
    for (int k = 0; k < K; k++) {
        FRNN_UNROLL for (int v = 0; v < NV; v++)
            b[v] = FRNN_F4_LOAD(B + (size_t)k * ldb + 4 * v);
        FRNN_UNROLL for (int r = 0; r < MR; r++) {
            const float a = A[(size_t)r * ars + (size_t)k * aks];
            FRNN_UNROLL for (int v = 0; v < NV; v++) acc[r][v] = FRNN_F4_FMA(acc[r][v], b[v], a);
        }
    }
    FRNN_UNROLL for (int r = 0; r < MR; r++)
        FRNN_UNROLL for (int v = 0; v < NV; v++)
            FRNN_F4_STORE(C + (size_t)r * ldc + 4 * v, acc[r][v]);
}

/* The 1-3 columns past the last whole vector, row by row: the same fused
 * multiply-adds one at a time (B has no room to read a vector there). */
FRNN_NEON_INLINE void frnn_cols_neon(int M, int n, int K, const float *A, int ars, int aks,
                                     const float *B, int ldb, int beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        float acc0 = beta ? c[0] : 0.0f, acc1 = beta && n > 1 ? c[1] : 0.0f,
              acc2 = beta && n > 2 ? c[2] : 0.0f;
        for (int k = 0; k < K; k++) {
            const float a = A[(size_t)i * ars + (size_t)k * aks];
            const float *b = B + (size_t)k * ldb;
            acc0 = __builtin_fmaf(a, b[0], acc0);
            if (n > 1) acc1 = __builtin_fmaf(a, b[1], acc1);
            if (n > 2) acc2 = __builtin_fmaf(a, b[2], acc2);
        }
        c[0] = acc0;
        if (n > 1) c[1] = acc1;
        if (n > 2) c[2] = acc2;
    }
}

#define FRNN_NEON_BLK(MR, NV) \
    frnn_blk_neon(MR, NV, K, A, ars, aks, B, ldb, beta, C, ldc)
#define FRNN_NEON_BLK_NV(MR)                           \
    case 4 * (MR - 1): FRNN_NEON_BLK(MR, 1); break;     \
    case 4 * (MR - 1) + 1: FRNN_NEON_BLK(MR, 2); break; \
    case 4 * (MR - 1) + 2: FRNN_NEON_BLK(MR, 3); break; \
    case 4 * (MR - 1) + 3: FRNN_NEON_BLK(MR, 4); break;

/* One block of MR (1-5) rows by NV (1-4) vectors, each a constant inside. */
FRNN_NEON_FN void frnn_blks_neon(int MR, int NV, int K, const float *A, int ars, int aks,
                                 const float *B, int ldb, int beta, float *C, int ldc)
{
    switch (4 * (MR - 1) + NV - 1) {
        FRNN_NEON_BLK_NV(1) FRNN_NEON_BLK_NV(2) FRNN_NEON_BLK_NV(3) FRNN_NEON_BLK_NV(4)
        FRNN_NEON_BLK_NV(5)
    }
}

FRNN_NEON_FN void frnn_sgemm_neon(int M, int N, int K, const float *A, int ars, int aks,
                                  const float *B, int ldb, int beta, float *C, int ldc)
{
    for (int j = 0; j < N; j += 16) {
        const int n = N - j < 16 ? N - j : 16, nv = n / 4;
        if (nv) {
            int i = 0;
            for (; i + 5 <= M; i += 5)
                frnn_blks_neon(5, nv, K, A + (size_t)i * ars, ars, aks, B + j, ldb, beta,
                               C + (size_t)i * ldc + j, ldc);
            if (i < M)
                frnn_blks_neon(M - i, nv, K, A + (size_t)i * ars, ars, aks, B + j, ldb, beta,
                               C + (size_t)i * ldc + j, ldc);
        }
        if (n % 4)
            frnn_cols_neon(M, n % 4, K, A, ars, aks, B + j + 4 * nv, ldb, beta,
                           C + j + 4 * nv, ldc);
    }
}

/* Packed B (panels of 16 columns, 4 vectors): tiles of 5 rows by one panel
 * (20 accumulators), and for the 1-4 rows left over, MR rows by NP panels
 * with MR * NP <= 6 (at most 24 accumulators, A's MR values and one vector
 * of B at a time) or one row by up to 4 panels (16 accumulators: a single
 * row has little else to keep the FMA pipes busy). If TAIL, the last panel
 * is the partial one: its zero columns are summed like the others, and C's
 * nt columns there are read and written through a buffer. */
FRNN_NEON_INLINE void frnn_ptile_neon(int MR, int NP, int TAIL, int nt, int K, const float *A,
                                      int ars, int aks, const float *P, size_t ps, int beta,
                                      float *C, int ldc)
{
    frnn_f4 acc[5][4][4];
    FRNN_UNROLL for (int r = 0; r < MR; r++)
        FRNN_UNROLL for (int q = 0; q < NP; q++) {
            const float *c = C + (size_t)r * ldc + 16 * q;
            float t[16] = {0};
            if (beta && TAIL && q == NP - 1) {
                memcpy(t, c, (size_t)nt * sizeof(float));
                c = t;
            }
            FRNN_UNROLL for (int v = 0; v < 4; v++)
                acc[r][q][v] = beta ? FRNN_F4_LOAD(c + 4 * v) : FRNN_F4_ZERO();
        }
    for (int k = 0; k < K; k++) {
        if (NP == 1) {
            const float *p = P + (size_t)k * 16;
            const frnn_f4 b0 = FRNN_F4_LOAD(p), b1 = FRNN_F4_LOAD(p + 4),
                          b2 = FRNN_F4_LOAD(p + 8), b3 = FRNN_F4_LOAD(p + 12);
            FRNN_UNROLL for (int r = 0; r < MR; r++) {
                const float a = A[(size_t)r * ars + (size_t)k * aks];
                acc[r][0][0] = FRNN_F4_FMA(acc[r][0][0], b0, a);
                acc[r][0][1] = FRNN_F4_FMA(acc[r][0][1], b1, a);
                acc[r][0][2] = FRNN_F4_FMA(acc[r][0][2], b2, a);
                acc[r][0][3] = FRNN_F4_FMA(acc[r][0][3], b3, a);
            }
        } else {
            float a[5];
            FRNN_UNROLL for (int r = 0; r < MR; r++) a[r] = A[(size_t)r * ars + (size_t)k * aks];
            FRNN_UNROLL for (int q = 0; q < NP; q++)
                FRNN_UNROLL for (int v = 0; v < 4; v++) {
                    const frnn_f4 b = FRNN_F4_LOAD(P + q * ps + (size_t)k * 16 + 4 * v);
                    FRNN_UNROLL for (int r = 0; r < MR; r++)
                        acc[r][q][v] = FRNN_F4_FMA(acc[r][q][v], b, a[r]);
                }
        }
    }
    FRNN_UNROLL for (int r = 0; r < MR; r++)
        FRNN_UNROLL for (int q = 0; q < NP; q++) {
            float *c = C + (size_t)r * ldc + 16 * q;
            if (TAIL && q == NP - 1) {
                float t[16];
                FRNN_UNROLL for (int v = 0; v < 4; v++) FRNN_F4_STORE(t + 4 * v, acc[r][q][v]);
                memcpy(c, t, (size_t)nt * sizeof(float));
            } else
                FRNN_UNROLL for (int v = 0; v < 4; v++) FRNN_F4_STORE(c + 4 * v, acc[r][q][v]);
        }
}

#define FRNN_NEON_PT(MR, NP, TAIL)                                                    \
    case 16 * MR + 2 * NP + TAIL:                                                     \
        frnn_ptile_neon(MR, NP, TAIL, nt, K, A, ars, aks, P, ps, beta, C, ldc); break;

/* One tile, its shape a constant inside (5 x 1, MR * NP <= 6, or 1 x NP <= 4). */
FRNN_NEON_FN void frnn_ptiles_neon(int MR, int NP, int TAIL, int nt, int K, const float *A,
                                   int ars, int aks, const float *P, size_t ps, int beta,
                                   float *C, int ldc)
{
    switch (16 * MR + 2 * NP + TAIL) {
        FRNN_NEON_PT(5, 1, 0) FRNN_NEON_PT(5, 1, 1) FRNN_NEON_PT(4, 1, 0) FRNN_NEON_PT(4, 1, 1)
        FRNN_NEON_PT(3, 1, 0) FRNN_NEON_PT(3, 1, 1) FRNN_NEON_PT(3, 2, 0) FRNN_NEON_PT(3, 2, 1)
        FRNN_NEON_PT(2, 1, 0) FRNN_NEON_PT(2, 1, 1) FRNN_NEON_PT(2, 2, 0) FRNN_NEON_PT(2, 2, 1)
        FRNN_NEON_PT(2, 3, 0) FRNN_NEON_PT(2, 3, 1)
        FRNN_NEON_PT(1, 1, 0) FRNN_NEON_PT(1, 1, 1) FRNN_NEON_PT(1, 2, 0) FRNN_NEON_PT(1, 2, 1)
        FRNN_NEON_PT(1, 3, 0) FRNN_NEON_PT(1, 3, 1) FRNN_NEON_PT(1, 4, 0) FRNN_NEON_PT(1, 4, 1)
    }
}

FRNN_NEON_FN void frnn_sgemm_packed_neon(int M, int N, int K, const float *A, int ars, int aks,
                                         const float *P, size_t ps, int beta, float *C, int ldc)
{
    const int np = (N + 15) / 16, full = N / 16, nt = N - 16 * full;
    const int m5 = M - M % 5;
    for (int p = 0; p < np; p++)
        for (int i = 0; i < m5; i += 5)
            frnn_ptiles_neon(5, 1, p == full, nt, K, A + (size_t)i * ars, ars, aks, P + p * ps,
                             ps, beta, C + (size_t)i * ldc + 16 * p, ldc);
    if (m5 == M)
        return;
    /* The rows left over (1-4) as one band: its panels in groups of at most
     * cap, as even as possible (7 panels, one row: 4, 3), the partial
     * panel last. */
    const int r = M - m5, cap = r == 1 ? 4 : 6 / r, groups = (np + cap - 1) / cap;
    for (int g = 0, p = 0; g < groups; g++) {
        const int size = np / groups + (g < np % groups);
        frnn_ptiles_neon(r, size, p + size == np && full < np, nt, K, A + (size_t)m5 * ars, ars,
                         aks, P + p * ps, ps, beta, C + (size_t)m5 * ldc + 16 * p, ldc);
        p += size;
    }
}
#endif /* FRNN_F4_FMA */

/* Pack B[k, n] = src[k * sk + n * sn] (k < K, n < N) into panels of nr
 * columns, panel stride ps = K * nr (see above); sn = K, sk = 1 packs W^T
 * straight from a row-major W [N, K]. P holds frnn_packed_size floats. */
static size_t frnn_packed_size(int nr, int K, int N) { return (size_t)((N + nr - 1) / nr) * K * nr; }

static void frnn_pack(int nr, int K, int N, const float *src, size_t sk, size_t sn, float *P)
{
    const size_t ps = (size_t)K * nr;
    for (int j0 = 0; j0 < N; j0 += nr) {
        float *panel = P + (size_t)(j0 / nr) * ps;
        for (int k = 0; k < K; k++)
            for (int q = 0; q < nr; q++)
                panel[(size_t)k * nr + q] = j0 + q < N ? src[k * sk + (size_t)(j0 + q) * sn] : 0.0f;
    }
}

/* Copy rows [rows, N] of src (row stride lds) in as rows k0.. of a packed B
 * whose panels hold cap rows each (panel stride cap * nr): how a product's B
 * operand is gathered a few rows at a time. */
static void frnn_pack_rows(int nr, int rows, int N, const float *src, size_t lds, float *P,
                           size_t cap, int k0)
{
    const size_t ps = cap * nr;
    for (int r = 0; r < rows; r++)
        for (int j0 = 0; j0 < N; j0 += nr) {
            float *d = P + (size_t)(j0 / nr) * ps + (size_t)(k0 + r) * nr;
            const int n = N - j0 < nr ? N - j0 : nr;
            memcpy(d, src + r * lds + j0, (size_t)n * sizeof(float));
            if (n < nr)
                memset(d + n, 0, (size_t)(nr - n) * sizeof(float));
        }
}

static const frnn_gemm_kernel frnn_kernel_generic = {"generic", frnn_sgemm_generic,
                                                     frnn_sgemm_packed_generic, 16};
#ifdef FRNN_HAVE_X86
static const frnn_gemm_kernel frnn_kernel_avx512 = {"avx512", frnn_sgemm_avx512,
                                                    frnn_sgemm_packed_avx512, 64};
static const frnn_gemm_kernel frnn_kernel_avx2 = {"avx2", frnn_sgemm_avx2,
                                                  frnn_sgemm_packed_avx2, 24};
#endif
#ifdef FRNN_HAVE_NEON
static const frnn_gemm_kernel frnn_kernel_neon = {"neon", frnn_sgemm_neon,
                                                  frnn_sgemm_packed_neon, 16};
#endif

/* Whether this CPU runs the kernels called name ("avx512", "avx2", "neon",
 * "generic"). */
static int frnn_cpu_runs(const char *name)
{
#ifdef FRNN_HAVE_X86
    __builtin_cpu_init();
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f");
    if (!strcmp(name, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
#ifdef FRNN_HAVE_NEON
    if (!strcmp(name, "neon"))
        return 1; /* Advanced SIMD is part of every AArch64 CPU */
#endif
    return !strcmp(name, "generic");
}

/* By name, so the tests can run every kernel this CPU supports (NULL if not). */
static const frnn_gemm_kernel *frnn_gemm_named(const char *name)
{
    if (!frnn_cpu_runs(name))
        return NULL;
#ifdef FRNN_HAVE_X86
    if (!strcmp(name, "avx512"))
        return &frnn_kernel_avx512;
    if (!strcmp(name, "avx2"))
        return &frnn_kernel_avx2;
#endif
#ifdef FRNN_HAVE_NEON
    if (!strcmp(name, "neon"))
        return &frnn_kernel_neon;
#endif
    return &frnn_kernel_generic;
}

/* The kernel for this CPU: the widest it runs. */
static const frnn_gemm_kernel *frnn_gemm_pick(void)
{
    static const char *const widest_first[] = {"avx512", "avx2", "neon", "generic"};
    for (int i = 0; i < 4; i++)
        if (frnn_cpu_runs(widest_first[i]))
            return frnn_gemm_named(widest_first[i]);
    return &frnn_kernel_generic;
}

#endif
