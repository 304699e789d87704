/* The LSTM's pointwise step, fused and hand-vectorised (float32).
 *
 * After the step's products, gates [n, 4H] hold x W_ih^T + h W_hh^T for each
 * row; one pass per row then adds the summed bias, applies the activations,
 * updates c and h and writes h to the output, with every value in registers
 * (three passes over memory did this before, slower: bench/THRESHOLDS.md). In training it
 * also writes the activated gates and tanh(c_t) for backward.
 *
 * The activations are _fastmath.h's algorithms (Cephes expf; tanh as an odd
 * polynomial below 0.625, 1 - 2/(e^{2x}+1) above), written with intrinsics
 * so they need no help from the vectoriser, with FMA in the reduction and the
 * polynomials. Every element goes through the same vector code (the last,
 * partial vector masked), so a unit's result never depends on where it falls.
 * Versions for AVX-512, AVX2+FMA and plain C are picked once, as _gemm.h's.
 *
 * Backward has its own fused pass (gate gradients, dc_{t-1}, dh cleared for
 * the recurrent product) for the same reason: the scalar loop it replaces
 * ran one unit at a time.
 */
#ifndef FASTRNN_POINTWISE_H
#define FASTRNN_POINTWISE_H

#include <string.h>

#include "_fastmath.h"
#include "_gemm.h" /* frnn_cpu_runs */

/* gates [n, ldg] (IN: pre-activations without bias; OUT in training: the
 * activated i, f, g, o), bias [4H], h and c [n, H] (INOUT), tc [n, H] (OUT
 * tanh(c_t), training only; may be NULL otherwise), out [n, ldo] (OUT h_t). */
typedef void (*frnn_lstm_fn)(int n, int H, float *gates, int ldg, const float *bias, float *h,
                             float *c, float *tc, float *out, int ldo, int training);
/* kind 0: sigmoid, 1: tanh, over n values. */
typedef void (*frnn_act_fn)(int kind, const float *x, float *y, long n);
/* Backward of one step for n consecutive rows: gates [n, ldg] the activated
 * i, f, g, o, c_prev and tc [n, H] (c_{t-1}, tanh(c_t)), dout [n, H]; dh, dc
 * [n, H] INOUT (dh_t's recurrent part in, 0 out for the product to add
 * dh_{t-1} into; dc_t in, dc_{t-1} out), dg [n, ldg] OUT the pre-activation
 * gradients. */
typedef void (*frnn_lstm_back_fn)(int n, int H, const float *gates, int ldg, const float *c_prev,
                                  const float *tc, const float *dout, float *dh, float *dc,
                                  float *dg);

static void frnn_lstm_generic(int n, int H, float *gates, int ldg, const float *bias, float *h,
                              float *c, float *tc, float *out, int ldo, int training)
{
    for (int b = 0; b < n; b++) {
        float *g = gates + (size_t)b * ldg;
        float *hb = h + (size_t)b * H, *cb = c + (size_t)b * H;
        for (int j = 0; j < H; j++) {
            const float i_ = frnn_sigmoidf(g[j] + bias[j]);
            const float f_ = frnn_sigmoidf(g[H + j] + bias[H + j]);
            const float g_ = frnn_tanhf(g[2 * H + j] + bias[2 * H + j]);
            const float o_ = frnn_sigmoidf(g[3 * H + j] + bias[3 * H + j]);
            const float cn = f_ * cb[j] + i_ * g_;
            const float t = frnn_tanhf(cn);
            cb[j] = cn;
            hb[j] = o_ * t;
            out[(size_t)b * ldo + j] = o_ * t;
            if (training) {
                g[j] = i_;
                g[H + j] = f_;
                g[2 * H + j] = g_;
                g[3 * H + j] = o_;
                tc[(size_t)b * H + j] = t;
            }
        }
    }
}

