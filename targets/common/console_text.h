/*
 * Text on the firmware's console: numbers, hex bytes, the CRC-32 and the two reply lines
 * that both the fixed run (fw_main.c) and the on-device protocol (console_serve.c) print.
 *
 * Why one file: the host (mbmicro/sim/device.py, tests/flash_harness.py) parses the
 * same "MBMICRO layer=..." and "... rc=R cycles=N crc32=X out=HEX" lines from either, so
 * the two must format them the same way; they differ only in the words before "rc=" and
 * the line end ("\r\n" for the fixed line a terminal shows, "\n" in the protocol).
 * Only C99 and console.h: no libc (the firmware links -nostdlib).
 */
#ifndef MBMICRO_CONSOLE_TEXT_H
#define MBMICRO_CONSOLE_TEXT_H

#include <stdint.h>

/* Writes the NUL-terminated s. */
void mbmicro_console_puts(const char *s);
/* Writes v in decimal. */
void mbmicro_console_put_u32(uint32_t v);
void mbmicro_console_put_i32(int32_t v);
/* Writes the low `digits` (1..8) hex digits of v, lowercase, leading zeros kept. */
void mbmicro_console_put_hex(uint32_t v, int digits);
/* Writes n bytes as two lowercase hex digits each (an int8 as its two's complement). */
void mbmicro_console_put_bytes(const int8_t *data, uint32_t n);

/* CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF: zlib's crc32())
 * of n bytes, bitwise: small beats fast here. */
uint32_t mbmicro_crc32(const void *data, uint32_t n);

/* "MBMICRO layer=I cycles=N" + eol for each of the n layers. */
void mbmicro_console_put_layers(const uint32_t *cycles, int32_t n, const char *eol);
/* head + "rc=R cycles=N crc32=X out=HEX" + eol: a model run's result (head "MBMICRO " or
 * "MBMICRO OUT "), X the CRC-32 and HEX the bytes of the n outputs. */
void mbmicro_console_put_result(const char *head, int32_t rc, uint32_t cycles, const int8_t *out, uint32_t n,
                                const char *eol);

#endif /* MBMICRO_CONSOLE_TEXT_H */
