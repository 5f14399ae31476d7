/*
 * One CMSIS-NN layer between mbmicro's profiling markers, for benchmarks/cmsis_nn.py.
 *
 * Why a generic firmware that reads its case from a file: one image per core runs every
 * layer shape (no per-shape compile), and the instructions counted between
 * mbmicro_layer_begin/end are exactly the CMSIS-NN call TFLite Micro makes
 * (arm_convolve_wrapper_s8 / arm_depthwise_conv_wrapper_s8, which dispatch to
 * arm_convolve_1x1_s8_fast, arm_depthwise_conv_3x3_s8, arm_depthwise_conv_s8_opt...).
 *
 *   app.elf CASE.bin OUT.bin
 *
 * CASE.bin (little-endian, written by cmsis_nn.py): CASE_FIELDS int32 header fields (see
 * enum field), then input int8, filter int8 (each padded to 4 bytes), bias, multiplier and
 * shift (int32, one per output channel; shift is TFLite's exponent, 31 - mbmicro's s).
 * OUT.bin receives the int8 output. Exit status: 0, or what went wrong (enum status).
 */
#include <stdint.h>
#include <stdio.h>

#include "arm_nnfunctions.h"
#include "mbmicro_hooks.h"

#ifndef POOL_BYTES
#define POOL_BYTES (1536 * 1024)
#endif

#define CASE_MAGIC 0x31424e43 /* "CNB1" */

enum field {
    F_MAGIC, F_OP, F_IN_H, F_IN_W, F_IN_C, F_OUT_H, F_OUT_W, F_OUT_C, F_K_H, F_K_W,
    F_STRIDE, F_PAD_H, F_PAD_W, F_IN_OFFSET, F_OUT_OFFSET, F_ACT_MIN, F_ACT_MAX,
    CASE_FIELDS
};

enum op { OP_CONV = 0, OP_DEPTHWISE = 1 };

enum status { OK = 0, E_USAGE = 10, E_READ, E_FORMAT, E_POOL, E_KERNEL, E_WRITE };

/* Everything lives in one static pool, so the image's memory use is fixed at link time. */
static int32_t pool[POOL_BYTES / 4];

static size_t round4(size_t n)
{
    return (n + 3u) & ~(size_t)3u;
}

static long read_case(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, cap, f);
    int more = fgetc(f) != EOF;
    fclose(f);
    return more ? -2 : (long)n;
}

static int write_output(const char *path, const int8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return 0;
    }
    size_t done = fwrite(data, 1, n, f);
    return fclose(f) == 0 && done == n;
}

/* The layer as TFLite Micro's CMSIS-NN conv / depthwise kernels call it. */
static arm_cmsis_nn_status run_layer(const int32_t *h, const int8_t *input, const int8_t *filter,
                                     const int32_t *bias, int32_t *mult, int32_t *shift,
                                     int8_t *output, void *scratch, int32_t scratch_bytes)
{
    cmsis_nn_context ctx = {scratch, scratch_bytes};
    cmsis_nn_dims in_dims = {1, h[F_IN_H], h[F_IN_W], h[F_IN_C]};
    cmsis_nn_dims out_dims = {1, h[F_OUT_H], h[F_OUT_W], h[F_OUT_C]};
    cmsis_nn_dims bias_dims = {1, 1, 1, h[F_OUT_C]};
    cmsis_nn_per_channel_quant_params quant = {mult, shift};
    cmsis_nn_tile stride = {h[F_STRIDE], h[F_STRIDE]};
    cmsis_nn_tile pad = {h[F_PAD_W], h[F_PAD_H]};
    cmsis_nn_tile dilation = {1, 1};
    cmsis_nn_activation act = {h[F_ACT_MIN], h[F_ACT_MAX]};
    arm_cmsis_nn_status status;
    if (h[F_OP] == OP_CONV) {
        cmsis_nn_dims filter_dims = {h[F_OUT_C], h[F_K_H], h[F_K_W], h[F_IN_C]};
        cmsis_nn_conv_params params = {h[F_IN_OFFSET], h[F_OUT_OFFSET], stride, pad, dilation, act};
        mbmicro_layer_begin(0);
        status = arm_convolve_wrapper_s8(&ctx, &params, &quant, &in_dims, input, &filter_dims, filter,
                                         &bias_dims, bias, &out_dims, output);
        mbmicro_layer_end(0);
    } else {
        cmsis_nn_dims filter_dims = {1, h[F_K_H], h[F_K_W], h[F_OUT_C]};
        cmsis_nn_dw_conv_params params = {h[F_IN_OFFSET], h[F_OUT_OFFSET], 1, stride, pad, dilation, act};
        mbmicro_layer_begin(0);
        status = arm_depthwise_conv_wrapper_s8(&ctx, &params, &quant, &in_dims, input, &filter_dims, filter,
                                               &bias_dims, bias, &out_dims, output);
        mbmicro_layer_end(0);
    }
    return status;
}

