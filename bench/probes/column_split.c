/* Probe: is a column split of the gates worth it for a batch of 1-4 rows?
 *
 * One step's product [x_t | h_{t-1}] W^T (K = D + H, N = 4H) on the packed
 * GEMM of _gemm.h: one thread on all N columns, against two threads on N/2
 * columns each with a spinning barrier per step (what a column split needs,
 * since the next step reads all of h_t). Only the products are timed.
 *
 *   gcc -O3 -fno-trapping-math -pthread -Ifastrnn/_kernels \
 *       bench/probes/column_split.c -o /tmp/column_split
 *   /tmp/column_split 1 256 64     # B, H, D
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "_gemm.h"

#define T 2000
static int K, N, B;
static const frnn_gemm_kernel *kern;
static float *A, *P0, *P1, *P, *C;
static volatile int arrive = 0, gen = 0;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static void barrier(int *my_gen)
{
    int g = *my_gen;
    if (__atomic_add_fetch(&arrive, 1, __ATOMIC_ACQ_REL) == 2) {
        arrive = 0;
        __atomic_store_n(&gen, g + 1, __ATOMIC_RELEASE);
    } else
        while (__atomic_load_n(&gen, __ATOMIC_ACQUIRE) == g) __builtin_ia32_pause();
    *my_gen = g + 1;
}

static void *half(void *arg)
{
    int id = (int)(long)arg, g = 0;
    float *Pp = id ? P1 : P0;
    for (int s = 0; s < T; s++) {
        kern->gemm_packed(B, N / 2, K, A, K, 1, Pp, (size_t)K * kern->nr, 0, C + id * (N / 2), N);
        barrier(&g);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    B = argc > 1 ? atoi(argv[1]) : 1;
    int H = argc > 2 ? atoi(argv[2]) : 256, D = argc > 3 ? atoi(argv[3]) : 64;
    K = D + H; N = 4 * H;
    kern = frnn_gemm_pick();
    float *W = malloc(sizeof(float) * K * N);
    A = malloc(sizeof(float) * B * K); C = malloc(sizeof(float) * B * N);
    for (int i = 0; i < K * N; i++) W[i] = (float)rand() / RAND_MAX;
    for (int i = 0; i < B * K; i++) A[i] = (float)rand() / RAND_MAX;
    P = malloc(sizeof(float) * frnn_packed_size(kern->nr, K, N));
    P0 = malloc(sizeof(float) * frnn_packed_size(kern->nr, K, N / 2));
    P1 = malloc(sizeof(float) * frnn_packed_size(kern->nr, K, N / 2));
    frnn_pack(kern->nr, K, N, W, N, 1, P);
    frnn_pack(kern->nr, K, N / 2, W, N, 1, P0);
    frnn_pack(kern->nr, K, N / 2, W + N / 2, N, 1, P1);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (int s = 0; s < T; s++) kern->gemm_packed(B, N, K, A, K, 1, P, (size_t)K * kern->nr, 0, C, N);
        double one = (now() - t0) / T * 1e6;
        pthread_t th;
        arrive = 0; gen = 0;
        t0 = now();
        pthread_create(&th, NULL, half, (void *)1L);
        half((void *)0L);
        pthread_join(th, NULL);
        double two = (now() - t0) / T * 1e6;
        printf("%s B=%d K=%d N=%d: one thread %.2f us/step, two threads + barrier %.2f us/step (%.2fx)\n",
               kern->name, B, K, N, one, two, one / two);
    }
    return 0;
}
