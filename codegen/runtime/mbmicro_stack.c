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
/* Bytes kept unpainted below the painting function's own local: the rest of its frame
 * (and the x86-64 ABI's 128-byte red zone on the host) lives there while it paints.
 * What lies above the painted window is the measurement's floor (mbmicro_stack_floor). */
#if defined(__x86_64__)
#define GUARD 192u
#else
#define GUARD 64u
#endif

#ifndef MBMICRO_STACK_PAINT_BYTES
#define MBMICRO_STACK_PAINT_BYTES (1024u * 1024u)
#endif

#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
extern char __stack_limit[]; /* the bottom of the stack section (sections_m.ld) */
#define FLOOR(high) ((uintptr_t)__stack_limit)
#else
#define FLOOR(high) ((high) - MBMICRO_STACK_PAINT_BYTES)
#endif

/*
 * A leaf that keeps nothing on the stack, so its stack pointer is its caller's at the call.
 * The one instruction per architecture reads it; elsewhere a local's address is the
 * nearest portable approximation (a few words into this function's own frame).
 */
__attribute__((noinline)) uintptr_t mbmicro_stack_pointer(void)
{
    uintptr_t sp;
#if defined(__arm__) || defined(__aarch64__)
    __asm__ volatile("mov %0, sp" : "=r"(sp));
#elif defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#else
    volatile char here = 0;
    sp = (uintptr_t)&here;
#endif
    return sp;
}

static uintptr_t painted_low;
static uintptr_t painted_high;

__attribute__((noinline)) void mbmicro_stack_paint(uintptr_t top)
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

size_t mbmicro_stack_used(uintptr_t top)
{
    uintptr_t p = painted_low;
    while (p < painted_high && *(const volatile uint32_t *)p == PATTERN)
        p += 4u;
    return (size_t)(top - p);
}

size_t mbmicro_stack_floor(uintptr_t top)
{
    return (size_t)(top - painted_high);
}

size_t mbmicro_stack_window(uintptr_t top)
{
    return (size_t)(top - painted_low);
}
