/* The GEMM kernels of fastrnn/_kernels/_gemm.h checked in C, bit for bit.
 *
 * Every kernel the build's CPU runs ("avx512", "avx2", "neon", "generic", and
 * on x86 with FMA the NEON code compiled for 128-bit x86 FMA, "neon-x86")
 * is run over many shapes (M 1-20, N 1-200 with partial panels and vectors,
 * K 1-300, A row-major or transposed, beta 0 and 1, B row-major, packed with
 * frnn_pack, and gathered with frnn_pack_rows into taller panels read from a
 * row k0 > 0) and compared with a reference that sums k = 0..K-1 in order with
 * one fmaf each: the SIMD kernels must give its bits exactly. The generic
 * kernel gives them where the compiler fuses its c += a * b (aarch64: it must)
 * and otherwise those of a multiply then an add (x86-64 without -mfma); the
 * harness says which. Each row computed alone, and a block of rows starting
 * anywhere, must give the bits it gives in the whole batch (row invariance).
 * A, B and the panels end just before an inaccessible page, and C's padding
 * columns and the row after it hold a marker, so a read or write past an
 * operand fails too.
 *
 * tests/kernels/test_gemm_harness.py builds and runs it; by hand, from the
 * repository's root:
 *
 *   gcc -O3 -fno-trapping-math -Ifastrnn/_kernels tests/kernels/gemm_harness.c \
 *       -o gemm_harness -lm && ./gemm_harness
 *   aarch64-linux-gnu-gcc -O3 -fno-trapping-math -Ifastrnn/_kernels \
 *       tests/kernels/gemm_harness.c -o gemm_harness_arm64 -lm
 *   qemu-aarch64 -L /usr/aarch64-linux-gnu ./gemm_harness_arm64
 *
 * An optional argument scales the number of random shapes (default 1).
 */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* On x86 the NEON kernels' code too, on 128-bit FMA (see _gemm.h). */
#if defined(__x86_64__) && !defined(FRNN_NEON_PROXY)
#define FRNN_NEON_PROXY 1
#endif
#if defined(FRNN_NEON_PROXY) && !defined(FRNN_NEON_PROXY_TARGET)
#define FRNN_NEON_PROXY_TARGET "fma" /* any x86-64 with FMA */
#endif
#include "_gemm.h"

/* -- Buffers that end just before an inaccessible page ---------------------- */

typedef struct {
    void *base;
    size_t len;
} mapping;

static mapping maps[1024];
static int nmaps;

static float *guarded(size_t n)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t bytes = (n ? n : 1) * sizeof(float), data = (bytes + page - 1) / page * page;
    char *base = mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (nmaps == (int)(sizeof maps / sizeof *maps) || base == MAP_FAILED ||
        mprotect(base + data, page, PROT_NONE)) {
        perror("mmap");
        exit(2);
    }
    maps[nmaps].base = base;
    maps[nmaps++].len = data + page;
    return (float *)(base + data - bytes);
}

static void release_all(void)
{
    while (nmaps) {
        nmaps--;
        munmap(maps[nmaps].base, maps[nmaps].len);
    }
}

/* -- Data ------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int uniform(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }

/* Values in [-2, 2) with all 24 bits of significand in play. */
static float value(void) { return ((float)(next_u32() & 0xFFFFFF) / 16777216.0f) * 4.0f - 2.0f; }

static const uint32_t MARK = 0x7FC0BEEF; /* a NaN no kernel writes */

static float mark(void)
{
    float f;
    memcpy(&f, &MARK, sizeof f);
    return f;
}

static int is_mark(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u == MARK;
}

static int same_bits(float x, float y) { return memcmp(&x, &y, sizeof x) == 0; }

/* -- References: k in order, one fused multiply-add each, or (what a compiler
 * that does not fuse makes of the generic kernel) a product then a sum. ---- */

