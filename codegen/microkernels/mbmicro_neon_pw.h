/* mbmicro NEON pointwise (1x1 conv / GEMM) micro-kernels for the Cortex-A53.
 *
 * y[p][k] = clamp(requantize(sum_c x[p][c] * w[k][c] + bias[k]) + y_zp)
 *
 * The A53 has no SDOT, so products are widened in two steps: SMULL/SMLAL(2)
 * multiply 8 int8 pairs into int16 lanes, SADALP adds adjacent int16 pairs
 * into int32 accumulators.  Two micro-kernels, the shape decides which wins:
 *
 *   mbmicro_neon_pw_kc4: reduces along C (16 channels per step, an 8-channel
 *     and a scalar tail), a tile of tp pixels x 4 output channels, one int32x4
 *     accumulator per (pixel, channel) summed across lanes at the end.  For
 *     C >= 16.  With ``pair`` = 1 two products share an int16 lane
 *     (SMULL + SMLAL2 + SADALP: 3 instructions per 16 MACs); that needs no
 *     weight equal to -128 ((-128)*(-128)*2 overflows int16), which the
 *     caller checks offline; ``pair`` = 0 adds each product vector on its own.
 *   mbmicro_neon_pw_kv: vectorized along the output channels, for small C
 *     (8, 16) where a reduction along C is too short: weights re-laid offline
 *     as w[C][to] per block of ``to`` (8 or 16) output channels, each input
 *     value multiplies a row of weights by lane (SMLAL by element, int16).
 *
 * Requantization (mbmicro.reference.arith), ``rq``:
 *   MBMICRO_RQ_SINGLE64: (acc*M + 2^(s-1)) >> s in int64 (SMULL + SRSHL.2D),
 *     any shift;
 *   MBMICRO_RQ_SINGLE32: the same value in 32-bit lanes when every s >= 32:
 *     q = SQDMULH(acc, M) = floor(acc*M / 2^31), then SRSHL by -(s-31) gives
 *     floor((q + 2^(s-32)) / 2^(s-31)) = floor((acc*M + 2^(s-1)) / 2^s) exactly
 *     (floor(floor(a)/n) = floor(a/n) for integer n);
 *   MBMICRO_RQ_TFLITE: TFLite's MultiplyByQuantizedMultiplier (left shift,
 *     SQRDMULH, rounding divide with ties away from zero).
 * The clamp saturates to int32, then int16, before the [act_min, act_max]
 * window: both bounds lie in int8, so saturating first changes no result.
 *
 * The portable twin (no __ARM_NEON) computes the same values with the
 * reference's int64 formulas; the host tests use it.
 */
#ifndef MBMICRO_NEON_PW_H
#define MBMICRO_NEON_PW_H

#include <stdint.h>
#include <string.h>

#define MBMICRO_RQ_SINGLE64 0
#define MBMICRO_RQ_SINGLE32 1
#define MBMICRO_RQ_TFLITE 2

/* The reference requantization of one accumulator (int64 arithmetic). */
static inline int64_t mbmicro_pw_requant_ref(int32_t acc, int32_t mult, int32_t shift, int rq)
{
    if (rq != MBMICRO_RQ_TFLITE) {
        return ((int64_t)acc * mult + ((int64_t)1 << (shift - 1))) >> shift;
    }
    int32_t e = 31 - shift;
    int32_t left = e > 0 ? e : 0, right = e < 0 ? -e : 0;
    int64_t x = (int64_t)(int32_t)(uint32_t)((uint64_t)(int64_t)acc << left);
    int64_t high = (x * mult + ((int64_t)1 << 30)) >> 31;
    int64_t half = ((int64_t)1 << right) >> 1;
    int64_t nudge = half - ((high < 0) ? (half < 1 ? half : 1) : 0);
    return (high + nudge) >> right;
}

static inline int8_t mbmicro_pw_clamp_ref(int64_t v, int32_t y_zp, int32_t lo, int32_t hi)
{
    v += y_zp;
    v = v > hi ? hi : v;
    v = v < lo ? lo : v;
    return (int8_t)v;
}

