/* mbmicro NEON pointwise (1x1 conv / GEMM) micro-kernels for the Cortex-A53.
 *
 * A pointwise kernel is y[p][k] = clamp(requantize(sum_c x[p][c] w[k][c] + bias[k]) + y_zp).
 * The schedule (codegen/ops/pointwise_neon.py) tiles it into tp pixels x to
 * output channels and places two calls per tile with `tensorize`:
 *
 *   mbmicro_neon_gemm_c: acc[tp][to] += x . w^T, reducing along C.  The A53
 *     has no SDOT, so products are widened in two steps: SMULL/SMLAL2 multiply
 *     8 int8 pairs into int16 lanes, SADALP adds adjacent int16 pairs into
 *     int32 lanes; 16 input channels per step, one int32x4 per (pixel,
 *     channel) summed across lanes at the end (an 8-channel and a scalar tail).
 *     With ``pair`` = 1 two products share an int16 lane (SMULL + SMLAL2 +
 *     SADALP: 3 instructions per 16 MACs); that needs no weight equal to -128
 *     (2 * (-128) * (-128) overflows int16), which the op checks offline;
 *     ``pair`` = 0 adds each product vector on its own (4 per 16 MACs).
 *   mbmicro_neon_gemm_k: the same accumulation vectorized along the output
 *     channels, for small C (8, 16) where a reduction along C is too short:
 *     w is a panel w[C][to] (the schedule transposes to channels' weights
 *     once per panel), each input value multiplies a row of int16 weights by
 *     lane (SMLAL by element: 4 MACs per instruction, no reduction at the end).
 *   mbmicro_neon_out: requantize, add y_zp, clamp and narrow the tile to int8,
 *     4 or 8 channels per vector, two rows per int8x16.  The schedule starts the
 *     accumulators from the (folded) bias, so no bias is added here.
 *     q = {y_zp, act_min, act_max}.
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
 * The requantized value saturates to int16, gets y_zp added (saturating int16),
 * saturates to int8 and is clamped to the [act_min, act_max] window: both bounds
 * lie in int8 and |y_zp| <= 128, so no saturation changes a result.
 *
 * Sizes: tp any (processed 4 pixels at a time), to 4, 8 or 16 vectorized (1 and
 * 2 also work: gemm_c reduces each sum alone, gemm_k and out fall back to scalar
 * C).  The portable twin (no __ARM_NEON) computes the same values with the
 * reference's int64 formulas; the host build and host tests use it.
 */
#ifndef MBMICRO_NEON_PW_H
#define MBMICRO_NEON_PW_H

#include <stdint.h>
#include <string.h>

#define MBMICRO_RQ_SINGLE64 0
#define MBMICRO_RQ_SINGLE32 1
#define MBMICRO_RQ_TFLITE 2

/* The reference requantization of one accumulator (int64 arithmetic). */
static inline int64_t mbmicro_neon_requant_ref(int32_t acc, int32_t mult, int32_t shift, int rq)
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

/* One output of the tile: requantize acc + bias, add q[0], clamp to [q[1], q[2]]. */
static inline int8_t mbmicro_neon_out_ref(int32_t acc, int32_t mult, int32_t shift, const int32_t *q, int rq)
{
    int64_t v = mbmicro_neon_requant_ref(acc, mult, shift, rq) + q[0];
    v = v > q[2] ? q[2] : v;
    v = v < q[1] ? q[1] : v;
    return (int8_t)v;
}

#if defined(__ARM_NEON)
#include <arm_neon.h>

#define MBMICRO_NEON_INLINE static inline __attribute__((always_inline))

/* Requantize 4 accumulators of 4 output channels (mult m, shift s). */
MBMICRO_NEON_INLINE int32x4_t mbmicro_neon_rq(int32x4_t acc, int32x4_t m, int32x4_t s, int rq)
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

/* Four requantized int32x4 -> 16 int8 outputs (r[0], r[1] the low 8, r[2], r[3] the high 8):
 * narrow to int16, + y_zp (saturating, int16), narrow to int8, clamp to [lo, hi]. */
MBMICRO_NEON_INLINE int8x16_t mbmicro_neon_narrow16(const int32x4_t r[4], int16x8_t zp, int8x16_t lo,
                                                   int8x16_t hi)
{
    int16x8_t a = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(r[0]), r[1]), zp);
    int16x8_t b = vqaddq_s16(vqmovn_high_s32(vqmovn_s32(r[2]), r[3]), zp);
    return vminq_s8(vmaxq_s8(vqmovn_high_s16(vqmovn_s16(a), b), lo), hi);
}

