/*
 * Bare-metal C runtime of the board firmware: what startup_m.S calls, and the few
 * library functions the compiler may emit calls to. No newlib (linked -nostdlib).
 *
 * startup_m.S enables the FPU/MVE, copies .data and zeroes .bss, then calls
 * mbmicro_crt_start() here: SystemInit() leaves the clocks at their reset default
 * (the console divisor in mbmicro_board.h is computed for that clock) and points VTOR
 * at our vector table, main() runs, and the core then sleeps: there is no host to
 * return to. Any fault prints one line on the console and stops.
 */
#include <stddef.h>
#include <stdint.h>

#include "console.h"

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

extern int main(void);
extern const uint32_t __vectors[];
void SystemInit(void);
void mbmicro_crt_start(void) __attribute__((noreturn, used));
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception) __attribute__((noreturn, used));
void *memset(void *dst, int value, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);

static void halt(void) __attribute__((noreturn));

static void halt(void)
{
    for (;;)
        __asm__ volatile("wfi");
}

/* Reset clocks kept (no PLL); exceptions go through our table wherever the boot alias is. */
void SystemInit(void)
{
    SCB_VTOR = (uint32_t)(uintptr_t)__vectors;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
}

void mbmicro_crt_start(void)
{
    SystemInit();
    (void)main();
    halt();
}

static void put_hex(char *out, uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        out[i] = digits[value & 0xFu];
        value >>= 4;
    }
}

/* Same text as the semihosting runtime's (crt_m.c), on the console instead. */
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception)
{
    char msg[] = "mbmicro: fault: exception 0x........ pc 0x........ lr 0x........\r\n";
    put_hex(msg + 28, exception & 0x1FFu);
    put_hex(msg + 42, frame[6]);
    put_hex(msg + 56, frame[5]);
    mbmicro_console_write(msg, sizeof msg - 1);
    halt();
}

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
