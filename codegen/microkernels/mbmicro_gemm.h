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

/* ------------------------------------------------------------------------------------------
 * mbmicro_gemm_dspx_pw: tp pixels x all K output channels of a pointwise / fully-connected
 * layer, requantized, clamped and stored (micro = "dspx", codegen/ops/pointwise_dspx.py).
 *
 * Why a second GEMM form: the tile kernel above widens both operands with SXTB16 at every
 * step, so a pixel's input channels are widened again for each output-channel tile, and bias,
 * requantization and the byte stores cost ~10 instructions per output in TIR -- at 8-24 input
 * channels more than the MACs.  Here
 *   - the tp input rows are widened ONCE into xv (per 4 channels the int16 pairs (c0, c2) and
 *     (c1, c3) of every pixel side by side, the C % 4 tail zero-filled); every output channel
 *     then reads a pixel's pair with one LDRD;
 *   - the weights are re-laid offline in the order the loop reads them: groups of `to` output
 *     channels, per 4 input channels one int8 word per channel (zero-padded), widened with
 *     SXTB16 once per word and used for all tp pixels;
 *   - per output channel one record rq[4] = {bias', M, add, shift} (bias' = bias - zx * sum w);
 *   - mode 0 (MBMICRO_PW_HI32): y = ssat8((hi32(acc * M) + add) >> shift) with add =
 *     2^(s-33) + zy * 2^(s-32) and shift = s - 32 (SMMLA, ASR, SSAT), equal to the rounding
 *     rule plus the output zero point where the plan proved it (pointwise_dspx.hi32_exact);
 *     mode 1 (MBMICRO_PW_WIDE): the rule in 64 bits, (acc * M + 2^(s-1)) >> s, + zy (shift = s);
 *   - clamp 0: the bounds are the int8 range (SSAT is the clamp); 1: lo/hi applied after;
 *   - 4 outputs of a pixel (to = 4) are packed into one 32-bit store, 2 into a halfword.
 * K is padded to a multiple of `to` with zero weights and records; outputs past K are not
 * stored.  The portable twin computes the same integers in plain C (host builds and tests).
 * ------------------------------------------------------------------------------------------ */
#define MBMICRO_PW_MAX_TP 8
#define MBMICRO_PW_MAX_TO 16
#define MBMICRO_PW_HI32 0
#define MBMICRO_PW_WIDE 1

/* Words of one widened input row: two per 4 channels (C rounded up to 4). */
#define MBMICRO_PW_ROW_WORDS(C) (((C) + 3) / 4 * 2)

/* One requantized, clamped output (both paths; the DSP one with SMMLA and SSAT). */
static inline __attribute__((always_inline)) int32_t
mbmicro_pw_requant(int32_t a, const int32_t *rq, int32_t j, int32_t mode, int32_t clamp,
                   int32_t zp, int32_t lo, int32_t hi)
{
    const int32_t m = rq[4 * j + 1], add = rq[4 * j + 2], sh = rq[4 * j + 3];
    int32_t v;
    if (mode == MBMICRO_PW_HI32) {
#if defined(__ARM_FEATURE_DSP)
        int32_t t;
        __asm__("smmla %0, %1, %2, %3" : "=r"(t) : "r"(a), "r"(m), "r"(add));
        v = __ssat(t >> sh, 8);
#else
        v = ((int32_t)(((int64_t)a * m) >> 32) + add) >> sh;
        v = v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
    } else {
        int64_t w = (((int64_t)a * m + ((int64_t)1 << (sh - 1))) >> sh) + zp;
        w = w < -128 ? -128 : (w > 127 ? 127 : w);
        v = (int32_t)w;
    }
    if (clamp) {
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
    }
    return v;
}

/* Widen tp rows of C int8 (row stride C) into xv, chunk-major: for every 4 channels, each
 * pixel's (c0, c2) then (c1, c3), the tp pixels side by side (LDRD offsets stay below 64). */
static inline __attribute__((always_inline)) int32_t mbmicro_pw_pair_lo(int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)(uint16_t)a) | ((uint32_t)(uint16_t)b << 16));
}

