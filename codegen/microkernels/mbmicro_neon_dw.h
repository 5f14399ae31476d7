/* mbmicro NEON depthwise micro-kernel for the Cortex-A53 (codegen/ops/depthwise_neon.py).
 *
 * A depthwise kernel is y[oh][ow][c] = clamp(requantize(sum_{kh,kw} (x[ih][iw][c] - x_zp)
 * * w[kh][kw][c] + bias[c]) + y_zp), ih = oh*S + kh - top, iw = ow*S + kw - left, taps
 * outside the image skipped.  The schedule places one call of mbmicro_neon_dw_row per
 * output row; the shape and the requantization mode are literal arguments, so gcc
 * specializes the inlined body.
 *
 * Why x - x_zp and no folded bias: a tap outside the image then contributes nothing, so
 * border pixels simply skip it, and the interior needs no padded copy of the input.  The
 * subtraction costs nothing: SSUBL widens int8 to int16 and subtracts in one instruction
 * (|x - x_zp| <= 255, so (x - x_zp) * w fits int32 and the sum does too: the op checks
 * sum + bias against int32 offline).
 *
 * Per 16 channels and tap: one LD1 of 16 input bytes, SSUBL + SSUBL2, and four SMLAL(2)
 * of int16 x int16 -> int32 against the tap's weights, which are int16 re-laid offline
 * (w[(kh*KW + kw)*C + c]: the int8 weights widened, same order).  On rows and columns
 * whose taps all lie inside the image the tap weights are loaded once per channel block
 * (registers for 3x3) and the taps are unrolled; border pixels loop over their valid
 * taps only.  A tail of 8 channels uses 8-lane loads; the last C % 8 channels go through
 * one more 8- or 4-lane block that overlaps channels already done (equal values stored
 * again), so only C < 4 runs scalar (see mbmicro_neon_dw_row).
 *
 * Requantization (``rq``, the modes of mbmicro_neon_pw.h) takes e = 31 - shift per
 * channel, re-laid offline: MBMICRO_RQ_SINGLE32 (every shift >= 32) is SQDMULH then SRSHL
 * by e, exactly the single rule (see mbmicro_neon_pw.h for the proof); the other modes go
 * through mbmicro_neon_rq.  The requantized int32 lanes narrow with saturation to int16,
 * get y_zp added (saturating), narrow to int8 and are clamped to [lo, hi]: the bounds lie
 * in int8, so each saturation on the way moves a value only where the clamp would anyway.
 *
 * The portable twin (no __ARM_NEON) computes the same values with the reference's int64
 * formulas (mbmicro_neon_out_ref); the host build and host tests use it.
 */
#ifndef MBMICRO_NEON_DW_H
#define MBMICRO_NEON_DW_H

#include <stdint.h>
#include <string.h>

#include "mbmicro_neon_pw.h"

/* Largest KH * KW the kernel takes (9x9). */
#define MBMICRO_NEON_DW_MAX_TAPS 81 /* the op's limit: the kernel itself has none */

/* sum over the valid taps of (x - x_zp) * w for channel c of the output pixel whose first
 * tap is input (ih0, iw0). */
static inline int32_t mbmicro_neon_dw_sum1(const int8_t *x, int32_t H, int32_t W, int32_t C, const int16_t *w,
                                           int32_t KH, int32_t KW, int32_t ih0, int32_t iw0, int32_t x_zp,
                                           int32_t c)
{
    int32_t acc = 0;
    for (int32_t kh = 0; kh < KH; kh++) {
        int32_t ih = ih0 + kh;
        if (ih < 0 || ih >= H)
            continue;
        for (int32_t kw = 0; kw < KW; kw++) {
            int32_t iw = iw0 + kw;
            if (iw < 0 || iw >= W)
                continue;
            acc += ((int32_t)x[(ih * W + iw) * C + c] - x_zp) * w[(kh * KW + kw) * C + c];
        }
    }
    return acc;
}

/* One output row, channels [c0, C), in the reference's arithmetic (the twin, and the
 * NEON path when C < 4). */
static inline void mbmicro_neon_dw_row_ref(const int8_t *x, int32_t H, int32_t W, int32_t C, const int16_t *w,
                                           int32_t KH, int32_t KW, int32_t S, int32_t top, int32_t left,
                                           int32_t oh, int32_t OW, const int32_t *bias, const int32_t *mult,
                                           const int32_t *rexp, int32_t x_zp, int rq, int32_t y_zp, int32_t lo,
                                           int32_t hi, int8_t *y, int32_t c0)
{
    const int32_t q[3] = {y_zp, lo, hi};
    for (int32_t ow = 0; ow < OW; ow++)
        for (int32_t c = c0; c < C; c++) {
            int32_t acc = mbmicro_neon_dw_sum1(x, H, W, C, w, KH, KW, oh * S - top, ow * S - left, x_zp, c);
            y[ow * C + c] = mbmicro_neon_out_ref(acc + bias[c], mult[c], 31 - rexp[c], q, rq);
        }
}

