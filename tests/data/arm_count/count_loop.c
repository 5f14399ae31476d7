/*
 * Known workload for the instruction-counting plugin: three regions, marked exactly like
 * the generated model marks its layers, run a serial loop of N, 2N and 3N iterations.
 *
 * usage: count_loop N  -- prints the final value; exit status 0
 *
 * The loop body is a linear congruential step, a loop-carried dependency the compiler
 * can neither vectorise nor fold into a closed form, so region i costs a + b * (i+1) * N
 * instructions for constants a, b: the test checks that exact linearity.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Markers: noipa keeps every call (an empty noinline function would be found "const"
 * and its calls deleted); the volatile store keeps the two bodies different, so
 * identical-code folding cannot give them one address. */
volatile int32_t mbmicro_current_layer;
void mbmicro_layer_begin(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_end(int32_t layer) __attribute__((noinline, noipa));
void mbmicro_layer_begin(int32_t layer) { mbmicro_current_layer = layer; }
void mbmicro_layer_end(int32_t layer) { mbmicro_current_layer = -1 - layer; }

static uint32_t lcg_steps(uint32_t x, long n)
{
    for (long i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
    }
    return x;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: count_loop N\n");
        return 1;
    }
    long n = strtol(argv[1], NULL, 10);
    uint32_t x = 1;
    for (int32_t layer = 0; layer < 3; layer++) {
        mbmicro_layer_begin(layer);
        x = lcg_steps(x, n * (layer + 1));
        mbmicro_layer_end(layer);
    }
    printf("count_loop: %lu\n", (unsigned long)x);
    return 0;
}
