/*
 * Bare-metal C runtime of the board firmware: what startup_m.S calls, and the few
 * library functions the compiler may emit calls to. No newlib (linked -nostdlib).
 *
 * startup_m.S enables the FPU/MVE, copies .data and zeroes .bss, then calls
 * mbmicro_crt_start() here: SystemInit() leaves the clocks at their reset default
 * (the console divisor in mbmicro_board.h is computed for that clock) and points VTOR
 * at our vector table, main() runs, and the core then sleeps: there is no host to
 * return to. Any fault prints one line on the console and stops (fault_text.h).
 * The memory functions gcc may call are in freestanding_mem.c.
 */
#include <stdint.h>

#include "console.h"
#include "fault_text.h"

#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

extern int main(void);
extern const uint32_t __vectors[];
void SystemInit(void);
void mbmicro_crt_start(void) __attribute__((noreturn, used));
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception) __attribute__((noreturn, used));

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

/* Same text as the semihosting runtime's (crt_m.c), on the console instead. */
void mbmicro_crt_fault(const uint32_t *frame, uint32_t exception)
{
    char msg[] = MBMICRO_FAULT_TEXT "\r\n";
    mbmicro_fault_fill(msg, frame, exception);
    mbmicro_console_write(msg, sizeof msg - 1);
    halt();
}
