/*
 * The line both M-profile runtimes print when the core faults: crt_m.c through
 * semihosting (simulator programs), fw_crt.c on the board's console (firmware).
 *
 *     mbmicro: fault: exception 0x00000003 pc 0x0000abcd lr 0x0000abcd
 *
 * Why one header: tests and users grep for this exact text, whichever program faulted;
 * the two runtimes differ only in where it goes and the line end they add.
 * Why no printf: after a fault the C library's state may be broken, so the line is a
 * fixed template whose hex fields are filled in place.
 */
#ifndef MBMICRO_FAULT_TEXT_H
#define MBMICRO_FAULT_TEXT_H

#include <stdint.h>

/* The template, without a line end: char msg[] = MBMICRO_FAULT_TEXT "\n"; */
#define MBMICRO_FAULT_TEXT "mbmicro: fault: exception 0x........ pc 0x........ lr 0x........"

static inline void mbmicro_fault_hex(char *out, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        out[i] = digits[value & 0xFu];
        value >>= 4;
    }
}

/* Fills msg's hex fields (msg starts with MBMICRO_FAULT_TEXT): the exception number and
 * the stacked PC and LR of the exception frame. */
static inline void mbmicro_fault_fill(char *msg, const uint32_t *frame, uint32_t exception)
{
    mbmicro_fault_hex(msg + 28, exception & 0x1FFu);
    mbmicro_fault_hex(msg + 42, frame[6]);
    mbmicro_fault_hex(msg + 56, frame[5]);
}

#endif /* MBMICRO_FAULT_TEXT_H */
