/*
 * mbmicro depthwise micro-kernels.  Two of them: the row kernel (this comment) for the
 * requantization forms that stay in TIR (TFLite's rule, or folded terms that could leave
 * int32), and the whole-channel kernel further down (mbmicro_dw_dsp_channel), the default
 * where the rule's exact 32-bit form applies.
 *
 * Row kernel: one output row of one channel from an int16 band.
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

/*
 * A whole channel, requantized (knob micro = "dsp" when the 32-bit requantization is exact):
 *
 *   y[oh][ow][c] = clamp(requant_hi32(bias' + sum_{kh,kw} band[oh*S + kh][ow*S + kw] * w[kh][kw]) + zy)
 *
 * Why in C rather than TIR around the row kernel above: the accumulator of an output then
 * stays in a register from the bias to the store (no int32 row buffer written and read
 * back), the tap pairs are packed once per channel in registers (no int16 weight copy),
 * and the band is filled per row with its few pad cells, not cleared whole first.
 * The band holds x itself (not x - x_zp), x_zp in the pad cells; bias' = bias - x_zp * sum w
 * is folded offline (the same integer sum; codegen/ops/depthwise_dsp.py checks that
 * |bias'| + 128 * sum |w| fits int32).  Outputs go U at a time (U = 4 at stride 1, 2 at
 * stride 2, the whole row when it has at most 4; a tail of 2, then 1) so that a pair word used by several outputs of the step is loaded once:
 * output u, pair m reads band word u*S + 2m (stride 2, U = 2: P + 1 loads per row instead
 * of 2P; stride 1, U = 4: 2P + 2 instead of 4P).  The rounding is the one rule of
 * mbmicro.reference.arith.requantize in its exact 32-bit form (common.requantize_hi32:
 * shifts 33..62): hi32(a * M) + 2^(s-33), then >> (s - 32).
 * The caller passes every shape value as a literal, so the always_inline functions are
 * specialized and their small loops unrolled by the compiler.
 */

/* Most tap pairs of a kernel row (K = 9). */
#define MBMICRO_DW_MAX_P ((MBMICRO_DW_MAX_K + 1) / 2)

/* a + the pair (p[0], p[1]) times the packed weight pair wv (low half first). */
static inline __attribute__((always_inline)) int32_t mbmicro_dw_mac2(int32_t a, const int16_t *p, int32_t wv)
{
#if defined(__ARM_FEATURE_DSP)
    return __smlad(mbmicro_dw_read2(p), wv, a);
#else
    return a + (int32_t)p[0] * (int32_t)(int16_t)(wv & 0xffff) + (int32_t)p[1] * (wv >> 16);
#endif
}

/* The halfword pair (lo, hi) as one word, lo in the low half (PKHBT; GCC 12's arm_acle.h has
 * no __pkhbt, and its own lowering of the C form is UXTH + ORR). */
static inline __attribute__((always_inline)) int32_t mbmicro_dw_pack2(int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
#else
    return (int32_t)(((uint32_t)lo & 0xffffu) | ((uint32_t)hi << 16));
#endif
}

/* hi32(a * m) + add, exactly (SMMLA: (add * 2^32 + a * m) >> 32 needs no 64-bit sum in C). */
static inline __attribute__((always_inline)) int32_t mbmicro_dw_smmla(int32_t a, int32_t m, int32_t add)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(m), "r"(add));
    return r;
#else
    return (int32_t)(((int64_t)a * m) >> 32) + add;
#endif
}

/* The one rounding rule in its 32-bit form (shift s in 33..62) with the zero point folded in:
 * (hi32(a * M) + 2^(s-33) + zp * 2^(s-32)) >> (s - 32) is ((hi32(a * M) + 2^(s-33)) >> (s-32)) + zp
 * (floor division by 2^(s-32) of a value plus a multiple of it), when the sum fits int32
 * (depthwise_dsp.py checks it per channel); rz is that rounding-plus-zero-point term, sh = s - 32.
 * The full int8 range (lo, hi) = (-128, 127), given as literals, is one SSAT. */
