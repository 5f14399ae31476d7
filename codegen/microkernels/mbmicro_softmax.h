/*
 * mbmicro_softmax.h -- TFLite's int8 softmax (reference_ops::Softmax, int8 in, int8 out
 * at scale 1/256, zero point -128) in gemmlowp fixed point, bit-exact with TFLite Micro.
 *
 * Why a micro-kernel and not a TE expression: the op runs once per inference on one
 * vector of classes, and its arithmetic (a polynomial exp on a barrel shifter, a
 * Newton-Raphson reciprocal, saturating doubling multiplies) is sequential scalar code
 * that reads best as C.  The generated kernel (codegen/ops/softmax.py) is a TIR function
 * whose body is a call_extern of mbmicro_softmax_s8, so TVM still places the kernel.
 *
 * Portable C99 only (no intrinsics): every int32 sum that TFLite lets wrap is done in
 * uint32 and converted back (GCC and Clang define that conversion as modulo 2**32).
 * The twin of every function is in mbmicro/reference/arith.py (the NumPy oracle).
 */
#ifndef MBMICRO_SOFTMAX_H
#define MBMICRO_SOFTMAX_H

#include <stdint.h>

/* a + b and a - b wrapping as TFLite's int32 arithmetic does on every ARM core. */
static inline int32_t mbmicro_sm_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t mbmicro_sm_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* gemmlowp SaturatingRoundingDoublingHighMul: the product of two FixedPoint raws. */
static inline int32_t mbmicro_sm_mul(int32_t a, int32_t b) {
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* gemmlowp RoundingDivideByPOT, in int64 so that exponents up to 62 are defined. */
static inline int64_t mbmicro_sm_rdivpot(int64_t x, int exponent) {
    int64_t mask = ((int64_t)1 << exponent) - 1;
    int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for a positive exponent: a saturating left shift. */
static inline int32_t mbmicro_sm_satshl(int32_t x, int exponent) {
    int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* gemmlowp exp_on_interval_between_negative_one_quarter_and_0_excl: Q0.31 in and out. */
static inline int32_t mbmicro_sm_exp_quarter(int32_t a) {
    const int32_t exp_minus_eighth = 1895147668;
    const int32_t one_third = 715827883;
    int32_t x = mbmicro_sm_add(a, (int32_t)1 << 28);
    int32_t x2 = mbmicro_sm_mul(x, x);
    int32_t x3 = mbmicro_sm_mul(x2, x);
    int32_t x4 = mbmicro_sm_mul(x2, x2);
    int32_t x4_over_4 = (int32_t)mbmicro_sm_rdivpot(x4, 2);
    int32_t poly = (int32_t)mbmicro_sm_rdivpot(
        mbmicro_sm_add(mbmicro_sm_mul(mbmicro_sm_add(x4_over_4, x3), one_third), x2), 1);
    return mbmicro_sm_add(exp_minus_eighth, mbmicro_sm_mul(exp_minus_eighth, mbmicro_sm_add(x, poly)));
}

/* gemmlowp exp_on_negative_values for a Q5.26 input <= 0 (softmax's scaled difference); Q0.31 out. */
static inline int32_t mbmicro_sm_exp_q5(int32_t a) {
    const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = (int32_t)1 << 24;
    int32_t mod_quarter = mbmicro_sm_sub(a & (quarter - 1), quarter);
    int32_t result = mbmicro_sm_exp_quarter(mbmicro_sm_satshl(mod_quarter, 5));
    uint32_t remainder = (uint32_t)mbmicro_sm_sub(mod_quarter, a);
    int k;
    for (k = 0; k < 7; ++k) {
        if (remainder & ((uint32_t)1 << (24 + k))) {
            result = mbmicro_sm_mul(result, barrel[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out, Newton-Raphson in Q2.29. */
static inline int32_t mbmicro_sm_reciprocal(int32_t a) {
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = mbmicro_sm_add(1515870810, mbmicro_sm_mul(half, -1010580540));
    int i;
    for (i = 0; i < 3; ++i) {
        int32_t one_minus = mbmicro_sm_sub((int32_t)1 << 29, mbmicro_sm_mul(half, x));
        x = mbmicro_sm_add(x, mbmicro_sm_satshl(mbmicro_sm_mul(x, one_minus), 2));
    }
    return mbmicro_sm_satshl(x, 1);
}

/* exp(beta * s * diff) in Q0.31: diff * 2**left_shift (wrapping int32) times the multiplier, Q5.26. */
static inline int32_t mbmicro_sm_exp_of_diff(int32_t diff, int32_t multiplier, int32_t left_shift) {
    int32_t rescaled = (int32_t)(uint32_t)((uint64_t)(int64_t)diff << left_shift);
    return mbmicro_sm_exp_q5(mbmicro_sm_mul(rescaled, multiplier));
}

/* Leading zeros of a 32-bit value (32 for 0): portable, the loop runs at most 32 times once per row. */
static inline int mbmicro_sm_clz(uint32_t v) {
    int n = 0;
    while (n < 32 && !(v & ((uint32_t)1 << (31 - n)))) {
        ++n;
    }
    return n;
}

/* y = softmax of each of ``rows`` rows of ``depth`` int8 values of x (y must not alias x). */
static inline void mbmicro_softmax_s8(const int8_t *x, int8_t *y, int32_t rows, int32_t depth,
                                      int32_t multiplier, int32_t left_shift, int32_t diff_min) {
    int32_t r, c;
    for (r = 0; r < rows; ++r) {
        const int8_t *xr = x + r * depth;
        int8_t *yr = y + r * depth;
        int32_t max_in_row = -128;
        int32_t sum = 0;
        int headroom, bits_over_unit;
        int32_t scale;
        for (c = 0; c < depth; ++c) {
            if (xr[c] > max_in_row) {
                max_in_row = xr[c];
            }
        }
        for (c = 0; c < depth; ++c) {
            int32_t diff = (int32_t)xr[c] - max_in_row;
            if (diff >= diff_min) {
                int32_t e = mbmicro_sm_exp_of_diff(diff, multiplier, left_shift);
                sum = mbmicro_sm_add(sum, (int32_t)mbmicro_sm_rdivpot(e, 12));
            }
        }
        headroom = mbmicro_sm_clz((uint32_t)sum);
        bits_over_unit = 12 - headroom;
        scale = mbmicro_sm_reciprocal((int32_t)((headroom < 32 ? (uint32_t)sum << headroom : 0u) - ((uint32_t)1 << 31)));
        for (c = 0; c < depth; ++c) {
            int32_t diff = (int32_t)xr[c] - max_in_row;
            int32_t out = -128;
            if (diff >= diff_min) {
                int32_t e = mbmicro_sm_exp_of_diff(diff, multiplier, left_shift);
                int64_t q = mbmicro_sm_rdivpot(mbmicro_sm_mul(scale, e), bits_over_unit + 23) - 128;
                out = q > 127 ? 127 : (q < -128 ? -128 : (int32_t)q);
            }
            yr[c] = (int8_t)out;
        }
    }
}

#endif /* MBMICRO_SOFTMAX_H */