static void ref_gemm(int fused, int M, int N, int K, const float *A, int ars, int aks,
                     const float *B, int ldb, int beta, const float *C0, float *R)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float acc = beta ? C0[(size_t)i * N + j] : 0.0f;
            for (int k = 0; k < K; k++) {
                const float a = A[(size_t)i * ars + (size_t)k * aks], b = B[(size_t)k * ldb + j];
                if (fused)
                    acc = fmaf(a, b, acc);
                else {
                    volatile float p = a * b; /* rounded alone: no contraction */
                    acc = acc + p;
                }
            }
            R[(size_t)i * N + j] = acc;
        }
}

/* -- Kernels under test ------------------------------------------------------ */

typedef struct {
    const char *name;
    frnn_gemm_kernel k;
    int generic;
    long cases;
} subject;

static subject subjects[8];
static int nsubjects;
static int generic_fused = -1; /* how the generic kernel was compiled: found out below */

static void add_subjects(void)
{
    static const char *const names[] = {"avx512", "avx2", "neon", "generic"};
    for (int i = 0; i < 4; i++) {
        const frnn_gemm_kernel *k = frnn_gemm_named(names[i]);
        if (k) {
            subjects[nsubjects].name = names[i];
            subjects[nsubjects].k = *k;
            subjects[nsubjects++].generic = !strcmp(names[i], "generic");
        }
    }
#if defined(FRNN_NEON_PROXY) && defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("fma") &&
        (!strstr(FRNN_NEON_PROXY_TARGET, "avx512") || __builtin_cpu_supports("avx512vl"))) {
        const frnn_gemm_kernel proxy = {"neon-x86", frnn_sgemm_neon, frnn_sgemm_packed_neon, 16};
        subjects[nsubjects].name = "neon-x86";
        subjects[nsubjects++].k = proxy;
    }
#endif
}

/* -- One shape, every kernel -------------------------------------------------- */

static long failures;

static void report(const char *kernel, const char *what, int M, int N, int K, int trans, int beta,
                   int i, int j, float got, float want)
{
    if (failures++ < 20)
        fprintf(stderr,
                "MISMATCH %s %s: M=%d N=%d K=%d transposed_a=%d beta=%d at [%d, %d]: "
                "got %.9g (%a), want %.9g (%a)\n",
                kernel, what, M, N, K, trans, beta, i, j, got, got, want, want);
}

/* Run gemm or gemm_packed into a fresh marked C; check C's padding; return C. */
typedef struct {
    const frnn_gemm_kernel *k;
    int packed;
    const float *B;
    int ldb;
    const float *P;
    size_t ps;
    int N, ars, aks, beta;
} call;

static float *run_call(const call *c, int M, int K, const float *A, const float *C0, int ldc,
                       const char *kernel, int trans)
{
    float *C = guarded((size_t)(M + 1) * ldc);
    for (size_t e = 0; e < (size_t)(M + 1) * ldc; e++) C[e] = mark();
    for (int i = 0; i < M; i++)
        for (int j = 0; j < c->N; j++) C[(size_t)i * ldc + j] = C0[(size_t)i * c->N + j];
    if (c->packed)
        c->k->gemm_packed(M, c->N, K, A, c->ars, c->aks, c->P, c->ps, c->beta, C, ldc);
    else
        c->k->gemm(M, c->N, K, A, c->ars, c->aks, c->B, c->ldb, c->beta, C, ldc);
    for (int i = 0; i <= M; i++)
        for (int j = i < M ? c->N : 0; j < ldc; j++)
            if (!is_mark(C[(size_t)i * ldc + j]))
                report(kernel, "wrote outside C", M, c->N, K, trans, c->beta, i, j,
                       C[(size_t)i * ldc + j], mark());
    return C;
}

static void compare(const float *C, int ldc, const float *R, int M, int N, int K, int trans,
                    int beta, const char *kernel, const char *what)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            if (!same_bits(C[(size_t)i * ldc + j], R[(size_t)i * N + j])) {
                report(kernel, what, M, N, K, trans, beta, i, j, C[(size_t)i * ldc + j],
                       R[(size_t)i * N + j]);
                return;
            }
}