/* acc += x[0:16] . w[0:16] as 4 int32 partial sums. */
MBMICRO_NEON_INLINE int32x4_t mbmicro_neon_dot16(int32x4_t acc, int8x16_t x, int8x16_t w, int pair)
{
    if (pair) {
        int16x8_t t = vmull_s8(vget_low_s8(x), vget_low_s8(w));
        return vpadalq_s16(acc, vmlal_high_s8(t, x, w));
    }
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(w)));
    return vpadalq_s16(acc, vmull_high_s8(x, w));
}

/* 1..7 int8 values into the low lanes of a zeroed vector (the C % 8 tail when C < 8). */
MBMICRO_NEON_INLINE int8x8_t mbmicro_neon_load_tail(const int8_t *p, int32_t n)
{
    int8_t buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(buf, p, (size_t)n);
    return vld1_s8(buf);
}

/* a[i][j] (i < tp <= 4, j < tn <= 4) += lane partial sums of x rows . w rows over C. */
MBMICRO_NEON_INLINE void mbmicro_neon_dot_rows(int32x4_t a[4][4], const int8_t *x, const int8_t *w,
                                               int32_t C, int32_t xs, int32_t ws, int tp, int tn, int pair)
{
    int32_t c = 0;
    for (; c + 16 <= C; c += 16) {
        int8x16_t wv[4];
        for (int j = 0; j < tn; j++)
            wv[j] = vld1q_s8(w + j * ws + c);
        for (int i = 0; i < tp; i++) {
            int8x16_t xv = vld1q_s8(x + i * xs + c);
            for (int j = 0; j < tn; j++)
                a[i][j] = mbmicro_neon_dot16(a[i][j], xv, wv[j], pair);
        }
    }
    for (; c + 8 <= C; c += 8) {
        int8x8_t wv[4];
        for (int j = 0; j < tn; j++)
            wv[j] = vld1_s8(w + j * ws + c);
        for (int i = 0; i < tp; i++) {
            int8x8_t xv = vld1_s8(x + i * xs + c);
            for (int j = 0; j < tn; j++)
                a[i][j] = vpadalq_s16(a[i][j], vmull_s8(xv, wv[j]));
        }
    }
    if (c < C && C >= 8) {
        /* the last 8 channels of each row (in bounds), with the weights of the 8 - (C - c)
         * channels already summed masked to zero: no copy, no second pass */
        int8x8_t keep = vreinterpret_s8_u8(vcgt_s8(vcreate_s8(0x0706050403020100ULL),
                                                   vdup_n_s8((int8_t)(7 - (C - c)))));
        int8x8_t wv[4];
        for (int j = 0; j < tn; j++)
            wv[j] = vand_s8(vld1_s8(w + j * ws + C - 8), keep);
        for (int i = 0; i < tp; i++) {
            int8x8_t xv = vld1_s8(x + i * xs + C - 8);
            for (int j = 0; j < tn; j++)
                a[i][j] = vpadalq_s16(a[i][j], vmull_s8(xv, wv[j]));
        }
    } else if (c < C) {
        int8x8_t wv[4];
        for (int j = 0; j < tn; j++)
            wv[j] = mbmicro_neon_load_tail(w + j * ws + c, C - c);
        for (int i = 0; i < tp; i++) {
            int8x8_t xv = mbmicro_neon_load_tail(x + i * xs + c, C - c);
            for (int j = 0; j < tn; j++)
                a[i][j] = vpadalq_s16(a[i][j], vmull_s8(xv, wv[j]));
        }
    }
}

/* acc[tp][to] += x[tp][C] . w[to][C]^T (x rows xs apart, w rows ws apart, acc rows to apart). */
MBMICRO_NEON_INLINE void mbmicro_neon_gemm_c(int32_t *acc, const int8_t *x, const int8_t *w, int32_t C,
                                             int32_t xs, int32_t ws, int tp, int to, int pair)
{
    for (int i0 = 0; i0 < tp; i0 += 4) {
        int np = tp - i0 < 4 ? tp - i0 : 4;
        for (int j0 = 0; j0 < to; j0 += 4) {
            int nj = to - j0 < 4 ? to - j0 : 4;
            int32x4_t a[4][4];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++)
                    a[i][j] = vdupq_n_s32(0);
            mbmicro_neon_dot_rows(a, x + i0 * xs, w + j0 * ws, C, xs, ws, np, nj, pair);
            for (int i = 0; i < np; i++) {
                int32_t *row = acc + (i0 + i) * to + j0;
                if (nj == 4) {
                    int32x4_t sum = vpaddq_s32(vpaddq_s32(a[i][0], a[i][1]), vpaddq_s32(a[i][2], a[i][3]));
                    vst1q_s32(row, vaddq_s32(vld1q_s32(row), sum));
                } else {
                    for (int j = 0; j < nj; j++)
                        row[j] += vaddvq_s32(a[i][j]);
                }
            }
        }
    }
}