#if defined(__ARM_NEON)
#include <arm_neon.h>

/* The requantization of mbmicro_neon_pw.h with e = 31 - shift given. */
MBMICRO_NEON_INLINE int32x4_t mbmicro_neon_dw_rq(int32x4_t acc, int32x4_t m, int32x4_t e, int rq)
{
    if (rq == MBMICRO_RQ_SINGLE32)
        return vrshlq_s32(vqdmulhq_s32(acc, m), e);
    return mbmicro_neon_rq(acc, m, vsubq_s32(vdupq_n_s32(31), e), rq);
}

/* One channel block is 16 lanes (four int32x4 accumulators, a[0..3]), 8 lanes (a[0..1]) or
 * 4 lanes (a[0]); every call passes lanes as a literal, so each inlined copy is
 * specialized to one width and the branches on it vanish.  The functions below are the
 * per-pixel body that the interior (two pixels per tap) and the border (one pixel, valid
 * taps only) share, for every width.  A 4-lane block reads and writes exactly 4 bytes
 * (memcpy through a uint32: no access past the tensor's last channel). */

/* The tap's int16 weights at wt (wh: lanes 8..15, only for 16 lanes; 4 lanes read 4). */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_weights(const int16_t *wt, int16x8_t *wl, int16x8_t *wh, int lanes)
{
    if (lanes == 4) {
        int16x4_t v = vld1_s16(wt);
        *wl = vcombine_s16(v, v);
    } else {
        *wl = vld1q_s16(wt);
    }
    *wh = lanes == 16 ? vld1q_s16(wt + 8) : *wl;
}

