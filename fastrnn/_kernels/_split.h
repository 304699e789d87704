/* An LSTM layer direction for a batch of a few rows, split by hidden units over threads.
 *
 * Row chunks (the driver's usual split) leave one thread alone with a batch
 * of 1-4 rows, and at H >= 256 its step is a product with weights larger than
 * a core's L2 cache (4H x (D + H) floats): read from L3 at every step. Here
 * the hidden units are cut into blocks instead, one per thread: block p owns
 * units u[p]..u[p+1] of all four gates, so it computes their columns of the
 * products from weights packed for it alone (its share stays in its core's
 * cache) and their part of c and h, without reading any other block's gates.
 * The next step's product reads all of h_t, so the blocks of step t wait for
 * every block of step t-1: one spinning wait per step. (What it gains:
 * bench/probes/column_split.c and bench/THRESHOLDS.md.)
 *
 * Every element is computed by the same kernels with the same operations in
 * the same order as without the split (the products sum k in order whatever
 * the columns, the pointwise pass masks its last vector), so the results are
 * bitwise those of the unsplit loop, whatever the number of blocks.
 *
 * In training a block also writes its units' share of what backward reads
 * (the activated gates in the usual [T, B, 4H] layout, h_{t-1}, c_{t-1},
 * tanh(c_t)); backward itself runs on rows as before.
 *
 * Blocks are claimed, not assigned: block p of step t is run by whichever
 * thread claims it first, thread p first trying its own. So a thread that
 * never arrives (the pool busy with another call, a worker asleep) cannot
 * stall the others: whoever waits at a step claims the blocks nobody took.
 */
#ifndef FASTRNN_SPLIT_H
#define FASTRNN_SPLIT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "_gemm.h"
#include "_pointwise.h"
#include "_threads.h"

#define FRNN_SPLIT_MAX 16

/* One layer direction's weights cut into blocks of hidden units. */
typedef struct {
    int parts;
    int u[FRNN_SPLIT_MAX + 1];       /* block p: units u[p] .. u[p+1]-1 */
    const float *ih[FRNN_SPLIT_MAX]; /* W_ih^T's columns of block p [D, 4 Hp], packed */
    const float *hh[FRNN_SPLIT_MAX]; /* W_hh^T's columns of block p [H, 4 Hp], packed */
    const float *bias[FRNN_SPLIT_MAX]; /* b_ih + b_hh of block p [4 Hp] */
} frnn_split_weights;

typedef struct {
    const frnn_split_weights *w;
    const frnn_gemm_kernel *gemm;
    const frnn_pointwise_kernel *pw;
    int T, B, D, H;
    const float *x;          /* [T, B, D] */
    const ptrdiff_t *lens;   /* [B], longest first; NULL: all T */
    float *gates;            /* T*B*4H scratch: block p's [T, B, 4 Hp] at T*B*4*u[p] */
    float *out;              /* [T, B, H] */
    float *h, *c;            /* [B, H] the state, advanced in place */
    const float *h0;         /* [B, H] a copy of h on entry (h changes under step 0) */
    int training;            /* also write what backward reads: */
    float *gates_out;        /* [T, B, 4H] the activated gates, in the usual layout */
    float *h_prev, *c_prev;  /* [T, B, H] the state before each step */
    float *tc;               /* [T, B, H] tanh(c_t) */
    volatile int64_t *claim; /* [(T + 1) * parts] block claims; phase 0 the input products */
    volatile int64_t *done;  /* [T + 1] blocks finished per phase */
} frnn_split_job;

/* Spin until phase k has all its blocks done; yield the CPU now and then, in
 * case the thread that holds one has been descheduled. */
static void frnn_split_wait(const frnn_split_job *j, int k)
{
    int spins = 0;
    while (frnn_load(&j->done[k]) < j->w->parts) {
        frnn_pause();
        if (++spins == 4096) {
            spins = 0;
            frnn_yield();
        }
    }
}

static int frnn_split_active(const frnn_split_job *j, int t)
{
    int n = j->B;
    while (j->lens != NULL && n > 0 && j->lens[n - 1] <= t) n--;
    return n;
}

/* Phase k, block p: the input products of all steps (k = 0), or step k - 1. */
static void frnn_split_block(const frnn_split_job *j, int k, int p)
{
    const frnn_split_weights *w = j->w;
    const int B = j->B, H = j->H, u0 = w->u[p], Hp = w->u[p + 1] - u0, N = 4 * Hp;
    const size_t nr = (size_t)j->gemm->nr;
    float *g = j->gates + (size_t)j->T * B * 4 * u0;
    if (k == 0) {
        j->gemm->gemm_packed(j->T * B, N, j->D, j->x, j->D, 1, w->ih[p], (size_t)j->D * nr, 0, g,
                             N);
        return;
    }
    const int t = k - 1, n = frnn_split_active(j, t);
    const size_t row = (size_t)t * B;
    for (int b = n; b < B; b++) /* padded steps: zero output */
        memset(j->out + (row + b) * H + u0, 0, (size_t)Hp * sizeof(float));
    if (n == 0)
        return;
    /* h_{t-1} of the active rows: out's previous step (active then too, rows
     * being sorted longest first), or the initial state. */
    const float *hp = t == 0 ? j->h0 : j->out + (row - B) * H;
    j->gemm->gemm_packed(n, N, H, hp, H, 1, w->hh[p], (size_t)H * nr, 1, g + row * N, N);
    for (int b = 0; b < n; b++) {
        float *gb = g + (row + b) * N;
        float *hb = j->h + (size_t)b * H + u0, *cb = j->c + (size_t)b * H + u0;
        const size_t at = (row + b) * H + u0, bytes = (size_t)Hp * sizeof(float);
        if (j->training) {
            memcpy(j->h_prev + at, hb, bytes);
            memcpy(j->c_prev + at, cb, bytes);
        }
        j->pw->lstm(1, Hp, gb, N, w->bias[p], hb, cb, j->training ? j->tc + at : NULL,
                    j->out + at, H, j->training);
        if (j->training)
            for (int q = 0; q < 4; q++)
                memcpy(j->gates_out + (row + b) * 4 * H + (size_t)q * H + u0, gb + (size_t)q * Hp,
                       bytes);
    }
}

static void frnn_split_part(void *ctx, int r)
{
    const frnn_split_job *j = (const frnn_split_job *)ctx;
    const int P = j->w->parts;
    for (int k = 0; k <= j->T; k++) {
        if (k > 0)
            frnn_split_wait(j, k - 1);
        for (int q = 0; q < P; q++) {
            const int p = (r + q) % P;
            if (frnn_load(&j->claim[(size_t)k * P + p]) == 0
                && frnn_cas(&j->claim[(size_t)k * P + p], 0, 1)) {
                frnn_split_block(j, k, p);
                frnn_add(&j->done[k], 1);
            }
        }
    }
}

/* Run the layer direction; 0 (nothing done) if the claim words cannot be allocated. */
static int frnn_lstm_split(frnn_split_job *j)
{
    const int P = j->w->parts;
    int64_t *words = (int64_t *)calloc((size_t)(j->T + 1) * (P + 1), sizeof(int64_t));
    if (words == NULL)
        return 0;
    j->claim = words;
    j->done = words + (size_t)(j->T + 1) * P;
    frnn_parallel(frnn_split_part, j, P);
    free(words);
    return 1;
}

#endif