/* a[i][0..to/4) += row (to int16 weights of one input channel) * lane of xv. */
#define MBMICRO_NEON_K_LANE(a, w16, xv, lane, to)                                    \
    do {                                                                             \
        (a)[0] = vmlal_laneq_s16((a)[0], vget_low_s16((w16)[0]), (xv), lane);        \
        if ((to) >= 8)                                                               \
            (a)[1] = vmlal_high_laneq_s16((a)[1], (w16)[0], (xv), lane);             \
        if ((to) == 16) {                                                            \
            (a)[2] = vmlal_laneq_s16((a)[2], vget_low_s16((w16)[1]), (xv), lane);    \
            (a)[3] = vmlal_high_laneq_s16((a)[3], (w16)[1], (xv), lane);             \
        }                                                                            \
    } while (0)

/* The to (4, 8 or 16) weights of input channel c of a w[C][to] panel, as int16. */
MBMICRO_NEON_INLINE void mbmicro_neon_k_row(int16x8_t w16[2], const int8_t *w, int32_t c, int to)
{
    if (to == 16) {
        int8x16_t v = vld1q_s8(w + c * 16);
        w16[0] = vmovl_s8(vget_low_s8(v));
        w16[1] = vmovl_high_s8(v);
    } else if (to == 8) {
        w16[0] = vmovl_s8(vld1_s8(w + c * 8));
        w16[1] = w16[0];
    } else {
        int32_t v;
        memcpy(&v, w + c * 4, 4);
        w16[0] = vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(v)));
        w16[1] = w16[0];
    }
    /* an empty asm hides that the vectors are sign extensions: gcc otherwise keeps the low
     * halves that SMLAL (by element) reads as separate registers besides the q registers
     * SMLAL2 reads, spills the panel out of 32 registers and reloads it (0.524 -> 0.492
     * instructions per MAC at 8 input channels, 4 x 8 tiles); 16-wide panels do better without */
    if (to != 16)
        __asm__("" : "+w"(w16[0]));
}

/* Up to 4 pixels of the panel product: a[i][g] += x[i][c] * w[c][4g..4g+3]. */
MBMICRO_NEON_INLINE void mbmicro_neon_k_rows(int32x4_t a[4][4], const int8_t *x, const int8_t *w, int32_t C,
                                             int32_t xs, int tp, int to)
{
    int32_t c = 0;
    for (; c + 8 <= C; c += 8) {
        int16x8_t xv[4], w16[2];
        for (int i = 0; i < tp; i++)
            xv[i] = vmovl_s8(vld1_s8(x + i * xs + c));
#define MBMICRO_NEON_K_STEP(lane)                             \
        mbmicro_neon_k_row(w16, w, c + lane, to);             \
        for (int i = 0; i < tp; i++)                          \
            MBMICRO_NEON_K_LANE(a[i], w16, xv[i], lane, to);
        MBMICRO_NEON_K_STEP(0)
        MBMICRO_NEON_K_STEP(1)
        MBMICRO_NEON_K_STEP(2)
        MBMICRO_NEON_K_STEP(3)
        MBMICRO_NEON_K_STEP(4)
        MBMICRO_NEON_K_STEP(5)
        MBMICRO_NEON_K_STEP(6)
        MBMICRO_NEON_K_STEP(7)
#undef MBMICRO_NEON_K_STEP
    }
    for (; c < C; c++) {
        int16x8_t w16[2];
        mbmicro_neon_k_row(w16, w, c, to);
        for (int i = 0; i < tp; i++) {
            int16x8_t xv = vdupq_n_s16((int16_t)x[i * xs + c]);
            MBMICRO_NEON_K_LANE(a[i], w16, xv, 0, to);
        }
    }
}

/* acc[tp][to] += x[tp][C] . w[C][to] (a panel: to weights per input channel). */
MBMICRO_NEON_INLINE void mbmicro_neon_gemm_k(int32_t *acc, const int8_t *x, const int8_t *w, int32_t C,
                                             int32_t xs, int tp, int to)
{
    if (to % 4) { /* 1 or 2 channels: no vector of them (the schedule's defaults never ask) */
        for (int i = 0; i < tp; i++)
            for (int j = 0; j < to; j++)
                for (int32_t c = 0; c < C; c++)
                    acc[i * to + j] += (int32_t)x[i * xs + c] * w[c * to + j];
        return;
    }
    for (int i0 = 0; i0 < tp; i0 += 4) {
        int np = tp - i0 < 4 ? tp - i0 : 4;
        int32x4_t a[4][4];
        for (int i = 0; i < np; i++)
            for (int g = 0; g < to / 4; g++)
                a[i][g] = vld1q_s32(acc + (i0 + i) * to + 4 * g);
        mbmicro_neon_k_rows(a, x + i0 * xs, w, C, xs, np, to);
        for (int i = 0; i < np; i++)
            for (int g = 0; g < to / 4; g++)
                vst1q_s32(acc + (i0 + i) * to + 4 * g, a[i][g]);
    }
}