static void frnn_lstm_back_generic(int n, int H, const float *gates, int ldg,
                                   const float *c_prev, const float *tc, const float *dout,
                                   float *dh, float *dc, float *dg)
{
    for (int b = 0; b < n; b++) {
        const float *g = gates + (size_t)b * ldg;
        const size_t o = (size_t)b * H;
        float *d = dg + (size_t)b * ldg;
        for (int j = 0; j < H; j++) {
            const float i_ = g[j], f_ = g[H + j], g_ = g[2 * H + j], o_ = g[3 * H + j];
            const float t = tc[o + j], dh_ = dout[o + j] + dh[o + j];
            const float dc_ = dc[o + j] + dh_ * o_ * (1.0f - t * t);
            d[j] = dc_ * g_ * i_ * (1.0f - i_);
            d[H + j] = dc_ * c_prev[o + j] * f_ * (1.0f - f_);
            d[2 * H + j] = dc_ * i_ * (1.0f - g_ * g_);
            d[3 * H + j] = dh_ * t * o_ * (1.0f - o_);
            dc[o + j] = dc_ * f_;
            dh[o + j] = 0.0f;
        }
    }
}

static void frnn_act_generic(int kind, const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = kind ? frnn_tanhf(x[i]) : frnn_sigmoidf(x[i]);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define FRNN_PW_INLINE static inline __attribute__((always_inline))

/* One body for both widths: V is the vector type, the macros its operations.
 * Each function works on U vectors at once, statement by statement, so the
 * independent chains of several vectors sit side by side in the instruction
 * stream: one vector's chain (exp, division, polynomial) is ~150 dependent
 * instructions, more than the out-of-order window overlaps on its own, and
 * one vector at a time ran at a third of this speed. */
#define FRNN_U 2
#define FRNN_EACH for (int u = 0; u < FRNN_U; u++)
#define FRNN_DEFINE_SIMD(SUFFIX, TARGET, V, SET1, ADD, SUB, MUL, DIV, FMA, FNMA, MIN, MAX, AND,    \
                         XOR, ANDNOT, LT, SEL, CVT_SHIFT, LOAD, STORE, MASKT, MASKOF, W)            \
    FRNN_PW_INLINE __attribute__((target(TARGET))) void frnn_exp_##SUFFIX(V *x)                  \
    {                                                                                              \
        V t[FRNN_U], r[FRNN_U], p[FRNN_U];                                                         \
        const V shifter = SET1(12582912.0f);                                                       \
        /* NaN stays NaN: max and min return their second operand then */                        \
        FRNN_EACH x[u] = MIN(SET1(88.7f), MAX(SET1(-87.3f), x[u]));                                \
        FRNN_EACH t[u] = FMA(x[u], SET1(1.44269504088896341f), shifter);                          \
        FRNN_EACH r[u] = FNMA(SUB(t[u], shifter), SET1(0.693359375f), x[u]);                       \
        FRNN_EACH r[u] = FMA(SUB(t[u], shifter), SET1(2.12194440e-4f), r[u]);                      \
        FRNN_EACH p[u] = FMA(SET1(1.9875691500e-4f), r[u], SET1(1.3981999507e-3f));                \
        FRNN_EACH p[u] = FMA(p[u], r[u], SET1(8.3334519073e-3f));                                  \
        FRNN_EACH p[u] = FMA(p[u], r[u], SET1(4.1665795894e-2f));                                  \
        FRNN_EACH p[u] = FMA(p[u], r[u], SET1(1.6666665459e-1f));                                  \
        FRNN_EACH p[u] = FMA(p[u], r[u], SET1(5.0000001201e-1f));                                  \
        FRNN_EACH p[u] = ADD(FMA(MUL(p[u], r[u]), r[u], r[u]), SET1(1.0f));                        \
        FRNN_EACH x[u] = MUL(p[u], CVT_SHIFT(t[u], shifter));                                      \
    }                                                                                              \
    FRNN_PW_INLINE __attribute__((target(TARGET))) void frnn_sigmoid_##SUFFIX(V *x)              \
    {                                                                                              \
        const V one = SET1(1.0f);                                                                  \
        FRNN_EACH x[u] = XOR(x[u], SET1(-0.0f));                                                   \
        frnn_exp_##SUFFIX(x);                                                                      \
        FRNN_EACH x[u] = DIV(one, ADD(one, x[u]));                                                 \
    }                                                                                              \
    FRNN_PW_INLINE __attribute__((target(TARGET))) void frnn_tanh_##SUFFIX(V *x)                 \
    {                                                                                              \
        const V sign = SET1(-0.0f), one = SET1(1.0f);                                              \
        V a[FRNN_U], e[FRNN_U], z[FRNN_U], s[FRNN_U];                                              \
        FRNN_EACH a[u] = ANDNOT(sign, x[u]);                                                       \
        FRNN_EACH e[u] = MIN(SET1(9.0f), a[u]);                                                    \
        FRNN_EACH e[u] = ADD(e[u], e[u]);                                                          \
        frnn_exp_##SUFFIX(e);                                                                      \
        FRNN_EACH e[u] = SUB(one, DIV(SET1(2.0f), ADD(e[u], one)));                                \
        FRNN_EACH e[u] = XOR(e[u], AND(x[u], sign));                                               \
        FRNN_EACH z[u] = MUL(x[u], x[u]);                                                          \
        FRNN_EACH s[u] = FMA(SET1(-5.70498872745e-3f), z[u], SET1(2.06390887954e-2f));             \
        FRNN_EACH s[u] = FMA(s[u], z[u], SET1(-5.37397155531e-2f));                                \
        FRNN_EACH s[u] = FMA(s[u], z[u], SET1(1.33314422036e-1f));                                 \
        FRNN_EACH s[u] = FMA(s[u], z[u], SET1(-3.33332819422e-1f));                                \
        FRNN_EACH s[u] = FMA(MUL(s[u], z[u]), x[u], x[u]);                                         \
        FRNN_EACH x[u] = SEL(LT(a[u], SET1(0.625f)), s[u], e[u]);                                  \
    }                                                                                              \
    __attribute__((target(TARGET))) static void frnn_lstm_##SUFFIX(                              \
        int n, int H, float *gates, int ldg, const float *bias, float *h, float *c, float *tc,   \
        float *out, int ldo, int training)                                                         \
    {                                                                                              \
        for (int b = 0; b < n; b++) {                                                              \
            float *g = gates + (size_t)b * ldg;                                                    \
            float *hb = h + (size_t)b * H, *cb = c + (size_t)b * H;                                \
            float *ob = out + (size_t)b * ldo, *tb = training ? tc + (size_t)b * H : NULL;       \
            for (int j0 = 0; j0 < H; j0 += FRNN_U * W) {                                           \
                MASKT m[FRNN_U];                                                                   \
                V sg[3 * FRNN_U], tg[2 * FRNN_U], cn[FRNN_U];                                      \
                FRNN_EACH m[u] = MASKOF(H - j0 - u * W);                                           \
                /* i, f, o through sigmoid together; g and later c through tanh */               \
                FRNN_EACH                                                                          \
                {                                                                                  \
                    const int j = j0 + u * W;                                                      \
                    sg[u] = ADD(LOAD(g + j, m[u]), LOAD(bias + j, m[u]));                          \
                    sg[FRNN_U + u] = ADD(LOAD(g + H + j, m[u]), LOAD(bias + H + j, m[u]));         \
                    sg[2 * FRNN_U + u] =                                                           \
                        ADD(LOAD(g + 3 * H + j, m[u]), LOAD(bias + 3 * H + j, m[u]));              \
                    tg[u] = ADD(LOAD(g + 2 * H + j, m[u]), LOAD(bias + 2 * H + j, m[u]));          \
                }                                                                                  \
                frnn_sigmoid_##SUFFIX(sg);                                                         \
                frnn_sigmoid_##SUFFIX(sg + FRNN_U);                                                \
                frnn_sigmoid_##SUFFIX(sg + 2 * FRNN_U);                                            \
                frnn_tanh_##SUFFIX(tg);                                                            \
                FRNN_EACH                                                                          \
                {                                                                                  \
                    const int j = j0 + u * W;                                                      \
                    cn[u] = FMA(sg[FRNN_U + u], LOAD(cb + j, m[u]), MUL(sg[u], tg[u]));            \
                    tg[FRNN_U + u] = cn[u];                                                        \
                }                                                                                  \
                frnn_tanh_##SUFFIX(tg + FRNN_U);                                                   \
                FRNN_EACH                                                                          \
                {                                                                                  \
                    const int j = j0 + u * W;                                                      \
                    const V hn = MUL(sg[2 * FRNN_U + u], tg[FRNN_U + u]);                          \
                    STORE(cb + j, m[u], cn[u]);                                                    \
                    STORE(hb + j, m[u], hn);                                                       \
                    STORE(ob + j, m[u], hn);                                                       \
                    if (training) {                                                                \
                        STORE(g + j, m[u], sg[u]);                                                 \
                        STORE(g + H + j, m[u], sg[FRNN_U + u]);                                    \
                        STORE(g + 2 * H + j, m[u], tg[u]);                                         \
                        STORE(g + 3 * H + j, m[u], sg[2 * FRNN_U + u]);                            \
                        STORE(tb + j, m[u], tg[FRNN_U + u]);                                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    __attribute__((target(TARGET))) static void frnn_lstm_back_##SUFFIX(                         \
        int n, int H, const float *gates, int ldg, const float *c_prev, const float *tc,         \
        const float *dout, float *dh, float *dc, float *dg)                                        \
    {                                                                                              \
        const V one = SET1(1.0f);                                                                  \
        for (int b = 0; b < n; b++) {                                                              \
            const float *g = gates + (size_t)b * ldg;                                              \
            const size_t o = (size_t)b * H;                                                        \
            float *d = dg + (size_t)b * ldg;                                                       \
            for (int j0 = 0; j0 < H; j0 += FRNN_U * W) {                                           \
                MASKT m[FRNN_U];                                                                   \
                FRNN_EACH m[u] = MASKOF(H - j0 - u * W);                                           \
                FRNN_EACH                                                                          \
                {                                                                                  \
                    const int j = j0 + u * W;                                                      \
                    const V i_ = LOAD(g + j, m[u]), f_ = LOAD(g + H + j, m[u]);                    \
                    const V g_ = LOAD(g + 2 * H + j, m[u]), o_ = LOAD(g + 3 * H + j, m[u]);        \
                    const V t = LOAD(tc + o + j, m[u]);                                            \
                    const V dh_ = ADD(LOAD(dout + o + j, m[u]), LOAD(dh + o + j, m[u]));           \
                    const V dc_ = FMA(MUL(dh_, o_), FNMA(t, t, one), LOAD(dc + o + j, m[u]));      \
                    STORE(d + j, m[u], MUL(MUL(dc_, g_), MUL(i_, SUB(one, i_))));                  \
                    STORE(d + H + j, m[u],                                                         \
                          MUL(MUL(dc_, LOAD(c_prev + o + j, m[u])), MUL(f_, SUB(one, f_))));       \
                    STORE(d + 2 * H + j, m[u], MUL(MUL(dc_, i_), FNMA(g_, g_, one)));              \
                    STORE(d + 3 * H + j, m[u], MUL(MUL(dh_, t), MUL(o_, SUB(one, o_))));           \
                    STORE(dc + o + j, m[u], MUL(dc_, f_));                                         \
                    STORE(dh + o + j, m[u], SET1(0.0f));                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    __attribute__((target(TARGET))) static void frnn_act_##SUFFIX(int kind, const float *x,      \
                                                                  float *y, long n)                \
    {                                                                                              \
        for (long i0 = 0; i0 < n; i0 += FRNN_U * W) {                                              \
            MASKT m[FRNN_U];                                                                       \
            V v[FRNN_U];                                                                           \
            FRNN_EACH                                                                              \
            {                                                                                      \
                const long left = n - i0 - u * W;                                                  \
                m[u] = MASKOF(left > W ? W : left < 0 ? 0 : (int)left);                            \
                v[u] = LOAD(x + i0 + u * W, m[u]);                                                 \
            }                                                                                      \
            if (kind)                                                                              \
                frnn_tanh_##SUFFIX(v);                                                             \
            else                                                                                   \
                frnn_sigmoid_##SUFFIX(v);                                                          \
            FRNN_EACH STORE(y + i0 + u * W, m[u], v[u]);                                           \
        }                                                                                          \
    }

/* AVX-512 */
#define FRNN_512_CVT_SHIFT(t, shifter)                                                             \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                                         \
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(shifter)), \
                         _mm512_set1_epi32(127)),                                                  \
        23))
#define FRNN_512_MASKOF(left)                                                                      \
    ((__mmask16)((left) >= 16 ? 0xFFFF : (left) <= 0 ? 0 : ((1u << (left)) - 1)))
#define FRNN_512_LOAD(p, m) _mm512_maskz_loadu_ps((m), (p))
#define FRNN_512_SEL(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
#define FRNN_512_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define FRNN_512_AND(a, b) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define FRNN_512_XOR(a, b) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define FRNN_512_ANDNOT(a, b) _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
FRNN_DEFINE_SIMD(avx512, "avx512f,fma", __m512, _mm512_set1_ps, _mm512_add_ps,
                 _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps, _mm512_fmadd_ps, _mm512_fnmadd_ps,
                 _mm512_min_ps, _mm512_max_ps, FRNN_512_AND, FRNN_512_XOR, FRNN_512_ANDNOT,
                 FRNN_512_LT, FRNN_512_SEL, FRNN_512_CVT_SHIFT, FRNN_512_LOAD,
                 _mm512_mask_storeu_ps, __mmask16, FRNN_512_MASKOF, 16)

/* AVX2: masks are integer vectors; the loads and stores use them only on the
 * last, partial vector (masked moves are slower on some CPUs). */
#define FRNN_256_CVT_SHIFT(t, shifter)                                                             \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                                         \
        _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(shifter)), \
                         _mm256_set1_epi32(127)),                                                  \
        23))
