/*
 * Tuning firmware main (mbmicro tune-worker --board): runs one batch of candidate kernels
 * (driver.c's mbmicro_tune_run) and prints on the board's console
 *
 *     MBMICRO tune start
 *     MBMICRO tune=I ok=O cycles=N        (one line per candidate, in order)
 *     MBMICRO tune done=COUNT
 *
 * ok is 1 when the candidate's output equals the NumPy reference's (compiled into driver.c),
 * cycles the DWT cycles between mbmicro_layer_begin and mbmicro_layer_end around its call
 * (0 where the core or simulator has no counter, e.g. QEMU). A fault prints fw_crt.c's
 * "mbmicro: fault: ..." line instead of the done line; the host then splits the batch.
 *
 * Why the same begin/end hooks as the QEMU measuring firmware: driver.c is one generator's
 * output for both, so a board times exactly the calls QEMU counts.
 */
#include "fw_tune.h"

#include "console.h"
#include "console_text.h"
#include "fw_cycles.h"
#include "mbmicro_hooks.h"

static uint32_t started;
static uint32_t elapsed;

void mbmicro_layer_begin(int32_t index)
{
    (void)index;
    started = mbmicro_cycles_now();
}

void mbmicro_layer_end(int32_t index)
{
    (void)index;
    elapsed = mbmicro_cycles_now() - started;
}

int32_t mbmicro_tune_same(const int8_t *a, const int8_t *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

void mbmicro_tune_result(int32_t index, int32_t ok)
{
    mbmicro_console_puts("MBMICRO tune=");
    mbmicro_console_put_u32((uint32_t)index);
    mbmicro_console_puts(ok ? " ok=1 cycles=" : " ok=0 cycles=");
    mbmicro_console_put_u32(elapsed);
    mbmicro_console_puts("\r\n");
}

int main(void)
{
    mbmicro_console_init();
    mbmicro_cycles_init();
    mbmicro_console_puts("MBMICRO tune start\r\n");
    mbmicro_tune_run();
    mbmicro_console_puts("MBMICRO tune done=");
    mbmicro_console_put_u32((uint32_t)mbmicro_tune_count);
    mbmicro_console_puts("\r\n");
    /* Spin instead of returning to fw_crt.c's WFI halt: the next batch is loaded by a debugger,
     * and a core asleep in WFI stays asleep after a gdb load (QEMU keeps it halted; a probe that
     * resets the core does not care either way). */
    for (;;) {
        __asm__ volatile("" ::: "memory");
    }
}
