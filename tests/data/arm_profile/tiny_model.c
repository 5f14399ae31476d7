/*
 * Stand-in for a generated build folder, with the same contract as mbmicro_main.c plus the
 * profiling hooks: `app INPUT.bin OUTPUT.bin` reads 768 int8 values, runs three "layers"
 * (int8 dot products of 256, 512 and 768 MACs) and writes their three int8 results.
 * With -DMBMICRO_PROFILE every layer is wrapped in mbmicro_layer_begin/end, as the
 * generated model does, so `mbmicro profile` can be tested without the code generator.
 */
#include <stdint.h>
#include <stdio.h>

#define INPUT_BYTES 768

#ifdef MBMICRO_PROFILE
volatile int32_t mbmicro_current_layer;
void mbmicro_layer_begin(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_end(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_begin(int32_t layer) { mbmicro_current_layer = layer; }
void mbmicro_layer_end(int32_t layer) { mbmicro_current_layer = -1 - layer; }
#define LAYER_BEGIN(i) mbmicro_layer_begin(i)
#define LAYER_END(i) mbmicro_layer_end(i)
#else
#define LAYER_BEGIN(i) ((void)0)
#define LAYER_END(i) ((void)0)
#endif

static int8_t input[INPUT_BYTES];

static int8_t dot(const int8_t *x, int32_t n)
{
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += (int32_t)x[i] * (int32_t)x[n - 1 - i];
    }
    return (int8_t)(acc >> 8);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: app INPUT.bin OUTPUT.bin\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL || fread(input, 1, INPUT_BYTES, in) != INPUT_BYTES) {
        fprintf(stderr, "cannot read %d bytes from %s\n", INPUT_BYTES, argv[1]);
        return 1;
    }
    fclose(in);
    int8_t out[3];
    for (int32_t layer = 0; layer < 3; layer++) {
        LAYER_BEGIN(layer);
        out[layer] = dot(input, 256 * (layer + 1));
        LAYER_END(layer);
    }
    FILE *f = fopen(argv[2], "wb");
    if (f == NULL || fwrite(out, 1, sizeof out, f) != sizeof out || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