static inline __attribute__((always_inline)) int8_t
mbmicro_dw_requant_hi32(int32_t a, int32_t mult, int32_t rz, int32_t sh, int32_t lo, int32_t hi)
{
    int32_t r = mbmicro_dw_smmla(a, mult, rz) >> sh;
#if defined(__ARM_FEATURE_DSP)
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(r, 8);
    }
#endif
    r = r < lo ? lo : r;
    return (int8_t)(r > hi ? hi : r);
}

/* Band rows h0 .. h0 + rows - 1 of the image (may lie outside it) of one channel: x (that
 * channel's first byte, NHWC, C apart) as int16, x_zp left of the image, right of it and
 * in rows outside it.  xw band columns, the first image column at band column left. */
static inline __attribute__((always_inline)) void
mbmicro_dw_band_fill(int16_t *band, const int8_t *x, int32_t H, int32_t W, int32_t C, int32_t h0, int32_t rows,
                     int32_t left, int32_t xw, int16_t zp)
{
    const int32_t l = left < xw ? left : xw;
    const int32_t n = xw - l < W ? xw - l : W;
    for (int32_t r = 0; r < rows; r++) {
        int16_t *d = band + r * xw;
        const int32_t ih = h0 + r;
        if (ih < 0 || ih >= H) {
            for (int32_t v = 0; v < xw; v++) {
                d[v] = zp;
            }
            continue;
        }
        const int8_t *s = x + ih * W * C;
        for (int32_t v = 0; v < l; v++) {
            d[v] = zp;
        }
        int32_t v = 0;
        _Pragma("GCC unroll 2")
        for (; v + 2 <= n; v += 2) {  /* two columns, one word store */
            const int32_t pair = mbmicro_dw_pack2(s[v * C], s[(v + 1) * C]);
            memcpy(d + l + v, &pair, sizeof pair);
        }
        if (v < n) {
            d[l + v] = s[v * C];
        }
        for (v = l + n; v < xw; v++) {
            d[v] = zp;
        }
    }
}

/* u (1..4) outputs of one row: tap row kh read from rows[kh] + off (the window's rows may lie
 * anywhere in the ring), each starting at bias. */
static inline __attribute__((always_inline)) void
mbmicro_dw_ring_outputs(int32_t *a, int32_t u, const int16_t *const *rows, int32_t off, const int32_t *wv, int32_t k,
                        int32_t s, int32_t bias)
{
    const int32_t pairs = (k + 1) / 2;
    _Pragma("GCC unroll 4")
    for (int32_t q = 0; q < u; q++) {
        a[q] = bias;
    }
    _Pragma("GCC unroll 9")
    for (int32_t kh = 0; kh < k; kh++) {
        _Pragma("GCC unroll 5")
        for (int32_t m = 0; m < pairs; m++) {
            const int32_t wp = wv[kh * pairs + m];
            _Pragma("GCC unroll 4")
            for (int32_t q = 0; q < u; q++) {
                a[q] = mbmicro_dw_mac2(a[q], rows[kh] + off + q * s + 2 * m, wp);
            }
        }
    }
}

/* The K x K int8 weights of one channel (row-major) as packed tap pairs times 2^e, a zero tap
 * after the last odd column: wv[kh * pairs + m] = (w[kh][2m], w[kh][2m + 1]). */
static inline __attribute__((always_inline)) void
mbmicro_dw_pack_weights(int32_t *wv, const int8_t *w, int32_t k, int32_t e)
{
    const int32_t pairs = (k + 1) / 2;
    _Pragma("GCC unroll 9")
    for (int32_t kh = 0; kh < k; kh++) {
        _Pragma("GCC unroll 5")
        for (int32_t m = 0; m < pairs; m++) {
            const int32_t w0 = w[kh * k + 2 * m], w1 = 2 * m + 1 < k ? w[kh * k + 2 * m + 1] : 0;
            wv[kh * pairs + m] = mbmicro_dw_pack2(w0 * (1 << e), w1 * (1 << e));
        }
    }
}

