/*
 * Runs every case of mve_cases.c (written by tests/mve_cases.py) through the Helium
 * micro-kernels (pointwise, depthwise, conv2d) of mbmicro_mve.h and compares the output with the reference's, byte for
 * byte, plus 16 guard bytes after it that must stay untouched (no write past the end).
 *
 * Built twice: for the host (the portable twin) and for the Cortex-M55 (the MVE path,
 * run in QEMU mps3-an547).  Prints one line per failing case; exit status = failures.
 * With -DMVE_BENCH it runs only case 0, between the profiling markers.
 */
#include <stdio.h>
#include <string.h>

#include "mbmicro_mve.h"
#include "mve_cases.h"

#define GUARD 16

static int8_t out[MVE_MAX_OUT + GUARD];

volatile int32_t mbmicro_current_layer;
void mbmicro_layer_begin(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_end(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_begin(int32_t layer) { mbmicro_current_layer = layer; }
void mbmicro_layer_end(int32_t layer) { mbmicro_current_layer = -1 - layer; }

static void run_case(const mve_case *t)
{
    if (t->kind == MVE_PW) {
        mbmicro_mve_pw_s8(t->x, t->w, t->rq, t->H * t->W, t->C, t->K, t->mode,
                          t->y_zp, t->lo, t->hi, out);
        return;
    }
    if (t->kind == MVE_CV) {
        for (int32_t oh = 0; oh < t->OH; ++oh) {
            mbmicro_mve_conv_row(t->x, t->H, t->W, t->C, t->KH, t->KH, t->S, t->pt, t->pl, oh, t->OW, t->w, t->rq,
                                 t->K, t->x_zp, t->mode, t->y_zp, t->lo, t->hi, out + oh * t->OW * t->K);
        }
        return;
    }
    for (int32_t oh = 0; oh < t->OH; ++oh) {
        mbmicro_mve_dw_row(t->x, t->H, t->W, t->C, t->w, t->KH, t->KH, t->S, t->pt, t->pl, oh, t->OW,
                           t->rq, t->x_zp, t->mode, t->y_zp, t->lo, t->hi,
                           out + oh * t->OW * t->C);
    }
}

static int check_case(int index, const mve_case *t)
{
    memset(out, 0x5a, (size_t)t->ny + GUARD);
    run_case(t);
    for (int32_t i = 0; i < t->ny; ++i) {
        if (out[i] != t->ref[i]) {
            printf("case %d (%s): byte %ld is %d, reference %d\n", index,
                   t->kind == MVE_PW ? "pw" : t->kind == MVE_DW ? "dw" : "cv",
                   (long)i, out[i], t->ref[i]);
            return 1;
        }
    }
    for (int32_t i = t->ny; i < t->ny + GUARD; ++i) {
        if (out[i] != 0x5a) {
            printf("case %d: wrote past the output (byte %ld)\n", index, (long)i);
            return 1;
        }
    }
    return 0;
}

int main(void)
{
#ifdef MVE_BENCH
    mbmicro_layer_begin(0);
    run_case(&mve_cases[0]);
    mbmicro_layer_end(0);
    return 0;
#else
    int failed = 0;
    for (int i = 0; i < MVE_N_CASES; ++i) {
        failed += check_case(i, &mve_cases[i]);
    }
    printf("%d of %d cases differ\n", failed, MVE_N_CASES);
    return failed > 100 ? 100 : failed;
#endif
}