/* a += (x - zp) * (wl, wh) over the block's channels of one tap. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_tap(int32x4_t *a, const int8_t *x, int8x16_t zp, int16x8_t wl,
                                             int16x8_t wh, int lanes)
{
    if (lanes == 16) {
        int8x16_t v = vld1q_s8(x);
        int16x8_t l = vsubl_s8(vget_low_s8(v), vget_low_s8(zp));
        int16x8_t h = vsubl_high_s8(v, zp);
        a[0] = vmlal_s16(a[0], vget_low_s16(l), vget_low_s16(wl));
        a[1] = vmlal_high_s16(a[1], l, wl);
        a[2] = vmlal_s16(a[2], vget_low_s16(h), vget_low_s16(wh));
        a[3] = vmlal_high_s16(a[3], h, wh);
    } else if (lanes == 8) {
        int16x8_t l = vsubl_s8(vld1_s8(x), vget_low_s8(zp));
        a[0] = vmlal_s16(a[0], vget_low_s16(l), vget_low_s16(wl));
        a[1] = vmlal_high_s16(a[1], l, wl);
    } else {
        uint32_t u;
        memcpy(&u, x, 4);
        int16x8_t l = vsubl_s8(vreinterpret_s8_u32(vdup_n_u32(u)), vget_low_s8(zp));
        a[0] = vmlal_s16(a[0], vget_low_s16(l), vget_low_s16(wl));
    }
}

/* a = the block's biases: where every pixel's sum starts. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_bias(int32x4_t *a, const int32_t *bias, int lanes)
{
    if (lanes == 16) {
        int32x4x4_t b = vld1q_s32_x4(bias);
        for (int g = 0; g < 4; g++)
            a[g] = b.val[g];
    } else if (lanes == 8) {
        int32x4x2_t b = vld1q_s32_x2(bias);
        a[0] = b.val[0];
        a[1] = b.val[1];
    } else {
        a[0] = vld1q_s32(bias);
    }
}

/* Store the block's requantized outputs of a at y. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_out(int8_t *y, const int32x4_t *a, const int32_t *mult,
                                             const int32_t *rexp, int rq, int16x8_t zp, int8x16_t lo,
                                             int8x16_t hi, int lanes)
{
    int32x4_t r[4];
    if (lanes == 16) {
        int32x4x4_t m = vld1q_s32_x4(mult), e = vld1q_s32_x4(rexp);
        for (int g = 0; g < 4; g++)
            r[g] = mbmicro_neon_dw_rq(a[g], m.val[g], e.val[g], rq);
        vst1q_s8(y, mbmicro_neon_narrow16(r, zp, lo, hi));
    } else if (lanes == 8) {
        int32x4x2_t m = vld1q_s32_x2(mult), e = vld1q_s32_x2(rexp);
        r[0] = mbmicro_neon_dw_rq(a[0], m.val[0], e.val[0], rq);
        r[1] = mbmicro_neon_dw_rq(a[1], m.val[1], e.val[1], rq);
        r[2] = r[0];
        r[3] = r[1];
        vst1_s8(y, vget_low_s8(mbmicro_neon_narrow16(r, zp, lo, hi)));
    } else {
        r[0] = mbmicro_neon_dw_rq(a[0], vld1q_s32(mult), vld1q_s32(rexp), rq);
        r[1] = r[2] = r[3] = r[0];
        uint32_t u = vgetq_lane_u32(vreinterpretq_u32_s8(mbmicro_neon_narrow16(r, zp, lo, hi)), 0);
        memcpy(y, &u, 4);
    }
}

/* One output over its valid taps only (border pixels), weights read from memory; x and w
 * point at the block's first channel. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_edge(int32x4_t *a, const int8_t *x, int32_t H, int32_t W, int32_t C,
                                              const int16_t *w, int32_t KH, int32_t KW, int32_t ih0, int32_t iw0,
                                              int8x16_t zp, int lanes)
{
    int32_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = H - ih0 < KH ? H - ih0 : KH;
    int32_t kw0 = iw0 < 0 ? -iw0 : 0, kw1 = W - iw0 < KW ? W - iw0 : KW;
    for (int32_t kh = kh0; kh < kh1; kh++)
        for (int32_t kw = kw0; kw < kw1; kw++) {
            int16x8_t wl, wh;
            mbmicro_neon_dw_weights(w + (kh * KW + kw) * C, &wl, &wh, lanes);
            mbmicro_neon_dw_tap(a, x + ((ih0 + kh) * W + iw0 + kw) * C, zp, wl, wh, lanes);
        }
}

/* Two outputs S input columns apart (a[0..3], a[4..7]) over the taps kh in [0, nkh), every
 * kw: interior columns.  xp: input of the first output's first tap, w: that tap's
 * weights; each tap's weights are loaded once for both outputs. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_pair(int32x4_t a[8], const int8_t *xp, int32_t W, int32_t C,
                                              const int16_t *w, int32_t KW, int32_t S, int32_t nkh, int8x16_t zp,
                                              int lanes)
{
    for (int32_t kh = 0; kh < nkh; kh++) {
        const int8_t *xr = xp + kh * W * C;
        const int16_t *wr = w + kh * KW * C;
        for (int32_t kw = 0; kw < KW; kw++) {
            int16x8_t wl, wh;
            mbmicro_neon_dw_weights(wr + kw * C, &wl, &wh, lanes);
            mbmicro_neon_dw_tap(a, xr + kw * C, zp, wl, wh, lanes);
            mbmicro_neon_dw_tap(a + 4, xr + (kw + S) * C, zp, wl, wh, lanes);
        }
    }
}

/* One channel block (channels c.. of the row's outputs): interior columns [j0, jp) two at a
 * time through the pair kernel over the row's valid kh [kh0, kh1), every other column
 * (border, and an odd last interior one) through the edge kernel. */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_block(const int8_t *x, int32_t H, int32_t W, int32_t C, const int16_t *w,
                                               int32_t KH, int32_t KW, int32_t S, int32_t left, int32_t ih0,
                                               int32_t kh0, int32_t kh1, int32_t j0, int32_t jp, int32_t OW,
                                               const int32_t *bias, const int32_t *mult, const int32_t *rexp, int rq,
                                               int16x8_t yzp, int8x16_t zp, int8x16_t lo, int8x16_t hi, int8_t *y,
                                               int32_t c, int lanes)
{
    for (int32_t ow = j0; ow < jp; ow += 2) {
        int32x4_t a[8];
        mbmicro_neon_dw_bias(a, bias + c, lanes);
        for (int g = 0; g < lanes / 4; g++)
            a[4 + g] = a[g];
        mbmicro_neon_dw_pair(a, x + ((ih0 + kh0) * W + ow * S - left) * C + c, W, C, w + kh0 * KW * C + c, KW, S,
                             kh1 - kh0, zp, lanes);
        mbmicro_neon_dw_out(y + ow * C + c, a, mult + c, rexp + c, rq, yzp, lo, hi, lanes);
        mbmicro_neon_dw_out(y + (ow + 1) * C + c, a + 4, mult + c, rexp + c, rq, yzp, lo, hi, lanes);
    }
    for (int32_t ow = 0; ow < OW; ow++) {
        if (ow == j0)
            ow = jp;
        if (ow >= OW)
            break;
        int32x4_t a[4];
        mbmicro_neon_dw_bias(a, bias + c, lanes);
        mbmicro_neon_dw_edge(a, x + c, H, W, C, w + c, KH, KW, ih0, ow * S - left, zp, lanes);
        mbmicro_neon_dw_out(y + ow * C + c, a, mult + c, rexp + c, rq, yzp, lo, hi, lanes);
    }
}

