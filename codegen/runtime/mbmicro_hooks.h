/*
 * Per-layer hooks around every kernel call of a generated model.
 *
 * Why macros: by default they compile to nothing, so a release firmware pays
 * zero instructions for them.  Two build variants turn them on:
 *
 *   -DMBMICRO_PROFILE  calls mbmicro_layer_begin(i) / mbmicro_layer_end(i),
 *                      noinline markers whose addresses an instruction
 *                      counter (QEMU plugin) watches to count each layer's
 *                      instructions, region by region, in order.
 *   -DMBMICRO_TRACE    after each layer calls mbmicro_trace(i, p, n) with the
 *                      layer's output bytes; the application implements it
 *                      (mbmicro_main.c appends to a trace file) so that a
 *                      mismatch against the reference names its first layer.
 */
#ifndef MBMICRO_HOOKS_H
#define MBMICRO_HOOKS_H

#include <stdint.h>

void mbmicro_layer_begin(int32_t index);
void mbmicro_layer_end(int32_t index);
void mbmicro_trace(int32_t index, const int8_t *data, int32_t nbytes);

#ifdef MBMICRO_PROFILE
#define MBMICRO_PROFILE_BEGIN_(i) mbmicro_layer_begin(i)
#define MBMICRO_PROFILE_END_(i) mbmicro_layer_end(i)
#else
#define MBMICRO_PROFILE_BEGIN_(i) ((void)0)
#define MBMICRO_PROFILE_END_(i) ((void)0)
#endif

#ifdef MBMICRO_TRACE
#define MBMICRO_TRACE_(i, p, n) mbmicro_trace((i), (const int8_t *)(p), (n))
#else
#define MBMICRO_TRACE_(i, p, n) ((void)0)
#endif

#define MBMICRO_LAYER_BEGIN(i) MBMICRO_PROFILE_BEGIN_(i)
/* The profile marker comes first so the trace I/O is not counted as layer work. */
#define MBMICRO_LAYER_END(i, p, n) \
    do { MBMICRO_PROFILE_END_(i); MBMICRO_TRACE_(i, p, n); } while (0)

#endif /* MBMICRO_HOOKS_H */
