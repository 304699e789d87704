/* Branch-free float32 exp, sigmoid and tanh that gcc can vectorise.
 *
 * libm's expf/tanhf are opaque calls, so a loop over a row of gates runs one
 * element at a time; these are plain arithmetic, so the loops in _cells.pxi
 * become SIMD loops at -O3 without -ffast-math. Polynomials follow Cephes
 * (expf: degree-5 minimax on [-ln2/2, ln2/2]; tanhf: odd polynomial below
 * 0.625, 1 - 2/(e^{2x}+1) above). Errors against float64 are within a few
 * float32 ulp; tests/kernels/test_fastmath.py checks them over the whole range.
 */
#ifndef FASTRNN_FASTMATH_H
#define FASTRNN_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float frnn_expf(float x) {
    /* Clamp so 2^n stays a normal float; e^-87.3 is ~1e-38, e^88.7 ~ FLT_MAX. */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    /* n = round(x / ln2) by the 1.5 * 2^23 trick: no call to rintf. */
    const float shifter = 12582912.0f;
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    int32_t ti, si;
    memcpy(&ti, &t, 4);
    memcpy(&si, &shifter, 4);
    int32_t k = ti - si;
    /* r = x - n ln2 in two parts, for accuracy. */
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t bits = (k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return y * scale;
}

static inline float frnn_sigmoidf(float x) {
    return 1.0f / (1.0f + frnn_expf(-x));
}

static inline float frnn_tanhf(float x) {
    float a = x < 0.0f ? -x : x;
    /* tanh(9) rounds to 1 in float32; the clamp keeps e^{2a} finite. */
    float ac = a > 9.0f ? 9.0f : a;
    float big = 1.0f - 2.0f / (frnn_expf(2.0f * ac) + 1.0f);
    big = x < 0.0f ? -big : big;
    float z = x * x;
    float small = -5.70498872745e-3f;
    small = small * z + 2.06390887954e-2f;
    small = small * z - 5.37397155531e-2f;
    small = small * z + 1.33314422036e-1f;
    small = small * z - 3.33332819422e-1f;
    small = small * z * x + x;
    return a < 0.625f ? small : big;
}

/* The loops the cells call, over a contiguous run of gates. target_clones
 * builds AVX-512, AVX2 and baseline versions and picks one when the module
 * loads, so a generic x86-64 build still uses the machine's widest units. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define FRNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FRNN_CLONES
#endif

FRNN_CLONES static void frnn_sigmoid_inplace(float *a, int n) {
    for (int j = 0; j < n; j++) a[j] = frnn_sigmoidf(a[j]);
}

FRNN_CLONES static void frnn_tanh_inplace(float *a, int n) {
    for (int j = 0; j < n; j++) a[j] = frnn_tanhf(a[j]);
}

FRNN_CLONES static void frnn_exp_inplace(float *a, int n) {
    for (int j = 0; j < n; j++) a[j] = frnn_expf(a[j]);
}

#endif
