/*
 * DWT-based per-layer cycle counts (see layer_cycles.h for why).
 *
 * The DWT registers are architectural on ARMv7-M and ARMv8-M Mainline (Cortex-M3
 * and later): DEMCR at 0xE000EDFC (bit 24 TRCENA), DWT_CTRL at 0xE0001000 (bit 0
 * CYCCNTENA), DWT_CYCCNT at 0xE0001004.  On other cores the counter reads 0.
 */
#include "layer_cycles.h"

#include "mbmicro_hooks.h"

#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M' && !defined(__ARM_ARCH_6M__)
#define MBMICRO_HAVE_DWT 1
#define MBMICRO_REG(addr) (*(volatile uint32_t *)(addr))
#define MBMICRO_DEMCR MBMICRO_REG(0xE000EDFCu)
#define MBMICRO_DWT_CTRL MBMICRO_REG(0xE0001000u)
#define MBMICRO_DWT_CYCCNT MBMICRO_REG(0xE0001004u)
#endif

uint32_t mbmicro_layer_cycles[MBMICRO_MAX_LAYERS];
int32_t mbmicro_layer_count;
#ifdef MBMICRO_PROFILE
static uint32_t layer_start;
#endif

void mbmicro_cycles_init(void)
{
#ifdef MBMICRO_HAVE_DWT
    MBMICRO_DEMCR |= 1u << 24;
    MBMICRO_DWT_CYCCNT = 0;
    MBMICRO_DWT_CTRL |= 1u;
#endif
}

uint32_t mbmicro_cycles_now(void)
{
#ifdef MBMICRO_HAVE_DWT
    return MBMICRO_DWT_CYCCNT;
#else
    return 0;
#endif
}

void mbmicro_layers_reset(void)
{
    mbmicro_layer_count = 0;
}

#ifdef MBMICRO_PROFILE
/* The hooks of the generated model (mbmicro_hooks.h): in profile builds this file replaces mbmicro_hooks.c. */
void mbmicro_layer_begin(int32_t index)
{
    (void)index;
    layer_start = mbmicro_cycles_now();
}

void mbmicro_layer_end(int32_t index)
{
    uint32_t spent = mbmicro_cycles_now() - layer_start;
    (void)index;
    if (mbmicro_layer_count < MBMICRO_MAX_LAYERS)
        mbmicro_layer_cycles[mbmicro_layer_count] = spent;
    mbmicro_layer_count++;
}
#endif /* MBMICRO_PROFILE */
