/*
 * Marker functions for per-layer instruction counting (-DMBMICRO_PROFILE).
 *
 * Why they look like this: an instruction counter finds them by symbol and
 * counts what runs between a call to mbmicro_layer_begin and the next call
 * to mbmicro_layer_end.  noinline + an empty volatile asm keep each call a
 * real, separate call that the compiler may neither inline nor drop; `used`
 * keeps the symbols even when nothing in a non-profile build calls them.
 */
#include "mbmicro_hooks.h"

__attribute__((noinline, used)) void mbmicro_layer_begin(int32_t index)
{
    __asm__ volatile("" : : "r"(index) : "memory");
}

__attribute__((noinline, used)) void mbmicro_layer_end(int32_t index)
{
    __asm__ volatile("" : : "r"(index) : "memory");
}
