/* Probe: what the aarch64 (NEON) GEMM kernel gains over plain C, by proxy on x86.
 *
 * An aarch64 CPU cannot be timed here, so the NEON kernels of _gemm.h are
 * compiled for x86 with 128-bit FMA (FRNN_NEON_PROXY: the same code, the same
 * 5 x 16 and 1 x 64 register blocks, vectors of 4 floats) and timed against
 * the plain C kernel (what an aarch64 build without them runs; GCC vectorises
 * it 4 wide on both, loading and storing C at every k) and the AVX2 and
 * AVX-512 kernels. One thread, the time loop's product: h [M, K = H] times
 * the packed weights [H, N = 4H], C accumulated (beta = 1). GFLOP/s = 2 M N K
 * per call, from each kernel's best of 15 runs (about `seconds` in all, the
 * kernels' runs interleaved).
 *
 * The proxy's target is AVX-512VL by default (32 vector registers, as on
 * AArch64); FRNN_NEON_PROXY_TARGET '"fma"' builds it for any FMA CPU, with
 * 16 registers, too few for the 5-row tile (a lower bound on the gain).
 * From the repository's root:
 *
 *   gcc -O3 -fno-trapping-math -DFRNN_NEON_PROXY -Ifastrnn/_kernels \
 *       bench/probes/neon_proxy.c -o neon_proxy
 *   gcc -O3 -fno-trapping-math -DFRNN_NEON_PROXY -DFRNN_NEON_PROXY_TARGET='"fma"' \
 *       -Ifastrnn/_kernels bench/probes/neon_proxy.c -o neon_proxy_fma
 *   ./neon_proxy [seconds per cell, default 1]      # prints a Markdown table
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_gemm.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

/* One kernel's operands for M x 4H x H, and the calls per timed run. */
typedef struct {
    const frnn_gemm_kernel *k;
    float *A, *P, *C;
    long reps;
    double best;
} bench;

static void call(const bench *b, int M, int H, long reps)
{
    for (long r = 0; r < reps; r++)
        b->k->gemm_packed(M, 4 * H, H, b->A, H, 1, b->P, (size_t)H * b->k->nr, 1, b->C, 4 * H);
}

static void setup(bench *b, const frnn_gemm_kernel *k, int M, int H, double run_s)
{
    const int N = 4 * H, K = H;
    unsigned s = 12345;
    float *B = malloc(sizeof(float) * K * N);
    b->k = k;
    b->A = malloc(sizeof(float) * M * K);
    b->P = malloc(sizeof(float) * frnn_packed_size(k->nr, K, N));
    b->C = calloc((size_t)M * N, sizeof(float));
    for (int e = 0; e < M * K; e++) b->A[e] = frand(&s);
    for (int e = 0; e < K * N; e++) B[e] = frand(&s);
    frnn_pack(k->nr, K, N, B, N, 1, b->P);
    free(B);
    for (b->reps = 1;; b->reps *= 2) { /* calls for about run_s */
        const double t0 = now();
        call(b, M, H, b->reps);
        if (now() - t0 > run_s)
            break;
    }
    b->best = 1e30;
}

int main(int argc, char **argv)
{
    const double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    const frnn_gemm_kernel *kernels[4] = {frnn_gemm_named("generic"), frnn_gemm_named("avx2"),
                                          frnn_gemm_named("avx512"), NULL};
    static const frnn_gemm_kernel proxy = {"neon-x86", frnn_sgemm_neon, frnn_sgemm_packed_neon,
                                           16};
    __builtin_cpu_init();
    if (__builtin_cpu_supports("fma") &&
        (!strstr(FRNN_NEON_PROXY_TARGET, "avx512") || __builtin_cpu_supports("avx512vl")))
        kernels[3] = &proxy;
    printf("NEON proxy target: \"%s\"%s\n\n", FRNN_NEON_PROXY_TARGET,
           kernels[3] ? "" : " (this CPU lacks it: not run)");
    printf("| M | H | N = 4H | K = H | generic | avx2 | avx512 | neon-x86 "
           "| neon-x86 / generic |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    static const int Ms[] = {1, 8, 64}, Hs[] = {32, 128, 256};
    enum { RUNS = 15 };
    for (int m = 0; m < 3; m++)
        for (int h = 0; h < 3; h++) {
            const int M = Ms[m], H = Hs[h];
            bench b[4];
            int nb = 0;
            for (int i = 0; i < 4; i++)
                if (kernels[i])
                    setup(&b[nb++], kernels[i], M, H, seconds / RUNS / 2);
            /* The kernels' runs interleaved, each kernel's best kept: a busy
             * machine slows all of them alike, and the best run is the
             * least disturbed. */
            for (int run = 0; run < RUNS; run++)
                for (int i = 0; i < nb; i++) {
                    const double t0 = now();
                    call(&b[i], M, H, b[i].reps);
                    const double t = (now() - t0) / b[i].reps;
                    b[i].best = t < b[i].best ? t : b[i].best;
                }
            printf("| %d | %d | %d | %d |", M, H, 4 * H, H);
            double g[4] = {0, 0, 0, 0};
            for (int i = 0, j = 0; i < 4; i++) {
                if (kernels[i]) {
                    g[i] = 2.0 * M * 4 * H * H / b[j].best * 1e-9;
                    free(b[j].A), free(b[j].P), free(b[j].C);
                    j++;
                    printf(" %.1f |", g[i]);
                } else
                    printf(" n/a |");
            }
            if (g[3] > 0)
                printf(" %.2fx |\n", g[3] / g[0]);
            else
                printf(" n/a |\n");
            fflush(stdout);
        }
    return 0;
}