/* One output row: y[ow][c] for ow < OW, every channel (y points at the row).  Interior
 * columns [j0, j1) are those whose every kw lies inside the image; channels go in blocks
 * of 16, then one of 8, then the C % 8 tail (mbmicro_neon_dw_row below). */
MBMICRO_NEON_INLINE void mbmicro_neon_dw_row(const int8_t *x, int32_t H, int32_t W, int32_t C, const int16_t *w,
                                             int32_t KH, int32_t KW, int32_t S, int32_t top, int32_t left,
                                             int32_t oh, int32_t OW, const int32_t *bias, const int32_t *mult,
                                             const int32_t *rexp, int32_t x_zp, int rq, int32_t y_zp, int32_t lo,
                                             int32_t hi, int8_t *y)
{
    const int32_t ih0 = oh * S - top;
    const int32_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = H - ih0 < KH ? H - ih0 : KH;
    int32_t j0 = (left + S - 1) / S, j1 = W + left - KW >= 0 ? (W + left - KW) / S + 1 : 0;
    j0 = j0 < OW ? j0 : OW;
    j1 = j1 < OW ? j1 : OW;
    j1 = j1 > j0 ? j1 : j0;
    const int32_t jp = j0 + ((j1 - j0) & ~1); /* pairs end here */
    const int8x16_t zp = vdupq_n_s8((int8_t)x_zp);
    const int16x8_t yzp = vdupq_n_s16((int16_t)y_zp);
    const int8x16_t vlo = vdupq_n_s8((int8_t)lo), vhi = vdupq_n_s8((int8_t)hi);
    int32_t c = 0;
    for (; c + 16 <= C; c += 16)
        mbmicro_neon_dw_block(x, H, W, C, w, KH, KW, S, left, ih0, kh0, kh1, j0, jp, OW, bias, mult, rexp, rq, yzp,
                              zp, vlo, vhi, y, c, 16);
    if (c + 8 <= C) {
        mbmicro_neon_dw_block(x, H, W, C, w, KH, KW, S, left, ih0, kh0, kh1, j0, jp, OW, bias, mult, rexp, rq, yzp,
                              zp, vlo, vhi, y, c, 8);
        c += 8;
    }
    /* Here c == C - C % 8.  The tail is written from C alone so that, with C a literal,
     * the compiler sees fixed blocks instead of a loop it cannot bound
     * (-Waggressive-loop-optimizations).  Vector blocks that overlap channels already
     * done: they recompute those channels from the same inputs and store equal values
     * (the output never aliases the input: in-place layers write a delay buffer).
     * C > 8: the last 4 channels as a 4-lane block when C % 8 <= 4, else the last 8 as an
     * 8-lane one; 4 <= C < 8: channels 0..3 and C-4..C-1 as 4-lane blocks; C < 4: the
     * reference's arithmetic. */
    (void)c;
    if (C % 8 == 0)
        return;
    if (C > 8 && C % 8 > 4) {
        mbmicro_neon_dw_block(x, H, W, C, w, KH, KW, S, left, ih0, kh0, kh1, j0, jp, OW, bias, mult, rexp, rq, yzp,
                              zp, vlo, vhi, y, C - 8, 8);
    } else if (C >= 4) {
        if (C < 8 && C > 4)
            mbmicro_neon_dw_block(x, H, W, C, w, KH, KW, S, left, ih0, kh0, kh1, j0, jp, OW, bias, mult, rexp, rq,
                                  yzp, zp, vlo, vhi, y, 0, 4);
        mbmicro_neon_dw_block(x, H, W, C, w, KH, KW, S, left, ih0, kh0, kh1, j0, jp, OW, bias, mult, rexp, rq, yzp,
                              zp, vlo, vhi, y, C - 4, 4);
    } else {
        mbmicro_neon_dw_row_ref(x, H, W, C, w, KH, KW, S, top, left, oh, OW, bias, mult, rexp, x_zp, rq, y_zp,
                                lo, hi, y, 0);
    }
}

#else /* portable twin: the reference's arithmetic */

static inline void mbmicro_neon_dw_row(const int8_t *x, int32_t H, int32_t W, int32_t C, const int16_t *w,
                                       int32_t KH, int32_t KW, int32_t S, int32_t top, int32_t left, int32_t oh,
                                       int32_t OW, const int32_t *bias, const int32_t *mult, const int32_t *rexp,
                                       int32_t x_zp, int rq, int32_t y_zp, int32_t lo, int32_t hi, int8_t *y)
{
    mbmicro_neon_dw_row_ref(x, H, W, C, w, KH, KW, S, top, left, oh, OW, bias, mult, rexp, x_zp, rq, y_zp, lo, hi,
                            y, 0);
}

#endif /* __ARM_NEON */
#endif /* MBMICRO_NEON_DW_H */