/* One output row of one channel, requantized into yr (outputs C apart): tap row kh of output j
 * read from rows[kh] + j * s.  Outputs go `step` at a time, then a tail of 2, then 1 (why:
 * mbmicro_dw_dsp_channel's comment). */
static inline __attribute__((always_inline)) void
mbmicro_dw_out_row(int8_t *yr, const int16_t *const *rows, int32_t ow, int32_t C, const int32_t *wv, int32_t k,
                   int32_t s, int32_t step, int32_t bias, int32_t mult, int32_t rz, int32_t sh, int32_t lo,
                   int32_t hi)
{
    int32_t a[4];
    int32_t j = 0;
    for (; j + step <= ow; j += step) {
        mbmicro_dw_ring_outputs(a, step, rows, j * s, wv, k, s, bias);
        _Pragma("GCC unroll 4")
        for (int32_t q = 0; q < step; q++) {
            yr[(j + q) * C] = mbmicro_dw_requant_hi32(a[q], mult, rz, sh, lo, hi);
        }
    }
    if (step > 2 && j + 2 <= ow) {
        mbmicro_dw_ring_outputs(a, 2, rows, j * s, wv, k, s, bias);
        yr[j * C] = mbmicro_dw_requant_hi32(a[0], mult, rz, sh, lo, hi);
        yr[(j + 1) * C] = mbmicro_dw_requant_hi32(a[1], mult, rz, sh, lo, hi);
        j += 2;
    }
    for (; j < ow; j++) {
        mbmicro_dw_ring_outputs(a, 1, rows, j * s, wv, k, s, bias);
        yr[j * C] = mbmicro_dw_requant_hi32(a[0], mult, rz, sh, lo, hi);
    }
}

/* Every output of one channel.  x: the channel's first input byte; w: its K*K int8 weights
 * (row-major), used as w * 2^e (e = 0..8, a pre-scale: (a*M + 2^(s-1)) >> s is
 * (a*2^e*M + 2^(s+e-1)) >> (s+e) exactly, which lifts shifts below 33 into the 32-bit form
 * and can give every channel of a layer the same shift); rq: its record {bias' * 2^e, M, rz,
 * sh * 256 + e} for the shift s + e (mbmicro_dw_requant_hi32); sh_all: that shift minus 32
 * when it is the same for every channel (a literal: the ASR takes an immediate and frees a
 * register in the inner loop), else 0 (sh from the record); y: its first output byte (outputs
 * C apart); band: ((R-1)*S + K) * XW int16 of scratch, XW = (OW-1)*S + KP; R output rows per
 * band (R divides OH). */
static inline __attribute__((always_inline)) void
mbmicro_dw_dsp_channel(const int8_t *x, int32_t H, int32_t W, int32_t C, const int8_t *w, int32_t k, int32_t s,
                       int32_t top, int32_t left, int32_t oh, int32_t ow, int32_t r, int32_t sh_all,
                       const int32_t *rq, int32_t x_zp, int32_t lo, int32_t hi, int16_t *band, int8_t *y)
{
    const int32_t bias = rq[0], mult = rq[1], rz = rq[2], e = rq[3] & 0xff;
    const int32_t sh = sh_all ? sh_all : rq[3] >> 8;
    const int32_t pairs = (k + 1) / 2;
    const int32_t xw = (ow - 1) * s + 2 * pairs;
    /* a row of up to 4 outputs in one step (no tail); else 4 (stride 1) or 2 (stride 2) */
    const int32_t step = ow <= 4 ? ow : s == 1 ? 4 : 2;
    int32_t wv[MBMICRO_DW_MAX_K * MBMICRO_DW_MAX_P];
    mbmicro_dw_pack_weights(wv, w, k, e);
    for (int32_t b = 0; b < oh; b += r) {
        mbmicro_dw_band_fill(band, x, H, W, C, b * s - top, (r - 1) * s + k, left, xw, (int16_t)x_zp);
        for (int32_t i = 0; i < r; i++) {
            const int16_t *rows[MBMICRO_DW_MAX_K];
            _Pragma("GCC unroll 9")
            for (int32_t kh = 0; kh < k; kh++) {
                rows[kh] = band + (i * s + kh) * xw;
            }
            mbmicro_dw_out_row(y + (b + i) * ow * C, rows, ow, C, wv, k, s, step, bias, mult, rz, sh, lo, hi);
        }
    }
}

