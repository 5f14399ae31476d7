/*
 * mbmicro global-pool micro-kernel: per-channel sums of int8 pixels.
 *
 *   mbmicro_pool_dsp_sum(acc, x, P, xs, n, init): acc[c] = init + sum_{p < P} x[p * xs + c]   for c < n
 *
 * x points at channel 0 of a block of n channels in an NHWC tensor of xs channels.  The
 * caller (codegen/ops/global_avg_pool.py, micro = "dsp") passes init = -P * zx (the zero
 * point, once per channel, in int32) or 0 and does the requantization in TIR, so the
 * rounding rule stays written once.
 *
 * Cortex-M4/M7 (__ARM_FEATURE_DSP): one 32-bit load brings 4 channels of a pixel; SXTAB16
 * adds channels 0 and 2 (and, with ROR 8, 1 and 3) into two int16 halves: 3 instructions
 * per 4 values instead of a load and an add each.  |x| <= 128, so 255 pixels fit an int16
 * lane (255 * 128 = 32640); the halves are added into the int32 sums every 255 pixels.
 * n % 4 leftover channels, and every channel of the portable twin (host builds and
 * tests), take the scalar loop, which computes exactly the same sums.
 */
#ifndef MBMICRO_POOL_H
#define MBMICRO_POOL_H

#include <stdint.h>
#include <string.h>
#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Pixels per int16 partial sum: 255 * 128 <= 32767. */
#define MBMICRO_POOL_CHUNK 255

#if defined(__ARM_FEATURE_DSP)
/* a + SXTB16(v ROR 8) (bytes 1 and 3): one instruction (GCC 12 has no __ror in arm_acle.h). */
static inline int16x2_t mbmicro_pool_sxtab16_ror8(int16x2_t a, uint32_t v)
{
    int16x2_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* The four channels at x (pixels xs apart), pixels [0, P): int16 halves per chunk of 255
 * pixels, added into four int32 sums held in registers and stored once. */
static inline __attribute__((always_inline)) void
mbmicro_pool_dsp_sum4(int32_t *acc, const int8_t *x, int32_t P, int32_t xs, int32_t init)
{
    int32_t s0 = init, s1 = init, s2 = init, s3 = init;
    for (int32_t p0 = 0; p0 < P; p0 += MBMICRO_POOL_CHUNK) {
        int32_t m = P - p0 < MBMICRO_POOL_CHUNK ? P - p0 : MBMICRO_POOL_CHUNK;
        int16x2_t e = 0, o = 0;
        const int8_t *px = x + p0 * xs;
        _Pragma("GCC unroll 4") /* a rolled pixel costs 6 instructions, not 3 */
        for (int32_t p = 0; p < m; p++) {
            uint32_t v;
            memcpy(&v, px + p * xs, sizeof v);
            e = __sxtab16(e, (int16x2_t)v);
            o = mbmicro_pool_sxtab16_ror8(o, v);
        }
        s0 += (int16_t)(uint16_t)((uint32_t)e & 0xFFFFu);
        s1 += (int16_t)(uint16_t)((uint32_t)o & 0xFFFFu);
        s2 += (int16_t)(uint16_t)((uint32_t)e >> 16);
        s3 += (int16_t)(uint16_t)((uint32_t)o >> 16);
    }
    acc[0] = s0;
    acc[1] = s1;
    acc[2] = s2;
    acc[3] = s3;
}
#endif

static inline __attribute__((always_inline)) void
mbmicro_pool_dsp_sum(int32_t *acc, const int8_t *x, int32_t P, int32_t xs, int32_t n, int32_t init)
{
    /* the scalar loop starts at a value gcc can see (with "c + 4 <= n" it warned of an
     * overflowing iteration count under -Waggressive-loop-optimizations) */
#if defined(__ARM_FEATURE_DSP)
    const int32_t n4 = n & ~3;
    for (int32_t c = 0; c < n4; c += 4) {
        mbmicro_pool_dsp_sum4(acc + c, x + c, P, xs, init);
    }
#else
    const int32_t n4 = 0;
#endif
    for (int32_t c = n4; c < n; c++) {
        int32_t s = init;
        for (int32_t p = 0; p < P; p++) {
            s += x[p * xs + c];
        }
        acc[c] = s;
    }
}

#endif /* MBMICRO_POOL_H */
