/*
 * mbmicro depthwise micro-kernels: one output row of one channel from an int16 band.
 *
 *   acc[j] += sum_{kh < K} sum_{kw < KP} x[kh * xs + j * S + kw] * w[kh * KP + kw]   for j < n
 *
 * KP = K rounded up to even.  x is a channel-planar int16 copy of K rows of the
 * zero-point-padded input (the schedule in codegen/ops/depthwise.py, "micro" = "dsp",
 * copies a band of rows of one channel and does bias, requantization and clamping
 * itself, so the rounding rule stays written once, in TIR); w is the channel's
 * K x KP int16 weights (expanded per channel on the stack) with w[kh * KP + K] = 0 for
 * odd K.  The zero
 * tap pairs the K-th input value (which must be readable: the band is one column
 * wider) with nothing, so every row is KP / 2 whole tap pairs.
 *
 * Cortex-M4/M7 (__ARM_FEATURE_DSP): one 32-bit load brings two horizontally adjacent
 * taps (x[.. + 2m], x[.. + 2m + 1]) of the channel, and SMLAD multiplies them with the
 * weight pair (w[2m], w[2m + 1]) and adds both products: KP / 2 loads and SMLADs per
 * row and output.  For stride 1 every other load is only halfword-aligned, which LDR
 * allows on v7E-M (memcpy is how C says so).  The weights of small kernels stay in
 * registers across the row (loaded once per call).
 * The portable twin (host builds and tests) computes exactly the same sums in C.
 * int32 cannot overflow: |x| <= 128, |w| <= 127, K * KP <= 90 products per output.
 */
#ifndef MBMICRO_DEPTHWISE_H
#define MBMICRO_DEPTHWISE_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Largest kernel side the row micro-kernel takes (9x9: KP = 10, 45 weight pairs). */
#define MBMICRO_DW_MAX_K 9

#if defined(__ARM_FEATURE_DSP)
/* Two int16 as one word (a single LDR, also at halfword alignment). */
static inline int16x2_t mbmicro_dw_read2(const int16_t *p)
{
    int16x2_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void
mbmicro_dw_dsp_row(int32_t *acc, const int16_t *x, int32_t xs, const int16_t *w, int32_t n, int32_t k,
                   int32_t s)
{
    const int32_t pairs = (k + 1) / 2;
    int16x2_t wv[MBMICRO_DW_MAX_K * ((MBMICRO_DW_MAX_K + 1) / 2)];
    _Pragma("GCC unroll 45")
    for (int32_t i = 0; i < k * pairs; i++) {
        wv[i] = mbmicro_dw_read2(w + 2 * i);
    }
    for (int32_t j = 0; j < n; j++) {
        const int16_t *xr = x + j * s;
        int32_t a = acc[j];
        _Pragma("GCC unroll 9")
        for (int32_t kh = 0; kh < k; kh++) {
            _Pragma("GCC unroll 5")
            for (int32_t m = 0; m < pairs; m++) {
                a = __smlad(mbmicro_dw_read2(xr + kh * xs + 2 * m), wv[kh * pairs + m], a);
            }
        }
        acc[j] = a;
    }
}
#else
static inline void
mbmicro_dw_dsp_row(int32_t *acc, const int16_t *x, int32_t xs, const int16_t *w, int32_t n, int32_t k,
                   int32_t s)
{
    const int32_t kp = (k + 1) / 2 * 2;
    for (int32_t j = 0; j < n; j++) {
        int32_t a = acc[j];
        for (int32_t kh = 0; kh < k; kh++) {
            for (int32_t kw = 0; kw < kp; kw++) {
                a += (int32_t)x[kh * xs + j * s + kw] * (int32_t)w[kh * kp + kw];
            }
        }
        acc[j] = a;
    }
}
#endif

#endif /* MBMICRO_DEPTHWISE_H */
