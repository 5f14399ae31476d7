/*
 * A firmware that links the model library (OUT/model/, built with --prefix net) and nothing
 * else: compiled with -ffreestanding -nostdlib, no newlib, no startup files, no libgcc.
 * tests/test_model_library.py links it with make (model.mk) and with CMake (model.cmake).
 *
 * gcc requires a freestanding program to provide memcpy, memmove, memset and memcmp (it may
 * call them for plain loops and struct copies), so this file does; compile it with
 * -fno-tree-loop-distribute-patterns so that their own loops do not become calls to themselves.
 */
#include <stddef.h>
#include <stdint.h>

#include "net_model.h"

void *memset(void *dest, int c, size_t n)
{
    unsigned char *d = dest;
    while (n--)
        *d++ = (unsigned char)c;
    return dest;
}

void *memcpy(void *dest, const void *src, size_t n)
{
    unsigned char *d = dest;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dest;
}

void *memmove(void *dest, const void *src, size_t n)
{
    unsigned char *d = dest;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dest;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; --n, ++x, ++y)
        if (*x != *y)
            return *x - *y;
    return 0;
}

static int8_t input[NET_INPUT_SIZE];
static int8_t output[NET_OUTPUT_SIZE];
volatile int status;

void _start(void)
{
    status = net_run(input, output);
    for (;;) {
    }
}
