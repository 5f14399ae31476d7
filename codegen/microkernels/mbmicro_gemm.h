/*
 * mbmicro GEMM micro-kernels: one tile of int32 accumulators += x * w^T.
 *
 *   acc[i][j] += sum_c x[i * xs + c] * w[j * ws + c]   for i < TP, j < TO, c < C
 *
 * x holds TP rows (pixels) of C int8 values, w holds TO rows (output channels);
 * acc is row-major TP x TO.  The tile is the register block of the pointwise /
 * fully-connected schedule (codegen/ops/pointwise.py), which places a call to
 * mbmicro_gemm_dsp_<TP>x<TO> with `tensorize` and does bias, requantization and
 * clamping itself, so the rounding rule stays written once (in TIR).
 *
 * Cortex-M4/M7 (__ARM_FEATURE_DSP): 4 input channels per 32-bit load.  Both
 * operands are widened with the same SXTB16 / SXTB16(ROR 8) pair (channels 0,2
 * and 1,3 as int16 halves), so SMLAD adds two products per instruction and the
 * weights need no re-layout: they stay int8, in the graph's [K][C] order.
 * C % 4 leftover channels take the scalar tail, as does every channel of the
 * portable twin (host builds and tests), which computes exactly the same sums.
 */
#ifndef MBMICRO_GEMM_H
#define MBMICRO_GEMM_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

#define MBMICRO_GEMM_MAX_TP 8  /* pixels per tile (TILE_P of pointwise.py) */
#define MBMICRO_GEMM_MAX_TO 16 /* output channels per tile (TILE_OC) */

#if defined(__ARM_FEATURE_DSP)
/* Four int8 as one word; memcpy is how C says "unaligned load" (a single LDR on v7E-M). */
static inline uint32_t mbmicro_gemm_read4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* SXTB16 of the word rotated right by 8 (channels 1 and 3): one instruction.  GCC 12 has
 * no __ror in arm_acle.h and does not fold a C rotate into SXTB16's ROR operand. */
static inline int16x2_t mbmicro_gemm_sxtb16_ror8(uint32_t v)
{
    int16x2_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* The DSP body for channels [0, C - C % 4): returns the first channel left. */
static inline __attribute__((always_inline)) int32_t
mbmicro_gemm_dsp_body(int32_t a[MBMICRO_GEMM_MAX_TP][MBMICRO_GEMM_MAX_TO], const int8_t *x,
                      const int8_t *w, int32_t C, int32_t xs, int32_t ws, int tp, int to)
{
    int32_t c = 0;
    for (; c + 4 <= C; c += 4) {
        int16x2_t xe[MBMICRO_GEMM_MAX_TP], xo[MBMICRO_GEMM_MAX_TP];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < tp; i++) {
            uint32_t v = mbmicro_gemm_read4(x + i * xs + c);
            xe[i] = __sxtb16(v);
            xo[i] = mbmicro_gemm_sxtb16_ror8(v);
        }
        _Pragma("GCC unroll 16")
        for (int j = 0; j < to; j++) {
            uint32_t v = mbmicro_gemm_read4(w + j * ws + c);
            int16x2_t we = __sxtb16(v), wo = mbmicro_gemm_sxtb16_ror8(v);
            _Pragma("GCC unroll 16")
            for (int i = 0; i < tp; i++) {
                a[i][j] = __smlad(xe[i], we, a[i][j]);
                a[i][j] = __smlad(xo[i], wo, a[i][j]);
            }
        }
    }
    return c;
}
#endif

/* The shared tile: load acc, DSP body where available, scalar tail, store acc. */
static inline __attribute__((always_inline)) void
mbmicro_gemm_tile(int32_t *acc, const int8_t *x, const int8_t *w, int32_t C, int32_t xs, int32_t ws,
                  int tp, int to)
{
    int32_t a[MBMICRO_GEMM_MAX_TP][MBMICRO_GEMM_MAX_TO];
    _Pragma("GCC unroll 16")
    for (int i = 0; i < tp; i++) {
        _Pragma("GCC unroll 16")
        for (int j = 0; j < to; j++) {
            a[i][j] = acc[i * to + j];
        }
    }
    int32_t c = 0;
#if defined(__ARM_FEATURE_DSP)
    c = mbmicro_gemm_dsp_body(a, x, w, C, xs, ws, tp, to);
#endif
    for (; c < C; c++) {
        _Pragma("GCC unroll 16")
        for (int i = 0; i < tp; i++) {
            _Pragma("GCC unroll 16")
            for (int j = 0; j < to; j++) {
                a[i][j] += (int32_t)x[i * xs + c] * (int32_t)w[j * ws + c];
            }
        }
    }
    _Pragma("GCC unroll 16")
    for (int i = 0; i < tp; i++) {
        _Pragma("GCC unroll 16")
        for (int j = 0; j < to; j++) {
            acc[i * to + j] = a[i][j];
        }
    }
}

/* One entry point per tile shape (the TensorIntrin names them mbmicro_gemm_dsp_<TP>x<TO>).
 * always_inline: a call would keep the accumulators in memory (GCC did not inline it). */
#define MBMICRO_GEMM_TILE_FN(TP, TO)                                                      \
    static inline __attribute__((always_inline)) void mbmicro_gemm_dsp_##TP##x##TO(        \
        int32_t *acc, const int8_t *x, const int8_t *w, int32_t C, int32_t xs, int32_t ws) \
    {                                                                                     \
        mbmicro_gemm_tile(acc, x, w, C, xs, ws, TP, TO);                                   \
    }
MBMICRO_GEMM_TILE_FN(1, 1)
MBMICRO_GEMM_TILE_FN(1, 2)
MBMICRO_GEMM_TILE_FN(1, 4)
MBMICRO_GEMM_TILE_FN(1, 8)
MBMICRO_GEMM_TILE_FN(1, 16)
MBMICRO_GEMM_TILE_FN(2, 1)
MBMICRO_GEMM_TILE_FN(2, 2)
MBMICRO_GEMM_TILE_FN(2, 4)
MBMICRO_GEMM_TILE_FN(2, 8)
MBMICRO_GEMM_TILE_FN(2, 16)
MBMICRO_GEMM_TILE_FN(4, 1)
MBMICRO_GEMM_TILE_FN(4, 2)
MBMICRO_GEMM_TILE_FN(4, 4)
MBMICRO_GEMM_TILE_FN(4, 8)
MBMICRO_GEMM_TILE_FN(4, 16)
MBMICRO_GEMM_TILE_FN(8, 1)
MBMICRO_GEMM_TILE_FN(8, 2)
MBMICRO_GEMM_TILE_FN(8, 4)
MBMICRO_GEMM_TILE_FN(8, 8)
MBMICRO_GEMM_TILE_FN(8, 16)
#undef MBMICRO_GEMM_TILE_FN

#endif /* MBMICRO_GEMM_H */
