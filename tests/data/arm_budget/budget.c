/*
 * Memory-budget probe for the Cortex-M linker scripts: one zero-initialised array of
 * ARENA_BYTES (goes to .bss, like the tensor arena -> SRAM) and one const array of
 * WEIGHT_BYTES (goes to .rodata, like the weights -> flash). The test links it with sizes
 * just inside and just outside target.json's budgets.
 */
#include <stdint.h>

#if !defined(ARENA_BYTES) || !defined(WEIGHT_BYTES)
#error "compile with -DARENA_BYTES=N -DWEIGHT_BYTES=N"
#endif

static int8_t arena[ARENA_BYTES];
static const int8_t weights[WEIGHT_BYTES] = {1};

int main(int argc, char **argv)
{
    (void)argv;
    /* index with argc so neither array can be optimised away */
    volatile int8_t *a = arena;
    a[argc] = weights[argc];
    return a[argc + 1];
}
