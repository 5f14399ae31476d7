/*
 * Two models (built with --prefix toy_net and --prefix net) in one program, sharing one arena
 * of max(TOY_NET_ARENA_SIZE, NET_ARENA_SIZE) bytes; both are compiled with -D<PREFIX>_NO_STATIC_ARENA
 * so that this arena is the only one.  Under QEMU semihosting (newlib stdio):
 *
 *     app.elf A_IN.bin B_IN.bin A_OUT.bin B_OUT.bin A_AGAIN.bin
 *
 * runs toy_net, then net, then toy_net again (the arena holds nothing between runs, so the third
 * output must equal the first).  Exit codes: 0 ok, 1 I/O error, 3 a model returned an error.
 */
#include <stdint.h>
#include <stdio.h>

#include "net_model.h"
#include "toy_net_model.h"

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN MAX(TOY_NET_ARENA_ALIGN, NET_ARENA_ALIGN)

static int8_t arena[MAX(TOY_NET_ARENA_SIZE, NET_ARENA_SIZE)] __attribute__((aligned(ALIGN)));
static int8_t a_in[TOY_NET_INPUT_SIZE], a_out[TOY_NET_OUTPUT_SIZE];
static int8_t b_in[NET_INPUT_SIZE], b_out[NET_OUTPUT_SIZE];

static int transfer(const char *path, const char *mode, int8_t *buf, size_t n)
{
    FILE *f = fopen(path, mode);
    size_t done;
    if (f == NULL)
        return 1;
    done = mode[0] == 'r' ? fread(buf, 1, n, f) : fwrite(buf, 1, n, f);
    return (fclose(f) != 0) | (done != n);
}

int main(int argc, char **argv)
{
    if (argc != 6 || transfer(argv[1], "rb", a_in, sizeof a_in) || transfer(argv[2], "rb", b_in, sizeof b_in))
        return 1;
    if (toy_net_run_with_arena(arena, a_in, a_out) != TOY_NET_OK || transfer(argv[3], "wb", a_out, sizeof a_out))
        return 3;
    if (net_run_with_arena(arena, b_in, b_out) != NET_OK || transfer(argv[4], "wb", b_out, sizeof b_out))
        return 3;
    if (toy_net_run_with_arena(arena, a_in, a_out) != TOY_NET_OK || transfer(argv[5], "wb", a_out, sizeof a_out))
        return 3;
    return 0;
}
