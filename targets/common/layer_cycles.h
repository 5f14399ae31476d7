/*
 * Per-layer cycle counts on a Cortex-M board, read from the DWT cycle counter.
 *
 * Why this file: the generated model calls mbmicro_layer_begin(i) and
 * mbmicro_layer_end(i) around every layer when built with -DMBMICRO_PROFILE
 * (codegen/runtime/mbmicro_hooks.h).  In the QEMU test program those are empty
 * markers that an instruction counter watches; on a board they must measure.
 * Built with -DMBMICRO_PROFILE this file defines those two functions, so a
 * firmware profile build links it instead of mbmicro_hooks.c and reads the
 * counts back from here; without it, only the cycle counter functions.
 *
 * QEMU models no DWT: there every count reads 0, but the number of layers and
 * the protocol around them are the same as on a board.
 */
#ifndef MBMICRO_LAYER_CYCLES_H
#define MBMICRO_LAYER_CYCLES_H

#include <stdint.h>

/* Most layers recorded per run; later layers are counted in the total only. */
#ifndef MBMICRO_MAX_LAYERS
#define MBMICRO_MAX_LAYERS 512
#endif

/* Cycles of layer i of the last run, i < mbmicro_layer_count. */
extern uint32_t mbmicro_layer_cycles[MBMICRO_MAX_LAYERS];
/* Layers that ended since mbmicro_layers_reset(). */
extern int32_t mbmicro_layer_count;

/* Turns the DWT cycle counter on (DEMCR.TRCENA, DWT_CTRL.CYCCNTENA); call once before measuring. */
void mbmicro_cycles_init(void);
/* The cycle counter now (wraps at 2^32: differences of two reads are exact below that). */
uint32_t mbmicro_cycles_now(void);
/* Forget the last run's layers. */
void mbmicro_layers_reset(void);

#endif /* MBMICRO_LAYER_CYCLES_H */
