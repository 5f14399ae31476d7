/* Test driver for codegen/microkernels/mbmicro_neon_pw.h: reads cases from
 * argv[1], runs each whole GEMM as tiles of the micro-kernels with the loop
 * nest the generated kernel has (codegen/ops/pointwise_neon.py: overlapping
 * last tiles, a zeroed accumulator tile, gemm then out; for the panel kernel
 * the panel transposed once per block of output channels), writes every
 * output to argv[2].  Built for the host (portable twin) and for aarch64
 * (NEON, run in qemu-aarch64) by tests/test_neon_pw.py.
 *
 * Case (int32 little endian): kind (0 gemm_c, 1 gemm_k), tp, to, rq, pair, P,
 * C, K, y_zp, act_min, act_max, then x[P*C] and w[K*C] int8, bias[K],
 * mult[K], shift[K] int32.  The tile knobs are dispatched to calls with
 * constant arguments, as the generated code makes them. */
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

typedef struct {
    int32_t P, C, K, q[3];
    const int8_t *x, *w;
    const int32_t *bias, *mult, *shift;
    int8_t *y;
} gemm_t;

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

/* The tile loops of one GEMM with constant tile knobs (what the generated C is). */
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define GEMM_C(TP, TO, RQ, PAIR)                                                                   \
    static void gemm_c_##TP##_##TO##_##RQ##_##PAIR(const gemm_t *g)                              \
    {                                                                                           \
        int32_t acc[TP * TO];                                                                   \
        for (int32_t po = 0; po < (g->P + TP - 1) / TP; po++)                                   \
            for (int32_t ko = 0; ko < (g->K + TO - 1) / TO; ko++) {                             \
                int32_t p = MIN(po * TP, g->P - TP), k = MIN(ko * TO, g->K - TO);               \
                for (int i = 0; i < TP * TO; i++)                                               \
                    acc[i] = g->bias[k + i % TO];                                               \
                mbmicro_neon_gemm_c(acc, g->x + p * g->C, g->w + k * g->C, g->C, g->C, g->C, TP, TO, PAIR); \
                mbmicro_neon_out(g->y + p * g->K + k, acc, g->mult + k, g->shift + k, g->q, g->K, TP, TO, RQ); \
            }                                                                                   \
    }
#define GEMM_K(TP, TO, RQ)                                                                         \
    static void gemm_k_##TP##_##TO##_##RQ(const gemm_t *g)                                       \
    {                                                                                           \
        int32_t acc[TP * TO];                                                                   \
        int8_t *panel = malloc((size_t)g->C * TO);                                              \
        for (int32_t ko = 0; ko < (g->K + TO - 1) / TO; ko++) {                                 \
            int32_t k = MIN(ko * TO, g->K - TO);                                                \
            for (int32_t c = 0; c < g->C; c++)                                                  \
                for (int j = 0; j < TO; j++)                                                    \
                    panel[c * TO + j] = g->w[(k + j) * g->C + c];                               \
            for (int32_t po = 0; po < (g->P + TP - 1) / TP; po++) {                             \
                int32_t p = MIN(po * TP, g->P - TP);                                            \
                for (int i = 0; i < TP * TO; i++)                                               \
                    acc[i] = g->bias[k + i % TO];                                               \
                mbmicro_neon_gemm_k(acc, g->x + p * g->C, panel, g->C, g->C, TP, TO);           \
                mbmicro_neon_out(g->y + p * g->K + k, acc, g->mult + k, g->shift + k, g->q, g->K, TP, TO, RQ); \
            }                                                                                   \
        }                                                                                       \
        free(panel);                                                                            \
    }
#define RQS_C(TP, TO) GEMM_C(TP, TO, 0, 0) GEMM_C(TP, TO, 0, 1) GEMM_C(TP, TO, 1, 0) GEMM_C(TP, TO, 1, 1) \
    GEMM_C(TP, TO, 2, 0) GEMM_C(TP, TO, 2, 1)
#define RQS_K(TP, TO) GEMM_K(TP, TO, 0) GEMM_K(TP, TO, 1) GEMM_K(TP, TO, 2)
#define TOS(TP) RQS_C(TP, 1) RQS_C(TP, 2) RQS_C(TP, 4) RQS_C(TP, 8) RQS_C(TP, 16) \
    RQS_K(TP, 4) RQS_K(TP, 8) RQS_K(TP, 16)
TOS(1)
TOS(2)
TOS(4)
TOS(8)

typedef void (*gemm_fn)(const gemm_t *);
#define ENTRY_C(TP, TO, RQ, PAIR) {0, TP, TO, RQ, PAIR, gemm_c_##TP##_##TO##_##RQ##_##PAIR},
#define ENTRY_K(TP, TO, RQ) {1, TP, TO, RQ, 1, gemm_k_##TP##_##TO##_##RQ},
#define ENTRIES_C(TP, TO) ENTRY_C(TP, TO, 0, 0) ENTRY_C(TP, TO, 0, 1) ENTRY_C(TP, TO, 1, 0) \
    ENTRY_C(TP, TO, 1, 1) ENTRY_C(TP, TO, 2, 0) ENTRY_C(TP, TO, 2, 1)
#define ENTRIES_K(TP, TO) ENTRY_K(TP, TO, 0) ENTRY_K(TP, TO, 1) ENTRY_K(TP, TO, 2)
#define ENTRIES(TP) ENTRIES_C(TP, 1) ENTRIES_C(TP, 2) ENTRIES_C(TP, 4) ENTRIES_C(TP, 8) ENTRIES_C(TP, 16) \
    ENTRIES_K(TP, 4) ENTRIES_K(TP, 8) ENTRIES_K(TP, 16)
static const struct {
    int kind, tp, to, rq, pair;
    gemm_fn fn;
} TABLE[] = {ENTRIES(1) ENTRIES(2) ENTRIES(4) ENTRIES(8)};

static gemm_fn lookup(int kind, int tp, int to, int rq, int pair)
{
    for (size_t i = 0; i < sizeof TABLE / sizeof TABLE[0]; i++)
        if (TABLE[i].kind == kind && TABLE[i].tp == tp && TABLE[i].to == to && TABLE[i].rq == rq &&
            TABLE[i].pair == (kind ? 1 : pair))
            return TABLE[i].fn;
    fprintf(stderr, "no kernel kind %d tp %d to %d rq %d pair %d\n", kind, tp, to, rq, pair);
    exit(4);
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
        int32_t h[11];
        for (int i = 0; i < 11; i++)
            h[i] = read_i32(in);
        gemm_t g = {h[5], h[6], h[7], {h[8], h[9], h[10]}, 0, 0, 0, 0, 0, 0};
        gemm_fn fn = lookup(h[0], h[1], h[2], h[3], h[4]);
        g.x = read_bytes(in, (size_t)g.P * g.C);
        g.w = read_bytes(in, (size_t)g.K * g.C);
        g.bias = read_bytes(in, 4u * g.K);
        g.mult = read_bytes(in, 4u * g.K);
        g.shift = read_bytes(in, 4u * g.K);
        g.y = calloc((size_t)g.P * g.K, 1);
        mbmicro_layer_begin(t);
        fn(&g);
        mbmicro_layer_end(t);
        fwrite(g.y, 1, (size_t)g.P * g.K, out);
        free((void *)g.x); free((void *)g.w); free((void *)g.bias); free((void *)g.mult);
        free((void *)g.shift); free(g.y);
    }
    fclose(in);
    return fclose(out) ? 1 : 0;
}
