/*
 * Smoke program for the ARM targets: proves argv, host file I/O through semihosting,
 * int8 arithmetic and the exit status all work in the simulator.
 *
 * usage: smoke IN.bin OUT.bin  -- OUT[i] = saturate_int8(2 * IN[i] - 7), exit status 3
 * (3, not 0, so a runtime that drops main's return value is caught).
 */
#include <stdint.h>
#include <stdio.h>

#define MAX_BYTES 4096

static int8_t buffer[MAX_BYTES];

static int8_t saturate(int32_t v)
{
    return (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: smoke IN.bin OUT.bin (got %d args)\n", argc);
        return 1;
    }
    FILE *in = fopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    size_t n = fread(buffer, 1, sizeof buffer, in);
    fclose(in);
    for (size_t i = 0; i < n; i++) {
        buffer[i] = saturate(2 * (int32_t)buffer[i] - 7);
    }
    FILE *out = fopen(argv[2], "wb");
    if (out == NULL || fwrite(buffer, 1, n, out) != n || fclose(out) != 0) {
        fprintf(stderr, "cannot write %s\n", argv[2]);
        return 1;
    }
    printf("smoke: %u bytes\n", (unsigned)n);
    return 3;
}
