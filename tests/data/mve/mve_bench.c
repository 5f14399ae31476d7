/*
 * Instruction count of one Helium micro-kernel call with its shape as compile-time
 * constants (as a generated kernel calls it): case 0 of mve_cases.c, run between the
 * profiling markers, then checked against the reference (exit status 1 if it differs).
 * Shape macros: PW: BENCH_P, BENCH_C, BENCH_K; DW: BENCH_H, BENCH_W, BENCH_C, BENCH_KH,
 * BENCH_S, BENCH_PT, BENCH_PL, BENCH_OH, BENCH_OW; conv2d: those of DW plus BENCH_K.  BENCH_MODE is the requant mode.
 */
#include <string.h>

#include "mbmicro_mve.h"
#include "mve_cases.h"

static int8_t out[MVE_MAX_OUT];

volatile int32_t mbmicro_current_layer;
void mbmicro_layer_begin(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_end(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_begin(int32_t layer) { mbmicro_current_layer = layer; }
void mbmicro_layer_end(int32_t layer) { mbmicro_current_layer = -1 - layer; }

__attribute__((noinline)) static void kernel(const mve_case *t)
{
#ifdef BENCH_P
    mbmicro_mve_pw_s8(t->x, t->w, t->rq, BENCH_P, BENCH_C, BENCH_K, BENCH_MODE,
                      t->y_zp, t->lo, t->hi, out);
#elif defined(BENCH_K)
    for (int32_t oh = 0; oh < BENCH_OH; ++oh) {
        mbmicro_mve_conv_row(t->x, BENCH_H, BENCH_W, BENCH_C, BENCH_KH, BENCH_KH, BENCH_S, BENCH_PT, BENCH_PL, oh,
                             BENCH_OW, t->w, t->rq, BENCH_K, t->x_zp, BENCH_MODE, t->y_zp, t->lo, t->hi,
                             out + oh * BENCH_OW * BENCH_K);
    }
#else
    for (int32_t oh = 0; oh < BENCH_OH; ++oh) {
        mbmicro_mve_dw_row(t->x, BENCH_H, BENCH_W, BENCH_C, t->w, BENCH_KH, BENCH_KH, BENCH_S, BENCH_PT,
                           BENCH_PL, oh, BENCH_OW, t->rq, t->x_zp, BENCH_MODE, t->y_zp,
                           t->lo, t->hi, out + oh * BENCH_OW * BENCH_C);
    }
#endif
}

int main(void)
{
    mbmicro_layer_begin(0);
    kernel(&mve_cases[0]);
    mbmicro_layer_end(0);
    return memcmp(out, mve_cases[0].ref, (size_t)mve_cases[0].ny) != 0;
}
