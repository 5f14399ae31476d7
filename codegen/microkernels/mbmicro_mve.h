/*
 * Cortex-M55 Helium (MVE) int8 micro-kernels: a pointwise/GEMM tile and a depthwise
 * output row, each with a portable C99 twin under #else (hosts and host tests use it).
 *
 * Why hand-written intrinsics: GCC 12 does not vectorize int8 widening multiply-adds for
 * MVE at all, so the C that TVM prints stays scalar on the M55.  These functions are
 * `static inline`; a generated kernel calls them with its shape as literal constants,
 * so gcc specializes (and unrolls) each call.
 *
 * Arithmetic contract (mbmicro.reference.arith.requantize, docs/INT8_SEMANTICS.md):
 *   y = clamp(((acc * M + 2^(s-1)) >> s) + y_zp, lo, hi),  64-bit exact, ties to +inf.
 * The vector requantization is bit-exact with it for s >= 31 (M in [2^30, 2^31)):
 *   s == 31: VQRDMULH(acc, M) = (2*acc*M + 2^31) >> 32 = (acc*M + 2^30) >> 31;
 *   s >= 32: write acc*M = H*2^31 + L with H = VQDMULH(acc, M) = floor(acc*M / 2^31) and
 *            0 <= L < 2^31; then (acc*M + 2^(s-1)) >> s = (H + 2^(t-1)) >> t, t = s-31,
 *            because the fraction L/2^31 < 1 cannot carry past a multiple of 2^t.  That is
 *            VRSHL(H, -t), whose rounding add is exact (no intermediate overflow).
 * VQDMULH/VQRDMULH saturate only for acc = M = INT32_MIN, impossible with M > 0.  A layer
 * with any s < 31 (a real scale >= 1) uses the scalar rule: the caller passes `mode`
 * (MBMICRO_MVE_S32: every s >= 32; MBMICRO_MVE_S31: some s == 31; MBMICRO_MVE_SCALAR),
 * known when the kernel is generated.
 *
 * The input zero point is folded into the bias (bias' = bias - x_zp * sum w), so a GEMM
 * multiplies raw int8 inputs.  A depthwise pixel at the border runs only the taps inside the
 * image, from the raw bias with x_zp taken off each input: a padded tap, which reads x_zp in
 * the reference, adds nothing there.
 *
 * Per-channel values come as one int32 record array `rq`, made offline
 * (mbmicro.codegen.ops.mve), zero past the last channel so no load needs a predicate:
 *   pointwise, per block of 4 output channels, 12 values: bias'[4], M[4], (31 - s)[4];
 *   depthwise, per block of 8 channels, 32 values: bias', M, (31 - s), the raw bias (x_zp not
 *   folded in: for border pixels, which skip their padded taps), each as the 4 even channels
 *   (0, 2, 4, 6) then the 4 odd ones: the lane order VMULLB/VMULLT produce.
 */
#ifndef MBMICRO_MVE_H
#define MBMICRO_MVE_H

#include <stdint.h>

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>
#define MBMICRO_MVE_INTRINSICS 1
#endif

#ifdef MBMICRO_MVE_INTRINSICS
/* A compiler-only fence, one per depthwise tap or GEMM step: gcc's pre-allocation scheduler otherwise
 * hoists the loads of every tap (step) to the top of the unrolled body, and the 8 vector registers
 * spill.  (-fno-schedule-insns does the same for the whole file but costs the scalar
 * kernels 10% on the M55.)  No instruction is emitted. */
#define MBMICRO_MVE_BARRIER() __asm__ volatile("" ::: "memory")
/* Makes p's value opaque to gcc (no instruction): pointers that walk side by side then keep
 * registers of their own with post-increment loads, instead of being re-derived from one
 * induction variable with an ADD per load (offsets past the load's 7-bit immediate). */
#define MBMICRO_MVE_OWN_REG(p) __asm__("" : "+r"(p))
#endif

/* Pointwise layers of 3 pixels or more with at least this many input channels, a multiple of
 * 16 or twice as many, use the 3 x 4 tile, the others the 2 x 4 one (measured on the M55, see
 * mbmicro.codegen.ops.mve.pw_tile: PW3_MIN_C must be equal, PW3_MIN_C_TAIL twice it). */
#ifndef MBMICRO_MVE_PW3_MIN_C
#define MBMICRO_MVE_PW3_MIN_C 96
#endif