static void check_shape(int M, int N, int K, int trans, int beta)
{
    const int pad_a = uniform(0, 3), pad_b = uniform(0, 2) * uniform(0, 5), pad_c = uniform(0, 3);
    const int lda = (trans ? M : K) + pad_a, ldb = N + pad_b, ldc = N + pad_c;
    const int ars = trans ? 1 : lda, aks = trans ? lda : 1;
    const size_t a_len = trans ? (size_t)(K - 1) * lda + M : (size_t)(M - 1) * lda + K;
    float *A = guarded(a_len), *B = guarded((size_t)(K - 1) * ldb + N);
    float *C0 = guarded((size_t)M * N), *R[2] = {guarded((size_t)M * N), guarded((size_t)M * N)};
    for (size_t e = 0; e < a_len; e++) A[e] = value();
    for (size_t e = 0; e < (size_t)(K - 1) * ldb + N; e++) B[e] = value();
    for (size_t e = 0; e < (size_t)M * N; e++) C0[e] = value();
    ref_gemm(1, M, N, K, A, ars, aks, B, ldb, beta, C0, R[1]);
    ref_gemm(0, M, N, K, A, ars, aks, B, ldb, beta, C0, R[0]);
    /* From row k0 on (a product over part of a gathered B, as the backward
     * pass's staged products and the split weights read them). */
    const int k0 = K > 1 ? uniform(1, K - 1) : 0;
    float *R0[2] = {guarded((size_t)M * N), guarded((size_t)M * N)};
    ref_gemm(1, M, N, K - k0, A + (size_t)k0 * aks, ars, aks, B + (size_t)k0 * ldb, ldb, beta, C0,
             R0[1]);
    ref_gemm(0, M, N, K - k0, A + (size_t)k0 * aks, ars, aks, B + (size_t)k0 * ldb, ldb, beta, C0,
             R0[0]);

    for (int s = 0; s < nsubjects; s++) {
        subject *sub = &subjects[s];
        const frnn_gemm_kernel *k = &sub->k;
        const int fused = sub->generic ? generic_fused : 1;
        const int nr = k->nr, cap = K + uniform(0, 3);
        float *P = guarded(frnn_packed_size(nr, K, N));
        frnn_pack(nr, K, N, B, (size_t)ldb, 1, P);
        /* The same panels, cap rows tall, gathered a few rows at a time. */
        float *G = guarded(frnn_packed_size(nr, cap, N));
        for (int k1 = 0; k1 < K;) {
            int rows = uniform(1, 7);
            rows = rows < K - k1 ? rows : K - k1;
            frnn_pack_rows(nr, rows, N, B + (size_t)k1 * ldb, (size_t)ldb, G, (size_t)cap, k1);
            k1 += rows;
        }
        const call plain = {k, 0, B, ldb, NULL, 0, N, ars, aks, beta};
        const call packed = {k, 1, NULL, 0, P, (size_t)K * nr, N, ars, aks, beta};
        const call gathered = {k, 1, NULL, 0, G + (size_t)k0 * nr, (size_t)cap * nr,
                               N, ars, aks, beta};
        const call *calls[2] = {&plain, &packed};
        const char *whats[2] = {"row-major B", "packed B"};
        float *Cs[2];
        for (int v = 0; v < 2; v++) {
            Cs[v] = run_call(calls[v], M, K, A, C0, ldc, sub->name, trans);
            compare(Cs[v], ldc, R[fused], M, N, K, trans, beta, sub->name, whats[v]);
            /* Each row alone, and a block of rows from anywhere. */
            const int i0 = uniform(0, M - 1), i1 = uniform(i0 + 1, M);
            for (int i = 0; i < M + 1; i++) {
                const int r0 = i < M ? i : i0, rows = i < M ? 1 : i1 - i0;
                if (i < M && M > 12 && i % 3)
                    continue; /* every third row of the tallest batches */
                float *alone = run_call(calls[v], rows, K, A + (size_t)r0 * ars,
                                        C0 + (size_t)r0 * N, ldc, sub->name, trans);
                for (int r = 0; r < rows; r++)
                    for (int j = 0; j < N; j++)
                        if (!same_bits(alone[(size_t)r * ldc + j],
                                       Cs[v][(size_t)(r0 + r) * ldc + j])) {
                            report(sub->name, i < M ? "row alone" : "block of rows", M, N, K,
                                   trans, beta, r0 + r, j, alone[(size_t)r * ldc + j],
                                   Cs[v][(size_t)(r0 + r) * ldc + j]);
                            r = rows;
                            break;
                        }
            }
        }
        float *Cg = run_call(&gathered, M, K - k0, A + (size_t)k0 * aks, C0, ldc, sub->name, trans);
        compare(Cg, ldc, R0[fused], M, N, K - k0, trans, beta, sub->name, "gathered B from k0");
        sub->cases++;
    }
    release_all();
}

