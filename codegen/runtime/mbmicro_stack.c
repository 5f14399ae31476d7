/*
 * Stack painting for the profile program (see mbmicro_stack.h for why).
 *
 * Words, not bytes: the pattern is one 32-bit word, aligned, so a scan compares words;
 * a model that happens to store exactly this word at the deepest point it touched would
 * be measured one word short, which the compiler's bound beside it would show.
 */
#include <stdint.h>

#include "mbmicro_stack.h"

#define PATTERN 0xC0FFEE5Au
/* Bytes kept unpainted below the painting function's own local: its frame (and a
 * red zone, where an ABI has one) live there while it paints. */
#define GUARD 256u

#ifndef MBMICRO_STACK_PAINT_BYTES
#define MBMICRO_STACK_PAINT_BYTES (1024u * 1024u)
#endif

#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
extern char __stack_limit[]; /* the bottom of the stack section (sections_m.ld) */
#define FLOOR(high) ((uintptr_t)__stack_limit)
#else
#define FLOOR(high) ((high) - MBMICRO_STACK_PAINT_BYTES)
#endif

static uintptr_t painted_low;
static uintptr_t painted_high;

__attribute__((noinline)) void mbmicro_stack_paint(const volatile void *top)
{
    volatile uint32_t here = 0;
    uintptr_t high = ((uintptr_t)&here - GUARD) & ~(uintptr_t)3;
    uintptr_t low = (FLOOR(high) + 3u) & ~(uintptr_t)3;
    uintptr_t p;
    (void)top;
    painted_low = low;
    painted_high = high;
    for (p = low; p < high; p += 4u)
        *(volatile uint32_t *)p = PATTERN;
}

size_t mbmicro_stack_used(const volatile void *top)
{
    uintptr_t p = painted_low;
    while (p < painted_high && *(const volatile uint32_t *)p == PATTERN)
        p += 4u;
    return (size_t)((uintptr_t)top - p);
}

size_t mbmicro_stack_window(const volatile void *top)
{
    return (size_t)((uintptr_t)top - painted_low);
}