/* Scratch bytes the wrapper asks for (TFLite Micro requests the same in Prepare). */
static int32_t scratch_bytes(const int32_t *h)
{
    cmsis_nn_dims in_dims = {1, h[F_IN_H], h[F_IN_W], h[F_IN_C]};
    cmsis_nn_dims out_dims = {1, h[F_OUT_H], h[F_OUT_W], h[F_OUT_C]};
    cmsis_nn_tile stride = {h[F_STRIDE], h[F_STRIDE]};
    cmsis_nn_tile pad = {h[F_PAD_W], h[F_PAD_H]};
    cmsis_nn_tile dilation = {1, 1};
    cmsis_nn_activation act = {h[F_ACT_MIN], h[F_ACT_MAX]};
    if (h[F_OP] == OP_CONV) {
        cmsis_nn_dims filter_dims = {h[F_OUT_C], h[F_K_H], h[F_K_W], h[F_IN_C]};
        cmsis_nn_conv_params params = {h[F_IN_OFFSET], h[F_OUT_OFFSET], stride, pad, dilation, act};
        return arm_convolve_wrapper_s8_get_buffer_size(&params, &in_dims, &filter_dims, &out_dims);
    }
    cmsis_nn_dims filter_dims = {1, h[F_K_H], h[F_K_W], h[F_OUT_C]};
    cmsis_nn_dw_conv_params params = {h[F_IN_OFFSET], h[F_OUT_OFFSET], 1, stride, pad, dilation, act};
    return arm_depthwise_conv_wrapper_s8_get_buffer_size(&params, &in_dims, &filter_dims, &out_dims);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        return E_USAGE;
    }
    uint8_t *base = (uint8_t *)pool;
    long n = read_case(argv[1], base, sizeof pool);
    if (n < 0) {
        return n == -1 ? E_READ : E_POOL;
    }
    const int32_t *h = (const int32_t *)base;
    if ((size_t)n < CASE_FIELDS * 4 || h[F_MAGIC] != CASE_MAGIC || (h[F_OP] != OP_CONV && h[F_OP] != OP_DEPTHWISE)) {
        return E_FORMAT;
    }
    size_t in_bytes = round4((size_t)h[F_IN_H] * h[F_IN_W] * h[F_IN_C]);
    size_t taps = (size_t)h[F_K_H] * h[F_K_W] * h[F_OUT_C];
    size_t filter_bytes = round4(h[F_OP] == OP_CONV ? taps * h[F_IN_C] : taps);
    size_t channel_bytes = 4u * h[F_OUT_C];
    size_t out_bytes = round4((size_t)h[F_OUT_H] * h[F_OUT_W] * h[F_OUT_C]);
    size_t expect = CASE_FIELDS * 4u + in_bytes + filter_bytes + 3u * channel_bytes;
    if ((size_t)n != expect) {
        return E_FORMAT;
    }
    int8_t *input = (int8_t *)(base + CASE_FIELDS * 4u);
    int8_t *filter = input + in_bytes;
    int32_t *bias = (int32_t *)(filter + filter_bytes);
    int32_t *mult = bias + h[F_OUT_C];
    int32_t *shift = mult + h[F_OUT_C];
    int8_t *output = (int8_t *)(shift + h[F_OUT_C]);
    int32_t scratch = scratch_bytes(h);
    void *buffer = output + out_bytes;
    if (scratch < 0 || expect + out_bytes + (size_t)scratch > sizeof pool) {
        return E_POOL;
    }
    if (run_layer(h, input, filter, bias, mult, shift, output, scratch ? buffer : NULL, scratch) !=
        ARM_CMSIS_NN_SUCCESS) {
        return E_KERNEL;
    }
    return write_output(argv[2], output, (size_t)h[F_OUT_H] * h[F_OUT_W] * h[F_OUT_C]) ? OK : E_WRITE;
}
