/*
 * Core clock cycles from the DWT cycle counter (ARMv7-M / ARMv8-M Debug and Trace unit).
 *
 * Why the DWT: it counts every core clock, so cycles between two reads are the real
 * cost on the board (caches, wait states and all), not an estimate. A core without a
 * counter (DWT_CTRL.NOCYCCNT, or QEMU, which does not model it) reads 0: the firmware
 * then prints cycles=0 rather than a made-up number.
 */
#ifndef MBMICRO_FW_CYCLES_H
#define MBMICRO_FW_CYCLES_H

#include <stdint.h>

/* Enables trace (DEMCR.TRCENA), zeroes and starts CYCCNT. */
void mbmicro_cycles_init(void);
/* The counter now; differences are exact modulo 2^32 cycles. */
uint32_t mbmicro_cycles_now(void);

#endif /* MBMICRO_FW_CYCLES_H */
