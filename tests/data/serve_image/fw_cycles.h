/* The firmware's cycle counter API (targets/common/fw_cycles.h of the board firmware), for this image. */
#ifndef MBMICRO_FW_CYCLES_H
#define MBMICRO_FW_CYCLES_H

#include <stdint.h>

void mbmicro_cycles_init(void);
uint32_t mbmicro_cycles_now(void);

#endif
