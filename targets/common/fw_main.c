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
 * An --io-in-arena model (MBMICRO_FW_IO_IN_ARENA) gets the test input copied into its arena.
 * The lines are console_text.c's, the same functions the protocol's replies use.
 */
#include <stdint.h>

#include "console.h"
#include "console_text.h"
#include "fw_cycles.h"
#include "mbmicro_fw_model.h"
#include "mbmicro_hooks.h"
#ifdef MBMICRO_SERVE
#include "console_serve.h"
#endif

extern const int8_t mbmicro_test_input[];
extern const int8_t mbmicro_test_input_end[];

#ifdef MBMICRO_FW_IO_IN_ARENA
/* --io-in-arena: the test input is copied from flash into the arena, the output read there */
#define output_buffer MBMICRO_FW_OUTPUT_BUFFER
#else
static int8_t output_buffer[MBMICRO_FW_OUTPUT_SIZE];
#endif

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
#endif

int main(void)
{
    int32_t rc = -1;
    uint32_t cycles = 0;
    mbmicro_console_init();
    mbmicro_cycles_init();
    if (mbmicro_test_input_end - mbmicro_test_input == MBMICRO_FW_INPUT_SIZE) {
#ifdef MBMICRO_FW_IO_IN_ARENA
        int8_t *input = MBMICRO_FW_INPUT_BUFFER;
        for (int32_t i = 0; i < MBMICRO_FW_INPUT_SIZE; i++)
            input[i] = mbmicro_test_input[i];
#else
        const int8_t *input = mbmicro_test_input; /* read in place from flash */
#endif
        uint32_t start = mbmicro_cycles_now();
        rc = MBMICRO_FW_RUN(input, output_buffer);
        cycles = mbmicro_cycles_now() - start;
    }
#ifdef MBMICRO_PROFILE
    mbmicro_console_put_layers(mbmicro_layer_cycles, MBMICRO_FW_NUM_LAYERS, "\r\n");
#endif
    mbmicro_console_put_result("MBMICRO ", rc, cycles, output_buffer, MBMICRO_FW_OUTPUT_SIZE, "\r\n");
#ifdef MBMICRO_SERVE
    mbmicro_serve();
#endif
    return (int)rc;
}
