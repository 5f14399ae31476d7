/*
 * Board firmware main: runs the model once on the build's test input and prints
 *
 *     MBMICRO rc=0 cycles=N crc32=XXXXXXXX out=HEX
 *
 * on the console (one line, "\r\n"): rc is the model's return value (-1: the linked
 * test input is not MBMICRO_FW_INPUT_SIZE bytes), cycles the DWT cycles of the run
 * (0 where the core or simulator has no counter), crc32 the CRC-32 (IEEE 802.3, as
 * zlib.crc32) of the int8 output bytes, out the output bytes as two lowercase hex
 * digits each (two's complement, in tensor order).
 *
 * -DMBMICRO_PROFILE: before that line one line per layer,
 *     MBMICRO layer=I cycles=N
 * from the model's per-layer hooks (mbmicro_hooks.h), timed with the DWT counter.
 * -DMBMICRO_SERVE: after it, mbmicro_serve() (console_serve.c) answers host requests.
 */
#include <stdint.h>

#include "console.h"
#include "fw_cycles.h"
#include "mbmicro_fw_model.h"
#include "mbmicro_hooks.h"
#ifdef MBMICRO_SERVE
#include "console_serve.h"
#endif

extern const int8_t mbmicro_test_input[];
extern const int8_t mbmicro_test_input_end[];

static int8_t output_buffer[MBMICRO_FW_OUTPUT_SIZE];

static void put(const char *s)
{
    unsigned n = 0;
    while (s[n] != '\0')
        n++;
    mbmicro_console_write(s, n);
}

static void put_u32(uint32_t v)
{
    char text[11];
    int i = 10;
    text[i] = '\0';
    do {
        text[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    put(text + i);
}

static void put_i32(int32_t v)
{
    if (v < 0) {
        put("-");
        put_u32(0u - (uint32_t)v);
    } else {
        put_u32((uint32_t)v);
    }
}

static void put_hex(uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    char text[9];
    for (int i = digits - 1; i >= 0; i--) {
        text[i] = hex[v & 0xFu];
        v >>= 4;
    }
    text[digits] = '\0';
    put(text);
}

/* CRC-32 (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), bitwise: small beats fast here. */
static uint32_t crc32(const uint8_t *p, uint32_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (uint32_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

#ifdef MBMICRO_PROFILE
static uint32_t layer_started;
/* Not static: console_serve.c zeroes and reads it around each run it serves (profile --on-device). */
uint32_t mbmicro_layer_cycles[MBMICRO_FW_NUM_LAYERS];

void mbmicro_layer_begin(int32_t index)
{
    (void)index;
    layer_started = mbmicro_cycles_now();
}

void mbmicro_layer_end(int32_t index)
{
    uint32_t now = mbmicro_cycles_now();
    if (index >= 0 && index < MBMICRO_FW_NUM_LAYERS)
        mbmicro_layer_cycles[index] += now - layer_started;
}

static void print_layers(void)
{
    for (int32_t i = 0; i < MBMICRO_FW_NUM_LAYERS; i++) {
        put("MBMICRO layer=");
        put_i32(i);
        put(" cycles=");
        put_u32(mbmicro_layer_cycles[i]);
        put("\r\n");
    }
}
#endif

static void print_result(int32_t rc, uint32_t cycles)
{
    put("MBMICRO rc=");
    put_i32(rc);
    put(" cycles=");
    put_u32(cycles);
    put(" crc32=");
    put_hex(crc32((const uint8_t *)output_buffer, MBMICRO_FW_OUTPUT_SIZE), 8);
    put(" out=");
    for (uint32_t i = 0; i < MBMICRO_FW_OUTPUT_SIZE; i++)
        put_hex((uint8_t)output_buffer[i], 2);
    put("\r\n");
}

int main(void)
{
    int32_t rc = -1;
    uint32_t cycles = 0;
    mbmicro_console_init();
    mbmicro_cycles_init();
    if (mbmicro_test_input_end - mbmicro_test_input == MBMICRO_FW_INPUT_SIZE) {
        uint32_t start = mbmicro_cycles_now();
        rc = MBMICRO_FW_RUN(mbmicro_test_input, output_buffer);
        cycles = mbmicro_cycles_now() - start;
    }
#ifdef MBMICRO_PROFILE
    print_layers();
#endif
    print_result(rc, cycles);
#ifdef MBMICRO_SERVE
    mbmicro_serve();
#endif
    return (int)rc;
}
