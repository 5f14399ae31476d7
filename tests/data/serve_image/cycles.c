/*
 * The DWT cycle counter (ARMv7-M ARM C1.8: DEMCR 0xE000EDFC TRCENA, DWT_CTRL 0xE0001000
 * CYCCNTENA, DWT_CYCCNT 0xE0001004; QEMU models none and reads 0) and, with
 * -DMBMICRO_PROFILE, the model's per-layer hooks adding into mbmicro_layer_cycles,
 * as the board firmware's fw_cycles.c and fw_main.c do.
 */
#include <stdint.h>

#include "fw_cycles.h"
#include "mbmicro_fw_model.h"
#include "mbmicro_hooks.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

void mbmicro_cycles_init(void)
{
    REG(0xE000EDFCu) |= 1u << 24;
    REG(0xE0001004u) = 0u;
    REG(0xE0001000u) |= 1u;
}

uint32_t mbmicro_cycles_now(void)
{
    return REG(0xE0001004u);
}

#ifdef MBMICRO_PROFILE
uint32_t mbmicro_layer_cycles[MBMICRO_FW_NUM_LAYERS];
static uint32_t layer_started;

void mbmicro_layer_begin(int32_t index)
{
    (void)index;
    layer_started = mbmicro_cycles_now();
}

void mbmicro_layer_end(int32_t index)
{
    if (index >= 0 && index < MBMICRO_FW_NUM_LAYERS)
        mbmicro_layer_cycles[index] += mbmicro_cycles_now() - layer_started;
}
#endif