#if defined(__ARM_NEON)
#include <arm_neon.h>

/* Requantize 4 accumulators of 4 output channels (mult m, shift s). */
static inline int32x4_t mbmicro_neon_rq(int32x4_t acc, int32x4_t m, int32x4_t s, int rq)
{
    if (rq == MBMICRO_RQ_SINGLE32) {
        return vrshlq_s32(vqdmulhq_s32(acc, m), vsubq_s32(vdupq_n_s32(31), s));
    }
    if (rq == MBMICRO_RQ_TFLITE) {
        int32x4_t e = vsubq_s32(vdupq_n_s32(31), s);
        int32x4_t left = vmaxq_s32(e, vdupq_n_s32(0)), negright = vminq_s32(e, vdupq_n_s32(0));
        int32x4_t high = vqrdmulhq_s32(vshlq_s32(acc, left), m);
        int32x4_t fix = vshrq_n_s32(vandq_s32(high, negright), 31);
        return vrshlq_s32(vaddq_s32(high, fix), negright);
    }
    int32x4_t ns = vnegq_s32(s);
    int64x2_t lo = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(m)), vmovl_s32(vget_low_s32(ns)));
    int64x2_t hi = vrshlq_s64(vmull_high_s32(acc, m), vmovl_high_s32(ns));
    return vqmovn_high_s64(vqmovn_s64(lo), hi);
}

/* Two requantized int32x4 -> int16x8 with y_zp added and [lo, hi] applied. */
static inline int16x8_t mbmicro_neon_out16(int32x4_t a, int32x4_t b, int32x4_t zp, int16x8_t lo, int16x8_t hi)
{
    int16x8_t v = vqmovn_high_s32(vqmovn_s32(vqaddq_s32(a, zp)), vqaddq_s32(b, zp));
    return vminq_s16(vmaxq_s16(v, lo), hi);
}

/* acc += x[0:16] . w[0:16] as 4 int32 partial sums. */
static inline int32x4_t mbmicro_neon_dot16(int32x4_t acc, int8x16_t x, int8x16_t w, int pair)
{
    if (pair) {
        int16x8_t t = vmull_s8(vget_low_s8(x), vget_low_s8(w));
        return vpadalq_s16(acc, vmlal_high_s8(t, x, w));
    }
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
    return vpadalq_s16(acc, vmull_high_s8(x, w));
}

/* 1..7 int8 values into the low lanes of a zeroed vector (the C % 8 tail). */
static inline int8x8_t mbmicro_neon_load_tail(const int8_t *p, int32_t n)
{
    int8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(buf, p, (size_t)n);
    return vld1_s8(buf);
}

/* tp (1..4) pixels x 4 output channels.  x: the tile's first pixel row (row
 * stride C); w: the first of 4 weight rows w[k][C]; bias/mult/shift: the 4
 * channels'; y: y[p0][k0], row stride K. */