static inline __attribute__((always_inline)) void
mbmicro_pw_widen(int32_t *xv, const int8_t *x, int32_t C, int32_t tp)
{
    int32_t q = 0;
    _Pragma("GCC unroll 2")
    for (; q + 4 <= C; q += 4, xv += 2 * tp) {
        _Pragma("GCC unroll 8")
        for (int32_t i = 0; i < tp; i++) {
#if defined(__ARM_FEATURE_DSP)
            uint32_t v = mbmicro_gemm_read4(x + i * C + q);
            int32_t e = (int32_t)__sxtb16(v), o = (int32_t)mbmicro_gemm_sxtb16_ror8(v);
            __asm__("strd %1, %2, %0" : "=m"(*(uint64_t *)(xv + 2 * i)) : "r"(e), "r"(o)); /* one STRD */
#else
            const int8_t *p = x + i * C + q;
            xv[2 * i] = mbmicro_pw_pair_lo(p[0], p[2]);
            xv[2 * i + 1] = mbmicro_pw_pair_lo(p[1], p[3]);
#endif
        }
    }
    if (q < C) { /* the last C % 4 channels, zero-filled */
        for (int32_t i = 0; i < tp; i++) {
            int32_t t[4] = {0, 0, 0, 0};
            for (int32_t r = 0; q + r < C; r++) {
                t[r] = x[i * C + q + r];
            }
            xv[2 * i] = mbmicro_pw_pair_lo(t[0], t[2]);
            xv[2 * i + 1] = mbmicro_pw_pair_lo(t[1], t[3]);
        }
    }
}

/* The widened pair (c0, c2), (c1, c3) at p: one LDRD.  GCC's Cortex-M4 tuning splits a 64-bit
 * load into two LDRs; the asm's "m" operand is a uint64_t, so its address is one LDRD takes. */
static inline __attribute__((always_inline)) void
mbmicro_pw_load_pair(const int32_t *p, int32_t *e, int32_t *o)
{
#if defined(__ARM_FEATURE_DSP)
    __asm__("ldrd %0, %1, %2" : "=&r"(*e), "=r"(*o) : "m"(*(const uint64_t *)p));
#else
    *e = p[0];
    *o = p[1];
#endif
}

/* a += (xe, xo) . (we, wo): two SMLADs (the twin: the four products). */
static inline __attribute__((always_inline)) int32_t
mbmicro_pw_dot4(int32_t a, int32_t xe, int32_t xo, int32_t we, int32_t wo)
{
#if defined(__ARM_FEATURE_DSP)
    a = __smlad((int16x2_t)xe, (int16x2_t)we, a);
    return __smlad((int16x2_t)xo, (int16x2_t)wo, a);
#else
    return a + (int16_t)xe * (int16_t)we + (xe >> 16) * (we >> 16)
             + (int16_t)xo * (int16_t)wo + (xo >> 16) * (wo >> 16);
#endif
}

/* The weight pair (we, wo) of one output channel and 4 input channels at *w (one int8 word). */
static inline __attribute__((always_inline)) void
mbmicro_pw_weights(const int8_t *w, int32_t *we, int32_t *wo)
{
#if defined(__ARM_FEATURE_DSP)
    uint32_t v = mbmicro_gemm_read4(w);
    *we = (int32_t)__sxtb16(v);
    *wo = (int32_t)mbmicro_gemm_sxtb16_ror8(v);
#else
    *we = mbmicro_pw_pair_lo(w[0], w[2]);
    *wo = mbmicro_pw_pair_lo(w[1], w[3]);
#endif
}

/* Four int8 outputs (int32 values in [-128, 127]) as one little-endian word. */
static inline __attribute__((always_inline)) uint32_t
mbmicro_pw_pack4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
#if defined(__ARM_FEATURE_DSP)
    /* (v0, v2) and (v1, v3) as halfwords (PKHBT), UXTB16 keeps bytes 0 and 2 of each: 5
     * instructions (GCC turns the C form below into 8) */
    uint32_t lo = __uxtb16((uint32_t)(uint16_t)v0 | ((uint32_t)v2 << 16));
    uint32_t hi = __uxtb16((uint32_t)(uint16_t)v1 | ((uint32_t)v3 << 16));
    return lo | (hi << 8);
#else
    return (uint32_t)(uint8_t)v0 | ((uint32_t)(uint8_t)v1 << 8) | ((uint32_t)(uint8_t)v2 << 16)
         | ((uint32_t)(uint8_t)v3 << 24);
#endif
}

