/*
 * DWT cycle counter (fw_cycles.h). Addresses from the ARMv7-M Architecture Reference
 * Manual (C1.8 DWT, C1.6.5 DEMCR), the same on ARMv8-M:
 *   DEMCR 0xE000EDFC (TRCENA bit 24), DWT_CTRL 0xE0001000 (CYCCNTENA bit 0),
 *   DWT_CYCCNT 0xE0001004, DWT_LAR 0xE0001FB0 (Cortex-M7 CoreSight lock: write 0xC5ACCE55).
 */
#include "fw_cycles.h"

#include "mbmicro_board.h"

#define REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u
#define DWT_LAR 0xE0001FB0u

void mbmicro_cycles_init(void)
{
    REG(DEMCR) |= 1u << 24;
#if MBMICRO_DWT_UNLOCK
    REG(DWT_LAR) = 0xC5ACCE55u; /* the M7's DWT ignores writes until unlocked */
#endif
    REG(DWT_CYCCNT) = 0u;
    REG(DWT_CTRL) |= 1u;
}

uint32_t mbmicro_cycles_now(void)
{
    return REG(DWT_CYCCNT);
}