/* The functions a generated kernel calls with its shape as constants, and their helpers, are
 * always inlined: gcc's unit-growth limit otherwise leaves some of a model's many call sites
 * out of line, generic in the shape (measured: a whole model's kernel file ran RexNet's
 * 40x40x32 depthwise at 2.18 instructions per MAC, its one-layer build at 1.43). */
#define MBMICRO_MVE_INLINE static inline __attribute__((always_inline))

#define MBMICRO_MVE_S32 0
#define MBMICRO_MVE_S31 1
#define MBMICRO_MVE_SCALAR 2

/* The one rounding rule, scalar: the twin, the scalar mode and the reference agree. */
static inline int8_t mbmicro_mve_requant1(int32_t acc, int32_t m, int32_t s, int32_t zp,
                                          int32_t lo, int32_t hi)
{
    int64_t v = ((int64_t)acc * m + ((int64_t)1 << (s - 1))) >> s;
    v += zp;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/*
 * Pointwise weights, re-laid offline (mbmicro.codegen.ops.mve_layout.pw_weights): output
 * channels in blocks of 4 (the last block padded with zero rows), each block holding the
 * input channels in chunks of 16 (the last chunk r = C % 16 long), the 4 rows of a chunk
 * back to back.  So one pointer walks a block with constant offsets, and the block of
 * output channels kb starts at w + kb * 4 * C.
 */
static inline int32_t mbmicro_mve_pw_w_index(int32_t C, int32_t q, int32_t c)
{
    int32_t chunk = c - c % 16;
    int32_t len = C - chunk < 16 ? C - chunk : 16;
    return 4 * chunk + q * len + c % 16;
}

#ifdef MBMICRO_MVE_INTRINSICS

/* nsh = 31 - s (<= 0): the exact rule above for s >= 31, before the zero point. */
MBMICRO_MVE_INLINE int32x4_t mbmicro_mve_requant_core(int32x4_t acc, int32x4_t m, int32x4_t nsh, int32_t mode)
{
    int32x4_t r = vrshlq_s32(vqdmulhq_s32(acc, m), nsh);
    if (mode == MBMICRO_MVE_S31) {
        r = vpselq_s32(vqrdmulhq_s32(acc, m), r, vcmpeqq_s32(nsh, vdupq_n_s32(0)));
    }
    return r;
}

/* The rule plus the zero point and the clamp, in int32 lanes. */
MBMICRO_MVE_INLINE int32x4_t mbmicro_mve_requant_v(int32x4_t acc, int32x4_t m, int32x4_t nsh, int32_t mode,
                                              int32_t zp, int32_t lo, int32_t hi)
{
    int32x4_t r = vaddq_n_s32(mbmicro_mve_requant_core(acc, m, nsh, mode), zp);
    r = vmaxq_s32(r, vdupq_n_s32(lo));
    return vminq_s32(r, vdupq_n_s32(hi));
}

/* acc + bias' for nk (1..4) output channels (rq: their 12-value record), requantized, to y. */
MBMICRO_MVE_INLINE void mbmicro_mve_pw_store(int32x4_t acc, const int32_t *rq, int32_t nk, int32_t mode, int32_t zp,
                                        int32_t lo, int32_t hi, int8_t *y)
{
    acc = vaddq_s32(acc, vldrwq_s32(rq));
    if (mode == MBMICRO_MVE_SCALAR) {
        int32_t a[4];
        vst1q_s32(a, acc);
        for (int32_t q = 0; q < nk; ++q) {
            y[q] = mbmicro_mve_requant1(a[q], rq[4 + q], 31 - rq[8 + q], zp, lo, hi);
        }
        return;
    }
    int32x4_t r = mbmicro_mve_requant_v(acc, vldrwq_s32(rq + 4), vldrwq_s32(rq + 8), mode, zp, lo, hi);
    if (nk == 4) {
        vstrbq_s32(y, r);
    } else {
        vstrbq_p_s32(y, r, vctp32q((uint32_t)nk));
    }
}

MBMICRO_MVE_INLINE int32x4_t mbmicro_mve_lanes4(int32_t a0, int32_t a1, int32_t a2, int32_t a3)
{
    int32x4_t v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

#endif /* MBMICRO_MVE_INTRINSICS */

/*
 * Outputs [0, nk) (nk in 1..4) of output-channel block kb for np (1 or 2) pixels: x points
 * at the first pixel's C inputs (the second follows), y at its outputs (rows K apart);
 * wb = the weight block (w + kb*4*C), rq = its record (rq + kb*12).
 * MVE: per 16 input channels 2 pixel loads + 4 weight loads feed 8 VMLADAVA (128 MACs);
 * the input-channel tail is predicated (zeroing loads), so C need not be a multiple of 16.
 */
MBMICRO_MVE_INLINE void mbmicro_mve_pw_tile_2x4(const int8_t *x, int32_t np, int32_t C, const int8_t *wb,
                                           const int32_t *rq, int32_t nk, int32_t K, int32_t mode, int32_t y_zp,
                                           int32_t lo, int32_t hi, int8_t *y)
{
#ifdef MBMICRO_MVE_INTRINSICS
    const int8_t *x0 = x, *xb = np == 2 ? x + C : x;
    int32_t a0, a1, a2, a3, b0, b1, b2, b3;
    /* The first chunk starts the sums (VMLADAV, no zeroed accumulators to set up). */
    {
        int32_t r = C < 16 ? C : 16;
        mve_pred16_t p = vctp8q((uint32_t)r);
        int8x16_t u, v, w0, w1, w2, w3;
        if (r == 16) {
            u = vldrbq_s8(x0), v = vldrbq_s8(xb);
            w0 = vldrbq_s8(wb), w1 = vldrbq_s8(wb + 16), w2 = vldrbq_s8(wb + 32), w3 = vldrbq_s8(wb + 48);
        } else {
            u = vldrbq_z_s8(x0, p), v = vldrbq_z_s8(xb, p);
            w0 = vldrbq_z_s8(wb, p), w1 = vldrbq_z_s8(wb + r, p);
            w2 = vldrbq_z_s8(wb + 2 * r, p), w3 = vldrbq_z_s8(wb + 3 * r, p);
        }
        a0 = vmladavq_s8(u, w0);
        b0 = vmladavq_s8(v, w0);
        a1 = vmladavq_s8(u, w1);
        b1 = vmladavq_s8(v, w1);
        a2 = vmladavq_s8(u, w2);
        b2 = vmladavq_s8(v, w2);
        a3 = vmladavq_s8(u, w3);
        b3 = vmladavq_s8(v, w3);
        MBMICRO_MVE_BARRIER();
    }
    int32_t c = 16;
    for (; c + 16 <= C; c += 16) {
        const int8_t *wc = wb + 4 * c;
        int8x16_t u = vldrbq_s8(x0 + c), v = vldrbq_s8(xb + c);
        int8x16_t w = vldrbq_s8(wc);
        a0 = vmladavaq_s8(a0, u, w);
        b0 = vmladavaq_s8(b0, v, w);
        w = vldrbq_s8(wc + 16);
        a1 = vmladavaq_s8(a1, u, w);
        b1 = vmladavaq_s8(b1, v, w);
        w = vldrbq_s8(wc + 32);
        a2 = vmladavaq_s8(a2, u, w);
        b2 = vmladavaq_s8(b2, v, w);
        w = vldrbq_s8(wc + 48);
        a3 = vmladavaq_s8(a3, u, w);
        b3 = vmladavaq_s8(b3, v, w);
        MBMICRO_MVE_BARRIER();
    }
    if (c < C) {
        int32_t r = C - c;
        mve_pred16_t p = vctp8q((uint32_t)r);
        const int8_t *wc = wb + 4 * c;
        int8x16_t u = vldrbq_z_s8(x0 + c, p), v = vldrbq_z_s8(xb + c, p);
        int8x16_t w = vldrbq_z_s8(wc, p);
        a0 = vmladavaq_s8(a0, u, w);
        b0 = vmladavaq_s8(b0, v, w);
        w = vldrbq_z_s8(wc + r, p);
        a1 = vmladavaq_s8(a1, u, w);
        b1 = vmladavaq_s8(b1, v, w);
        w = vldrbq_z_s8(wc + 2 * r, p);
        a2 = vmladavaq_s8(a2, u, w);
        b2 = vmladavaq_s8(b2, v, w);
        w = vldrbq_z_s8(wc + 3 * r, p);
        a3 = vmladavaq_s8(a3, u, w);
        b3 = vmladavaq_s8(b3, v, w);
    }
    mbmicro_mve_pw_store(mbmicro_mve_lanes4(a0, a1, a2, a3), rq, nk, mode, y_zp, lo, hi, y);
    if (np == 2) {
        mbmicro_mve_pw_store(mbmicro_mve_lanes4(b0, b1, b2, b3), rq, nk, mode, y_zp, lo, hi, y + K);
    }
#else
    (void)mode;
    for (int32_t i = 0; i < np; ++i) {
        for (int32_t q = 0; q < nk; ++q) {
            int32_t a = rq[q];
            for (int32_t c = 0; c < C; ++c) {
                a += x[i * C + c] * wb[mbmicro_mve_pw_w_index(C, q, c)];
            }
            y[i * K + q] = mbmicro_mve_requant1(a, rq[4 + q], 31 - rq[8 + q], y_zp, lo, hi);
        }
    }
#endif
}

#ifdef MBMICRO_MVE_INTRINSICS

/*
 * The sums of channels q0, q0 + 1 of a weight block for np (1..3) pixels: x at the first
 * pixel's C inputs (the others follow, C apart), wb the block (4 rows per 16-input chunk);
 * s[2 * i + j]: pixel i, channel q0 + j.  Per 16 inputs: 3 pixel loads, 2 weight loads, 6
 * VMLADAVA (96 MACs).  6 sums, 5 pointers and the loop counter leave gcc registers to
 * spare (a 2 x 4 tile's 8 sums do not: VMLADAVA sums live in even registers, 7 of them
 * besides LR, and gcc shuffles one through the stack every step).
 */
MBMICRO_MVE_INLINE void mbmicro_mve_pw_sums_3x2(const int8_t *x, int32_t np, int32_t C, const int8_t *wb, int32_t q0,
                                           int32_t s[6])
{
    const int8_t *x0 = x, *x1 = np >= 2 ? x + C : x, *x2 = np == 3 ? x + 2 * C : x1;
    const int8_t *w0 = wb + 16 * q0, *w1 = w0 + 16;
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0, c0 = 0, c1 = 0;
    int32_t c = 0;
    /* not unrolled: copies of the body make gcc precompute every address and spill them */
#pragma GCC unroll 1
    for (; c + 16 <= C; c += 16) {
        int8x16_t u = vldrbq_s8(x0), v = vldrbq_s8(x1), t = vldrbq_s8(x2);
        int8x16_t w = vldrbq_s8(w0);
        a0 = vmladavaq_s8(a0, u, w);
        b0 = vmladavaq_s8(b0, v, w);
        c0 = vmladavaq_s8(c0, t, w);
        w = vldrbq_s8(w1);
        a1 = vmladavaq_s8(a1, u, w);
        b1 = vmladavaq_s8(b1, v, w);
        c1 = vmladavaq_s8(c1, t, w);
        x0 += 16, x1 += 16, x2 += 16, w0 += 64, w1 += 64;
        MBMICRO_MVE_OWN_REG(x1);
        MBMICRO_MVE_OWN_REG(x2);
        MBMICRO_MVE_OWN_REG(w1);
        MBMICRO_MVE_BARRIER();
    }
    if (c < C) {
        int32_t r = C - c;
        mve_pred16_t p = vctp8q((uint32_t)r);
        const int8_t *wc = wb + 4 * c + r * q0;
        int8x16_t u = vldrbq_z_s8(x0, p), v = vldrbq_z_s8(x1, p), t = vldrbq_z_s8(x2, p);
        int8x16_t w = vldrbq_z_s8(wc, p);
        a0 = vmladavaq_s8(a0, u, w);
        b0 = vmladavaq_s8(b0, v, w);
        c0 = vmladavaq_s8(c0, t, w);
        w = vldrbq_z_s8(wc + r, p);
        a1 = vmladavaq_s8(a1, u, w);
        b1 = vmladavaq_s8(b1, v, w);
        c1 = vmladavaq_s8(c1, t, w);
    }
    s[0] = a0, s[1] = a1, s[2] = b0, s[3] = b1, s[4] = c0, s[5] = c1;
}

#endif /* MBMICRO_MVE_INTRINSICS */

/*
 * Outputs [0, nk) (nk in 1..4) of output-channel block kb for np (1..3) pixels, as the 2 x 4
 * tile's arguments: the wide-reduction tile (inputs C >= MBMICRO_MVE_PW3_MIN_C in generated
 * kernels), two passes of 3 pixels x 2 channels over the block.
 */
MBMICRO_MVE_INLINE void mbmicro_mve_pw_tile_3x4(const int8_t *x, int32_t np, int32_t C, const int8_t *wb,
                                           const int32_t *rq, int32_t nk, int32_t K, int32_t mode, int32_t y_zp,
                                           int32_t lo, int32_t hi, int8_t *y)
{
#ifdef MBMICRO_MVE_INTRINSICS
    /* both halves' sums of a pixel in one vector: one requantization per 4 outputs */
    int32_t s[6], t[6];
    mbmicro_mve_pw_sums_3x2(x, np, C, wb, 0, s);
    int32x4_t v0 = vsetq_lane_s32(s[1], vdupq_n_s32(s[0]), 1);
    int32x4_t v1 = vsetq_lane_s32(s[3], vdupq_n_s32(s[2]), 1);
    int32x4_t v2 = vsetq_lane_s32(s[5], vdupq_n_s32(s[4]), 1);
    if (nk > 2) {
        mbmicro_mve_pw_sums_3x2(x, np, C, wb, 2, t);
        v0 = vsetq_lane_s32(t[1], vsetq_lane_s32(t[0], v0, 2), 3);
        v1 = vsetq_lane_s32(t[3], vsetq_lane_s32(t[2], v1, 2), 3);
        v2 = vsetq_lane_s32(t[5], vsetq_lane_s32(t[4], v2, 2), 3);
    }
    mbmicro_mve_pw_store(v0, rq, nk, mode, y_zp, lo, hi, y);
    if (np >= 2) {
        mbmicro_mve_pw_store(v1, rq, nk, mode, y_zp, lo, hi, y + K);
    }
    if (np == 3) {
        mbmicro_mve_pw_store(v2, rq, nk, mode, y_zp, lo, hi, y + 2 * K);
    }
#else
    for (int32_t i = 0; i < np; ++i) {
        mbmicro_mve_pw_tile_2x4(x + i * C, 1, C, wb, rq, nk, K, mode, y_zp, lo, hi, y + i * K);
    }
#endif
}

/* Pixels [p, p + np) of a pointwise layer, every block of 4 output channels, with the tile
 * of tp (2 or 3) pixels. */
static inline void mbmicro_mve_pw_pixels(const int8_t *x, const int8_t *w, const int32_t *rq, int32_t p, int32_t np,
                                         int32_t tp, int32_t C, int32_t K, int32_t mode, int32_t y_zp, int32_t lo,
                                         int32_t hi, int8_t *y)
{
    for (int32_t k = 0; k < K; k += 4) {
        int32_t nk = K - k < 4 ? K - k : 4;
        if (tp == 3) {
            mbmicro_mve_pw_tile_3x4(x + p * C, np, C, w + k * C, rq + 3 * k, nk, K, mode, y_zp, lo, hi,
                                    y + p * K + k);
        } else {
            mbmicro_mve_pw_tile_2x4(x + p * C, np, C, w + k * C, rq + 3 * k, nk, K, mode, y_zp, lo, hi,
                                    y + p * K + k);
        }
    }
}

/*
 * A whole pointwise layer / GEMM y[P][K] = requant(x[P][C] w[K][C]^T + bias): tiles of 2 or 3
 * pixels (3 from MBMICRO_MVE_PW3_MIN_C inputs on) times output-channel blocks of 4, then the
 * P % tile pixels left in one shorter tile.  Generated kernels run this loop nest in TIR
 * (mbmicro.codegen.ops.mve.pw_func, the same order); the tests call it directly.
 */
static inline void mbmicro_mve_pw_s8(const int8_t *x, const int8_t *w, const int32_t *rq, int32_t P, int32_t C,
                                     int32_t K, int32_t mode, int32_t y_zp, int32_t lo, int32_t hi, int8_t *y)
{
    const int32_t wide = C >= MBMICRO_MVE_PW3_MIN_C && (C % 16 == 0 || C >= 2 * MBMICRO_MVE_PW3_MIN_C);
    const int32_t tp = wide && P >= 3 ? 3 : 2;
    int32_t p = 0;
    for (; p + tp <= P; p += tp) {
        mbmicro_mve_pw_pixels(x, w, rq, p, tp, tp, C, K, mode, y_zp, lo, hi, y);
    }
    if (p < P) {
        mbmicro_mve_pw_pixels(x, w, rq, p, P - p, tp, C, K, mode, y_zp, lo, hi, y);
    }
}

/* ---------------------------------------------------------------- depthwise ------------ */

/* Index of lane l (0..7) of a depthwise 8-channel block in its record's 8-value groups. */
static inline int32_t mbmicro_mve_eo(int32_t l)
{
    return l % 2 ? 4 + l / 2 : l / 2;
}

/* The tap window [*k0, *k1) of a kernel of K taps whose first tap reads input position i0 of
 * an axis of n positions: the taps that land inside the image. */
MBMICRO_MVE_INLINE void mbmicro_mve_dw_window(int32_t i0, int32_t K, int32_t n, int32_t *k0, int32_t *k1)
{
    *k0 = i0 < 0 ? -i0 : 0;
    *k1 = n - i0 < K ? n - i0 : K;
}

#ifdef MBMICRO_MVE_INTRINSICS

/* Requantize + store n (1..8) channels held as even/odd int32 lanes (rq: the block record).
 * The vector form narrows with saturation to int16 before the zero point and the clamp:
 * a value saturated at +-32767 is still beyond every int8 bound after adding y_zp (|y_zp| <=
 * 128, saturating add), so the clamp gives what the exact value gives, on 8 lanes at once. */
MBMICRO_MVE_INLINE void mbmicro_mve_dw_store8(int32x4_t ev, int32x4_t od, const int32_t *rq, int32_t n, int32_t mode,
                                         int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
    if (mode == MBMICRO_MVE_SCALAR) {
        int32_t a[8];
        vst1q_s32(a, ev);
        vst1q_s32(a + 4, od);
        for (int32_t q = 0; q < n; ++q) {
            int32_t i = mbmicro_mve_eo(q);
            y[q] = mbmicro_mve_requant1(a[i], rq[8 + i], 31 - rq[16 + i], zp, lo, hi);
        }
        return;
    }
    int32x4_t re = mbmicro_mve_requant_core(ev, vldrwq_s32(rq + 8), vldrwq_s32(rq + 16), mode);
    int32x4_t ro = mbmicro_mve_requant_core(od, vldrwq_s32(rq + 12), vldrwq_s32(rq + 20), mode);
    int16x8_t out = vqmovntq_s32(vqmovnbq_s32(vuninitializedq_s16(), re), ro);
    out = vqaddq_n_s16(out, (int16_t)zp);
    out = vminq_s16(vmaxq_s16(out, vdupq_n_s16((int16_t)lo)), vdupq_n_s16((int16_t)hi));
    if (n == 8) {
        vstrbq_s16(y, out);
    } else {
        vstrbq_p_s16(y, out, vctp16q((uint32_t)n));
    }
}

/* acc += x * w for 8 channels (int16 lanes): VMULLB/VMULLT widen to even/odd int32 lanes.
 * VQADD, not VADD: gcc reassociates plain vector adds into a tree that keeps every
 * product live (spills); the saturating add is never reached by an int32 accumulator
 * that does not overflow, which every int8 kernel here already requires. */
#define MBMICRO_MVE_MAC8(ev, od, xa, wa)                      \
    do {                                                     \
        (ev) = vqaddq_s32((ev), vmullbq_int_s16((xa), (wa))); \
        (od) = vqaddq_s32((od), vmulltq_int_s16((xa), (wa))); \
    } while (0)

/* 8 int8 values widened to int16 lanes: all of them (n >= 8, no predicate) or the first n. */
MBMICRO_MVE_INLINE int16x8_t mbmicro_mve_ld8(const int8_t *p, int32_t n)
{
    return n >= 8 ? vldrbq_s16(p) : vldrbq_z_s16(p, vctp16q((uint32_t)n));
}

/*
 * Channels [0, n) (n in 1..16) of one output pixel over the taps [0, nkh) x [0, nkw) of its
 * window: xp points at the first tap's input (rows rs bytes apart, taps C apart), wp at its
 * weight (rows ws bytes apart), rq at the channels' first 8-channel record, y at the output.
 * sub == 0: every tap is inside the image, the sums start at the folded bias bias'.
 * sub == 1: the window holds only the taps inside the image; each input has x_zp taken off
 * (int16: x - x_zp fits) and the sums start at the raw bias, which is the reference's sum
 * exactly (a padded tap adds (x_zp - x_zp) * w = 0), so padded taps cost nothing.
 * Callers pass n, sub and (inside the image) nkh, nkw as constants: gcc drops the
 * predicates of full blocks and unrolls the taps.
 */
MBMICRO_MVE_INLINE void mbmicro_mve_dw_block(const int8_t *xp, int32_t rs, int32_t C, const int8_t *wp, int32_t ws,
                                        int32_t nkh, int32_t nkw, int32_t n, int32_t sub, int32_t x_zp,
                                        const int32_t *rq, int32_t mode, int32_t y_zp, int32_t lo, int32_t hi,
                                        int8_t *y)
{
    const int32_t *b = rq + (sub ? 24 : 0);
    const int16_t zp = (int16_t)x_zp;
    int32x4_t e0 = vldrwq_s32(b), o0 = vldrwq_s32(b + 4), e1 = e0, o1 = o0;
    if (n > 8) {
        e1 = vldrwq_s32(b + 32), o1 = vldrwq_s32(b + 36);
    }
    for (int32_t kh = 0; kh < nkh; ++kh) {
        const int8_t *xr = xp + kh * rs, *wr = wp + kh * ws;
        for (int32_t kw = 0; kw < nkw; ++kw) {
            int16x8_t xa = mbmicro_mve_ld8(xr + kw * C, n), wa = mbmicro_mve_ld8(wr + kw * C, n);
            if (sub) {
                xa = vsubq_n_s16(xa, zp);
            }
            MBMICRO_MVE_MAC8(e0, o0, xa, wa);
            MBMICRO_MVE_BARRIER();
            if (n > 8) {
                xa = mbmicro_mve_ld8(xr + kw * C + 8, n - 8);
                wa = mbmicro_mve_ld8(wr + kw * C + 8, n - 8);
                if (sub) {
                    xa = vsubq_n_s16(xa, zp);
                }
                MBMICRO_MVE_MAC8(e1, o1, xa, wa);
                MBMICRO_MVE_BARRIER();
            }
        }
    }
    mbmicro_mve_dw_store8(e0, o0, rq, n < 8 ? n : 8, mode, y_zp, lo, hi, y);
    if (n > 8) {
        mbmicro_mve_dw_store8(e1, o1, rq + 32, n - 8, mode, y_zp, lo, hi, y + 8);
    }
}

/* All C channels of one output pixel, in blocks of 16 (the last one C % 16 wide). */
MBMICRO_MVE_INLINE void mbmicro_mve_dw_channels(const int8_t *xp, int32_t rs, int32_t C, const int8_t *wp, int32_t ws,
                                           int32_t nkh, int32_t nkw, int32_t sub, int32_t x_zp, const int32_t *rq,
                                           int32_t mode, int32_t y_zp, int32_t lo, int32_t hi, int8_t *y)
{
    int32_t c = 0;
    for (; c + 16 <= C; c += 16) {
        mbmicro_mve_dw_block(xp + c, rs, C, wp + c, ws, nkh, nkw, 16, sub, x_zp, rq + 4 * c, mode, y_zp, lo, hi,
                             y + c);
    }
    if (c < C) {
        mbmicro_mve_dw_block(xp + c, rs, C, wp + c, ws, nkh, nkw, C - c, sub, x_zp, rq + 4 * c, mode, y_zp, lo,
                             hi, y + c);
    }
}

#endif /* MBMICRO_MVE_INTRINSICS */

/*
 * Output row oh of a depthwise layer (stride S, padding top pt / left pl), all C channels;
 * x is the NHWC input (H x W x C), w the KH x KW x C weights, rq the layer's records, y the
 * row (OW x C).  Each pixel's tap window is clipped to the image once (no test per tap):
 * a pixel whose window is whole runs the unrolled taps from the folded bias, a pixel at the
 * border only its inside taps, from the raw bias with x_zp taken off each input.  MVE: 8
 * channels per int16 vector, products widened by VMULLB/VMULLT into even/odd int32
 * accumulators (4 vector registers for 16 channels).
 */
MBMICRO_MVE_INLINE void mbmicro_mve_dw_row(const int8_t *x, int32_t H, int32_t W, int32_t C, const int8_t *w,
                                      int32_t KH, int32_t KW, int32_t S, int32_t pt, int32_t pl, int32_t oh,
                                      int32_t OW, const int32_t *rq, int32_t x_zp, int32_t mode, int32_t y_zp,
                                      int32_t lo, int32_t hi, int8_t *y)
{
    int32_t ih0 = oh * S - pt, kh0, kh1;
    mbmicro_mve_dw_window(ih0, KH, H, &kh0, &kh1);
    for (int32_t ow = 0; ow < OW; ++ow) {
        int32_t iw0 = ow * S - pl, kw0, kw1;
        mbmicro_mve_dw_window(iw0, KW, W, &kw0, &kw1);
        const int8_t *xp = x + ((ih0 + kh0) * W + iw0 + kw0) * C;
        const int8_t *wp = w + (kh0 * KW + kw0) * C;
        int8_t *yp = y + ow * C;
#ifdef MBMICRO_MVE_INTRINSICS
        if (kh0 == 0 && kh1 == KH && kw0 == 0 && kw1 == KW) {
            mbmicro_mve_dw_channels(xp, W * C, C, wp, KW * C, KH, KW, 0, x_zp, rq, mode, y_zp, lo, hi, yp);
        } else {
            mbmicro_mve_dw_channels(xp, W * C, C, wp, KW * C, kh1 - kh0, kw1 - kw0, 1, x_zp, rq, mode, y_zp, lo,
                                    hi, yp);
        }
#else
        (void)mode;
        for (int32_t c = 0; c < C; ++c) {
            const int32_t *r = rq + 4 * (c - c % 8);
            int32_t i = mbmicro_mve_eo(c % 8);
            /* the same two forms: a whole window from bias', a clipped one from the raw bias */
            int32_t sub = !(kh0 == 0 && kh1 == KH && kw0 == 0 && kw1 == KW);
            int32_t a = r[(sub ? 24 : 0) + i];
            for (int32_t kh = 0; kh < kh1 - kh0; ++kh) {
                for (int32_t kw = 0; kw < kw1 - kw0; ++kw) {
                    a += (xp[(kh * W + kw) * C + c] - (sub ? x_zp : 0)) * wp[(kh * KW + kw) * C + c];
                }
            }
            yp[c] = mbmicro_mve_requant1(a, r[8 + i], 31 - r[16 + i], y_zp, lo, hi);
        }
#endif
    }
}

/* ---------------------------------------------------------------- conv2d (im2col) ---- */

/* n bytes from src to dst (a patch row: KW*I contiguous input bytes). */
static inline void mbmicro_mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
#ifdef MBMICRO_MVE_INTRINSICS
    for (int32_t i = 0; i < n; i += 16) {
        mve_pred16_t p = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, p), p);
    }
