/* Text on the firmware's console (console_text.h). */
#include "console_text.h"

#include "console.h"

static const char hex_digits[] = "0123456789abcdef";

void mbmicro_console_puts(const char *s)
{
    unsigned n = 0;
    while (s[n] != '\0')
        n++;
    mbmicro_console_write(s, n);
}

void mbmicro_console_put_u32(uint32_t v)
{
    char text[11];
    int i = 10;
    text[i] = '\0';
    do {
        text[--i] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v != 0u);
    mbmicro_console_puts(text + i);
}

void mbmicro_console_put_i32(int32_t v)
{
    if (v < 0) {
        mbmicro_console_puts("-");
        mbmicro_console_put_u32(0u - (uint32_t)v);
    } else {
        mbmicro_console_put_u32((uint32_t)v);
    }
}

void mbmicro_console_put_hex(uint32_t v, int digits)
{
    char text[8];
    int i;
    for (i = digits - 1; i >= 0; i--) {
        text[i] = hex_digits[v & 15u];
        v >>= 4;
    }
    mbmicro_console_write(text, (unsigned)digits);
}

void mbmicro_console_put_bytes(const int8_t *data, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++)
        mbmicro_console_put_hex((uint8_t)data[i], 2);
}

uint32_t mbmicro_crc32(const void *data, uint32_t n)
{
    const uint8_t *p = (const uint8_t *)data;
    uint32_t crc = 0xFFFFFFFFu;
    uint32_t i;
    int bit;
    for (i = 0; i < n; i++) {
        crc ^= p[i];
        for (bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

void mbmicro_console_put_layers(const uint32_t *cycles, int32_t n, const char *eol)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        mbmicro_console_puts("MBMICRO layer=");
        mbmicro_console_put_i32(i);
        mbmicro_console_puts(" cycles=");
        mbmicro_console_put_u32(cycles[i]);
        mbmicro_console_puts(eol);
    }
}

void mbmicro_console_put_result(const char *head, int32_t rc, uint32_t cycles, const int8_t *out, uint32_t n,
                                const char *eol)
{
    mbmicro_console_puts(head);
    mbmicro_console_puts("rc=");
    mbmicro_console_put_i32(rc);
    mbmicro_console_puts(" cycles=");
    mbmicro_console_put_u32(cycles);
    mbmicro_console_puts(" crc32=");
    mbmicro_console_put_hex(mbmicro_crc32(out, n), 8);
    mbmicro_console_puts(" out=");
    mbmicro_console_put_bytes(out, n);
    mbmicro_console_puts(eol);
}