/* Store the `n` outputs v[0..n) of one pixel: packed when the group is a whole 4 or 2. */
static inline __attribute__((always_inline)) void
mbmicro_pw_store(int8_t *y, const int32_t *v, int32_t n)
{
    if (n == 4) {
        uint32_t word = mbmicro_pw_pack4(v[0], v[1], v[2], v[3]);
        memcpy(y, &word, sizeof word);
    } else if (n == 2) {
        uint16_t half = (uint16_t)((uint32_t)(uint8_t)v[0] | ((uint32_t)(uint8_t)v[1] << 8));
        memcpy(y, &half, sizeof half);
    } else {
        for (int32_t j = 0; j < n; j++) {
            y[j] = (int8_t)v[j];
        }
    }
}

/* One group: outputs k0 .. k0 + n (n <= to) of tp pixels; w, rq at the group's start. */
static inline __attribute__((always_inline)) void
mbmicro_pw_group(int32_t *xv, int32_t rw, int32_t K, int32_t tp, int32_t to, int32_t n,
                 const int8_t *w, const int32_t *rq, int32_t mode, int32_t clamp,
                 int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
#if defined(__ARM_FEATURE_DSP)
    /* an opaque copy per group: GCC reads the widened rows with LDRD here rather than hoisting
     * 4 * tp words out of the group loop into registers it then spills and reloads one by one */
    __asm__("" : "+r"(xv));
#endif
    int32_t a[MBMICRO_PW_MAX_TP][MBMICRO_PW_MAX_TO];
    _Pragma("GCC unroll 8")
    for (int32_t i = 0; i < tp; i++) {
        _Pragma("GCC unroll 16")
        for (int32_t j = 0; j < to; j++) {
            a[i][j] = rq[4 * j];
        }
    }
    const int32_t *px = xv;
    _Pragma("GCC unroll 8")
    for (int32_t q = 0; q < rw; q += 2, px += 2 * tp) {
        int32_t we[MBMICRO_PW_MAX_TO], wo[MBMICRO_PW_MAX_TO];
        _Pragma("GCC unroll 16")
        for (int32_t j = 0; j < to; j++, w += 4) {
            mbmicro_pw_weights(w, &we[j], &wo[j]);
        }
        _Pragma("GCC unroll 8")
        for (int32_t i = 0; i < tp; i++) { /* each pixel pair loaded once per chunk */
            int32_t xe, xo;
            mbmicro_pw_load_pair(px + 2 * i, &xe, &xo);
            _Pragma("GCC unroll 16")
            for (int32_t j = 0; j < to; j++) {
                a[i][j] = mbmicro_pw_dot4(a[i][j], xe, xo, we[j], wo[j]);
            }
        }
    }
    _Pragma("GCC unroll 8")
    for (int32_t i = 0; i < tp; i++) {
        int32_t v[MBMICRO_PW_MAX_TO];
        _Pragma("GCC unroll 16")
        for (int32_t j = 0; j < to; j++) {
            v[j] = mbmicro_pw_requant(a[i][j], rq, j, mode, clamp, zp, lo, hi);
        }
        mbmicro_pw_store(y + i * K, v, n);
    }
}

/* The layer step: rows x[0 .. tp) (C channels each) -> y[0 .. tp) (K channels each).
 * xv: scratch of tp * MBMICRO_PW_ROW_WORDS(C) words; w, rq: the offline layouts above.
 * Whole groups first, then the K % to tail group (both counts are literals once inlined). */
static inline __attribute__((always_inline)) void
mbmicro_gemm_dspx_pw(int32_t *xv, const int8_t *x, int32_t C, int32_t K, int32_t tp, int32_t to,
                     const int8_t *w, const int32_t *rq, int32_t mode, int32_t clamp,
                     int32_t zp, int32_t lo, int32_t hi, int8_t *y)
{
    const int32_t rw = MBMICRO_PW_ROW_WORDS(C), gw = rw * 2 * to;
    mbmicro_pw_widen(xv, x, C, tp);
#if defined(__ARM_FEATURE_DSP)
    __asm__("" : "+r"(xv) : : "memory"); /* the stores happen: the groups read xv opaquely */
#endif
    int32_t k0 = 0;
    for (; k0 + to <= K; k0 += to, w += gw, rq += 4 * to) {
        mbmicro_pw_group(xv, rw, K, tp, to, to, w, rq, mode, clamp, zp, lo, hi, y + k0);
    }
    if (k0 < K) {
        mbmicro_pw_group(xv, rw, K, tp, to, K - k0, w, rq, mode, clamp, zp, lo, hi, y + k0);
    }
}

#endif /* MBMICRO_GEMM_H */