#else
    for (int32_t i = 0; i < n; ++i) {
        dst[i] = src[i];
    }
#endif
}

/* The KH x KW x I patch of input position (ih0, iw0) into p, padded taps = x_zp. */
static inline void mbmicro_mve_patch(const int8_t *x, int32_t H, int32_t W, int32_t I, int32_t KH, int32_t KW,
                                     int32_t ih0, int32_t iw0, int32_t x_zp, int8_t *p)
{
    for (int32_t kh = 0; kh < KH; ++kh) {
        int32_t ih = ih0 + kh;
        int8_t *row = p + kh * KW * I;
        if (ih >= 0 && ih < H && iw0 >= 0 && iw0 + KW <= W) {
            mbmicro_mve_copy(row, x + (ih * W + iw0) * I, KW * I);
            continue;
        }
        for (int32_t kw = 0; kw < KW; ++kw) {
            int32_t iw = iw0 + kw;
            int32_t ok = ih >= 0 && ih < H && iw >= 0 && iw < W;
            for (int32_t i = 0; i < I; ++i) {
                row[kw * I + i] = ok ? x[(ih * W + iw) * I + i] : (int8_t)x_zp;
            }
        }
    }
}

/*
 * Output row oh of an ungrouped KH x KW conv2d (stride S, padding top pt / left pl) on the
 * NHWC input x (H x W x I), K output channels: the patches of two output pixels are
 * gathered (im2col, on the stack: 2 * KH*KW*I bytes) and multiplied by the GEMM tile, the
 * weights (K x KH*KW*I) re-laid like pointwise ones.  y points at the row (OW x K).
 */
