/*
 * The four memory functions gcc requires of a freestanding program (it may emit calls to
 * them for plain loops, struct copies and large initializers), for programs linked
 * without newlib: the board firmware (fw_crt.c, -nostdlib) and any firmware that links
 * only the model library (docs/MODEL_LIBRARY.md; tests/data/model_library/ links this file).
 *
 * Why byte loops: they are called for a few small copies; the model's kernels never
 * call them on the hot path, and small beats fast in a runtime every board links.
 * Why the optimize attribute: at -O2 and above gcc may recognise these loops as memset
 * or memcpy and turn them into calls to themselves (infinite recursion); the attribute
 * stops that whatever flags the file is compiled with, so no extra flag is needed.
 */
#include <stddef.h>

#if defined(__GNUC__) && !defined(__clang__)
#define MBMICRO_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define MBMICRO_NO_LIBCALL
#endif

void *memset(void *dst, int value, size_t n) MBMICRO_NO_LIBCALL;
void *memcpy(void *dst, const void *src, size_t n) MBMICRO_NO_LIBCALL;
void *memmove(void *dst, const void *src, size_t n) MBMICRO_NO_LIBCALL;
int memcmp(const void *a, const void *b, size_t n) MBMICRO_NO_LIBCALL;

void *memset(void *dst, int value, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)value;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--)
            *d++ = *s++;
    } else {
        while (n--)
            d[n] = s[n];
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; --n, ++x, ++y)
        if (*x != *y)
            return *x - *y;
    return 0;
}
