/*
 * mbmicro conv2d micro-kernels for small-patch ungrouped convolutions (the stem: 3x3
 * stride 2 on 3 input channels): an int16 im2col of a few output pixels and a GEMM tile
 * over int16 pairs.
 *
 *   mbmicro_conv_patches16: p[i * NP + t] = x tap t of output pixel i (x_zp outside the
 *       image), t < N = KH*KW*I in (kh, kw, ci) order, p[i * NP + N] = 0 when N is odd
 *       (NP = N rounded up to even).
 *   mbmicro_conv_dsp_gemm16_<TP>x<TO>: acc[i * as + j] = bias[j] + sum_{t < NP} p[i * NP + t] * w[j * NP + t]
 *   mbmicro_conv_sat8: v clamped to [-128, 127] (SSAT), for layers whose clamp is the int8 range
 *
 * Why int16 on both sides: with 3 input channels a patch row (KW*I = 9 bytes) is not a
 * whole number of words, so the int8 GEMM of mbmicro_gemm.h would widen every patch word
 * again for every block of output channels.  Here the patch is widened once, while it is
 * gathered, and the weights are widened offline (codegen/ops/conv2d_dsp.py re-lays them as
 * O x NP int16, a zero after an odd patch): the reduction is one LDR per pixel and one
 * per output channel for every TP*TO SMLADs (two MACs each), nothing else.  The zero
 * weight pairs the padding value with nothing, so p[.. N] only has to be defined.
 * The tile starts at the (zero-point folded) bias and stores its sums; the caller (TIR)
 * does the requantization and the clamp, so the rounding rule stays written once.
 *
 * Cortex-M4/M7 (__ARM_FEATURE_DSP): SMLAD; the portable twin (host builds and tests)
 * computes exactly the same sums in C.  Sums fit int32: |x| <= 128, |w| <= 127.
 */
#ifndef MBMICRO_CONV_H
#define MBMICRO_CONV_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

#define MBMICRO_CONV_MAX_TP 4 /* pixels per tile */
#define MBMICRO_CONV_MAX_TO 8 /* output channels per tile */

/* The patch of the output pixel whose top-left tap is input (ih0, iw0): a row of KW*I
 * contiguous bytes per kh when the pixel's taps all lie inside the image (no tests),
 * else tap by tap. */
static inline __attribute__((always_inline)) void
mbmicro_conv_patch16(int16_t *p, const int8_t *x, int32_t H, int32_t W, int32_t I, int32_t KH, int32_t KW,
                     int32_t ih0, int32_t iw0, int32_t x_zp)
{
    const int32_t row = KW * I;
    if (ih0 >= 0 && ih0 + KH <= H && iw0 >= 0 && iw0 + KW <= W) {
        const int8_t *src = x + (ih0 * W + iw0) * I;
        _Pragma("GCC unroll 16")
        for (int32_t kh = 0; kh < KH; kh++) {
            _Pragma("GCC unroll 64")
            for (int32_t t = 0; t < row; t++) {
                p[kh * row + t] = src[kh * W * I + t];
            }
        }
        return;
    }
    for (int32_t kh = 0; kh < KH; kh++) {
        int32_t ih = ih0 + kh;
        for (int32_t kw = 0; kw < KW; kw++) {
            int32_t iw = iw0 + kw;
            int32_t in = ih >= 0 && ih < H && iw >= 0 && iw < W;
            for (int32_t c = 0; c < I; c++) {
                p[kh * row + kw * I + c] = in ? (int16_t)x[(ih * W + iw) * I + c] : (int16_t)x_zp;
            }
        }
    }
}

/* The patches of n output pixels of row oh, columns ow0 .. ow0 + n - 1, NP apart. */
static inline __attribute__((always_inline)) void
mbmicro_conv_patches16(int16_t *p, const int8_t *x, int32_t H, int32_t W, int32_t I, int32_t KH, int32_t KW,
                       int32_t S, int32_t ih0, int32_t iw0, int32_t n, int32_t x_zp)
{
    const int32_t N = KH * KW * I, NP = N + (N & 1);
    _Pragma("GCC unroll 4")
    for (int32_t i = 0; i < n; i++) {
        mbmicro_conv_patch16(p + i * NP, x, H, W, I, KH, KW, ih0, iw0 + i * S, x_zp);
        if (NP > N) {
            p[i * NP + N] = 0;
        }
    }
}

