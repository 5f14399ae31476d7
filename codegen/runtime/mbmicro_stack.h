/*
 * Stack high-water mark of one model call, measured by painting (the profile program).
 *
 * Why painting: the compiler's figure (-fstack-usage along the worst call chain, report.md)
 * is a bound computed from the code; painting measures what a run really touched, so the
 * two check each other.  Before the model runs, mbmicro_stack_paint() fills the free stack
 * below the caller with a pattern; afterwards mbmicro_stack_used() finds the deepest word
 * that no longer holds it.  Both run outside the profiled layers (before the first and
 * after the last marker call), so they add no instructions to any layer's count.
 *
 * The window painted: on the Cortex-M test programs everything from the linker script's
 * __stack_limit up to just below the painting function's frame; elsewhere (Linux user mode,
 * the host) MBMICRO_STACK_PAINT_BYTES below it.
 */
#ifndef MBMICRO_STACK_H
#define MBMICRO_STACK_H

#include <stddef.h>

/* Paint the free stack below ``top``, a local variable of the caller (the model's caller). */
void mbmicro_stack_paint(const volatile void *top);

/* Bytes from ``top`` down to the deepest word touched since mbmicro_stack_paint(top);
 * mbmicro_stack_window(top) when even the lowest painted word was touched (the run needed
 * at least that much). */
size_t mbmicro_stack_used(const volatile void *top);

/* Bytes from ``top`` down to the bottom of the painted window. */
size_t mbmicro_stack_window(const volatile void *top);

#endif /* MBMICRO_STACK_H */