/* Which reference the generic kernel follows here (a shape where they differ). */
static void find_generic_order(void)
{
    const frnn_gemm_kernel *g = frnn_gemm_named("generic");
    enum { M = 3, N = 37, K = 300 };
    static float A[M * K], B[K * N], C0[M * N], C[M * N], R[2][M * N];
    for (int e = 0; e < M * K; e++) A[e] = value();
    for (int e = 0; e < K * N; e++) B[e] = value();
    for (int e = 0; e < M * N; e++) C0[e] = C[e] = value();
    g->gemm(M, N, K, A, K, 1, B, N, 1, C, N);
    for (int f = 0; f < 2; f++) {
        ref_gemm(f, M, N, K, A, K, 1, B, N, 1, C0, R[f]);
        if (!memcmp(C, R[f], sizeof C))
            generic_fused = f;
    }
    if (!memcmp(R[0], R[1], sizeof C) || generic_fused < 0) {
        fprintf(stderr, "the generic kernel follows neither order of sums\n");
        exit(1);
    }
    printf("generic kernel: %s\n", generic_fused ? "fused multiply-adds (bitwise the SIMD kernels)"
                                                 : "multiply then add (not fused)");
#if defined(__aarch64__)
    if (!generic_fused) {
        fprintf(stderr, "on aarch64 the generic kernel should be fused\n");
        exit(1);
    }
#endif
}

int main(int argc, char **argv)
{
    const double scale = argc > 1 ? atof(argv[1]) : 1.0;
    add_subjects();
    printf("build: %s; picked: %s; kernels:", sizeof(void *) == 8 ?
#if defined(__aarch64__)
           "aarch64"
#elif defined(__x86_64__)
           "x86-64"
#else
           "other"
#endif
           : "32-bit", frnn_gemm_pick()->name);
    for (int s = 0; s < nsubjects; s++) printf(" %s", subjects[s].name);
    printf("\n");
    find_generic_order();

    /* Every M against the edges of the panels and vectors (N), at a few K. */
    static const int edge_n[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 33, 47, 48, 49,
                                 63, 64, 65, 129};
    static const int edge_k[] = {1, 2, 13};
    int shape = 0;
    for (int M = 1; M <= 20; M++)
        for (size_t n = 0; n < sizeof edge_n / sizeof *edge_n; n++, shape++)
            check_shape(M, edge_n[n], edge_k[shape % 3], shape / 3 % 2, shape / 6 % 2);
    /* Random shapes over the whole range. */
    const int random_shapes = (int)(120 * scale);
    for (int s = 0; s < random_shapes; s++, shape++)
        check_shape(uniform(1, 20), uniform(1, 200), uniform(1, 300), s % 2, s / 2 % 2);

    for (int s = 0; s < nsubjects; s++)
        printf("%-9s %ld shapes\n", subjects[s].name, subjects[s].cases);
    if (failures) {
        printf("FAILED: %ld mismatches\n", failures);
        return 1;
    }
    printf("OK: every kernel gives the reference's bits, every row alone its bits in the batch\n");
    return 0;
}