static inline void mbmicro_mve_conv_row(const int8_t *x, int32_t H, int32_t W, int32_t I, int32_t KH, int32_t KW,
                                        int32_t S, int32_t pt, int32_t pl, int32_t oh, int32_t OW, const int8_t *w,
                                        const int32_t *rq, int32_t K, int32_t x_zp, int32_t mode, int32_t y_zp,
                                        int32_t lo, int32_t hi, int8_t *y)
{
    const int32_t n = KH * KW * I;
    int8_t patch[2 * n];
    for (int32_t ow = 0; ow < OW; ow += 2) {
        int32_t np = OW - ow < 2 ? OW - ow : 2;
        mbmicro_mve_patch(x, H, W, I, KH, KW, oh * S - pt, ow * S - pl, x_zp, patch);
        if (np == 2) {
            mbmicro_mve_patch(x, H, W, I, KH, KW, oh * S - pt, (ow + 1) * S - pl, x_zp, patch + n);
        }
        for (int32_t k = 0; k < K; k += 4) {
            int32_t nk = K - k < 4 ? K - k : 4;
            mbmicro_mve_pw_tile_2x4(patch, np, n, w + k * n, rq + 3 * k, nk, K, mode, y_zp, lo, hi,
                                    y + ow * K + k);
        }
    }
}

#endif /* MBMICRO_MVE_H */
