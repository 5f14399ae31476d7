/* Test driver for codegen/microkernels/mbmicro_neon_pw.h: reads cases from
 * argv[1], runs each whole GEMM as tiles of the micro-kernel (the loop nest a
 * generated kernel has), writes every output to argv[2].  Built for the host
 * (portable twin) and for aarch64 (NEON, run in qemu-aarch64) by
 * tests/test_neon_pw.py, which compares both with mbmicro.reference.int8.
 *
 * Case (int32 little endian): kind (0 kc4, 1 kv), tp, to, rq, pair, P, C, K,
 * y_zp, act_min, act_max, then x[P*C] and w[K*C] int8 (w in the kernel's
 * layout), bias[K], mult[K], shift[K] int32.  The tile knobs are dispatched to
 * calls with constant arguments, as the generated code makes them. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

#include "mbmicro_neon_pw.h"

#ifdef MBMICRO_PROFILE
/* Region markers for the instruction-counting QEMU plugin (one region per case). */
__attribute__((noipa)) void mbmicro_layer_begin(int i) { __asm__ volatile("" ::"r"(i)); }
__attribute__((noipa)) void mbmicro_layer_end(int i) { __asm__ volatile("" ::"r"(i + 1)); }
#else
#define mbmicro_layer_begin(i) ((void)(i))
#define mbmicro_layer_end(i) ((void)(i))
#endif

static int32_t read_i32(FILE *f)
{
    int32_t v;
    if (fread(&v, 4, 1, f) != 1) {
        fprintf(stderr, "short input\n");
        exit(3);
    }
    return v;
}

static void *read_bytes(FILE *f, size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p || fread(p, 1, n, f) != n) {
        fprintf(stderr, "short input\n");
        exit(3);
    }
    return p;
}

#define KC(TP, RQ, PAIR) \
    mbmicro_neon_pw_kc4(x + p * C, w + k * C, bias + k, mult + k, shift + k, zp, lo, hi, y + p * K + k, C, K, TP, RQ, PAIR)
#define KV(TP, TO, RQ) \
    mbmicro_neon_pw_kv(x + p * C, w + k * C, bias + k, mult + k, shift + k, zp, lo, hi, y + p * K + k, C, K, TP, TO, RQ)
#define BY_RQ(M, ...)                                                            \
    switch (rq) {                                                               \
    case 0: M(__VA_ARGS__, 0); break;                                          \
    case 1: M(__VA_ARGS__, 1); break;                                          \
    default: M(__VA_ARGS__, 2); break;                                         \
    }

static void kc_tile(int tp, int rq, int pair, const int8_t *x, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int32_t *shift, int32_t zp, int32_t lo, int32_t hi,
                    int8_t *y, int32_t C, int32_t K, int32_t p, int32_t k)
{
#define KCP(TP, RQ) do { if (pair) KC(TP, RQ, 1); else KC(TP, RQ, 0); } while (0)
#define KC_TP(TP) BY_RQ(KCP, TP)
    switch (tp) {
    case 1: KC_TP(1) break;
    case 2: KC_TP(2) break;
    case 3: KC_TP(3) break;
    default: KC_TP(4) break;
    }
}

static void kv_tile(int tp, int to, int rq, const int8_t *x, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int32_t *shift, int32_t zp, int32_t lo, int32_t hi,
                    int8_t *y, int32_t C, int32_t K, int32_t p, int32_t k)
{
#define KV_TP(TP) do { if (to == 16) { BY_RQ(KV, TP, 16) } else { BY_RQ(KV, TP, 8) } } while (0)
    switch (tp) {
    case 1: KV_TP(1); break;
    case 2: KV_TP(2); break;
    case 3: KV_TP(3); break;
    default: KV_TP(4); break;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out)
        return 2;
    int32_t n = read_i32(in);
    for (int32_t t = 0; t < n; t++) {
        int32_t hdr[11];
        for (int i = 0; i < 11; i++)
            hdr[i] = read_i32(in);
        int kind = hdr[0], tp = hdr[1], to = hdr[2], rq = hdr[3], pair = hdr[4];
        int32_t P = hdr[5], C = hdr[6], K = hdr[7], zp = hdr[8], lo = hdr[9], hi = hdr[10];
        int8_t *x = read_bytes(in, (size_t)P * C), *w = read_bytes(in, (size_t)K * C);
        int32_t *bias = read_bytes(in, 4u * K), *mult = read_bytes(in, 4u * K), *shift = read_bytes(in, 4u * K);
        int8_t *y = calloc((size_t)P * K, 1);
        int32_t kstep = kind == 0 ? 4 : to;
        mbmicro_layer_begin(t);
        for (int32_t p = 0; p < P; p += tp)
            for (int32_t k = 0; k < K; k += kstep) {
                if (kind == 0)
                    kc_tile(tp, rq, pair, x, w, bias, mult, shift, zp, lo, hi, y, C, K, p, k);
                else
                    kv_tile(tp, to, rq, x, w, bias, mult, shift, zp, lo, hi, y, C, K, p, k);
            }
        mbmicro_layer_end(t);
        fwrite(y, 1, (size_t)P * K, out);
        free(x); free(w); free(bias); free(mult); free(shift); free(y);
    }
    fclose(in);
    return fclose(out) ? 1 : 0;
}