static inline void mbmicro_neon_pw_kc4(const int8_t *x, const int8_t *w, const int32_t *bias,
                                       const int32_t *mult, const int32_t *shift, int32_t y_zp,
                                       int32_t act_min, int32_t act_max, int8_t *y, int32_t C, int32_t K,
                                       int tp, int rq, int pair)
{
    int32x4_t acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = vdupq_n_s32(0);
    int32_t c = 0;
    for (; c + 16 <= C; c += 16) {
        int8x16_t wv[4], xv[4];
        for (int j = 0; j < 4; j++)
            wv[j] = vld1q_s8(w + j * C + c);
        for (int i = 0; i < tp; i++) {
            xv[i] = vld1q_s8(x + i * C + c);
            for (int j = 0; j < 4; j++)
                acc[i][j] = mbmicro_neon_dot16(acc[i][j], xv[i], wv[j], pair);
        }
    }
    for (; c + 8 <= C; c += 8) {
        int8x8_t wv[4];
        for (int j = 0; j < 4; j++)
            wv[j] = vld1_s8(w + j * C + c);
        for (int i = 0; i < tp; i++) {
            int8x8_t xv = vld1_s8(x + i * C + c);
            for (int j = 0; j < 4; j++)
                acc[i][j] = vpadalq_s16(acc[i][j], vmull_s8(xv, wv[j]));
        }
    }
    if (c < C) {
        int8x8_t wv[4];
        for (int j = 0; j < 4; j++)
            wv[j] = mbmicro_neon_load_tail(w + j * C + c, C - c);
        for (int i = 0; i < tp; i++) {
            int8x8_t xv = mbmicro_neon_load_tail(x + i * C + c, C - c);
            for (int j = 0; j < 4; j++)
                acc[i][j] = vpadalq_s16(acc[i][j], vmull_s8(xv, wv[j]));
        }
    }
    int32x4_t b = vld1q_s32(bias), m = vld1q_s32(mult), s = vld1q_s32(shift), zp = vdupq_n_s32(y_zp);
    int16x8_t lo = vdupq_n_s16((int16_t)act_min), hi = vdupq_n_s16((int16_t)act_max);
    int32x4_t r[4];
    for (int i = 0; i < tp; i++) {
        int32x4_t sum = vpaddq_s32(vpaddq_s32(acc[i][0], acc[i][1]), vpaddq_s32(acc[i][2], acc[i][3]));
        r[i] = mbmicro_neon_rq(vaddq_s32(sum, b), m, s, rq);
    }
    for (int i = 0; i < tp; i += 2) {
        int16x8_t v = mbmicro_neon_out16(r[i], i + 1 < tp ? r[i + 1] : r[i], zp, lo, hi);
        int8x8_t o = vqmovn_s16(v);
        vst1_lane_s32((int32_t *)(void *)(y + i * K), vreinterpret_s32_s8(o), 0);
        if (i + 1 < tp)
            vst1_lane_s32((int32_t *)(void *)(y + (i + 1) * K), vreinterpret_s32_s8(o), 1);
    }
}

/* acc[0..to/4) += row (to int16 weights of one input channel) * lane of xv. */
#define MBMICRO_NEON_KV_LANE(acc, w16, xv, lane, to)                               \
    do {                                                                          \
        (acc)[0] = vmlal_laneq_s16((acc)[0], vget_low_s16((w16)[0]), (xv), lane); \
        (acc)[1] = vmlal_high_laneq_s16((acc)[1], (w16)[0], (xv), lane);          \
        if ((to) == 16) {                                                         \
            (acc)[2] = vmlal_laneq_s16((acc)[2], vget_low_s16((w16)[1]), (xv), lane); \
            (acc)[3] = vmlal_high_laneq_s16((acc)[3], (w16)[1], (xv), lane);      \
        }                                                                         \
    } while (0)

/* The to (8 or 16) int16 weights of input channel c of a w[C][to] panel. */
static inline void mbmicro_neon_kv_row(int16x8_t w16[2], const int8_t *w, int32_t c, int to)
{
    if (to == 16) {
        int8x16_t v = vld1q_s8(w + c * 16);
        w16[0] = vmovl_s8(vget_low_s8(v));
        w16[1] = vmovl_high_s8(v);
    } else {
        w16[0] = vmovl_s8(vld1_s8(w + c * 8));
        w16[1] = w16[0];
    }
}

/* tp (1..4) pixels x to (8 or 16) output channels, reduced one input channel
 * at a time.  w: the panel w[C][to] of this block of output channels. */
