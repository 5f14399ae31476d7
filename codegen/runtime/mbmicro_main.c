/*
 * Test application for one generated model:
 *
 *     app INPUT.bin OUTPUT.bin [TRACE.bin]
 *
 * reads the raw int8 input (exactly MBMICRO_INPUT_SIZE bytes), runs the
 * model once and writes the raw int8 output.  Built with -DMBMICRO_TRACE it
 * also writes every layer's output to TRACE.bin as records of
 * (int32 layer index, int32 nbytes, nbytes bytes), little-endian as the core.
 *
 * Why so plain: the same file runs natively, under qemu-aarch64 and under
 * newlib semihosting on Cortex-M, so it uses C99 and stdio only and no
 * malloc (buffers are static, sized by the generated header).  Exit codes:
 * 0 ok, 1 I/O error, 2 usage error, 3 the model returned an error.
 *
 * Built with -DMBMICRO_PROFILE (the program `mbmicro profile` runs) it also paints the free
 * stack before the model call and prints the model's stack high-water mark afterwards,
 * outside the profiled layers (mbmicro_stack.h), as one line on stdout:
 *     MBMICRO STACK used=<bytes> window=<bytes painted> floor=<bytes above the painted window>
 * (bytes below main's stack pointer at the model call).
 *
 * Variants, all checked against the reference (docs/MODEL_LIBRARY.md):
 *   default               the model's static arena (<prefix>_run), the program's own input and
 *                         output buffers;
 *   -DMBMICRO_CALLER_ARENA  the program's own arena through <prefix>_run_with_arena (build the
 *                         model with -D<PREFIX>_NO_STATIC_ARENA to prove it needs no other);
 *   a --io-in-arena build the input is read into, and the output written from, the arena
 *                         (app.h defines MBMICRO_INPUT/MBMICRO_OUTPUT): no buffers of its own.
 */
#include <stdint.h>
#include <stdio.h>

#include "mbmicro_app.h"
#include "mbmicro_hooks.h"
#ifdef MBMICRO_PROFILE
#include "mbmicro_stack.h"
#endif

#ifdef MBMICRO_CALLER_ARENA
static int8_t arena[MBMICRO_ARENA_SIZE > 0 ? MBMICRO_ARENA_SIZE : 1]
    __attribute__((aligned(MBMICRO_ARENA_ALIGN)));
#define RUN(in, out) MBMICRO_RUN_WITH_ARENA(arena, (in), (out))
#else
#define RUN(in, out) MBMICRO_RUN((in), (out))
#ifdef MBMICRO_STATIC_ARENA
#define arena MBMICRO_STATIC_ARENA
#endif
#endif

#ifdef MBMICRO_INPUT
#define input_buffer MBMICRO_INPUT(arena)
#define output_buffer MBMICRO_OUTPUT(arena)
#else
static int8_t input_buffer[MBMICRO_INPUT_SIZE];
static int8_t output_buffer[MBMICRO_OUTPUT_SIZE];
#endif

#ifdef MBMICRO_TRACE
static FILE *trace_file;
static int trace_failed;

void mbmicro_trace(int32_t index, const int8_t *data, int32_t nbytes)
{
    int32_t header[2];
    header[0] = index;
    header[1] = nbytes;
    if (trace_file == NULL)
        return;
    if (fwrite(header, sizeof header, 1, trace_file) != 1
        || fwrite(data, 1, (size_t)nbytes, trace_file) != (size_t)nbytes)
        trace_failed = 1;
}
#endif

static int read_exact(const char *path, int8_t *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got;
    int extra;
    if (f == NULL) {
        fprintf(stderr, "app: cannot open input %s\n", path);
        return 1;
    }
    got = fread(buf, 1, n, f);
    extra = fgetc(f);
    fclose(f);
    if (got != n || extra != EOF) {
        fprintf(stderr, "app: input %s must be exactly %lu bytes\n", path, (unsigned long)n);
        return 1;
    }
    return 0;
}

static int write_all(const char *path, const int8_t *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    int bad;
    if (f == NULL) {
        fprintf(stderr, "app: cannot create output %s\n", path);
        return 1;
    }
    bad = fwrite(buf, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "app: cannot write output %s\n", path);
    return bad;
}

int main(int argc, char **argv)
{
    int status;
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: app INPUT.bin OUTPUT.bin [TRACE.bin]\n");
        return 2;
    }
    if (read_exact(argv[1], input_buffer, MBMICRO_INPUT_SIZE))
        return 1;
#ifdef MBMICRO_TRACE
    if (argc == 4) {
        trace_file = fopen(argv[3], "wb");
        if (trace_file == NULL) {
            fprintf(stderr, "app: cannot create trace %s\n", argv[3]);
            return 1;
        }
    }
#endif
#ifdef MBMICRO_PROFILE
    {
        /* The model's stack starts at main's stack pointer, the same at every call from here. */
        uintptr_t top = mbmicro_stack_pointer();
        mbmicro_stack_paint(top);
        status = RUN(input_buffer, output_buffer);
        printf("MBMICRO STACK used=%lu window=%lu floor=%lu\n", (unsigned long)mbmicro_stack_used(top),
               (unsigned long)mbmicro_stack_window(top), (unsigned long)mbmicro_stack_floor(top));
    }
#else
    status = RUN(input_buffer, output_buffer);
#endif
#ifdef MBMICRO_TRACE
    if (trace_file != NULL && (fclose(trace_file) != 0 || trace_failed)) {
        fprintf(stderr, "app: cannot write trace %s\n", argv[3]);
        return 1;
    }
#endif
    if (status != 0) {
        fprintf(stderr, "app: model returned %d\n", status);
        return 3;
    }
    return write_all(argv[2], output_buffer, MBMICRO_OUTPUT_SIZE);
}