#define FRNN_256_MASKOF(left)                                                                      \
    ((left) >= 8 ? _mm256_set1_epi32(-1)                                                           \
                 : _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define FRNN_256_LOAD(p, m) (H_FULL(m) ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (m)))
#define FRNN_256_STORE(p, m, v)                                                                    \
    do {                                                                                           \
        if (H_FULL(m))                                                                             \
            _mm256_storeu_ps((p), (v));                                                            \
        else                                                                                       \
            _mm256_maskstore_ps((p), (m), (v));                                                    \
    } while (0)
#define H_FULL(m) (_mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xFF)
#define FRNN_256_LT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define FRNN_256_SEL(m, a, b) _mm256_blendv_ps((b), (a), (m))
FRNN_DEFINE_SIMD(avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
                 _mm256_mul_ps, _mm256_div_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_min_ps,
                 _mm256_max_ps, _mm256_and_ps, _mm256_xor_ps, _mm256_andnot_ps, FRNN_256_LT,
                 FRNN_256_SEL, FRNN_256_CVT_SHIFT, FRNN_256_LOAD, FRNN_256_STORE, __m256i,
                 FRNN_256_MASKOF, 8)
#define FRNN_PW_HAVE_X86 1
#endif

typedef struct {
    const char *name;
    frnn_lstm_fn lstm;
    frnn_lstm_back_fn lstm_back;
    frnn_act_fn act;
} frnn_pointwise_kernel;

static const frnn_pointwise_kernel frnn_pw_generic = {"generic", frnn_lstm_generic,
                                                      frnn_lstm_back_generic, frnn_act_generic};
#ifdef FRNN_PW_HAVE_X86
static const frnn_pointwise_kernel frnn_pw_avx512 = {"avx512", frnn_lstm_avx512,
                                                     frnn_lstm_back_avx512, frnn_act_avx512};
static const frnn_pointwise_kernel frnn_pw_avx2 = {"avx2", frnn_lstm_avx2, frnn_lstm_back_avx2,
                                                   frnn_act_avx2};
#endif

/* By name ("avx512", "avx2", "neon", "generic"), NULL where this CPU lacks it;
 * "neon" (aarch64) is the plain C pass, which GCC and clang vectorise there. */
static const frnn_pointwise_kernel *frnn_pointwise_named(const char *name)
{
    if (!frnn_cpu_runs(name))
        return NULL;
#ifdef FRNN_PW_HAVE_X86
    if (!strcmp(name, "avx512"))
        return &frnn_pw_avx512;
    if (!strcmp(name, "avx2"))
        return &frnn_pw_avx2;
#endif
    return &frnn_pw_generic;
}

#endif
