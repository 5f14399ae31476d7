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

int32_t mbmicro_tune_same(const int8_t *a, const int8_t *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

void mbmicro_tune_result(int32_t index, int32_t ok)
{
    put("MBMICRO tune=");
    put_u32((uint32_t)index);
    put(ok ? " ok=1 cycles=" : " ok=0 cycles=");
    put_u32(elapsed);
    put("\r\n");
}

int main(void)
{
    mbmicro_console_init();
    mbmicro_cycles_init();
    put("MBMICRO tune start\r\n");
    mbmicro_tune_run();
    put("MBMICRO tune done=");
    put_u32((uint32_t)mbmicro_tune_count);
    put("\r\n");
    /* Spin instead of returning to fw_crt.c's WFI halt: the next batch is loaded by a debugger,
     * and a core asleep in WFI stays asleep after a gdb load (QEMU keeps it halted; a probe that
     * resets the core does not care either way). */
    for (;;) {
        __asm__ volatile("" ::: "memory");
    }
}
