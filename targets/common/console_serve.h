/*
 * The on-device side of `mbmicro run/verify/profile --on-device`: after the
 * firmware's fixed line, main calls mbmicro_serve() (built with -DMBMICRO_SERVE)
 * and the board answers requests on its console for as long as it runs.
 *
 * The protocol is lines of ASCII, one request, one reply (host: mbmicro/sim/device.py);
 * numbers are decimal, checksums 8 lowercase hex digits (CRC-32, zlib's), data
 * is two hex digits per int8 byte (the byte's two's complement), '\r' is ignored:
 *
 *   host:   MBMICRO INFO
 *   device: MBMICRO INFO in=<input bytes> out=<output bytes> layers=<n> profile=<0|1>
 *
 *   host:   MBMICRO IN <length> <crc32 of the bytes> <hex bytes>
 *   device: MBMICRO layer=<i> cycles=<n>          one per layer, in order, profile builds only
 *   device: MBMICRO OUT rc=<model's return> cycles=<whole run> crc32=<crc32 of out> out=<hex bytes>
 *
 *   on a request it cannot take (unknown word, wrong length, bad hex, wrong checksum,
 *   a line too long), the device skips to the end of the line and replies
 *   device: MBMICRO ERR <reason>
 *
 * The reply lines have the style of the firmware's fixed line (fw_main.c).
 * Why text: the same line can be typed into a terminal to see the board answer,
 * a checksum catches bytes a USB-serial bridge lost, and hex needs no escaping.
 * Why INFO: the host checks that the flashed firmware is the build it compares
 * with (input and output sizes) before sending any input.
 */
#ifndef MBMICRO_CONSOLE_SERVE_H
#define MBMICRO_CONSOLE_SERVE_H

/* Answers requests forever. */
void mbmicro_serve(void);

#endif /* MBMICRO_CONSOLE_SERVE_H */
