/*
 * Host program for tests/test_model_library.py: the argument checks of toy_net_run_with_arena
 * (a toy build with --io-in-arena).  Prints one return code per line:
 * NULL arena, misaligned arena, input not toy_net_input(arena), a proper run, toy_net_run.
 */
#include <stdint.h>
#include <stdio.h>

#include "toy_net_model.h"

static int8_t arena[TOY_NET_ARENA_SIZE + TOY_NET_ARENA_ALIGN] __attribute__((aligned(TOY_NET_ARENA_ALIGN)));
static int8_t elsewhere[TOY_NET_INPUT_SIZE];

int main(void)
{
    printf("%d\n", toy_net_run_with_arena(0, toy_net_input(arena), toy_net_output(arena)));
    printf("%d\n", toy_net_run_with_arena(arena + 1, toy_net_input(arena + 1), toy_net_output(arena + 1)));
    printf("%d\n", toy_net_run_with_arena(arena, elsewhere, toy_net_output(arena)));
    printf("%d\n", toy_net_run_with_arena(arena, toy_net_input(arena), toy_net_output(arena)));
    printf("%d\n", toy_net_run(toy_net_input(toy_net_arena), toy_net_output(toy_net_arena)));
    return 0;
}