static inline void mbmicro_neon_pw_kv(const int8_t *x, const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int32_t y_zp,
                                      int32_t act_min, int32_t act_max, int8_t *y, int32_t C, int32_t K,
                                      int tp, int to, int rq)
{
    int32x4_t acc[4][4];
    for (int j = 0; j < to / 4; j++) {
        int32x4_t b = vld1q_s32(bias + 4 * j);
        for (int i = 0; i < 4; i++)
            acc[i][j] = b;
    }
    int32_t c = 0;
    for (; c + 8 <= C; c += 8) {
        int16x8_t xv[4];
        for (int i = 0; i < tp; i++)
            xv[i] = vmovl_s8(vld1_s8(x + i * C + c));
        int16x8_t w16[2];
#define MBMICRO_NEON_KV_STEP(lane)                                       \
        mbmicro_neon_kv_row(w16, w, c + lane, to);                       \
        for (int i = 0; i < tp; i++)                                     \
            MBMICRO_NEON_KV_LANE(acc[i], w16, xv[i], lane, to);
        MBMICRO_NEON_KV_STEP(0)
        MBMICRO_NEON_KV_STEP(1)
        MBMICRO_NEON_KV_STEP(2)
        MBMICRO_NEON_KV_STEP(3)
        MBMICRO_NEON_KV_STEP(4)
        MBMICRO_NEON_KV_STEP(5)
        MBMICRO_NEON_KV_STEP(6)
        MBMICRO_NEON_KV_STEP(7)
#undef MBMICRO_NEON_KV_STEP
    }
    for (; c < C; c++) {
        int16x8_t w16[2];
        mbmicro_neon_kv_row(w16, w, c, to);
        for (int i = 0; i < tp; i++) {
            int16x8_t xv = vdupq_n_s16((int16_t)x[i * C + c]);
            MBMICRO_NEON_KV_LANE(acc[i], w16, xv, 0, to);
        }
    }
    int32x4_t zp = vdupq_n_s32(y_zp);
    int16x8_t lo = vdupq_n_s16((int16_t)act_min), hi = vdupq_n_s16((int16_t)act_max);
    for (int j = 0; j < to / 4; j += 2) {
        int32x4_t m0 = vld1q_s32(mult + 4 * j), m1 = vld1q_s32(mult + 4 * j + 4);
        int32x4_t s0 = vld1q_s32(shift + 4 * j), s1 = vld1q_s32(shift + 4 * j + 4);
        for (int i = 0; i < tp; i++) {
            int16x8_t v = mbmicro_neon_out16(mbmicro_neon_rq(acc[i][j], m0, s0, rq),
                                             mbmicro_neon_rq(acc[i][j + 1], m1, s1, rq), zp, lo, hi);
            vst1_s8(y + i * K + 4 * j, vqmovn_s16(v));
        }
    }
}

#else /* portable twin: the same tiles with the reference's int64 arithmetic */

static inline void mbmicro_neon_pw_kc4(const int8_t *x, const int8_t *w, const int32_t *bias,
                                       const int32_t *mult, const int32_t *shift, int32_t y_zp,
                                       int32_t act_min, int32_t act_max, int8_t *y, int32_t C, int32_t K,
                                       int tp, int rq, int pair)
{
    (void)pair;
    for (int i = 0; i < tp; i++) {
        for (int j = 0; j < 4; j++) {
            int32_t acc = bias[j];
            for (int32_t c = 0; c < C; c++)
                acc += (int32_t)x[i * C + c] * w[j * C + c];
            y[i * K + j] = mbmicro_pw_clamp_ref(mbmicro_pw_requant_ref(acc, mult[j], shift[j], rq),
                                                y_zp, act_min, act_max);
        }
    }
}

static inline void mbmicro_neon_pw_kv(const int8_t *x, const int8_t *w, const int32_t *bias,
                                      const int32_t *mult, const int32_t *shift, int32_t y_zp,
                                      int32_t act_min, int32_t act_max, int8_t *y, int32_t C, int32_t K,
                                      int tp, int to, int rq)
{
    for (int i = 0; i < tp; i++) {
        for (int j = 0; j < to; j++) {
            int32_t acc = bias[j];
            for (int32_t c = 0; c < C; c++)
                acc += (int32_t)x[i * C + c] * w[c * to + j];
            y[i * K + j] = mbmicro_pw_clamp_ref(mbmicro_pw_requant_ref(acc, mult[j], shift[j], rq),
                                                y_zp, act_min, act_max);
        }
    }
}

#endif /* __ARM_NEON */
#endif /* MBMICRO_NEON_PW_H */
