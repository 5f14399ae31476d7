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
 * Every figure is in bytes below ``top``: the caller's stack pointer, from
 * mbmicro_stack_pointer(), which is where the model call's own stack starts.
 * The window painted: on the Cortex-M test programs everything from the linker script's
 * __stack_limit up to just below the painting function's frame; elsewhere (Linux user mode,
 * the host) MBMICRO_STACK_PAINT_BYTES below it.
 */
#ifndef MBMICRO_STACK_H
#define MBMICRO_STACK_H

#include <stddef.h>
#include <stdint.h>

/* The caller's stack pointer at the call (on x86-64, below the pushed return address). */
uintptr_t mbmicro_stack_pointer(void);

/* Paint the free stack below ``top``. */
void mbmicro_stack_paint(uintptr_t top);

/* Bytes from ``top`` down to the deepest word touched since mbmicro_stack_paint(top);
 * mbmicro_stack_window(top) when even the lowest painted word was touched (the run needed
 * at least that much), mbmicro_stack_floor(top) when no painted word was (it needed at most
 * that much). */
size_t mbmicro_stack_used(uintptr_t top);

/* Bytes from ``top`` down to the top of the painted window: the smallest figure painting
 * can tell apart (the painting function's frame and guard lie above the window). */
size_t mbmicro_stack_floor(uintptr_t top);

/* Bytes from ``top`` down to the bottom of the painted window. */
size_t mbmicro_stack_window(uintptr_t top);

#endif /* MBMICRO_STACK_H */