/* y[i][j] (rows ys apart) = clamp(requantize(acc[i][j]) + q[0], q[1], q[2]); the schedule
 * started the accumulators from the bias.  Rows go in pairs: the 8 (or 4) outputs of two rows
 * narrow and clamp as one int8x16. */
MBMICRO_NEON_INLINE void mbmicro_neon_out(int8_t *y, const int32_t *acc, const int32_t *mult,
                                          const int32_t *shift, const int32_t *q, int32_t ys, int tp, int to,
                                          int rq)
{
    if (to % 4) {
        for (int i = 0; i < tp; i++)
            for (int j = 0; j < to; j++)
                y[i * ys + j] = mbmicro_neon_out_ref(acc[i * to + j], mult[j], shift[j], q, rq);
        return;
    }
    int16x8_t zp = vdupq_n_s16((int16_t)q[0]);
    int8x16_t lo = vdupq_n_s8((int8_t)q[1]), hi = vdupq_n_s8((int8_t)q[2]);
    for (int j = 0; j < to; j += 8) {
        int wide = j + 8 <= to;
        int32x4_t m0 = vld1q_s32(mult + j), s0 = vld1q_s32(shift + j);
        int32x4_t m1 = wide ? vld1q_s32(mult + j + 4) : m0, s1 = wide ? vld1q_s32(shift + j + 4) : s0;
        for (int i = 0; i < tp; i += 2) {
            int i1 = i + 1 < tp ? i + 1 : i; /* an odd last row pairs with itself */
            int32x4_t r[4];
            r[0] = mbmicro_neon_rq(vld1q_s32(acc + i * to + j), m0, s0, rq);
            r[2] = mbmicro_neon_rq(vld1q_s32(acc + i1 * to + j), m0, s0, rq);
            if (wide) {
                r[1] = mbmicro_neon_rq(vld1q_s32(acc + i * to + j + 4), m1, s1, rq);
                r[3] = mbmicro_neon_rq(vld1q_s32(acc + i1 * to + j + 4), m1, s1, rq);
            } else {
                r[1] = r[0];
                r[3] = r[2];
            }
            int8x16_t o = mbmicro_neon_narrow16(r, zp, lo, hi);
            if (wide) { /* the high half by lane: one ST1, not DUP + STR */
                vst1q_lane_s64((int64_t *)(void *)(y + i1 * ys + j), vreinterpretq_s64_s8(o), 1);
                vst1_s8(y + i * ys + j, vget_low_s8(o));
            } else {
                vst1q_lane_s32((int32_t *)(void *)(y + i1 * ys + j), vreinterpretq_s32_s8(o), 2);
                vst1q_lane_s32((int32_t *)(void *)(y + i * ys + j), vreinterpretq_s32_s8(o), 0);
            }
        }
    }
}

#else /* portable twin: the same tiles with the reference's int64 arithmetic */

static inline void mbmicro_neon_gemm_c(int32_t *acc, const int8_t *x, const int8_t *w, int32_t C,
                                       int32_t xs, int32_t ws, int tp, int to, int pair)
{
    (void)pair;
    for (int i = 0; i < tp; i++)
        for (int j = 0; j < to; j++)
            for (int32_t c = 0; c < C; c++)
                acc[i * to + j] += (int32_t)x[i * xs + c] * w[j * ws + c];
}

static inline void mbmicro_neon_gemm_k(int32_t *acc, const int8_t *x, const int8_t *w, int32_t C,
                                       int32_t xs, int tp, int to)
{
    for (int i = 0; i < tp; i++)
        for (int j = 0; j < to; j++)
            for (int32_t c = 0; c < C; c++)
                acc[i * to + j] += (int32_t)x[i * xs + c] * w[c * to + j];
}

static inline void mbmicro_neon_out(int8_t *y, const int32_t *acc, const int32_t *mult, const int32_t *shift,
                                    const int32_t *q, int32_t ys, int tp, int to, int rq)
{
    for (int i = 0; i < tp; i++)
        for (int j = 0; j < to; j++)
            y[i * ys + j] = mbmicro_neon_out_ref(acc[i * to + j], mult[j], shift[j], q, rq);
}

#endif /* __ARM_NEON */
#endif /* MBMICRO_NEON_PW_H */
