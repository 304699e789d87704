/* The LSTM's pointwise step, fused and hand-vectorised (float32).
 *
 * After the step's products, gates [n, 4H] hold x W_ih^T + h W_hh^T for each
 * row; one pass per row then adds the summed bias, applies the activations,
 * updates c and h and writes h to the output, with every value in registers
 * (three passes over memory did this before, 1.3-1.6x slower). In training it
 * also writes the activated gates and tanh(c_t) for backward.
 *
 * The activations are _fastmath.h's algorithms (Cephes expf; tanh as an odd
 * polynomial below 0.625, 1 - 2/(e^{2x}+1) above), written with intrinsics
 * so they need no help from the vectoriser, with FMA in the reduction and the
 * polynomials. Every element goes through the same vector code (the last,
 * partial vector masked), so a unit's result never depends on where it falls.
 * Versions for AVX-512, AVX2+FMA and plain C are picked once, as _gemm.h's.
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

static void frnn_act_generic(int kind, const float *x, float *y, long n)
{
    for (long i = 0; i < n; i++) y[i] = kind ? frnn_tanhf(x[i]) : frnn_sigmoidf(x[i]);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define FRNN_PW_INLINE static inline __attribute__((always_inline))

/* One body for both widths: V is the vector type, the macros its operations. */
#define FRNN_DEFINE_SIMD(SUFFIX, TARGET, V, VI, SET1, ADD, SUB, MUL, DIV, FMA, FNMA, MIN, MAX,     \
                         AND, XOR, ANDNOT, LT, SEL, CVT_SHIFT, LOAD, STORE, MASKT, MASKOF, W)     \
    FRNN_PW_INLINE __attribute__((target(TARGET))) V frnn_exp_##SUFFIX(V x)                      \
    {                                                                                              \
        x = MAX(SET1(-87.3f), x); /* NaN stays NaN: max/min return their second operand */        \
        x = MIN(SET1(88.7f), x);                                                                   \
        const V shifter = SET1(12582912.0f);                                                       \
        const V t = FMA(x, SET1(1.44269504088896341f), shifter);                                  \
        const V nn = SUB(t, shifter);                                                              \
        V r = FNMA(nn, SET1(0.693359375f), x);                                                     \
        r = FMA(nn, SET1(2.12194440e-4f), r);                                                      \
        V p = SET1(1.9875691500e-4f);                                                              \
        p = FMA(p, r, SET1(1.3981999507e-3f));                                                     \
        p = FMA(p, r, SET1(8.3334519073e-3f));                                                     \
        p = FMA(p, r, SET1(4.1665795894e-2f));                                                     \
        p = FMA(p, r, SET1(1.6666665459e-1f));                                                     \
        p = FMA(p, r, SET1(5.0000001201e-1f));                                                     \
        const V y = ADD(FMA(MUL(p, r), r, r), SET1(1.0f));                                         \
        return MUL(y, CVT_SHIFT(t, shifter));                                                      \
    }                                                                                              \
    FRNN_PW_INLINE __attribute__((target(TARGET))) V frnn_sigmoid_##SUFFIX(V x)                  \
    {                                                                                              \
        const V one = SET1(1.0f);                                                                  \
        return DIV(one, ADD(one, frnn_exp_##SUFFIX(XOR(x, SET1(-0.0f)))));                         \
    }                                                                                              \
    FRNN_PW_INLINE __attribute__((target(TARGET))) V frnn_tanh_##SUFFIX(V x)                     \
    {                                                                                              \
        const V sign = SET1(-0.0f);                                                                \
        const V a = ANDNOT(sign, x);                                                               \
        const V ac = MIN(SET1(9.0f), a);                                                           \
        const V one = SET1(1.0f);                                                                  \
        V big = SUB(one, DIV(SET1(2.0f), ADD(frnn_exp_##SUFFIX(ADD(ac, ac)), one)));             \
        big = XOR(big, AND(x, sign));                                                              \
        const V z = MUL(x, x);                                                                     \
        V s = SET1(-5.70498872745e-3f);                                                            \
        s = FMA(s, z, SET1(2.06390887954e-2f));                                                    \
        s = FMA(s, z, SET1(-5.37397155531e-2f));                                                   \
        s = FMA(s, z, SET1(1.33314422036e-1f));                                                    \
        s = FMA(s, z, SET1(-3.33332819422e-1f));                                                   \
        s = FMA(MUL(s, z), x, x);                                                                  \
        return SEL(LT(a, SET1(0.625f)), s, big);                                                   \
    }                                                                                              \
    __attribute__((target(TARGET))) static void frnn_lstm_##SUFFIX(                              \
        int n, int H, float *gates, int ldg, const float *bias, float *h, float *c, float *tc,   \
        float *out, int ldo, int training)                                                         \
    {                                                                                              \
        for (int b = 0; b < n; b++) {                                                              \
            float *g = gates + (size_t)b * ldg;                                                    \
            float *hb = h + (size_t)b * H, *cb = c + (size_t)b * H;                                \
            float *ob = out + (size_t)b * ldo, *tb = training ? tc + (size_t)b * H : NULL;       \
            for (int j = 0; j < H; j += W) {                                                       \
                const MASKT m = MASKOF(H - j);                                                     \
                const V i_ = frnn_sigmoid_##SUFFIX(ADD(LOAD(g + j, m), LOAD(bias + j, m)));       \
                const V f_ = frnn_sigmoid_##SUFFIX(ADD(LOAD(g + H + j, m), LOAD(bias + H + j, m))); \
                const V g_ =                                                                       \
                    frnn_tanh_##SUFFIX(ADD(LOAD(g + 2 * H + j, m), LOAD(bias + 2 * H + j, m)));   \
                const V o_ =                                                                       \
                    frnn_sigmoid_##SUFFIX(ADD(LOAD(g + 3 * H + j, m), LOAD(bias + 3 * H + j, m))); \
                const V cn = FMA(f_, LOAD(cb + j, m), MUL(i_, g_));                                \
                const V t = frnn_tanh_##SUFFIX(cn);                                                \
                const V hn = MUL(o_, t);                                                           \
                STORE(cb + j, m, cn);                                                              \
                STORE(hb + j, m, hn);                                                              \
                STORE(ob + j, m, hn);                                                              \
                if (training) {                                                                    \
                    STORE(g + j, m, i_);                                                           \
                    STORE(g + H + j, m, f_);                                                       \
                    STORE(g + 2 * H + j, m, g_);                                                   \
                    STORE(g + 3 * H + j, m, o_);                                                   \
                    STORE(tb + j, m, t);                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    __attribute__((target(TARGET))) static void frnn_act_##SUFFIX(int kind, const float *x,      \
                                                                  float *y, long n)                \
    {                                                                                              \
        for (long i = 0; i < n; i += W) {                                                          \
            const MASKT m = MASKOF(n - i > W ? W : (int)(n - i));                                  \
            const V v = LOAD(x + i, m);                                                            \
            STORE(y + i, m, kind ? frnn_tanh_##SUFFIX(v) : frnn_sigmoid_##SUFFIX(v));            \
        }                                                                                          \
    }

/* AVX-512 */
#define FRNN_512_CVT_SHIFT(t, shifter)                                                             \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                                         \
        _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(shifter)), \
                         _mm512_set1_epi32(127)),                                                  \
        23))
#define FRNN_512_MASKOF(left) ((__mmask16)((left) >= 16 ? 0xFFFF : ((1u << (left)) - 1)))
#define FRNN_512_LOAD(p, m) _mm512_maskz_loadu_ps((m), (p))
#define FRNN_512_SEL(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
#define FRNN_512_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define FRNN_512_AND(a, b) _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define FRNN_512_XOR(a, b) _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
#define FRNN_512_ANDNOT(a, b) _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)))
FRNN_DEFINE_SIMD(avx512, "avx512f,fma", __m512, __m512i, _mm512_set1_ps, _mm512_add_ps,
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
FRNN_DEFINE_SIMD(avx2, "avx2,fma", __m256, __m256i, _mm256_set1_ps, _mm256_add_ps, _mm256_sub_ps,
                 _mm256_mul_ps, _mm256_div_ps, _mm256_fmadd_ps, _mm256_fnmadd_ps, _mm256_min_ps,
                 _mm256_max_ps, _mm256_and_ps, _mm256_xor_ps, _mm256_andnot_ps, FRNN_256_LT,
                 FRNN_256_SEL, FRNN_256_CVT_SHIFT, FRNN_256_LOAD, FRNN_256_STORE, __m256i,
                 FRNN_256_MASKOF, 8)
#define FRNN_PW_HAVE_X86 1
#endif

typedef struct {
    const char *name;
    frnn_lstm_fn lstm;
    frnn_act_fn act;
} frnn_pointwise_kernel;

static const frnn_pointwise_kernel frnn_pw_generic = {"generic", frnn_lstm_generic,
                                                      frnn_act_generic};
#ifdef FRNN_PW_HAVE_X86
static const frnn_pointwise_kernel frnn_pw_avx512 = {"avx512", frnn_lstm_avx512, frnn_act_avx512};
static const frnn_pointwise_kernel frnn_pw_avx2 = {"avx2", frnn_lstm_avx2, frnn_act_avx2};
#endif

/* By name ("avx512", "avx2", "generic"), NULL where this CPU lacks it. */
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