/*
 * The wide ring of a fused region (codegen/fused.py, docs/MEMORY.md "Wide rings"): the ring
 * feeding a depthwise row stage holds each padded row ONCE as int16, in the band layout of
 * mbmicro_dw_dsp_channel (channel-planar: C rows of XW int16, x itself with x_zp in the pad
 * columns; a padding row all x_zp).  Why: the channel kernel on a row window re-widens its K
 * input rows on every call, (K - S) rows more per output row than the whole-tensor kernel;
 * widened once into the ring, a row costs what the whole-tensor band fill costs.
 * The ring has R slots and no mirror rows: the kernel takes its K row addresses from the ring,
 * slot (first + kh) % R, so a window may wrap.
 */

/* One int8 NHWC row (W pixels of C channels) into a wide slot: channel c at slot + c * xw, the
 * first image column at band column left, x_zp in the other columns (band_fill's row). */
static inline __attribute__((always_inline)) void
mbmicro_dw_widen_row(int16_t *slot, const int8_t *row, int32_t W, int32_t C, int32_t left, int32_t xw,
                     int32_t x_zp)
{
    for (int32_t c = 0; c < C; c++) {
        mbmicro_dw_band_fill(slot + c * xw, row + c, 1, W, C, 0, 1, left, xw, (int16_t)x_zp);
    }
}

/* A padding row of a wide ring: n int16 of x_zp. */
static inline __attribute__((always_inline)) void mbmicro_dw_widen_fill(int16_t *slot, int32_t n, int32_t x_zp)
{
    for (int32_t i = 0; i < n; i++) {
        slot[i] = (int16_t)x_zp;
    }
}

/* g output rows of one channel from a wide ring: ring is the channel's plane in slot 0 (slot i at
 * ring + i * rs, rs = C * XW), r slots, output row i's window starts at slot (first + i * s) % r.
 * w, rq, sh_all, lo, hi, y: as mbmicro_dw_dsp_channel (the same record and rounding); y's rows
 * are ow * C bytes apart. */
static inline __attribute__((always_inline)) void
mbmicro_dw_ring_channel(const int16_t *ring, int32_t rs, int32_t r, int32_t first, int32_t g, const int8_t *w,
                        int32_t k, int32_t s, int32_t ow, int32_t C, int32_t sh_all, const int32_t *rq, int32_t lo,
                        int32_t hi, int8_t *y)
{
    const int32_t bias = rq[0], mult = rq[1], rz = rq[2], e = rq[3] & 0xff;
    const int32_t sh = sh_all ? sh_all : rq[3] >> 8;
    const int32_t step = ow <= 4 ? ow : s == 1 ? 4 : 2;
    int32_t wv[MBMICRO_DW_MAX_K * MBMICRO_DW_MAX_P];
    mbmicro_dw_pack_weights(wv, w, k, e);
    for (int32_t i = 0; i < g; i++) {
        const int16_t *rows[MBMICRO_DW_MAX_K];
        _Pragma("GCC unroll 9")
        for (int32_t kh = 0; kh < k; kh++) {
            rows[kh] = ring + ((first + i * s + kh) % r) * rs;
        }
        mbmicro_dw_out_row(y + i * ow * C, rows, ow, C, wv, k, s, step, bias, mult, rz, sh, lo, hi);
    }
}

#endif /* MBMICRO_DEPTHWISE_H */