#if defined(__ARM_FEATURE_DSP)
/* Two int16 as one word (a single LDR). */
static inline int16x2_t mbmicro_conv_read2(const int16_t *p)
{
    int16x2_t v;
    memcpy(&v, p, sizeof v);
    return v;
}
#endif

/* v clamped to [-128, 127] (a layer whose clamp is the int8 range): SSAT on the DSP cores. */
static inline int32_t mbmicro_conv_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_DSP)
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/* The tile: bias + np (even) int16 terms per output, pixel rows and weight rows np apart. */
static inline __attribute__((always_inline)) void
mbmicro_conv_gemm16_tile(int32_t *acc, int32_t as, const int32_t *bias, const int16_t *x, const int16_t *w,
                         int32_t np, int tp, int to)
{
    int32_t a[MBMICRO_CONV_MAX_TP][MBMICRO_CONV_MAX_TO];
    _Pragma("GCC unroll 4")
    for (int i = 0; i < tp; i++) {
        _Pragma("GCC unroll 8")
        for (int j = 0; j < to; j++) {
            a[i][j] = bias[j];
        }
    }
#if defined(__ARM_FEATURE_DSP)
    /* The pointers pass through an empty asm: gcc may no longer prove this call reads the
     * patch of the previous one (the caller's channel loop), so it loads each word where it
     * is used instead of hoisting all NP / 2 of them out of that loop and spilling them. */
    __asm__("" : "+r"(x), "+r"(w));
    _Pragma("GCC unroll 4") /* measured: 2 or 7 pairs per step cost more */
    for (int32_t t = 0; t < np; t += 2) {
        int16x2_t xv[MBMICRO_CONV_MAX_TP];
        _Pragma("GCC unroll 4")
        for (int i = 0; i < tp; i++) {
            xv[i] = mbmicro_conv_read2(x + i * np + t);
        }
        _Pragma("GCC unroll 8")
        for (int j = 0; j < to; j++) {
            int16x2_t wv = mbmicro_conv_read2(w + j * np + t);
            _Pragma("GCC unroll 4")
            for (int i = 0; i < tp; i++) {
                a[i][j] = __smlad(xv[i], wv, a[i][j]);
            }
        }
    }
#else
    for (int32_t t = 0; t < np; t++) {
        for (int i = 0; i < tp; i++) {
            for (int j = 0; j < to; j++) {
                a[i][j] += (int32_t)x[i * np + t] * (int32_t)w[j * np + t];
            }
        }
    }
#endif
    _Pragma("GCC unroll 4")
    for (int i = 0; i < tp; i++) {
        _Pragma("GCC unroll 8")
        for (int j = 0; j < to; j++) {
            acc[i * as + j] = a[i][j];
        }
    }
}

/* One entry point per tile shape (conv2d_dsp.py names them mbmicro_conv_dsp_gemm16_<TP>x<TO>);
 * always_inline keeps the accumulators in registers. */
#define MBMICRO_CONV_TILE_FN(TP, TO)                                                             \
    static inline __attribute__((always_inline)) void mbmicro_conv_dsp_gemm16_##TP##x##TO(        \
        int32_t *acc, int32_t as, const int32_t *bias, const int16_t *x, const int16_t *w, int32_t np) \
    {                                                                                            \
        mbmicro_conv_gemm16_tile(acc, as, bias, x, w, np, TP, TO);                                \
    }
MBMICRO_CONV_TILE_FN(1, 4)
MBMICRO_CONV_TILE_FN(1, 8)
MBMICRO_CONV_TILE_FN(2, 2)
MBMICRO_CONV_TILE_FN(2, 4)
MBMICRO_CONV_TILE_FN(4, 2)
#undef MBMICRO_CONV_TILE_FN

#endif /* MBMICRO_CONV_H */
